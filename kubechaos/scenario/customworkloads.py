"""CustomResourceDefinitions and custom objects in a scenario's workloads.

A definition is checked as the API server checks one (:func:`kubechaos.api.crd.validate_crd`);
an object of a kind a definition earlier in the workloads declares (in the same file or an
earlier entry) is checked against that definition's schema as the API server checks it on
create with ``fieldValidation=Strict`` (what ``kubectl apply`` sends): unknown fields, types,
required fields, enums, bounds and patterns, each a located error; defaults are applied. An object
of a group no definition declares (and no built-in group) is refused as kubectl refuses it
("no matches for kind ... ensure CRDs are installed first"); a kind of a built-in group the model
does not serve stays what it was: skipped with a warning.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from kubechaos.api.crd import API_VERSION, KIND, CRDInfo, crd_info, validate_crd, with_defaults
from kubechaos.api.crdschema import apply_defaults, prune, schema_causes
from kubechaos.api.customstate import ANNOTATION, ConfigError, parse_config
from kubechaos.api.fieldreader import FieldError, ManifestError, Path
from kubechaos.api.objects.custom import Unstructured

# The API groups Kubernetes itself serves: an unknown kind there is "not modelled", not missing.
_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "policy", "autoscaling", "extensions"})


def _path(field: str) -> Path:
    out: list[str | int] = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", field):
        out.append(int(part[1:-1]) if part.startswith("[") else part)
    return tuple(out)


def _errors(base: Path, causes: list[str]) -> ManifestError:
    found = []
    for cause in causes:
        field, _, message = cause.partition(": ")
        found.append(FieldError((*base, *_path(field)), message))
    return ManifestError(found)


class CustomKinds:
    """The definitions a scenario's workloads have declared so far, in order."""

    def __init__(self, known: Iterable[CRDInfo] = ()) -> None:
        """``known``: definitions served already (a test applying objects of a kind it
        defined in an earlier apply)."""
        self._kinds: dict[tuple[str, str], CRDInfo] = {(i.group, i.kind): i for i in known}
        self._refused: set[tuple[str, str]] = set()  # kinds of refused definitions

    def declared(self) -> list[CRDInfo]:
        """The definitions declared so far."""
        return list(self._kinds.values())

    def read(self, doc: Mapping[str, Any], base: Path = ()) -> Unstructured | None:
        """``doc`` as a definition or a custom object; None if it is neither (a built-in
        group's kind); :class:`ManifestError` if the API server would refuse it."""
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if (api_version, kind) == (API_VERSION, KIND):
            return self._definition(doc, base)
        group, _, version = api_version.rpartition("/")
        info = self._kinds.get((group, kind))
        if info is None and (group, kind) in self._refused:
            return Unstructured(dict(doc))  # its definition's errors are reported: no more
        if info is None:
            if group in _BUILTIN_GROUPS or group.endswith(".k8s.io") or "/" not in api_version:
                return None
            raise ManifestError(
                [
                    FieldError(
                        (*base, "kind"),
                        f'no matches for kind "{kind}" in version "{api_version}": ensure its '
                        "CustomResourceDefinition comes before it in the workloads",
                    )
                ]
            )
        return self._object(doc, info, version, base)

    def _definition(self, doc: Mapping[str, Any], base: Path) -> Unstructured:
        content = with_defaults(copy.deepcopy(dict(doc)))
        causes = validate_crd(content)
        if causes:
            spec = content.get("spec")
            names = spec.get("names") if isinstance(spec, Mapping) else None
            if isinstance(names, Mapping) and isinstance(spec, Mapping):
                self._refused.add((str(spec.get("group", "")), str(names.get("kind", ""))))
            raise _errors(base, causes)
        info = crd_info(content)
        self._kinds[(info.group, info.kind)] = info
        annotations = (content.get("metadata") or {}).get("annotations") or {}
        config = annotations.get(ANNOTATION) if isinstance(annotations, Mapping) else None
        if config is not None:
            try:
                parse_config(str(config))
            except ConfigError as exc:
                where = (*base, "metadata", "annotations", ANNOTATION)
                raise ManifestError(
                    [FieldError(where, f"kube-state-metrics config: {exc}")]
                ) from None
        return Unstructured(content)

    def _object(
        self, doc: Mapping[str, Any], info: CRDInfo, version: str, base: Path
    ) -> Unstructured:
        served = info.version(version)
        if served is None:
            raise ManifestError(
                [FieldError((*base, "apiVersion"), f"{info.kind} is not served at {version!r}")]
            )
        content = copy.deepcopy(dict(doc))
        meta = content.setdefault("metadata", {})
        if not isinstance(meta, dict) or not meta.get("name"):
            raise ManifestError([FieldError((*base, "metadata", "name"), "Required value")])
        if info.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        pruned, unknown = prune(content, served.schema)
        causes = [f'{p}: unknown field "{p.rpartition(".")[2]}"' for p in unknown]
        defaulted = apply_defaults(pruned, served.schema)
        causes += schema_causes(defaulted, served.schema)
        if causes:
            raise _errors(base, causes)
        return Unstructured(defaulted)


__all__ = ["CustomKinds"]
