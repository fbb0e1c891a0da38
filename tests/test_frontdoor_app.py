"""The front door's HTTP semantics, driven in-process through ASGI on virtual time.

What a Kubernetes client relies on, checked without a socket: paths and queries parsed as the
API server routes them (``staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``),
``Status`` errors with upstream's reasons and codes, ``limit``/``continue`` paging, watches from
a version and 410 from a compacted one (``apiserver/pkg/storage/cacher``), a slow watcher
dropped rather than holding the model back, the request-body limit, the token, and a fuzz of
random paths and query strings: every answer is a well-formed response, never an exception.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio
import yaml

from kubechaos.api.manifest import read_manifest
from kubechaos.api.objects import ObjectMeta, Pod
from kubechaos.cluster import Cluster
from kubechaos.defaults import Settings
from kubechaos.frontdoor.app import MAX_BODY_BYTES, FrontDoor, client_name
from kubechaos.frontdoor.paths import BadQuery, DiscoveryPath, NotServed, parse_path, parse_query
from kubechaos.frontdoor.tables import human_duration
from kubechaos.frontdoor.timefmt import Anchor
from kubechaos.frontdoor.watchstream import WATCH_BUFFER
from tests.factories import deployment, pod_spec
from tests.harness import running, wait_until

ANCHOR = Anchor(1_780_000_000.0)
MANIFESTS = Path(__file__).resolve().parent.parent / "scenarios" / "manifests"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


class Exchange:
    """One request through the ASGI app: what it sent back."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.done = False

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.done = not message.get("more_body", False)

    def json(self) -> Any:
        return json.loads(b"".join(self.chunks))

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in b"".join(self.chunks).splitlines() if line]


def scope(
    path: str, query: str = "", method: str = "GET", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode("latin-1", "replace"),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }


