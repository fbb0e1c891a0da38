"""Validation of a Service as upstream v1.32's ``ValidateService``, ``validateServicePort`` and
``ValidateServiceUpdate`` (pkg/apis/core/validation/validation.go): each rule on a field the
model reads, with upstream's field path and words, refused by the API (422), the scenario
loader (file and line) and the front door (422 with causes)."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from kubechaos.api import errors
from kubechaos.api.objects import ObjectMeta, Service, ServicePort, ServiceSpec
from kubechaos.api.validation_service import service_update_causes, validate_service
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.scenario.loader import ScenarioError, parse_scenario
from tests.frontdoor import scenario_file, served
from tests.harness import running
from tests.test_frontdoor_app import front_door, request

META = ObjectMeta(name="web", namespace="default")
RANGE = "must be between 1 and 65535, inclusive"


def _service(*ports: ServicePort, cluster_ip: str = "", type: str = "ClusterIP") -> Service:
    spec = ServiceSpec(selector={"app": "web"}, ports=ports, cluster_ip=cluster_ip, type=type)
    return Service(META, spec)


def test_several_ports_each_need_a_name() -> None:
    """validateServicePort (validation.go): with more than one port, a port without a name is
    ``Required``; one port may go unnamed."""
    assert validate_service(_service(ServicePort(80))) == []
    two = _service(ServicePort(80, name="http"), ServicePort(443))
    assert validate_service(two) == ["spec.ports[1].name: Required value"]


def test_port_names_are_dns_labels_and_unique() -> None:
    """validateServicePort: a name is ValidateDNS1123Label'd, and a repeated one is a
    ``Duplicate value`` (validation.go, ``allNames``)."""
    bad = _service(
        ServicePort(80, name="HTTP"), ServicePort(81, name="a"), ServicePort(82, name="a")
    )
    assert validate_service(bad) == [
        'spec.ports[0].name: Invalid value: "HTTP": a lowercase RFC 1123 label must consist of '
        "lower case alphanumeric characters or '-', and must start and end with an alphanumeric "
        "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        'spec.ports[2].name: Duplicate value: "a"',
    ]


def test_port_number_protocol_and_target_port() -> None:
    """validateServicePort: IsValidPortNum on ``port``, ``protocol`` among
    supportedPortProtocols, then ValidatePortNumOrName on ``targetPort`` (a number in range or
    an IsValidPortName IANA_SVC_NAME); an unset targetPort defaults to the port
    (pkg/apis/core/v1/defaults.go SetDefaults_Service), so a bad port fails it too."""
    assert validate_service(_service(ServicePort(0, protocol="HTTP"))) == [
        f"spec.ports[0].port: Invalid value: 0: {RANGE}",
        'spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        f"spec.ports[0].targetPort: Invalid value: 0: {RANGE}",
    ]
    assert validate_service(_service(ServicePort(80, 70000))) == [
        f"spec.ports[0].targetPort: Invalid value: 70000: {RANGE}"
    ]
    assert validate_service(_service(ServicePort(80, "web"))) == []
    assert validate_service(_service(ServicePort(80, "Http--port-1234567"))) == [
        f'spec.ports[0].targetPort: Invalid value: "Http--port-1234567": {m}'
        for m in (
            "must be no more than 15 characters",
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
            "must not contain consecutive hyphens (--)",
        )
    ]
    assert validate_service(_service(ServicePort(80, "123"))) == [
        'spec.ports[0].targetPort: Invalid value: "123": must contain at least one letter (a-z)'
    ]


def test_duplicate_port_and_protocol() -> None:
    """ValidateService: two ports with one (protocol, port) pair are a ``Duplicate value`` of
    the key ``core.ServicePort{Protocol, Port}``, as field.Error prints a struct (``%#v``)."""
    dup = _service(ServicePort(80, name="a"), ServicePort(80, 81, name="b"))
    assert validate_service(dup) == [
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
        "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
        'StrVal:""}, NodePort:0}'
    ]
    udp = _service(ServicePort(53, name="a"), ServicePort(53, name="b", protocol="UDP"))
    assert validate_service(udp) == []


def test_ports_are_required_but_for_headless_and_external_name() -> None:
    """ValidateService: ``spec.ports`` is required unless the Service is headless
    (isHeadlessService) or of type ExternalName."""
    assert validate_service(_service()) == ["spec.ports: Required value"]
    assert validate_service(_service(cluster_ip="None")) == []
    assert validate_service(_service(type="ExternalName")) == []


def test_type_rules() -> None:
    """ValidateService: a type outside supportedServiceType is ``Unsupported``; a NodePort or
    LoadBalancer Service may not be headless; an ExternalName one has no cluster IP."""
    assert validate_service(_service(ServicePort(80), type="Fancy")) == [
        'spec.type: Unsupported value: "Fancy": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"'
    ]
    assert validate_service(_service(ServicePort(80), type="NodePort", cluster_ip="None")) == [
        "spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort "
        "services"
    ]
    assert validate_service(_service(type="ExternalName", cluster_ip="10.96.0.9")) == [
        "spec.clusterIPs: Forbidden: may not be set for ExternalName services"
    ]


def test_selector_labels_are_validated() -> None:
    """ValidateService: ``spec.selector`` goes through ValidateLabels."""
    bad = attrs.evolve(
        _service(ServicePort(80)), spec=ServiceSpec({"a b": "c"}, (ServicePort(80),))
    )
    assert validate_service(bad) == ["spec.selector: Invalid value: 'a b': not a valid label key"]


def test_causes_come_in_upstreams_order() -> None:
    """ValidateService reports required ports and per-port causes, then the selector, session
    affinity, type, duplicate ports and internal traffic policy, in that order."""
    bad = Service(
        META,
        ServiceSpec(
            selector={"a b": "c"},
            ports=(ServicePort(80, name="a"), ServicePort(80)),
            type="Fancy",
        ),
    )
    fields = [cause.split(":")[0] for cause in validate_service(bad)]
    assert fields == ["spec.ports[1].name", "spec.selector", "spec.type", "spec.ports[1]"]


def test_the_cluster_ip_may_not_change_once_set() -> None:
    """ValidateServiceUpdate's validateUpgradeDowngradeClusterIPs: a changed cluster IP is
    refused (but to or from ExternalName), and ValidateService's causes follow."""
    old = _service(ServicePort(80), cluster_ip="10.96.0.5")
    moved = _service(cluster_ip="10.96.0.6")
    assert service_update_causes(old, moved) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.6"}: may not change once set',
        "spec.ports: Required value",
    ]
    external = _service(type="ExternalName")
    assert service_update_causes(old, external) == []


