"""A Service manifest as the API server defaults it before validating it.

Upstream's ``SetDefaults_Service`` (pkg/apis/core/v1/defaults.go) runs when a v1 Service is
decoded, before ``ValidateService``: an empty ``sessionAffinity`` becomes ``None``, a Service
whose affinity is ``None`` has its ``sessionAffinityConfig`` cleared, and an empty ``type``
becomes ``ClusterIP``. So manifests that render these fields empty (a chart with an unset
value) or keep a config beside ``None`` are accepted upstream, and the model accepts them too.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubechaos.api.manifest import ManifestError, read_manifest
from kubechaos.api.objects import Service
from kubechaos.api.objects.service_routing import AFFINITY_NONE, ServiceRouting
from kubechaos.api.validation_service import validate_service
from tests.test_service_policies import svc_doc


def _read(**spec: Any) -> Service:
    svc = read_manifest(svc_doc(**spec))
    assert isinstance(svc, Service)
    return svc


def test_an_empty_type_is_cluster_ip() -> None:
    """``if obj.Spec.Type == "" { obj.Spec.Type = ClusterIP }``."""
    svc = _read(type="")
    assert svc.spec.type == "ClusterIP" and validate_service(svc) == []


def test_an_empty_session_affinity_is_none() -> None:
    """``if obj.Spec.SessionAffinity == "" { ... = ServiceAffinityNone }``."""
    svc = _read(sessionAffinity="")
    assert svc.spec.routing == ServiceRouting() and validate_service(svc) == []


@pytest.mark.parametrize("affinity", [None, "", AFFINITY_NONE], ids=["absent", "empty", "None"])
def test_a_config_beside_affinity_none_is_cleared_not_refused(affinity: str | None) -> None:
    """``if obj.Spec.SessionAffinity == ServiceAffinityNone { SessionAffinityConfig = nil }``:
    validation's "must not be set when session affinity is None" cannot fire for a v1 manifest,
    whether the affinity is absent, empty or None."""
    spec: dict[str, Any] = {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}
    if affinity is not None:
        spec["sessionAffinity"] = affinity
    svc = _read(**spec)
    assert svc.spec.routing == ServiceRouting()
    assert not svc.spec.routing.affinity_config_set and validate_service(svc) == []


def test_a_cleared_config_is_still_decoded_for_its_shape() -> None:
    """Defaulting runs on the decoded object: a config of the wrong shape is still refused
    (decoding fails before any default applies)."""
    with pytest.raises(ManifestError, match="timeoutSeconds: expected an integer"):
        _read(sessionAffinityConfig={"clientIP": {"timeoutSeconds": "1h"}})


def test_a_client_ip_config_is_kept() -> None:
    """Only affinity None clears the config: ClientIP keeps its timeout."""
    svc = _read(
        sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}}
    )
    assert svc.spec.routing.client_ip and svc.spec.routing.timeout_seconds == 60
