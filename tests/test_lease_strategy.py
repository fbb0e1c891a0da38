"""The Lease strategy's validation (pkg/registry/coordination/lease/strategy.go: ValidateLease
on create, ValidateLeaseUpdate on update, both with ValidateLeaseSpec from
pkg/apis/coordination/validation/validation.go): a ``leaseDurationSeconds`` that is set must be
greater than 0, a ``leaseTransitions`` that is set must not be negative, on every write, the
kubelet's renewal fast path (the metadata sent back as served) included."""

from __future__ import annotations

import pytest

from kubechaos.api import errors
from kubechaos.api.objects import Lease, LeaseSpec, ObjectMeta
from kubechaos.control.apiserver import APIServer
from kubechaos.control.bootstrap import bootstrap, control_plane
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings


async def _server() -> APIServer:
    _, api, ctx = control_plane(3, Settings())
    await bootstrap(ctx)
    return api


def _lease(name: str, spec: LeaseSpec) -> Lease:
    return Lease(ObjectMeta(name=name, namespace=NODE_LEASE_NAMESPACE), spec)


@pytest.mark.parametrize(
    ("spec", "cause"),
    [
        (
            LeaseSpec("n1", 0, 0.0, 0.0),
            "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
        ),
        (
            LeaseSpec("n1", 40, 0.0, 0.0, -1),
            "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0",
        ),
    ],
)
async def test_a_lease_with_an_invalid_spec_is_refused_on_create(spec: LeaseSpec, cause: str):
    """ValidateLease: 422 Invalid, naming the field and upstream's message."""
    api = await _server()
    with pytest.raises(errors.Invalid) as refused:
        await api.create(_lease("n1", spec))
    assert cause in str(refused.value)
    assert api.cached("leases", NODE_LEASE_NAMESPACE, "n1") is None


async def test_a_renewal_with_an_invalid_spec_is_refused_though_its_metadata_is_not_checked():
    """ValidateLeaseUpdate checks the spec of every update: a renewal that sends back the
    metadata as served (the strategy's fast path, whose metadata it does not check again) with
    a negative leaseTransitions or a zero leaseDurationSeconds is 422 Invalid, and the stored
    Lease stays as it was; a valid renewal then goes through."""
    api = await _server()
    created = await api.create(_lease("n1", LeaseSpec("n1", 40, 0.0, 0.0)))
    for bad in (LeaseSpec("n1", 40, 0.0, 10.0, -2), LeaseSpec("n1", 0, 0.0, 10.0)):
        with pytest.raises(errors.Invalid, match=r"spec\.lease"):
            await api.update(Lease(created.metadata, bad))
        assert api.cached("leases", NODE_LEASE_NAMESPACE, "n1") == created
    renewed = await api.update(Lease(created.metadata, LeaseSpec("n1", 40, 0.0, 10.0, 1)))
    assert renewed.spec.renew_time == 10.0
    assert renewed.spec.lease_transitions == 1
