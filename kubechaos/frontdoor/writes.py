"""The front door's writes: create, update, patch, delete and deletecollection.

Each verb as upstream's handler serves it (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/
{create,update,patch,delete}.go) and through the model's
:class:`~kubechaos.control.apiserver.APIServer`, so a ``kubectl`` write pays the API server's
latency, meets its request faults and is seen by every informer like a controller's write.

- create (POST): the body decoded as a scenario manifest is (:mod:`.decode`); ``generateName``,
  409 AlreadyExists, 422 Invalid with ``details.causes``;
- update (PUT): what the client changed, over the stored object (:func:`.decode.overlay`); a
  ``metadata.resourceVersion`` is a precondition (409 Conflict with upstream's message "the
  object has been modified; please apply your changes to the latest version and try again"),
  none is an unconditional update;
- patch (PATCH): merge, JSON and strategic merge patches (:mod:`.patches`) applied to the stored
  object's JSON, read back as an update; one request, as upstream's (its read-modify-write
  cannot conflict with another writer here, so there is no retry loop);
- delete (DELETE): ``DeleteOptions`` in the body or the query (``gracePeriodSeconds``,
  ``preconditions``, ``propagationPolicy``, ``dryRun``); deletecollection with label and field
  selectors.

``dryRun=All`` runs admission and validation and answers what would be stored, storing nothing.
Warnings travel as upstream's ``Warning: 299 - "..."`` headers, which kubectl prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from kubechaos.api import errors
from kubechaos.api.manifest import SUPPORTED_KINDS
from kubechaos.client.identity import current_client
from kubechaos.control.apiserver import APIServer
from kubechaos.frontdoor import decode, patches, subresources
from kubechaos.frontdoor.applying import FieldManagers, ServerSideApply
from kubechaos.frontdoor.decode import MODIFIED, InvalidObject, MethodNotAllowed, conflict, dry_run
from kubechaos.frontdoor.encoding import Encoder, api_version_of
from kubechaos.frontdoor.fields import FieldFilter
from kubechaos.frontdoor.paths import BadQuery, ListQuery, ResourcePath
from kubechaos.frontdoor.response import Response, dumps

PROPAGATION_POLICIES = ("Background", "Foreground", "Orphan")


def warning_headers(warnings: list[str]) -> list[tuple[bytes, bytes]]:
    """Each warning as upstream's ``Warning: 299 - "<text>"`` header (quotes escaped)."""
    out = []
    for text in dict.fromkeys(warnings):
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        out.append((b"warning", f'299 - "{quoted}"'.encode("utf-8", "replace")))
    return out


@attrs.frozen
class WriteOptions:
    """What a create, update or patch reads from its query before its body, as upstream's
    handlers decode Create/Update/PatchOptions first: ``fieldValidation`` and ``dryRun``
    (400 for a value they do not take), with the target, the query (``fieldManager``,
    ``force``) and the request's warnings."""

    target: ResourcePath
    params: Mapping[str, str]
    warnings: list[str]
    validation: str
    dry: bool

    @classmethod
    def read(
        cls, target: ResourcePath, params: Mapping[str, str], warnings: list[str]
    ) -> WriteOptions:
        return cls(target, params, warnings, decode.field_validation(params), dry_run(params))

    @property
    def kind(self) -> str:
        return self.target.resource.kind

    @property
    def version(self) -> str:
        return _version(self.target)

    @property
    def readable(self) -> bool:
        """A kind the scenario reader reads (not a Node, which the model makes itself)."""
        return self.kind in SUPPORTED_KINDS


