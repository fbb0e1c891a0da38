"""Secrets: no status; ``immutable`` freezes ``data``, and ``type`` never changes.

Upstream's pkg/registry/core/secret/strategy.go (ValidateSecretUpdate).
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Secret
from kubechaos.api.validation import immutable_data_causes, validate_secret
from kubechaos.control.registry.strategy import ResourceType, Strategy, refuse


class SecretStrategy(Strategy[Secret]):
    def validate(self, obj: Secret) -> list[str]:
        return validate_secret(obj)

    def prepare_for_update(self, old: Secret, new: Secret) -> Secret:
        causes = immutable_data_causes(old, new, ("data", "string_data"))
        if new.type != old.type:
            causes.append("type: Invalid value: field is immutable")
        refuse(new, causes)
        return new


SECRETS = ResourceType(discovery.SECRETS, Secret, False, False, SecretStrategy)
