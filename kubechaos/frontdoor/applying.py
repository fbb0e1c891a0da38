"""Server-side apply through the front door, and who manages which field.

``PATCH`` with ``Content-Type: application/apply-patch+yaml`` (``kubectl apply --server-side``,
the Python client's and controller-runtime's apply): upstream's patch handler
(``staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go``, ``applyPatcher``) merges the
applied configuration into the live object through the field manager
(:mod:`.serverside`), creates the object if it does not exist, and answers 409 with a
``FieldManagerConflict`` cause per field another manager owns, unless ``force=true``.
``fieldManager`` is required (``PatchOptions`` validation, 422).

The model's objects carry no ``managedFields`` of their own: the front door keeps them per
object uid (:class:`~.managers.FieldManagers`) and shows them on the objects it answers with.
Writes through the front door are tracked as upstream tracks them (an object created through it
is tracked from its creation; updates and non-apply patches of a tracked object record their
manager, named by ``fieldManager`` or else the client's name, the product of its User-Agent as
``handlers/rest.go`` prefixFromUserAgent takes it, ``kubectl`` or ``my-operator``); the model's
own components' writes are worked out by :mod:`.managers` (the HPA's ``scale`` writes as
``kube-controller-manager``'s, a pod's status as the ``kubelet``'s).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubechaos.api import errors
from kubechaos.api.manifest import SUPPORTED_KINDS
from kubechaos.control.apiserver import APIServer
from kubechaos.frontdoor import decode
from kubechaos.frontdoor.decode import InvalidObject, conflict, dry_run
from kubechaos.frontdoor.encoding import Encoder
from kubechaos.frontdoor.managers import FieldManagers, with_managed_fields
from kubechaos.frontdoor.paths import ResourcePath
from kubechaos.frontdoor.serverside import ApplyConflict, ManagerEntry, Tracker

#: What an update (create, update, patch) does to the stored object, for the field manager:
#: the object as the client saw it before, the object as stored after.
Changed = Callable[[ResourcePath, Any, Mapping[str, Any], Any, list[str]], Any]


class ApplyConflictError(errors.APIError):
    """409 Conflict with the conflicting fields as ``details.causes`` (``conflict.go``)."""

    code = 409
    reason = "Conflict"

    def __init__(self, conflict_: ApplyConflict) -> None:
        super().__init__(conflict_.message())
        self.status_causes = conflict_.causes()


class ServerSideApply:
    """``PATCH`` with ``application/apply-patch+yaml``."""

    def __init__(
        self,
        api: APIServer,
        encoder: Encoder,
        managers: FieldManagers,
        on_kind: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.api = api
        self.encoder = encoder
        self.managers = managers
        self.on_kind = on_kind  # before a client's first object of a kind (Cluster.use_kind)

    async def apply(
        self,
        target: ResourcePath,
        params: Mapping[str, str],
        body: bytes,
        warnings: list[str],
        changed: Changed,
    ) -> tuple[int, Any]:
        manager = params.get("fieldManager", "")
        if not manager:
            raise InvalidObject(
                "PatchOptions.meta.k8s.io",
                "",
                (("fieldManager", "Required value: is required for apply patch"),),
            )
        force = _force(params)
        validation = decode.field_validation(params)
        dry = dry_run(params)
        config = decode.expect_object(
            decode.parse_body(body, "application/apply-patch+yaml"), target, True
        )
        if (config.get("metadata") or {}).get("managedFields") is not None:
            raise errors.BadRequest("metadata.managedFields must be nil")
        kind = target.resource.kind
        if kind not in SUPPORTED_KINDS:
            raise decode.MethodNotAllowed(
                f"kubechaos does not take {target.resource.name} from clients: the model makes them itself"
            )
        tracker = self.managers.tracker(target)
        version = target.resource.group_version.rpartition("/")[2]
        wanted = str((config.get("metadata") or {}).get("resourceVersion") or "")
        recorded: list[tuple[ManagerEntry, ...]] = []

        def mutate(live: Any) -> Any:
            if wanted and wanted != live.metadata.resource_version:
                raise conflict(target.resource.name, target.name)
            encoded = self.encoder.plain(live)
            merged, entries = _apply(
                tracker,
                encoded,
                config,
                self.managers.for_apply(live, encoded),
                manager,
                force,
                self.managers.timestamp(),
            )
            recorded.append(entries)
            warnings.extend(decode.check_fields(merged, validation, kind, version, encoded))
            new = decode.with_meta_extras(decode.read_object(merged, target), merged)
            return changed(target, live, merged, new, warnings)

        try:
            stored = await self.api.patch(
                target.resource.name, target.namespace or "", target.name, mutate, "apply", dry
            )
        except errors.NotFound:  # patch.go's apply patcher creates what is not there
            return await self._create(
                target, tracker, config, manager, force, validation, dry, warnings
            )
        if not dry and recorded:
            self.managers.store(stored.metadata.uid, recorded[-1])
        return 200, self._answer(stored, recorded[-1] if recorded else ())

    async def _create(
        self,
        target: ResourcePath,
        tracker: Tracker,
        config: dict[str, Any],
        manager: str,
        force: bool,
        validation: str,
        dry: bool,
        warnings: list[str],
    ) -> tuple[int, Any]:
        """An apply to an object that does not exist creates it (patch.go: the apply patcher
        creates on NotFound)."""
        merged, entries = _apply(
            tracker, None, config, (), manager, force, self.managers.timestamp()
        )
        version = target.resource.group_version.rpartition("/")[2]
        warnings.extend(decode.check_fields(merged, validation, target.resource.kind, version))
        obj = decode.with_meta_extras(decode.read_object(merged, target), merged)
        if not dry:
            self.on_kind(target.resource.kind)
        stored = await self.api.create(obj, dry_run=dry)
        if not dry:
            self.managers.store(stored.metadata.uid, entries)
        return 201, self._answer(stored, entries)

    def _answer(self, stored: Any, entries: tuple[ManagerEntry, ...]) -> Any:
        """The object with the entries this apply made (stored, or not for a dry run)."""
        return with_managed_fields(self.encoder.plain(stored), entries)


def _apply(
    tracker: Tracker,
    live: Mapping[str, Any] | None,
    config: Mapping[str, Any],
    managed: tuple[ManagerEntry, ...],
    manager: str,
    force: bool,
    timestamp: str,
) -> tuple[dict[str, Any], tuple[ManagerEntry, ...]]:
    try:
        return tracker.apply(live, config, managed, manager, force, timestamp)
    except ApplyConflict as exc:
        raise ApplyConflictError(exc) from None


def _force(params: Mapping[str, str]) -> bool:
    value = params.get("force", "")
    if value in ("", "false", "False", "0"):
        return False
    if value in ("true", "True", "1"):
        return True
    raise errors.BadRequest(f"force: invalid value {value!r}: expected true or false")


__all__ = ["ApplyConflictError", "FieldManagers", "ServerSideApply"]
