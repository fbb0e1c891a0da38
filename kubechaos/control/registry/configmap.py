"""ConfigMaps: no status; ``immutable`` freezes ``data`` and ``binaryData``.

Upstream's pkg/registry/core/configmap/strategy.go (ValidateConfigMapUpdate refuses a change of
an immutable ConfigMap's data, or unsetting ``immutable``).
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import ConfigMap
from kubechaos.api.validation import immutable_data_causes, validate_configmap
from kubechaos.control.registry.strategy import ResourceType, Strategy, refuse


class ConfigMapStrategy(Strategy[ConfigMap]):
    def validate(self, obj: ConfigMap) -> list[str]:
        return validate_configmap(obj)

    def prepare_for_update(self, old: ConfigMap, new: ConfigMap) -> ConfigMap:
        refuse(new, immutable_data_causes(old, new, ("data", "binary_data")))
        return new


CONFIGMAPS = ResourceType(discovery.CONFIGMAPS, ConfigMap, False, False, ConfigMapStrategy)
