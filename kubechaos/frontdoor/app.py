"""The front door: the model's API server served over HTTP as the Kubernetes REST API.

An ASGI application (served by hypercorn on the run's own Trio loop, see :mod:`.server`), so a
request reaches the model's :class:`~kubechaos.control.apiserver.APIServer` through exactly the
path the model's own components use: its latency, its request faults (``apiserver-*``), its
watch faults (``watch-drop``, ``watch-delay``) and its etcd apply to ``kubectl`` too. Each
request is made as a client named after its User-Agent (``kubectl``, ``python-client``), or
after the external process whose own bearer token it carries (``run --exec``), the name a
fault's ``clients`` parameter picks.

Nothing a client sends can stop the run: every failure is answered with a ``Status`` (upstream's
reasons and codes) and anything unexpected with a 500, and the request ends there.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from kubechaos.api import errors
from kubechaos.api.discovery import RESOURCE_OF_KIND
from kubechaos.client.identity import as_client
from kubechaos.control.apiserver import APIServer
from kubechaos.frontdoor import customdocs, documents, openapi
from kubechaos.frontdoor.custom import CustomDoor
from kubechaos.frontdoor.encoding import Encoder
from kubechaos.frontdoor.eventlist import EventSource
from kubechaos.frontdoor.paths import (
    EVENTS,
    BadQuery,
    DiscoveryPath,
    NotServed,
    parse_path,
    parse_query,
)
from kubechaos.frontdoor.reads import ResourceReads
from kubechaos.frontdoor.response import Response, dumps
from kubechaos.frontdoor.timefmt import Anchor
from kubechaos.frontdoor.writes import Writes
from kubechaos.sim.events import Event, EventLog

# Largest request body read (upstream's apiserver caps a request body at 3 MiB).
MAX_BODY_BYTES = 3 * 1024 * 1024

# The processes a pod runs are the model's scripted behaviour: nothing to stream from.
NO_PROCESSES = (
    "kubechaos models containers without running processes: there are no logs to read and "
    "no process to exec into, attach to or port-forward to"
)
WRITE_NOT_ALLOWED = "the server does not allow this method on the requested resource"
_PROCESS_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward", "proxy"})

_HEALTH_PATHS = frozenset({"/healthz", "/livez", "/readyz"})
_CLIENT_ALIASES = {"openapi-generator": "python-client"}


def client_name(user_agent: str) -> str:
    """The client a request is made as: its User-Agent's product (``kubectl/v1.32.0 (...)`` is
    ``kubectl``; the official Python client's ``OpenAPI-Generator/...`` is ``python-client``)."""
    product = user_agent.split("/", 1)[0].strip().lower()
    product = re.sub(r"[^a-z0-9.-]+", "-", product).strip("-")[:63] or "unknown-client"
    return _CLIENT_ALIASES.get(product, product)


Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class FrontDoor:
    """The ASGI application serving one run's API."""

    def __init__(
        self,
        api: APIServer,
        events: EventLog,
        anchor: Anchor,
        server_address: str,
        token: str | None = None,
        speed: float = 1.0,
        on_kind: Callable[[str], None] | None = None,
    ) -> None:
        self.api = api
        self.encoder = Encoder(anchor)
        self.server_address = server_address
        self.token = token
        self.client_tokens: Mapping[str, str] = {}  # a process's own token -> its name
        self.events = EventSource(events, anchor, self._uid_of, speed)
        self.reads = ResourceReads(api, self.encoder, self.events, speed)
        self.custom = CustomDoor(api, anchor, speed)
        self.writes = Writes(api, self.encoder, on_kind)
        self.requests = 0  # served so far (any outcome)
        self.failures = 0  # answered with a 500: a bug in the front door, never the client's

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            # kubectl exec/attach/port-forward try a WebSocket first: refused (HTTP 403), they
            # fall back to SPDY over a plain POST, which gets the Status saying why
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        self.requests += 1
        response = Response(send)
        try:
            await self._handle(scope, receive, response)
        except Exception as exc:  # a bug here must not stop the run: answer 500, go on
            self.failures += 1
            if not response.started:
                message = f"kubechaos front door: {type(exc).__name__}: {exc}"
                await response.status(500, "InternalError", message)

    async def _handle(self, scope: Scope, receive: Receive, response: Response) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await _read_body(receive, headers)
        if body is None:
            await response.status(
                413, "RequestEntityTooLarge", f"request body larger than {MAX_BODY_BYTES} bytes"
            )
            return
        authorization = headers.get("authorization", "")
        process = self.client_tokens.get(authorization.removeprefix("Bearer ").strip())
        if self.token is not None and process is None and authorization != f"Bearer {self.token}":
            await response.status(401, "Unauthorized", "Unauthorized")
            return
        method = scope["method"]
        if _process_subresource(scope["path"]):
            await response.status(400, "BadRequest", NO_PROCESSES)
            return
        client = process or client_name(headers.get("user-agent", ""))
        if self.custom.claims(scope["path"]):
            with as_client(client):
                query = scope.get("query_string", b"")
                await self.custom.handle(
                    method, scope["path"], query, headers, body, receive, response
                )
            return
        with as_client(client):
            if method not in ("GET", "HEAD"):
                await self._write(scope, headers, body, response)
            else:
                await self._route(scope, receive, headers, response)

    async def _write(
        self, scope: Scope, headers: dict[str, str], body: bytes, response: Response
    ) -> None:
        """Every method but GET: :class:`~kubechaos.frontdoor.writes.Writes`."""
        try:
            target = parse_path(scope["path"])
            query, params = parse_query(scope.get("query_string", b""))
        except (NotServed, BadQuery) as exc:
            await response.status(*_path_error(exc))
            return
        if isinstance(target, DiscoveryPath) or target.resource is EVENTS:
            await response.status(405, "MethodNotAllowed", WRITE_NOT_ALLOWED)
            return
        await self.writes.serve(scope["method"], target, query, params, headers, body, response)

    async def _route(
        self, scope: Scope, receive: Receive, headers: dict[str, str], response: Response
    ) -> None:
        path: str = scope["path"]
        if path == "/version":
            await response.json(200, documents.version_document())
            return
        if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            await self._openapi(path, response)
            return
        if path in _HEALTH_PATHS or path.startswith(tuple(f"{p}/" for p in _HEALTH_PATHS)):
            await response.text(200, "ok")
            return
        try:
            target = parse_path(path)
            query, _params = parse_query(scope.get("query_string", b""))
        except NotServed:
            await response.status(
                404, "NotFound", "the server could not find the requested resource"
            )
            return
        except BadQuery as exc:
            await response.status(400, "BadRequest", str(exc))
            return
        if isinstance(target, DiscoveryPath):
            accept = headers.get("accept", "")
            if not target.group_version and documents.wants_aggregated(accept):
                doc = documents.aggregated_discovery(target.legacy)
                if not target.legacy:
                    doc = customdocs.extend_aggregated(doc, self.api.custom.served())
                body = dumps(doc)
                await response.body(200, body, documents.AGGREGATED_TYPE.encode())
                return
            await response.json(200, self._discovery(target))
            return
        if target.subresource in _PROCESS_SUBRESOURCES:
            await response.status(400, "BadRequest", NO_PROCESSES)
            return
        if target.subresource == "scale":
            await self.writes.serve("GET", target, query, {}, headers, b"", response)
            return
        accept = headers.get("accept", "")
        try:
            if target.resource is EVENTS:
                await self.reads.events(target, query, accept, receive, response)
            else:
                await self.reads.serve(target, query, accept, receive, response)
        except BadQuery as exc:
            await response.status(400, "BadRequest", str(exc))
        except errors.APIError as exc:
            await response.api_error(exc, target)

    async def _openapi(self, path: str, response: Response) -> None:
        if path == "/openapi/v3":
            await response.body(
                200, customdocs.extend_index(openapi.index(), self.api.custom.served())
            )
            return
        relative = path.removeprefix("/openapi/v3/")
        doc = openapi.document_for_path(relative)
        if doc is None and relative.startswith("apis/"):
            doc = customdocs.document(relative.removeprefix("apis/"), self.api.custom.served())
        if doc is None:
            await response.status(
                404, "NotFound", "the server could not find the requested resource"
            )
            return
        await response.body(200, doc)

    def _uid_of(self, event: Event) -> str:
        """The uid of the object an event is about, as the API server has it now."""
        resource = RESOURCE_OF_KIND.get(event.kind)
        if resource is None:
            return ""
        namespace, _, name = event.object.rpartition("/")
        obj = self.api.cached(resource, namespace, name)
        return obj.metadata.uid if obj is not None else ""

    def _discovery(self, target: DiscoveryPath) -> dict[str, Any]:
        if target.legacy and not target.group_version:
            return documents.api_versions(self.server_address)
        if not target.group_version:
            return customdocs.extend_group_list(
                documents.api_group_list(), self.api.custom.served()
            )
        if "/" not in target.group_version and not target.legacy:
            return documents.api_group(target.group_version)
        return documents.resource_list(target.group_version)


def _process_subresource(path: str) -> bool:
    """``.../pods/<name>/log|exec|attach|portforward|proxy``, whatever the method."""
    parts = path.rstrip("/").split("/")
    return len(parts) >= 3 and parts[-3] == "pods" and parts[-1] in _PROCESS_SUBRESOURCES


def _path_error(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, NotServed):
        return 404, "NotFound", "the server could not find the requested resource"
    return 400, "BadRequest", str(exc)


async def _read_body(receive: Receive, headers: Mapping[str, str]) -> bytes | None:
    """The request body; None once it is over the limit."""
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


__all__ = ["MAX_BODY_BYTES", "NO_PROCESSES", "FrontDoor", "client_name"]
