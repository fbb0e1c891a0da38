"""Writing one HTTP response through ASGI: a JSON document, a Status, or a chunked stream."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from kubechaos.api import errors
from kubechaos.frontdoor import documents

Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_TYPE = b"application/json"


def dumps(obj: Any) -> bytes:
    """JSON with orjson: a LIST of 30,000 pods is 70 MB of it."""
    return orjson.dumps(obj)


class Response:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def start(
        self,
        code: int,
        content_type: bytes = JSON_TYPE,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.started = True
        await self._send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [(b"content-type", content_type), *headers],
            }
        )

    async def chunk(self, data: bytes) -> None:
        """One piece of a streamed body (a watch event)."""
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self) -> None:
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def body(
        self,
        code: int,
        data: bytes,
        content_type: bytes = JSON_TYPE,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        await self.start(
            code, content_type, [(b"content-length", str(len(data)).encode()), *headers]
        )
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def json(self, code: int, obj: Any) -> None:
        await self.body(code, dumps(obj))

    async def text(self, code: int, text: str) -> None:
        await self.body(code, text.encode("utf-8"), b"text/plain; charset=utf-8")

    async def status(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        await self.body(
            code, dumps(documents.status(code, reason, message, details)), headers=headers
        )

    async def api_error(self, exc: errors.APIError, target: Any) -> None:
        """The model's API error as upstream's Status. A 429 is ``NewTooManyRequests``'s:
        its details hold only the suggested retry and the causes; the ``Retry-After`` header
        is sent only when that retry is above 0 (responsewriters/writers.go ErrorNegotiated),
        so a budget-blocked eviction has none and a throttled request has its 1 s. A 503 keeps
        the 1 s retry an overloaded server suggests."""
        details: dict[str, Any] = {}
        if exc.code != 429:
            details = _target_details(target)
        causes = getattr(exc, "status_causes", None)
        if causes:
            details["causes"] = causes
        retry = exc.retry_after_seconds if exc.code == 429 else 1 if exc.code == 503 else 0
        headers: list[tuple[bytes, bytes]] = []
        if retry > 0:
            headers.append((b"retry-after", str(retry).encode()))
            details["retryAfterSeconds"] = retry
        await self.status(exc.code, exc.reason, exc.message, details or None, headers)


def _target_details(target: Any) -> dict[str, Any]:
    """``details.name``, ``kind`` and ``group`` of the resource a request names."""
    details: dict[str, Any] = {}
    if getattr(target, "name", ""):
        details["name"] = target.name
    resource = getattr(target, "resource", None)
    if resource is not None:
        details["kind"] = resource.name
        group = resource.group_version.rpartition("/")[0]
        if group:
            details["group"] = group
    return details


__all__ = ["JSON_TYPE", "Response", "dumps"]
