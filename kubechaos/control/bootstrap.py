"""A fresh control plane: etcd, the API server in front of it, and the namespaces every cluster
has."""

from __future__ import annotations

from kubechaos.api.objects import Namespace, ObjectMeta, PriorityClass
from kubechaos.api.validation import SYSTEM_PRIORITY_CLASSES
from kubechaos.client.context import Context
from kubechaos.control.apiserver import APIServer
from kubechaos.control.etcd import Etcd
from kubechaos.control.registry.customclient import CustomClient
from kubechaos.defaults import NODE_LEASE_NAMESPACE, Settings
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import Rng

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", NODE_LEASE_NAMESPACE)


def control_plane(seed: int, settings: Settings) -> tuple[Etcd, APIServer, Context]:
    """A fresh etcd and API server, and the context components reach the API server through
    (no tasks started; call :func:`bootstrap` inside a run)."""
    rng = Rng(seed)
    events = EventLog()
    etcd = Etcd(settings, rng.stream("etcd"))
    api = APIServer(etcd, settings, rng, events)
    custom = CustomClient(api.custom, api.watch_hooks)
    return etcd, api, Context(api, settings, rng, events, custom=custom)


def new_control_plane(seed: int = 0, settings: Settings | None = None) -> tuple[Etcd, Context]:
    """:func:`control_plane` for tests of one component: etcd and the component's context."""
    etcd, _, ctx = control_plane(seed, settings or Settings())
    return etcd, ctx


# The built-in classes' descriptions, as upstream's pkg/apis/scheduling/types.go has them.
_SYSTEM_PRIORITY_DESCRIPTIONS = {
    "system-cluster-critical": "Used for system critical pods that must run in the cluster, "
    "but can be moved to another node if necessary.",
    "system-node-critical": "Used for system critical pods that must not be moved from their "
    "current node.",
}


async def bootstrap(ctx: Context) -> None:
    """Create the namespaces every cluster has, then the built-in PriorityClasses (upstream's
    post-start hook ``scheduling/bootstrap-system-priority-classes``,
    pkg/registry/scheduling/rest/storage_scheduling.go)."""
    for name in SYSTEM_NAMESPACES:
        await ctx.api.create(Namespace(ObjectMeta(name=name)))
    for name, value in SYSTEM_PRIORITY_CLASSES.items():
        obj = PriorityClass(
            ObjectMeta(name=name), value, description=_SYSTEM_PRIORITY_DESCRIPTIONS[name]
        )
        if isinstance(ctx.api, APIServer):
            ctx.api.create_at_start(obj)
        else:  # a client in front of the server (a test's): through the request path
            await ctx.api.create(obj)