def receiver(body: bytes = b"") -> Callable[[], Awaitable[dict[str, Any]]]:
    """An ASGI receive: the request body, then nothing (the client stays connected)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await trio.sleep_forever()
        raise AssertionError  # pragma: no cover

    return receive


async def request(
    app: FrontDoor, path: str, query: str = "", body: bytes = b"", **kw: Any
) -> Exchange:
    exchange = Exchange()
    await app(scope(path, query, **kw), receiver(body), exchange.send)
    return exchange


def front_door(cluster: Cluster, token: str | None = None) -> FrontDoor:
    return FrontDoor(cluster.api, cluster.ctx.events, ANCHOR, "127.0.0.1:6443", token)


async def with_web(cluster: Cluster, replicas: int = 3) -> None:
    await cluster.apply([deployment("web", replicas=replicas)])
    await wait_until(
        lambda: sum(p.is_ready() for p in cluster.api.cache("pods").list("default")) == replicas,
        60,
        "web ready",
    )


def test_paths_route_as_the_api_server_routes_them() -> None:
    pods = parse_path("/api/v1/namespaces/default/pods/web-0/status")
    assert not isinstance(pods, DiscoveryPath)
    assert (pods.resource.name, pods.namespace, pods.name, pods.subresource) == (
        "pods",
        "default",
        "web-0",
        "status",
    )
    every = parse_path("/apis/apps/v1/deployments")
    assert not isinstance(every, DiscoveryPath) and every.namespace is None
    node = parse_path("/api/v1/nodes/worker-0")
    assert not isinstance(node, DiscoveryPath) and node.name == "worker-0"
    assert parse_path("/apis/apps") == DiscoveryPath("apps", legacy=False)
    for path in (
        "/api/v2",
        "/apis/apps/v9/deployments",
        "/api/v1/namespaces/x/nodes",
        "/nope",
        "/api/v1/pods/a/b/c/d",
    ):
        try:
            parse_path(path)
        except NotServed:
            continue
        raise AssertionError(f"{path} should not be served")


def test_queries_parse_as_list_options() -> None:
    query, _ = parse_query(
        b"labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dw0&limit=2&watch=1"
    )
    assert query.label_selector is not None and query.watch and query.limit == 2
    assert query.field_terms[0].field == "spec.nodeName"
    for bad in (
        b"limit=x",
        b"limit=-1",
        b"labelSelector=a%20in%20(",
        b"fieldSelector=nope",
        b"timeoutSeconds=1.5",
        b"x=" + b"a" * 20_000,
    ):
        try:
            parse_query(bad)
        except BadQuery:
            continue
        raise AssertionError(f"{bad[:40]!r} should be refused")


def test_human_durations_read_as_kubectl_prints_ages() -> None:
    """apimachinery/pkg/util/duration HumanDuration."""
    assert [
        human_duration(s)
        for s in (5, 119, 125, 600, 7200, 4 * 3600 + 60, 30 * 3600, 3 * 86400 + 3600)
    ] == [
        "5s",
        "119s",
        "2m5s",
        "10m",
        "120m",
        "4h1m",
        "30h",
        "3d1h",
    ]


def test_client_names_come_from_the_user_agent() -> None:
    assert client_name("kubectl/v1.32.4 (linux/amd64) kubernetes/abc") == "kubectl"
    assert client_name("OpenAPI-Generator/31.0.0/python") == "python-client"
    assert client_name("") == "unknown-client"


async def test_errors_are_statuses_with_upstream_reasons() -> None:
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        missing = await request(app, "/api/v1/namespaces/default/pods/nope")
        assert missing.status == 404 and missing.json()["reason"] == "NotFound"
        assert missing.json()["details"] == {"name": "nope", "kind": "pods"}
        bad = await request(app, "/api/v1/pods", "limit=abc")
        assert bad.status == 400 and bad.json()["kind"] == "Status"
        write = await request(app, "/api/v1/namespaces/default/pods", method="PUT")
        assert write.status == 405 and write.json()["reason"] == "MethodNotAllowed"
        empty = await request(app, "/api/v1/namespaces/default/pods", method="POST")
        assert empty.status == 400 and empty.json()["reason"] == "BadRequest"
        huge = await request(app, "/api/v1/pods", body=b"x" * (MAX_BODY_BYTES + 1))
        assert huge.status == 413
        logs = await request(app, "/api/v1/namespaces/default/pods/x/log")
        assert logs.status == 400 and "no logs" in logs.json()["message"]


async def test_a_token_is_required_when_one_is_set() -> None:
    async with running(nodes=1) as cluster:
        app = front_door(cluster, token="s3cret")
        await wait_until(lambda: bool(cluster.api.cache("nodes").list()), 30, "registration")
        assert (await request(app, "/api/v1/nodes")).status == 401
        wrong = await request(app, "/api/v1/nodes", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401 and wrong.json()["reason"] == "Unauthorized"
        right = await request(app, "/api/v1/nodes", headers={"Authorization": "Bearer s3cret"})
        assert right.status == 200 and len(right.json()["items"]) == 1


async def test_limit_and_continue_page_through_a_list() -> None:
    async with running(nodes=2) as cluster:
        await with_web(cluster, replicas=5)
        app = front_door(cluster)
        names: list[str] = []
        token = ""
        while True:
            page = (
                await request(app, "/api/v1/namespaces/default/pods", f"limit=2&continue={token}")
            ).json()
            names += [p["metadata"]["name"] for p in page["items"]]
            token = page["metadata"].get("continue", "")
            if not token:
                break
        assert len(names) == 5 and names == sorted(names)
        bad = await request(app, "/api/v1/pods", "continue=garbage")
        assert bad.status == 400 and "continue key is not valid" in bad.json()["message"]


async def test_a_watch_from_a_version_streams_what_follows() -> None:
    async with running(nodes=2) as cluster:
        await with_web(cluster, replicas=2)
        app = front_door(cluster)
        listed = (await request(app, "/api/v1/namespaces/default/pods")).json()
        version = listed["metadata"]["resourceVersion"]
        exchange = Exchange()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                app,
                scope(
                    "/api/v1/namespaces/default/pods",
                    f"watch=1&resourceVersion={version}&timeoutSeconds=30",
                ),
                receiver(),
                exchange.send,
            )
            await trio.sleep(1)
            victim = listed["items"][0]["metadata"]["name"]
            await cluster.api.delete("pods", "default", victim, grace_period_seconds=0)
            await wait_until(lambda: exchange.done, 60, "the watch to time out")
        events = exchange.lines()
        assert ("DELETED", victim) in [(e["type"], e["object"]["metadata"]["name"]) for e in events]
        assert all(int(e["object"]["metadata"]["resourceVersion"]) > int(version) for e in events)


async def test_a_watch_from_a_compacted_version_gets_410_expired() -> None:
    """A version older than the watch cache's window: 200, then one ERROR event carrying a
    410 Expired Status (the cacher's "too old resource version"); the client relists."""
    async with running(nodes=2, settings=Settings(watch_cache_size=10)) as cluster:
        await with_web(cluster, replicas=6)
        gone = await request(front_door(cluster), "/api/v1/pods", "watch=1&resourceVersion=1")
        assert gone.status == 200
        (event,) = gone.lines()
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
        assert event["object"]["reason"] == "Expired"


async def test_a_watcher_that_falls_behind_is_dropped_without_stalling_the_model() -> None:
    """The client never reads: the front door stops its watch once WATCH_BUFFER events wait,
    and the model goes on (cacheWatcher closes an unresponsive watcher)."""
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        stuck = trio.Event()

        async def never_drains(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                await stuck.wait()  # the socket is full: this send never completes

        async with trio.open_nursery() as nursery:
            nursery.start_soon(app, scope("/api/v1/pods", "watch=1"), receiver(), never_drains)
            await trio.sleep(1)
            for i in range(WATCH_BUFFER + 50):
                meta = ObjectMeta(name=f"p{i}", namespace="default")
                await cluster.api.create(Pod(meta, pod_spec(node_name="nowhere")))
            nursery.cancel_scope.cancel()
        assert len(cluster.api.cache("pods").list("default")) == WATCH_BUFFER + 50


async def test_random_paths_and_queries_always_get_a_response() -> None:
    """A deterministic fuzz: 600 random requests built from real path segments, junk,
    percent-escapes and unicode; each gets a status line and a body, and the run goes on."""
    segments = [
        "api",
        "apis",
        "v1",
        "apps",
        "namespaces",
        "default",
        "pods",
        "nodes",
        "events",
        "deployments",
        "status",
        "log",
        "..",
        "%2e",
        "",
        "ü",
        "a" * 300,
        "watch",
        "0",
    ]
    keys = [
        "labelSelector",
        "fieldSelector",
        "limit",
        "continue",
        "watch",
        "resourceVersion",
        "timeoutSeconds",
        "resourceVersionMatch",
        "includeObject",
        "%zz",
        "",
    ]
    values = [
        "",
        "1",
        "-1",
        "app=web",
        "app in (",
        "spec.nodeName=w",
        "metadata.name!=x",
        "Exact",
        "99999999999999999999",
        "%ff",
        "\x00",
        "true",
    ]
    rng = random.Random(5)
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        for _ in range(600):
            path = "/" + "/".join(rng.choice(segments) for _ in range(rng.randrange(0, 7)))
            query = "&".join(
                f"{rng.choice(keys)}={rng.choice(values)}" for _ in range(rng.randrange(0, 4))
            )
            if "watch=" in query:
                query += "&timeoutSeconds=1"
            with trio.fail_after(5):
                answer = await request(app, path, query)
            assert 200 <= answer.status < 600 and answer.done
            if answer.status >= 400:
                assert answer.json()["kind"] == "Status"
        assert app.failures == 0


async def test_every_served_kind_prints_upstream_columns() -> None:
    """Tables for the workload and config kinds as printers.go prints them (StatefulSet READY,
    DaemonSet DESIRED..NODE SELECTOR, Job STATUS COMPLETIONS DURATION, HPA REFERENCE TARGETS,
    PDB MIN AVAILABLE.., ConfigMap DATA, Secret TYPE DATA, PriorityClass VALUE ...)."""
    expected = {
        "/apis/apps/v1/statefulsets": ["Name", "Ready", "Age", "Containers", "Images"],
        "/apis/apps/v1/daemonsets": [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
        ],
        "/apis/batch/v1/jobs": [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
        ],
        "/apis/autoscaling/v2/horizontalpodautoscalers": [
            "Name",
            "Reference",
            "Targets",
            "MinPods",
            "MaxPods",
            "Replicas",
            "Age",
        ],
        "/apis/policy/v1/poddisruptionbudgets": [
            "Name",
            "Min Available",
            "Max Unavailable",
            "Allowed Disruptions",
            "Age",
        ],
        "/api/v1/configmaps": ["Name", "Data", "Age"],
        "/api/v1/secrets": ["Name", "Type", "Data", "Age"],
        "/apis/scheduling.k8s.io/v1/priorityclasses": [
            "Name",
            "Value",
            "Global-Default",
            "Age",
            "PreemptionPolicy",
        ],
        "/apis/coordination.k8s.io/v1/leases": ["Name", "Holder", "Age"],
    }
    manifests = [
        "db.yaml",
        "log-agent.yaml",
        "batch-job.yaml",
        "api.yaml",
        "api-hpa.yaml",
        "web.yaml",
        "web-pdb.yaml",
    ]
    objects = [
        read_manifest(doc)
        for name in manifests
        for doc in yaml.safe_load_all((MANIFESTS / name).read_text())
        if doc
    ]
    async with running(nodes=3) as cluster:
        await cluster.apply(objects)
        await trio.sleep(30)
        app = front_door(cluster)
        for path, columns in expected.items():
            answer = await request(app, path, headers={"Accept": TABLE})
            table = answer.json()
            assert [c["name"] for c in table["columnDefinitions"]] == columns, path
            assert all(len(row["cells"]) == len(columns) for row in table["rows"]), path
        jobs = (await request(app, "/apis/batch/v1/jobs", headers={"Accept": TABLE})).json()
        assert jobs["rows"][0]["cells"][1] in ("Running", "Complete")
        # the HPA as autoscaling/v2 nests a metric's source (k8s.io/api/autoscaling/v2 types)
        hpa = (await request(app, "/apis/autoscaling/v2/horizontalpodautoscalers")).json()
        metric = hpa["items"][0]["spec"]["metrics"][0]
        assert metric == {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60},
            },
        }
        pdb = (await request(app, "/apis/policy/v1/poddisruptionbudgets")).json()["items"][0]
        assert {"disruptionsAllowed", "currentHealthy", "desiredHealthy"} <= set(pdb["status"])


