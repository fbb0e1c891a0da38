"""Names the API server generates from ``generateName``.

Upstream's ``simpleNameGenerator.GenerateName``
(staging/src/k8s.io/apiserver/pkg/storage/names/generate.go) cuts a base longer than
``MaxGeneratedNameLength`` (63 - 5 = 58) to 58 characters before it appends the 5 random
characters, so a generated name is never longer than 63: a Deployment of a long name gets pods
named with the first 58 characters of ``<deployment>-<hash>-``, not a 70-character name.
"""

from __future__ import annotations

from kubechaos.api.objects import ObjectMeta, Pod
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.sim.rand import SAFE_ENCODE_ALPHABET, Rng
from tests.factories import deployment, pod_spec, service
from tests.harness import pods, running, wait_until
from tests.test_crd import CRD, widget

LONG = "a-very-long-application-name-that-keeps-going-and-going-on"  # 58 characters


def _suffix_ok(name: str, base: str) -> bool:
    return name.startswith(base) and all(c in SAFE_ENCODE_ALPHABET for c in name[len(base) :])


def test_a_base_over_58_characters_is_cut_to_58_before_the_suffix() -> None:
    """GenerateName: ``base[:58]`` plus 5 characters of utilrand's alphabet; a short base is
    kept whole; the suffix is the same draw either way (same stream, same seed)."""
    long_base = LONG + "-extra-"
    cut = Rng(7).generated_name(long_base, "generate-name")
    whole = Rng(7).generated_name("web-", "generate-name")
    assert len(LONG) == 58 and len(cut) == 63 and _suffix_ok(cut, LONG)
    assert whole.startswith("web-") and len(whole) == 9 and cut[58:] == whole[4:]
    exactly = Rng(7).generated_name(LONG, "generate-name")
    assert exactly == cut  # a base of exactly 58 is not cut


async def test_a_pod_created_with_a_long_generate_name_is_named_in_63_characters() -> None:
    """The pod registry's create (rest.BeforeCreate) names the pod with GenerateName."""
    _, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    created = await ctx.api.create(Pod(ObjectMeta(generate_name=LONG + "-xyz-"), pod_spec()))
    name = created.metadata.name
    assert len(name) == 63 and _suffix_ok(name, LONG)
    assert created.metadata.generate_name == LONG + "-xyz-"  # the request's field is kept


async def test_a_custom_object_with_a_long_generate_name_is_named_in_63_characters() -> None:
    """Custom objects are named by the same generator (apiextensions' customresource strategy
    runs rest.BeforeCreate too)."""
    _, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    custom = ctx.api.custom
    await custom.create(
        custom.resolve("apiextensions.k8s.io", "v1", "customresourcedefinitions"), CRD, ""
    )
    body = widget()
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = LONG + "-widget-"
    obj, _ = await custom.create(custom.resolve("example.com", "v1", "widgets"), body, "default")
    assert len(obj.metadata.name) == 63 and _suffix_ok(obj.metadata.name, LONG)


async def test_a_long_deployments_pods_and_endpointslices_have_names_of_63_characters() -> None:
    """A Deployment named at the 63-character DNS-label limit: its ReplicaSet's pods
    (``generateName: <replicaset>-``, pkg/controller/controller_utils.go) and its Service's
    EndpointSlices (``generateName: <service>-``, pkg/controller/endpointslice/util) are all
    named from the first 58 characters of their base."""
    name = LONG + "-tail"  # 63 characters: a valid Service name too
    async with running(nodes=2) as cluster:
        api = cluster.ctx.api
        await api.create(service(name, {"app": name}))
        await api.create(deployment(name, replicas=2, labels={"app": name}))
        await wait_until(lambda: len(pods(cluster, app=name)) == 2, 60, "two pods")
        for made in pods(cluster, app=name):
            assert len(made.metadata.name) == 63 and _suffix_ok(made.metadata.name, LONG)
        items, _ = await api.list("endpointslices")
        slices = [s for s in items if s.metadata.labels.get("kubernetes.io/service-name") == name]
        assert slices and all(len(s.metadata.name) == 63 for s in slices)
        assert all(_suffix_ok(s.metadata.name, LONG) for s in slices)
