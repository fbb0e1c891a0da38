"""What the Endpoints and EndpointSlice controllers share: a Service's pods, found through indexes.

Both controllers (pkg/controller/endpoint, pkg/controller/endpointslice) reconcile one Service at
a time from the pods its selector matches, and must follow every pod readiness flip, IP
assignment, deletion and label change cheaply at 5,000 services and 150,000 pods. Two indexes
keep each event's cost independent of cluster size:

- services by one ``(namespace, label key, value)`` pair of their selector: a pod can only be
  selected by a service whose index pair is among the pod's labels, so a pod event looks in as
  many buckets as the pod has labels and fully matches only the services found there;
- pods by every ``(namespace, label key, value)`` they carry: a sync takes the smallest bucket among
  the selector's pairs instead of scanning the namespace.

A pod event enqueues only the Services that select the pod (before or after a label change).

Upstream lists the Service's pods from the pod lister on each sync; here each controller keeps its
Services' endpoints from the pods an event touched (``enqueue_pod_services`` names the pod): a
sync reads those pods, found selected or not through the pod index (:meth:`selects`), and every
selected pod only when it rebuilds a Service's endpoints (:meth:`selected_pods`; a one-pair
selector, the common case, takes its bucket as the answer without matching each pod again).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from kubechaos.api import workcount
from kubechaos.api.objects import Pod, Service, key_of
from kubechaos.api.selectors import selector_from_labels
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller

IndexKey = tuple[str, str, str]  # (namespace, label key, label value)


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A Service selector (plain equality on every pair) against an object's labels."""
    return all(labels.get(key) == value for key, value in selector.items())


def endpoint_view(pod: Pod) -> tuple[object, ...]:
    """The fields of a pod its endpoints depend on; other updates are skipped (upstream's
    podEndpointsChanged, staging/src/k8s.io/endpointslice/util/controller_utils.go: IPs,
    readiness, deletion; plus the phase, see below).

    Not the node: upstream notes that NodeName is immutable once set, which happens before the
    pod gets an IP, so a pod's binding wakes no Service (an IP-less pod has no endpoint). The
    phase is kept although upstream does not compare it: a pod turning Succeeded or Failed
    leaves its Services at once here (ShouldPodBeInEndpoints drops terminal pods)."""
    return (
        pod.status.pod_ip,
        pod.is_ready(),
        pod.metadata.deletion_timestamp is None,
        pod.is_terminal(),
    )


def endpoint_changed(old: Pod, new: Pod) -> bool:
    """``endpoint_view(old) != endpoint_view(new)``, compared field by field and stopping at
    the first difference, without building either view: the same status object (a metadata
    write) compares nothing but the deletion."""
    old_status, new_status = old.status, new.status
    if (old.metadata.deletion_timestamp is None) != (new.metadata.deletion_timestamp is None):
        return True
    if old_status is new_status:
        return False
    if old_status.pod_ip != new_status.pod_ip:
        return True
    # (the same phase is the same terminality: no need to ask either pod)
    if old_status.phase != new_status.phase and old.is_terminal() != new.is_terminal():
        return True
    if old_status.conditions is new_status.conditions:
        return False
    return old.is_ready() != new.is_ready()


