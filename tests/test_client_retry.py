"""client-go retries what the API server asks it to: the model's components do too.

client-go's ``rest.Request`` sends a request again by itself when the answer is 429 (or any 5xx)
with a ``Retry-After`` header: it waits the header's seconds, up to ``maxRetries`` 10 times
(staging/src/k8s.io/client-go/rest/request.go ``NewRequest``: ``maxRetries: 10``;
rest/with_retry.go ``IsNextRetry`` and ``checkWait``). The API server's overload answer is 429
with ``Retry-After: 1`` (staging/src/k8s.io/apiserver/pkg/server/filters/maxinflight.go
``tooManyRequests``), so an APF rejection costs a component a second, not a failed sync; an
answer without the header (a 503 from a load balancer with no healthy backend) reaches the caller
at once. Requests through the HTTP front door are an outside client's: they get the 429.
"""

from __future__ import annotations

import trio

from kubechaos.api import errors
from kubechaos.client.identity import as_client, set_client
from kubechaos.cluster import Cluster
from kubechaos.control.apiserver import Request
from kubechaos.faults import APIServerThrottle, Chaos

from .harness import running

COMPONENT = "test-controller"


def refuse_first(
    cluster: Cluster, times: int, exc: type[errors.APIError], retry_after: int
) -> None:
    """A request hook refusing the test component's first ``times`` requests."""
    left = [times]

    def hook(request: Request) -> float:
        if request.client in (COMPONENT, "kubectl") and left[0] > 0:
            left[0] -= 1
            error = exc("Too many requests, please try again later.")
            error.retry_after_seconds = retry_after
            raise error
        return 0.0

    cluster.api.request_hooks.append(hook)


async def as_component(cluster: Cluster) -> tuple[float, BaseException | None]:
    """A GET by a model component (a task named by set_client): how long it took, and what it
    raised."""
    result: list[tuple[float, BaseException | None]] = []

    async def component() -> None:
        set_client(COMPONENT)
        start = trio.current_time()
        try:
            await cluster.api.get("namespaces", "", "default")
        except errors.APIError as exc:
            result.append((trio.current_time() - start, exc))
        else:
            result.append((trio.current_time() - start, None))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(component)
    return result[0]


async def test_a_429_with_retry_after_is_sent_again_after_a_second_by_the_component() -> None:
    async with running(nodes=1) as cluster:
        refuse_first(cluster, 3, errors.TooManyRequests, retry_after=1)
        took, raised = await as_component(cluster)
        assert raised is None
        assert 3.0 <= took < 3.5, took  # three Retry-After waits of 1 s, plus the latencies
        assert cluster.api.stats.total[("get", "namespaces", 429)] == 3
        assert cluster.api.stats.total[("get", "namespaces", 200)] >= 1


async def test_the_eleventh_429_reaches_the_caller() -> None:
    async with running(nodes=1) as cluster:
        refuse_first(cluster, 11, errors.TooManyRequests, retry_after=1)
        took, raised = await as_component(cluster)
        assert isinstance(raised, errors.TooManyRequests)
        assert 10.0 <= took < 11.0, took  # sent 11 times: 10 retries (maxRetries)
        assert cluster.api.stats.total[("get", "namespaces", 429)] == 11


async def test_without_retry_after_or_from_outside_the_error_is_returned_at_once() -> None:
    async with running(nodes=1) as cluster:
        refuse_first(cluster, 1, errors.ServiceUnavailable, retry_after=0)
        took, raised = await as_component(cluster)
        assert isinstance(raised, errors.ServiceUnavailable) and took < 0.5
        refuse_first(cluster, 1, errors.TooManyRequests, retry_after=0)  # e.g. a PDB's eviction
        took, raised = await as_component(cluster)
        assert isinstance(raised, errors.TooManyRequests) and took < 0.5
        refuse_first(cluster, 1, errors.TooManyRequests, retry_after=1)
        with as_client("kubectl"):  # the front door's clients retry by themselves
            start = trio.current_time()
            try:
                await cluster.api.get("namespaces", "", "default")
            except errors.TooManyRequests:
                pass
            else:
                raise AssertionError("an outside client must get the 429")
            assert trio.current_time() - start < 0.5


async def test_the_throttle_fault_answers_as_the_apiserver_does_with_retry_after_1() -> None:
    async with running(nodes=1) as cluster:
        chaos = Chaos(cluster)
        await chaos.inject(APIServerThrottle(fraction=1.0, verbs=("get",)))
        try:
            await cluster.api.get("namespaces", "", "default")
        except errors.TooManyRequests as exc:
            assert exc.retry_after_seconds == 1
            assert exc.message == "Too many requests, please try again later."
        else:
            raise AssertionError("refused")