async def test_the_api_refuses_unnamed_ports_and_a_moved_cluster_ip_with_422() -> None:
    """The Service strategy (pkg/registry/core/service/strategy.go) validates with
    ValidateServiceCreate and ValidateServiceUpdate: refused as Invalid (422) with the causes;
    before, a two-port Service with an unnamed port was stored and its Endpoints refused."""
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    with pytest.raises(errors.Invalid) as refused:
        await ctx.api.create(_service(ServicePort(80, name="http"), ServicePort(443)))
    assert refused.value.code == 422
    assert refused.value.causes == ["spec.ports[1].name: Required value"]
    stored = await ctx.api.create(_service(ServicePort(80)))
    moved = attrs.evolve(stored, spec=attrs.evolve(stored.spec, cluster_ip="10.96.200.200"))
    with pytest.raises(errors.Invalid) as immutable:
        await ctx.api.update(moved)
    assert immutable.value.causes == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.200.200"}: may not change once set'
    ]


SCENARIO = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata:
  name: t
spec:
  duration: 2m
  cluster:
    nodeGroups:
      - name: worker
        count: 1
        capacity: {cpu: "2", memory: 4Gi, pods: 30}
  workloads:
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports: [{port: 80}, {port: 443, name: https}]
"""


def test_a_scenario_manifest_with_an_unnamed_port_is_refused_at_its_line() -> None:
    """The loader checks a manifest with the API server's rules (ValidateService's
    validateServicePort): the cause names the file and line."""
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(SCENARIO, "s.yaml")
    (error,) = (str(e) for e in exc.value.errors)
    assert error.startswith("s.yaml:") and error.endswith("spec.ports[0].name: Required value")


async def test_the_front_door_answers_a_bad_service_with_upstreams_422() -> None:
    """POST of a Service with two ports of one number (as ``kubectl apply`` sends it): 422
    Invalid with ``details.causes`` (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
    create.go), the cause ValidateService's ``Duplicate value``."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "dup"},
        "spec": {
            "selector": {"app": "x"},
            "ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}],
        },
    }
    async with running(nodes=1) as cluster:
        answer = await request(
            front_door(cluster),
            "/api/v1/namespaces/default/services",
            body=json.dumps(manifest).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
    assert answer.status == 422
    status = answer.json()
    assert status["message"].startswith('Service "dup" is invalid: spec.ports[1]: Duplicate value')
    (cause,) = status["details"]["causes"]
    assert cause["field"] == "spec.ports[1]" and cause["reason"] == "FieldValueDuplicate"


TWO_UNNAMED_PORTS = """\
apiVersion: v1
kind: Service
metadata: {name: twoports}
spec:
  selector: {app: web}
  ports: [{port: 80}, {port: 443}]
"""


def test_kubectl_apply_of_a_service_with_unnamed_ports_is_refused(tmp_path: Path) -> None:
    """``kubectl apply`` (v1.32) of a two-port Service without port names: the API answers
    ValidateService's causes (validateServicePort) as 422, which kubectl prints as ``The Service
    "twoports" is invalid: ...``; nothing is stored."""
    manifest = tmp_path / "twoports.yaml"
    manifest.write_text(TWO_UNNAMED_PORTS, encoding="utf-8")
    with served(tmp_path, scenario_file(tmp_path, duration="1h", nodes=1), 4) as cluster:
        refused = cluster.kubectl("apply", "-f", str(manifest))
        missing = cluster.kubectl("get", "service", "twoports")
    assert refused.returncode != 0
    assert 'The Service "twoports" is invalid:' in refused.stderr
    assert "spec.ports[0].name: Required value" in refused.stderr
    assert "spec.ports[1].name: Required value" in refused.stderr
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_an_empty_protocol_is_defaulted_to_tcp_not_refused() -> None:
    """pkg/apis/core/v1/defaults.go SetDefaults_Service sets an empty port protocol to TCP
    before validateServicePort sees it: ``protocol: ""`` is accepted as TCP."""
    manifest = SCENARIO.replace("{port: 80}", '{port: 80, name: http, protocol: ""}')
    (web,) = parse_scenario(manifest, "s.yaml").workloads
    assert isinstance(web, Service) and web.spec.ports[0].protocol == "TCP"


async def test_a_service_turned_external_name_drops_its_cluster_ip() -> None:
    """pkg/registry/core/service/strategy.go dropTypeDependentFields: an update to type
    ExternalName that keeps the old cluster IP has it cleared, so ValidateService's
    ``spec.clusterIPs: Forbidden`` does not refuse it; an update that leaves the IP empty on a
    ClusterIP Service keeps the allocated one (storage/alloc.go patchAllocatedValues)."""
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    stored = await ctx.api.create(_service(ServicePort(80)))
    kept = await ctx.api.update(
        attrs.evolve(stored, spec=attrs.evolve(stored.spec, cluster_ip="", selector={"a": "b"}))
    )
    assert kept.spec.cluster_ip == stored.spec.cluster_ip != ""
    external = await ctx.api.update(
        attrs.evolve(kept, spec=attrs.evolve(kept.spec, type="ExternalName"))
    )
    assert external.spec.type == "ExternalName" and external.spec.cluster_ip == ""
