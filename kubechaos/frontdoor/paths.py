"""What a request's path and query ask for, parsed as the Kubernetes API server routes them.

``/api/v1/namespaces/default/pods/web-0/status`` names the core group's ``pods`` in namespace
``default``, object ``web-0``, subresource ``status``; ``/apis/apps/v1/deployments`` lists a
group's kind across namespaces. Parsing is pure (no model, no I/O) so it is tested on its own
and fuzzed with random paths; a path that names nothing the model serves is a :class:`NotServed`
(404), a malformed query a :class:`BadQuery` (400).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

import attrs

from kubechaos.api.discovery import API_RESOURCES, APIResource
from kubechaos.api.selectors import LabelSelector, SelectorError, parse_label_selector

# Longest query string and path accepted (upstream limits request headers to 1 MiB; a query this
# long is already nonsense).
MAX_QUERY_LENGTH = 16 * 1024


class NotServed(Exception):
    """The path names no resource the model serves (404 NotFound)."""


class BadQuery(Exception):
    """A malformed query parameter (400 BadRequest)."""


@attrs.frozen
class ResourcePath:
    """A request for a resource: a collection (``name`` empty) or one object."""

    resource: APIResource
    namespace: str | None  # None: all namespaces (or a cluster-scoped kind)
    name: str = ""
    subresource: str = ""


@attrs.frozen
class DiscoveryPath:
    """``/api``, ``/apis``, or one group-version's resource list."""

    group_version: str  # "" for /api and /apis themselves
    legacy: bool  # under /api (the core group)


# Events are served from the run's event log, not from the model's API server.
EVENTS = APIResource("events", "Event", "v1", True)


def group_versions() -> dict[str, list[APIResource]]:
    """The resources served under each group-version, in discovery order."""
    out: dict[str, list[APIResource]] = {}
    for resource in (*API_RESOURCES.values(), EVENTS):
        out.setdefault(resource.group_version, []).append(resource)
    return out


_BY_GROUP_VERSION = group_versions()


def parse_path(path: str) -> ResourcePath | DiscoveryPath:
    """The resource or discovery document ``path`` names; :class:`NotServed` if none."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        raise NotServed(path)
    legacy = parts[0] == "api"
    if legacy:
        if len(parts) == 1:
            return DiscoveryPath("", legacy=True)
        if parts[1] != "v1":
            raise NotServed(path)
        group_version, rest = "v1", parts[2:]
    else:
        if len(parts) == 1:
            return DiscoveryPath("", legacy=False)
        if len(parts) == 2:
            if any(gv.split("/")[0] == parts[1] for gv in _BY_GROUP_VERSION if "/" in gv):
                return DiscoveryPath(parts[1], legacy=False)  # a group: its versions
            raise NotServed(path)
        group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    served = _BY_GROUP_VERSION.get(group_version)
    if served is None:
        raise NotServed(path)
    if not rest:
        return DiscoveryPath(group_version, legacy=legacy)
    return _resource_path(path, {r.name: r for r in served}, rest)


def _resource_path(path: str, served: Mapping[str, APIResource], rest: list[str]) -> ResourcePath:
    namespace: str | None = None
    # namespaces/<name>/status is the Namespace's subresource (RequestInfoFactory's
    # namespaceSubresources), not a resource named "status" in it
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2:] not in (["status"], ["finalize"]):
        namespace, rest = rest[1], rest[2:]
    resource = served.get(rest[0])
    if resource is None or len(rest) > 3:
        raise NotServed(path)
    if namespace is not None and not resource.namespaced:
        raise NotServed(path)
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource.namespaced or name or namespace is None:
        return ResourcePath(resource, namespace, name, subresource)
    raise NotServed(path)  # pragma: no cover - every branch above returns or raises


@attrs.frozen
class FieldTerm:
    field: str
    value: str
    negated: bool = False


@attrs.frozen
class ListQuery:
    """The query parameters of a list or watch (``metav1.ListOptions``)."""

    label_selector: LabelSelector | None = None
    field_terms: tuple[FieldTerm, ...] = ()
    limit: int = 0
    continue_token: str = ""
    resource_version: str = ""
    resource_version_match: str = ""
    watch: bool = False
    allow_bookmarks: bool = False
    timeout_seconds: int | None = None
    include_object: str = ""


_TRUE = ("1", "true", "True")


def parse_query(query: bytes) -> tuple[ListQuery, dict[str, str]]:
    """The list options in ``query``, and every parameter as given (last value wins)."""
    if len(query) > MAX_QUERY_LENGTH:
        raise BadQuery(f"query string longer than {MAX_QUERY_LENGTH} bytes")
    try:
        params = dict(parse_qsl(query.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadQuery(f"malformed query string: {exc}") from None
    try:
        labels = params.get("labelSelector", "")
        selector = parse_label_selector(labels) if labels.strip() else None
    except SelectorError as exc:
        raise BadQuery(f"unable to parse requirement: {exc}") from None
    return (
        ListQuery(
            label_selector=selector,
            field_terms=parse_field_selector(params.get("fieldSelector", "")),
            limit=_int(params, "limit", minimum=0) or 0,
            continue_token=params.get("continue", ""),
            resource_version=params.get("resourceVersion", ""),
            resource_version_match=params.get("resourceVersionMatch", ""),
            watch=params.get("watch", "") in _TRUE,
            allow_bookmarks=params.get("allowWatchBookmarks", "") in _TRUE,
            timeout_seconds=_int(params, "timeoutSeconds", minimum=0),
            include_object=params.get("includeObject", ""),
        ),
        params,
    )


def parse_field_selector(text: str) -> tuple[FieldTerm, ...]:
    """``a=b,c!=d`` (``==`` as ``=``), as fields.ParseSelector reads it."""
    terms: list[FieldTerm] = []
    for raw in text.split(","):
        term = raw.strip()
        if not term:
            continue
        if "!=" in term:
            field, _, value = term.partition("!=")
            negated = True
        elif "=" in term:
            field, _, value = term.partition("=")
            value = value.removeprefix("=")
            negated = False
        else:
            raise BadQuery(f"invalid selector: '{text}'; can't understand '{term}'")
        terms.append(FieldTerm(field.strip(), value.strip(), negated))
    return tuple(terms)


def _int(params: Mapping[str, str], name: str, minimum: int) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadQuery(f"{name}: invalid value {text!r}: must be an integer") from None
    if value < minimum:
        raise BadQuery(f"{name}: invalid value {value}: must be >= {minimum}")
    return value


__all__ = [
    "EVENTS",
    "MAX_QUERY_LENGTH",
    "BadQuery",
    "DiscoveryPath",
    "FieldTerm",
    "ListQuery",
    "NotServed",
    "ResourcePath",
    "group_versions",
    "parse_field_selector",
    "parse_path",
    "parse_query",
]