async def test_list_resource_version_semantics() -> None:
    """``resourceVersion`` on a list (apiserver/pkg/storage/cacher): "0" any, a version not
    newer than the cache's is served from it, a newer one times out (504 "Too large resource
    version"), and ``resourceVersionMatch=Exact`` at an older one is 410 Expired."""
    async with running(nodes=2) as cluster:
        await with_web(cluster, replicas=2)
        app = front_door(cluster)
        current = int(
            (await request(app, "/api/v1/pods", "resourceVersion=0")).json()["metadata"][
                "resourceVersion"
            ]
        )
        assert (await request(app, "/api/v1/pods", f"resourceVersion={current - 5}")).status == 200
        future = await request(app, "/api/v1/pods", f"resourceVersion={current + 1000}")
        assert future.status == 504 and "Too large resource version" in future.json()["message"]
        exact = await request(
            app, "/api/v1/pods", f"resourceVersion={current - 5}&resourceVersionMatch=Exact"
        )
        assert exact.status == 410 and exact.json()["reason"] == "Expired"


async def test_aggregated_discovery_when_asked_for() -> None:
    """kubectl v1.32 asks /api and /apis for apidiscovery.k8s.io/v2 APIGroupDiscoveryList
    first (KEP-3352, staging/src/k8s.io/client-go/discovery): every resource in two answers."""
    aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    async with running(nodes=1) as cluster:
        app = front_door(cluster)
        core = await request(app, "/api", headers={"Accept": f"{aggregated},application/json"})
        assert core.headers["content-type"] == aggregated
        (group,) = core.json()["items"]
        pods = next(r for r in group["versions"][0]["resources"] if r["resource"] == "pods")
        assert pods["scope"] == "Namespaced" and pods["shortNames"] == ["po"]
        assert {
            "subresource": "status",
            "responseKind": pods["responseKind"],
            "verbs": ["get", "patch", "update"],
        } in pods["subresources"]
        named = (await request(app, "/apis", headers={"Accept": aggregated})).json()
        assert "apps" in {g["metadata"]["name"] for g in named["items"]}
        legacy = await request(app, "/api", headers={"Accept": "application/json"})
        assert legacy.json()["kind"] == "APIVersions"