class Writes:
    """Serves every method but GET on the resources the model's API server holds."""

    def __init__(
        self, api: APIServer, encoder: Encoder, on_kind: Callable[[str], None] | None = None
    ) -> None:
        self.api = api
        self.encoder = encoder
        # before a client's first object of a kind: start its controller (Cluster.use_kind)
        self.on_kind = on_kind or (lambda kind: None)
        self.managers = FieldManagers(encoder)
        self.managers.watch(api.etcd.store)  # the model's writers, and deletions
        encoder.decorate = self.managers.shown  # managedFields on every object served
        self.subresources = subresources.Subresources(api, encoder, self.managers)
        self.apply = ServerSideApply(api, encoder, self.managers, self.on_kind)

    async def serve(
        self,
        method: str,
        target: ResourcePath,
        query: ListQuery,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        response: Response,
    ) -> None:
        """Answer one write; every failure becomes upstream's Status."""
        warnings: list[str] = []
        try:
            code, answer = await self._dispatch(
                method, target, query, params, headers, body, warnings
            )
        except InvalidObject as exc:
            await self._invalid(response, exc.kind, exc.name, list(exc.causes), warnings)
            return
        except errors.Invalid as exc:
            causes = [_split_cause(c) for c in exc.causes]
            name = exc.message.split('"')[1] if '"' in exc.message else target.name
            await self._invalid(response, decode.qualified_kind(target), name, causes, warnings)
            return
        except BadQuery as exc:
            await response.status(400, "BadRequest", str(exc), headers=warning_headers(warnings))
            return
        except errors.APIError as exc:
            await response.api_error(exc, target)
            return
        await response.body(code, dumps(answer), headers=warning_headers(warnings))

    async def _dispatch(
        self,
        method: str,
        target: ResourcePath,
        query: ListQuery,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        warnings: list[str],
    ) -> tuple[int, Any]:
        content_type = headers.get("content-type", "")
        if target.subresource:
            return await self.subresources.serve(
                method, target, params, content_type, body, warnings
            )
        if method == "DELETE" and target.name:
            return await self.delete(target, params, content_type, body)
        if method == "DELETE":
            return await self.delete_collection(target, query, params, content_type, body)
        verb = {("POST", False): self.create, ("PUT", True): self.update}.get(
            (method, bool(target.name))
        )
        if method == "PATCH" and target.name:
            verb = self.patch
        if verb is None:
            raise MethodNotAllowed(
                f"the server does not allow this method on the requested resource ({method})"
            )
        return await verb(WriteOptions.read(target, params, warnings), content_type, body)

    # ------------------------------------------------------------------ create
    async def create(self, w: WriteOptions, content_type: str, body: bytes) -> tuple[int, Any]:
        doc = decode.expect_object(decode.parse_body(body, content_type), w.target, False)
        if not w.readable:
            raise MethodNotAllowed(
                f"kubechaos does not create {w.target.resource.name} from clients: the model "
                "makes them itself"
            )
        w.warnings.extend(decode.check_fields(doc, w.validation, w.kind, w.version))
        # a client's ownerReferences and finalizers count from the create on (an operator's
        # Deployment owned by its custom object)
        obj = decode.with_meta_extras(decode.read_object(doc, w.target), doc)
        self.on_kind(w.kind)
        stored = await self.api.create(obj, dry_run=w.dry)
        if not w.dry:
            self._record(w, stored, None)
        return 201, self.encoder.object(stored)

    # ------------------------------------------------------------------ update, patch
    async def update(self, w: WriteOptions, content_type: str, body: bytes) -> tuple[int, Any]:
        doc = decode.expect_object(decode.parse_body(body, content_type), w.target, True)

        def desired(current: Any) -> Mapping[str, Any]:
            if w.readable:  # a field the server serves is not unknown to it
                served = self.encoder.object(current)
                found = decode.check_fields(doc, w.validation, w.kind, w.version, None, served)
                w.warnings.extend(found)
            return doc

        return await self._modify(w, "update", _resource_version(doc), desired)

    async def patch(self, w: WriteOptions, content_type: str, body: bytes) -> tuple[int, Any]:
        patch_type = content_type.split(";", 1)[0].strip().lower()
        if patch_type == patches.APPLY:
            return await self.apply.apply(w.target, w.params, body, w.warnings, self._changed)
        if patch_type not in patches.PATCH_TYPES:
            raise decode.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(patches.PATCH_TYPES)}"
            )
        patch = decode.parse_body(body, "application/json")
        group_version = w.target.resource.group_version

        def desired(current: Any) -> Mapping[str, Any]:
            encoded = self.encoder.object(current)
            patched = patches.apply_patch(patch_type, encoded, patch, w.kind, group_version)
            patched = decode.expect_object(patched, w.target, True)
            if w.readable:  # only what the patch brought counts
                found = decode.check_fields(patched, w.validation, w.kind, w.version, encoded)
                w.warnings.extend(found)
            return patched

        return await self._modify(w, "patch", _resource_version(patch), desired)

    async def _modify(
        self,
        w: WriteOptions,
        verb: str,
        version: str,
        desired: Callable[[Any], Mapping[str, Any]],
    ) -> tuple[int, Any]:
        """One read-modify-write of the stored object (update.go, patch.go): the client's
        ``resourceVersion`` a precondition, ``desired`` (the client's object made from the
        stored one) read over the stored object, the write recorded as the client's
        manager's (not for a dry run)."""
        before: list[Any] = []

        def mutate(current: Any) -> Any:
            if version and version != current.metadata.resource_version:
                raise conflict(w.target.resource.name, w.target.name)
            before.append(current)
            doc = desired(current)
            new = None
            if w.readable:
                new = decode.with_meta_extras(decode.read_object(doc, w.target), doc)
            return self._changed(w.target, current, doc, new, w.warnings)

        target = w.target
        stored = await self.api.patch(
            target.resource.name, target.namespace or "", target.name, mutate, verb, w.dry
        )
        if not w.dry and before:
            self._record(w, stored, before[-1])
        return 200, self.encoder.object(stored)

    def _record(self, w: WriteOptions, stored: Any, before: Any) -> None:
        """An Update by the request's ``fieldManager`` (by default the client's name)."""
        manager = w.params.get("fieldManager") or current_client() or "unknown"
        self.managers.updated(w.target, before, stored, manager)

    def _changed(
        self,
        target: ResourcePath,
        current: Any,
        doc: Mapping[str, Any],
        new: Any,
        warnings: list[str],
    ) -> Any:
        """``current`` with what the client's ``doc`` changes of it (``new``: ``doc`` read)."""
        encoded = self.encoder.object(current)
        if new is None:  # a kind the scenario reader does not read (a Node)
            warnings += decode.ignored_changes(target.resource.kind, encoded, doc)
            return decode.read_unread_kind(current, doc)
        base = decode.with_meta_extras(decode.read_object(encoded, target), encoded)
        return decode.overlay(current, base, new)

    # ------------------------------------------------------------------ delete
    async def delete(
        self, target: ResourcePath, params: Mapping[str, str], content_type: str, body: bytes
    ) -> tuple[int, Any]:
        options = delete_options(params, content_type, body)
        obj = await self.api.delete(
            target.resource.name,
            target.namespace or "",
            target.name,
            options.get("gracePeriodSeconds"),
            uid=options.get("uid"),
            resource_version=options.get("resourceVersion"),
            dry_run=options["dryRun"],
            propagation_policy=options.get("propagationPolicy"),
        )
        return 200, self._deleted(target, obj)

    def _deleted(self, target: ResourcePath, obj: Any) -> Any:
        """The object while its deletion is pending (and always for pods, whose registry
        returns the deleted object), else a Success Status (the generic store's
        finalizeDelete)."""
        if obj.metadata.deletion_timestamp is not None or target.resource.name == "pods":
            return self.encoder.object(obj)
        group = target.resource.group_version.rpartition("/")[0]
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": obj.metadata.name,
                **({"group": group} if group else {}),
                "kind": target.resource.name,
                "uid": obj.metadata.uid,
            },
        }

    async def delete_collection(
        self,
        target: ResourcePath,
        query: ListQuery,
        params: Mapping[str, str],
        content_type: str,
        body: bytes,
    ) -> tuple[int, Any]:
        """Every object the selectors match, deleted one by one (as the generic store's
        DeleteCollection); the answer lists them as deleted."""
        options = delete_options(params, content_type, body)
        fields = FieldFilter(target.resource.name, query.field_terms)
        items, _ = await self.api.list(
            target.resource.name, target.namespace, query.label_selector, fields.model_selector
        )
        deleted = []
        for obj in items:
            if fields and not fields.matches(obj):
                continue
            try:
                gone = await self.api.delete(
                    target.resource.name,
                    obj.metadata.namespace,
                    obj.metadata.name,
                    options.get("gracePeriodSeconds"),
                    dry_run=options["dryRun"],
                    propagation_policy=options.get("propagationPolicy"),
                )
            except errors.NotFound:
                continue
            deleted.append(self.encoder.object(gone))
        kind = target.resource.kind
        return 200, {
            "kind": f"{kind}List",
            "apiVersion": api_version_of(kind),
            "metadata": {},
            "items": deleted,
        }

    # ------------------------------------------------------------------ answers
    async def _invalid(
        self,
        response: Response,
        kind: str,
        name: str,
        causes: list[tuple[str, str]],
        warnings: list[str],
    ) -> None:
        """422 Invalid as upstream's ``errors.NewInvalid``: ``details.causes`` with each
        field's path and message."""
        shown = "; ".join(f"{field}: {text}" if field else text for field, text in causes)
        kind_name, _, group = kind.partition(".")
        details: dict[str, Any] = {
            "name": name,
            "kind": kind_name,
            "causes": [
                {"reason": _cause_reason(text), "message": text, "field": field}
                for field, text in causes
            ],
        }
        if group:
            details["group"] = group
        await response.status(
            422,
            "Invalid",
            f'{kind} "{name}" is invalid: {shown}',
            details,
            headers=warning_headers(warnings),
        )


