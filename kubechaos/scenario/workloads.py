"""Manifest documents read into the API objects a cluster is given, each problem with its line.

Two places take Kubernetes manifests from people: a scenario file's ``spec.workloads`` (a file
of manifests or one written inline) and a test's ``await kubechaos.apply(...)``. Both must accept
and refuse exactly the same documents, point at the same line and column, and skip the same kinds
the model does not serve, so both call :func:`read_workloads`; each then words the outcome in its
own way (a scenario lists :class:`~kubechaos.scenario.check.LocatedError` lines, a test fails with
one message). Each document is first checked against upstream's strict v1.32 schema of its kind
(:func:`kubechaos.api.schema.schema_errors`, as ``kubectl apply --validate=strict``: unknown
fields, wrong types, missing required fields), then read by
:func:`kubechaos.api.manifest.read_manifest`, whose checks are the API server's validation (its
words win where both report one field); this module adds what needs the YAML source (lines, columns,
document numbers), which is why it sits with the scenario's YAML reading rather than in ``api``.
It plays the part of kubectl's resource builder (``k8s.io/cli-runtime/pkg/resource``): documents
in, objects and per-document errors out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from kubechaos.api.fieldreader import FieldError, ManifestError
from kubechaos.api.manifest import UnsupportedKind, read_manifest
from kubechaos.api.modelled import NOT_MODELLED, unmodelled_fields
from kubechaos.api.objects import APIObject
from kubechaos.api.schema import schema_errors
from kubechaos.scenario.check import LocatedError, Path
from kubechaos.scenario.customworkloads import CustomKinds
from kubechaos.scenario.yamlfile import locate


@attrs.frozen
class ManifestProblem:
    """One reason a manifest cannot be applied, or one part of it the model leaves out, located
    in its YAML source."""

    line: int
    column: int
    path: str  # the field, dotted (``spec.template.spec.containers[0].image``)
    message: str
    document: int | None  # 1-based, when the source holds more than one document

    def located(self, source: str) -> LocatedError:
        """As a scenario file's error line: ``file:line:column: path: document N: message``."""
        where = f"document {self.document}: " if self.document is not None else ""
        return LocatedError(source, self.line, self.column, self.path, where + self.message)

    def warning(self, source: str) -> str:
        """As a warning: ``file:line: path: message`` (the path left out when empty)."""
        return f"{source}:{self.line}: " + (f"{self.path}: " if self.path else "") + self.message


@attrs.frozen
class WorkloadReading:
    """What :func:`read_workloads` made of some manifest documents."""

    objects: tuple[APIObject, ...]
    problems: tuple[ManifestProblem, ...]
    # what the model leaves out, in document order: each document of a kind it does not serve
    # ("Kind 'name' is not modelled; skipped", with an empty path) and each field it does not
    # read (kubechaos.api.modelled) of a document it does serve
    unmodelled: tuple[ManifestProblem, ...]
    source: str = ""

    @property
    def not_modelled(self) -> tuple[str, ...]:
        """:attr:`unmodelled` as warnings, ``source:line: ...``."""
        return tuple(p.warning(self.source) for p in self.unmodelled)


def read_workloads(
    docs: Sequence[Any],
    source: str,
    *,
    base: Path = (),
    root: Any = None,
    custom: CustomKinds | None = None,
) -> WorkloadReading:
    """Read each of ``docs`` (from :func:`~kubechaos.scenario.yamlfile.load_all`) as a manifest.

    ``source`` names where the documents came from in warnings. A manifest written inside a
    larger document (a scenario's ``spec.workloads[i].manifest``) is one document at ``base``
    within ``root``: its problems are located, and its field paths spelled, from ``root``.
    Otherwise each document is its own root. ``custom`` holds the CustomResourceDefinitions
    read so far (shared by every entry of a scenario), so objects of their kinds are read too.
    """
    custom = custom if custom is not None else CustomKinds()
    objects: list[APIObject] = []
    problems: list[ManifestProblem] = []
    unmodelled: list[ManifestProblem] = []
    for index, doc in enumerate(docs):
        doc_root = doc if root is None else root
        document = index + 1 if len(docs) > 1 else None
        # structure and types against upstream's strict schema, as kubectl --validate=strict
        errors = [
            FieldError((*base, *e.path), e.message)
            for e in (schema_errors(doc) if isinstance(doc, Mapping) else ())
        ]
        try:
            as_custom = custom.read(doc, base) if isinstance(doc, Mapping) else None
            obj: Any = as_custom if as_custom is not None else read_manifest(doc, base=base)
        except UnsupportedKind as exc:
            if not errors:
                line, column = locate(doc_root, base)
                unmodelled.append(ManifestProblem(line, column, "", str(exc), document))
                continue
        except ManifestError as exc:
            # the model's own words win where both speak of one field
            seen = {e.path for e in exc.errors}
            errors = [*exc.errors, *(e for e in errors if e.path not in seen)]
        else:
            if not errors:
                objects.append(obj)
                unmodelled += _ignored(doc, doc_root, base, document)
                continue
        found = []
        for err in errors:
            line, column = locate(doc_root, err.path)
            found.append(ManifestProblem(line, column, err.dotted(), err.message, document))
        problems += sorted(found, key=lambda p: (p.line, p.column))
    return WorkloadReading(tuple(objects), tuple(problems), tuple(unmodelled), source)


def _ignored(
    doc: Mapping[str, Any], root: Any, base: Path, document: int | None
) -> list[ManifestProblem]:
    """A warning for each field of ``doc`` the model does not read (kubechaos.api.modelled)."""
    found = []
    for path in unmodelled_fields(doc):
        line, column = locate(root, (*base, *path))
        dotted = FieldError((*base, *path), "").dotted()
        found.append(ManifestProblem(line, column, dotted, NOT_MODELLED, document))
    return sorted(found, key=lambda p: (p.line, p.column))


__all__ = ["ManifestProblem", "WorkloadReading", "read_workloads"]
