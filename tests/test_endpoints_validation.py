"""Validation of core/v1 Endpoints as upstream v1.32's ``ValidateEndpoints``
(pkg/apis/core/validation/validation.go) and the cost of the Endpoints controller's updates."""

from __future__ import annotations

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api import validation_endpoints as validation
from kubechaos.api.objects import (
    EndpointAddress,
    Endpoints,
    EndpointSubset,
    ObjectMeta,
    ServicePort,
)
from kubechaos.api.validation_endpoints import validate_endpoints, validate_endpoints_update
from kubechaos.control.bootstrap import bootstrap, new_control_plane

from .factories import service
from .harness import wait_until
from .test_endpoints import running, set_status, start_pod

META = ObjectMeta(name="web", namespace="default")
PORT = (ServicePort(80, 8080),)
AT = "subsets[0].addresses[0].ip: Invalid value: "


def _endpoints(*subsets: EndpointSubset) -> Endpoints:
    return Endpoints(META, subsets)


def _one(ip: str, node: str = "n1", ports: tuple[ServicePort, ...] = PORT) -> Endpoints:
    return _endpoints(EndpointSubset((EndpointAddress(ip, node, "default/p"),), (), ports))


def test_a_subset_needs_a_ready_or_not_ready_address() -> None:
    """validateEndpointSubsets (pkg/apis/core/validation/validation.go): a subset with neither
    ``addresses`` nor ``notReadyAddresses`` is refused; one with only not-ready ones is not."""
    assert validate_endpoints(_endpoints(EndpointSubset((), (), PORT))) == [
        "subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`"
    ]
    not_ready = EndpointSubset((), (EndpointAddress("10.0.0.5", "n1"),), PORT)
    assert validate_endpoints(_endpoints(not_ready)) == []


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("0.0.0.0", "may not be unspecified (0.0.0.0)"),
        ("::", "may not be unspecified (::)"),
        ("127.0.0.9", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        ("::1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        ("::ffff:127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        ("::ffff:127.000.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        ("169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        ("fe80::1", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        ("224.0.0.251", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
        ("ff02::1", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
    ],
)
def test_a_special_ip_is_refused_with_upstreams_words(ip: str, message: str) -> None:
    """ValidateNonSpecialIP (pkg/apis/core/validation/validation.go), called by
    validateEndpointAddress: Go's IsUnspecified, IsLoopback, IsLinkLocalUnicast and
    IsLinkLocalMulticast (an IPv4-mapped address judged as its IPv4 one)."""
    assert validate_endpoints(_one(ip)) == [f'{AT}"{ip}": {message}']


@pytest.mark.parametrize("ip", ["10.244.1.7", "010.244.001.007", "2001:db8::7", "239.1.2.3"])
def test_an_ordinary_ip_passes(ip: str) -> None:
    """validateEndpointAddress's IsValidIP parses with netutils.ParseIPSloppy (leading zeros
    allowed in IPv4 parts); multicast outside the link-local range is not refused."""
    assert validate_endpoints(_one(ip)) == []


@pytest.mark.parametrize("ip", ["", "10.1.2", "10.1.2.256", "fe80::1%eth0", "pod-a"])
def test_an_unparsable_ip_has_both_upstream_causes(ip: str) -> None:
    """validateEndpointAddress (pkg/apis/core/validation/validation.go): IsValidIP's cause,
    then ValidateNonSpecialIP's own, both on ``ip``."""
    assert validate_endpoints(_one(ip)) == [
        f'{AT}"{ip}": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
        f'{AT}"{ip}": must be a valid IP address',
    ]


def test_a_node_name_must_be_a_dns_subdomain() -> None:
    """validateEndpointAddress: a set nodeName passes ValidateNodeName (IsDNS1123Subdomain),
    checked between the two IP rules."""
    assert validate_endpoints(_one("10.0.0.1", "Node_1")) == [
        'subsets[0].addresses[0].nodeName: Invalid value: "Node_1": a lowercase RFC 1123 '
        "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    ]


def test_ports_need_names_numbers_and_protocols() -> None:
    """validateEndpointPort (pkg/apis/core/validation/validation.go): a name is required when
    the subset has more than one port and is a DNS label (IsDNS1123Label: "must not contain
    dots" for a subdomain); IsValidPortNum; a protocol of SCTP, TCP or UDP."""
    ports = (
        ServicePort(80, 8080),
        ServicePort(81, 0, "a.b"),
        ServicePort(82, 70000, "c"),
        ServicePort(83, 0, "d", protocol="HTTP"),
        ServicePort(84, 0, "e", protocol=""),
    )
    at = "subsets[0].ports"
    assert validate_endpoints(_one("10.0.0.1", ports=ports)) == [
        f"{at}[0].name: Required value",
        f'{at}[1].name: Invalid value: "a.b": must not contain dots',
        f"{at}[2].port: Invalid value: 70000: must be between 1 and 65535, inclusive",
        f'{at}[3].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        f"{at}[4].protocol: Required value",
    ]
    assert validate_endpoints(_one("10.0.0.1", ports=ports[:1])) == []  # one port: no name


def test_an_update_reports_what_a_create_would() -> None:
    """ValidateEndpointsUpdate validates the whole new object (ValidateEndpoints): a bad address
    added, or a stored one made bad, is refused with the create's causes and positions."""
    good = [EndpointAddress(f"10.0.0.{i}", "n1") for i in range(1, 6)]
    old = _endpoints(EndpointSubset(tuple(good), (), PORT))
    for bad in (
        [*good[:2], EndpointAddress("127.0.0.1", "n1"), *good[2:]],
        [*good[:4], EndpointAddress("10.0.0.5", "N1")],
        [EndpointAddress("", "n1"), *good[1:]],
    ):
        new = _endpoints(EndpointSubset(tuple(bad), (), PORT))
        assert validate_endpoints(new)
        assert validate_endpoints_update(new, old) == validate_endpoints(new)
    emptied = _endpoints(EndpointSubset((), (), PORT))
    assert validate_endpoints_update(emptied, old) == validate_endpoints(emptied)
    grown = _endpoints(old.subsets[0], EndpointSubset((EndpointAddress("0.0.0.0"),), (), PORT))
    assert validate_endpoints_update(grown, old) == validate_endpoints(grown) != []
    renumbered = _endpoints(attrs.evolve(old.subsets[0], ports=(ServicePort(80, 0, "x.y"),)))
    assert validate_endpoints_update(renumbered, old) == validate_endpoints(renumbered) != []


async def test_the_api_refuses_a_bad_endpoints_with_422() -> None:
    """The Endpoints strategy's Validate (pkg/registry/core/endpoint/strategy.go) calls
    ValidateEndpointsCreate: a loopback address is refused as Invalid (422), with the cause."""
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    with pytest.raises(errors.Invalid) as refused:
        await ctx.api.create(_one("127.0.0.1"))
    assert refused.value.code == 422
    assert refused.value.causes == [
        f'{AT}"127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)'
    ]
    stored = await ctx.api.create(_one("10.0.0.1"))
    with pytest.raises(errors.Invalid, match="link-local"):
        await ctx.api.update(attrs.evolve(stored, subsets=_one("169.254.1.1").subsets))


async def test_a_readiness_flip_checks_only_the_address_that_moved() -> None:
    """The Endpoints controller's update after one pod turns unready checks the one address it
    rewrote, not the Service's 40 (upstream's ValidateEndpointsUpdate checks all; the result is
    the same, the kept addresses having passed the same rules when stored)."""
    async with running() as (ctx, controller):
        await ctx.api.create(service("web"))
        for i in range(40):
            await start_pod(ctx, f"p{i}", f"10.1.0.{i + 2}")

        def addresses(ready: int) -> bool:
            ep = controller.endpoints.store.get("default/web")
            return ep is not None and len(ep.ready_addresses()) == ready

        await wait_until(lambda: addresses(40), 30, "40 ready addresses")
        await trio.sleep(2)
        before = validation.ADDRESSES_VALIDATED
        await set_status(ctx, "p17", ready=False)
        await wait_until(lambda: addresses(39), 30, "p17 not ready")
        assert validation.ADDRESSES_VALIDATED - before == 1


def test_an_update_of_several_scattered_addresses_checks_only_those() -> None:
    """A sync after several pod events rewrites addresses far apart in the list: only those
    are checked, the ones between them being the stored version's objects (upstream's
    ValidateEndpointsUpdate checks all, with the same result)."""
    kept = [EndpointAddress(f"10.2.0.{i + 2}", "n1") for i in range(40)]
    old = _endpoints(EndpointSubset(tuple(kept), (), PORT))
    changed = list(kept)
    for at in (3, 20, 36):
        changed[at] = attrs.evolve(kept[at])
    del changed[10]
    new = _endpoints(EndpointSubset(tuple(changed), (), PORT))
    before = validation.ADDRESSES_VALIDATED
    assert validate_endpoints_update(new, old) == []
    assert validation.ADDRESSES_VALIDATED - before == 3