def delete_options(params: Mapping[str, str], content_type: str, body: bytes) -> dict[str, Any]:
    """``DeleteOptions`` from the body (if any) and the query (which wins, as upstream's
    delete.go decodes the query over the body)."""
    given: dict[str, Any] = {}
    if body.strip():
        doc = decode.parse_body(body, content_type)
        if not isinstance(doc, Mapping):
            raise errors.BadRequest("DeleteOptions must be an object")
        given = dict(doc)
    for key in ("gracePeriodSeconds", "propagationPolicy", "dryRun"):
        if key in params:
            given[key] = params[key]
    if "orphanDependents" in params:
        given["orphanDependents"] = params["orphanDependents"] in ("true", "1")
    out: dict[str, Any] = {}
    grace = given.get("gracePeriodSeconds")
    if grace is not None:
        try:
            out["gracePeriodSeconds"] = int(grace)
        except (TypeError, ValueError):
            raise errors.BadRequest(f"gracePeriodSeconds: invalid value {grace!r}") from None
        if out["gracePeriodSeconds"] < 0:
            out["gracePeriodSeconds"] = 1  # upstream: a negative grace period becomes 1
    dry = given.get("dryRun") or []
    dry = [dry] if isinstance(dry, str) else list(dry)
    if any(value != "All" for value in dry):
        raise errors.BadRequest(f'dryRun: Unsupported value: "{dry[0]}": supported values: "All"')
    out["dryRun"] = bool(dry)
    policy = given.get("propagationPolicy")
    if given.get("orphanDependents") is True:
        policy = "Orphan"
    if policy is not None and policy not in PROPAGATION_POLICIES:
        raise errors.BadRequest(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"'
        )
    if policy is not None:
        out["propagationPolicy"] = policy
    pre = decode.mapping(given.get("preconditions"), "preconditions")
    if pre:
        if pre.get("uid"):
            out["uid"] = str(pre["uid"])
        if pre.get("resourceVersion"):
            out["resourceVersion"] = str(pre["resourceVersion"])
    return out


def _version(target: ResourcePath) -> str:
    return target.resource.group_version.rpartition("/")[2]


def _resource_version(doc: Any) -> str:
    """A body's ``metadata.resourceVersion``: the write's precondition ("" for none)."""
    if isinstance(doc, Mapping) and isinstance(doc.get("metadata"), Mapping):
        return str(doc["metadata"].get("resourceVersion") or "")
    return ""


def _split_cause(cause: str) -> tuple[str, str]:
    field, sep, message = cause.partition(": ")
    return (field, message) if sep and " " not in field else ("", cause)


def _cause_reason(message: str) -> str:
    """upstream's field.ErrorType words (FieldValueInvalid, FieldValueRequired, ...)."""
    if message.startswith("Required value"):
        return "FieldValueRequired"
    if message.startswith("Unsupported value"):
        return "FieldValueNotSupported"
    if message.startswith("Forbidden"):
        return "FieldValueForbidden"
    if message.startswith("Duplicate value"):
        return "FieldValueDuplicate"
    return "FieldValueInvalid"


__all__ = [
    "MODIFIED",
    "MethodNotAllowed",
    "WriteOptions",
    "Writes",
    "delete_options",
    "dry_run",
    "warning_headers",
]