class ServicePodsController(Controller):
    """A controller keyed by Service, woken by the pods its selector matches."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.services: Informer[Service] = ctx.informer("services", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self._services_by_label: dict[IndexKey, dict[str, None]] = {}
        self._service_index_key: dict[str, IndexKey] = {}
        self._pods_by_label: dict[IndexKey, dict[str, None]] = {}
        # What services_for last answered for each pod: (the labels object it read, the
        # service index's version then, the answer). A pod's later events (its binding, IP,
        # readiness: the labels object kept through them) reuse it while no service has
        # joined, left or changed its selector (each bumps the version).
        self._services_version = 0
        self._pod_services: dict[str, tuple[Mapping[str, str], int, list[str]]] = {}
        self.services.add_handler(
            Handler(self._on_service_add, self._on_service_update, self._on_service_delete)
        )
        self.pods.add_handler(Handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete))

    # ------------------------------------------------------------------ service index
    def _index_service(self, svc: Service) -> None:
        skey = key_of(svc)
        pair = selector_from_labels(svc.spec.selector).index_key()
        if pair is None:
            return  # no selector: these controllers leave its endpoints alone
        index_key = (svc.metadata.namespace, *pair)
        self._services_by_label.setdefault(index_key, {})[skey] = None
        self._service_index_key[skey] = index_key
        self._services_version += 1

    def _unindex_service(self, skey: str) -> None:
        index_key = self._service_index_key.pop(skey, None)
        if index_key is None:
            return
        bucket = self._services_by_label[index_key]
        del bucket[skey]
        if not bucket:
            del self._services_by_label[index_key]
        self._services_version += 1

    def services_for(self, namespace: str, labels: Mapping[str, str]) -> list[str]:
        """Keys of the services in ``namespace`` whose selector matches ``labels``."""
        found: dict[str, None] = {}
        for key, value in labels.items():
            for skey in self._services_by_label.get((namespace, key, value), ()):
                svc = self.services.get(skey)
                if svc is not None and selector_matches(svc.spec.selector, labels):
                    found[skey] = None
        return list(found)

    def _services_of(self, pkey: str, namespace: str, labels: Mapping[str, str]) -> list[str]:
        """:meth:`services_for` pod ``pkey`` with these labels, reused while its labels object
        and the service index are those of its last answer (see ``_pod_services``)."""
        version = self._services_version
        seen = self._pod_services.get(pkey)
        if seen is not None and seen[0] is labels and seen[1] == version:
            return seen[2]
        found = self.services_for(namespace, labels)
        self._pod_services[pkey] = (labels, version, found)
        return found

    def _on_service_add(self, svc: Service) -> None:
        self._index_service(svc)
        self.enqueue(key_of(svc))

    def _on_service_update(self, old: Service, new: Service) -> None:
        if old.spec.selector != new.spec.selector:
            self._unindex_service(key_of(old))
            self._index_service(new)
        self.enqueue(key_of(new))

    def _on_service_delete(self, svc: Service) -> None:
        self._unindex_service(key_of(svc))
        self.enqueue(key_of(svc))

    # ------------------------------------------------------------------ pod index
    def _index_pod(self, pod: Pod) -> None:
        pkey = key_of(pod)
        namespace = pod.metadata.namespace
        for key, value in pod.metadata.labels.items():
            self._pods_by_label.setdefault((namespace, key, value), {})[pkey] = None

    def _unindex_pod(self, pod: Pod) -> None:
        pkey = key_of(pod)
        namespace = pod.metadata.namespace
        for key, value in pod.metadata.labels.items():
            index_key = (namespace, key, value)
            bucket = self._pods_by_label.get(index_key)
            if bucket is None:
                continue
            bucket.pop(pkey, None)
            if not bucket:
                del self._pods_by_label[index_key]

    def enqueue_pod_services(self, keys: Iterable[str], pod_key: str) -> None:
        """A change of pod ``pod_key`` reached these Services (the EndpointSlice controller
        batches them, and notes the pod to look at again)."""
        for key in keys:
            self.enqueue(key)

    def _on_pod_add(self, pod: Pod) -> None:
        self._index_pod(pod)
        meta, pkey = pod.metadata, key_of(pod)
        self.enqueue_pod_services(self._services_of(pkey, meta.namespace, meta.labels), pkey)

    def _on_pod_update(self, old: Pod, new: Pod) -> None:
        labels, old_labels = new.metadata.labels, old.metadata.labels
        # (the same labels object, kept through every write that leaves them alone, is equal
        # without comparing them: most updates are status writes)
        if old_labels is not labels and old_labels != labels:
            namespace, pkey = new.metadata.namespace, key_of(new)
            self._unindex_pod(old)
            self._index_pod(new)
            # Services that selected the old labels lose the pod; those of the new gain it.
            self.enqueue_pod_services(self._services_of(pkey, namespace, old_labels), pkey)
            self.enqueue_pod_services(self._services_of(pkey, namespace, labels), pkey)
        elif endpoint_changed(old, new):
            namespace, pkey = new.metadata.namespace, key_of(new)
            self.enqueue_pod_services(self._services_of(pkey, namespace, labels), pkey)

    def _on_pod_delete(self, pod: Pod) -> None:
        self._unindex_pod(pod)
        meta, pkey = pod.metadata, key_of(pod)
        self.enqueue_pod_services(self._services_of(pkey, meta.namespace, meta.labels), pkey)
        self._pod_services.pop(pkey, None)

    # ------------------------------------------------------------------ reconcile helpers
    def _selection_bucket(self, svc: Service) -> tuple[dict[str, None], bool]:
        """The smallest index bucket among the selector's pairs, and whether it is the only one
        (then it is the selection itself)."""
        namespace = svc.metadata.namespace
        by_label = self._pods_by_label
        buckets = [by_label.get((namespace, k, v), {}) for k, v in svc.spec.selector.items()]
        return min(buckets, key=len), len(buckets) == 1

    def selects(self, svc: Service, pod_key: str) -> bool:
        """Whether ``svc``'s selector matches pod ``pod_key`` now, from the pod index alone."""
        namespace, by_label = svc.metadata.namespace, self._pods_by_label
        return all(
            pod_key in by_label.get((namespace, k, v), ()) for k, v in svc.spec.selector.items()
        )

    def selection_order(self, svc: Service) -> Iterator[str]:
        """The keys of the pods ``svc`` selects, in the order :meth:`selected_pods` visits
        them (read from the index, no pod looked at)."""
        bucket, only = self._selection_bucket(svc)
        if only:
            yield from bucket
            return
        for pkey in bucket:
            if self.selects(svc, pkey):
                yield pkey

    def selected_pods(self, svc: Service) -> Iterator[tuple[str, Pod]]:
        """``(key, pod)`` of every pod ``svc`` selects, from the smallest index bucket."""
        selector = svc.spec.selector
        bucket, only = self._selection_bucket(svc)
        workcount.PODS_VISITED += len(bucket)
        store = self.pods.store
        if only:  # the bucket of the selector's only pair is its selection
            for pkey in bucket:
                pod = store.get(pkey)
                if pod is not None:
                    yield pkey, pod
            return
        for pkey in bucket:
            pod = store.get(pkey)
            if pod is not None and selector_matches(selector, pod.metadata.labels):
                yield pkey, pod


__all__ = ["ServicePodsController", "endpoint_changed", "endpoint_view", "selector_matches"]
