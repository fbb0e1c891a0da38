"""What a test's ``await kubechaos.apply(...)`` accepts, turned into API objects.

A test hands over manifests in whatever shape is at hand: a YAML file (relative to the test
file), YAML text, API objects from :mod:`kubechaos.api.objects`, manifest mappings, or a list of
objects and mappings. This module resolves each shape to YAML documents and reads them with
:func:`kubechaos.scenario.workloads.read_workloads`, the reader a scenario's ``spec.workloads``
uses, so a test and a scenario file accept, refuse and skip the same manifests. Problems fail the
test with one :class:`~kubechaos.testing.HarnessError` listing each with its line; kinds the model
does not serve are skipped with a warning (and an event), as ``kubectl apply`` would refuse them
and a scenario warns of them. It is kept apart from :class:`~kubechaos.testing.harness.Harness`
because it is about input shapes, not about the cluster.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import attrs

from kubechaos.api.objects import APIObject
from kubechaos.scenario.customworkloads import CustomKinds
from kubechaos.scenario.workloads import read_workloads
from kubechaos.scenario.yamlfile import YAMLSyntaxError, load_all, read_text
from kubechaos.sim.events import EventLog
from kubechaos.testing import HarnessError

ManifestSource = str | os.PathLike[str] | APIObject | Mapping[str, Any] | Iterable[Any]


def resolve_file(base_dir: Path, path: str | os.PathLike[str]) -> Path:
    """``path``, read from the test file's directory ``base_dir`` when relative; it must exist."""
    __tracebackhide__ = True
    file = Path(path)
    if not file.is_absolute():
        file = base_dir / file
    if not file.exists() or file.is_dir():
        raise HarnessError(f"no file {file} (relative paths are read from the test's directory)")
    return file


def objects_of(
    manifests: ManifestSource,
    base_dir: Path,
    events: EventLog,
    custom: CustomKinds | None = None,
) -> list[APIObject]:
    """The API objects ``manifests`` describe; skipped kinds are warned of and recorded in
    ``events``. Raises :class:`~kubechaos.testing.HarnessError` for anything unreadable.
    ``custom``: the CustomResourceDefinitions known so far (objects of their kinds are read)."""
    __tracebackhide__ = True
    custom = custom if custom is not None else CustomKinds()
    if isinstance(manifests, os.PathLike) or (isinstance(manifests, str) and "\n" not in manifests):
        file = resolve_file(base_dir, manifests)
        try:
            text = read_text(file)
        except OSError as exc:  # not a regular file, too large, not UTF-8, unreadable
            raise HarnessError(f"cannot read {file}: {exc}") from None
        return _parse(text, str(file), events, custom)
    if isinstance(manifests, str):
        return _parse(manifests, "<manifest text>", events, custom)
    items: Iterable[Any] = (
        [manifests]
        if isinstance(manifests, Mapping) or _is_api_object(manifests)
        else cast(Iterable[Any], manifests)
    )
    objects: list[APIObject] = []
    for i, item in enumerate(items):
        if _is_api_object(item):
            objects.append(item)
        elif isinstance(item, Mapping):
            objects += _read([item], f"<manifest {i}>", events, custom)
        else:
            raise HarnessError(
                f"apply takes API objects or manifest mappings in a list, got {item!r}"
            )
    return objects


def _parse(text: str, source: str, events: EventLog, custom: CustomKinds) -> list[APIObject]:
    __tracebackhide__ = True
    try:
        docs = load_all(text)
    except YAMLSyntaxError as exc:
        raise HarnessError(f"{source}:{exc.line}:{exc.column}: invalid YAML: {exc}") from None
    return _read(docs, source, events, custom)


def _read(docs: list[Any], source: str, events: EventLog, custom: CustomKinds) -> list[APIObject]:
    __tracebackhide__ = True
    reading = read_workloads(docs, source, custom=custom)
    for message in reading.not_modelled:
        # stacklevel: past _read and _parse or objects_of, to Harness.apply or the test
        warnings.warn(message, stacklevel=4)
        events.record("kubechaos", "Manifest", source, "Warning", message)
    if reading.problems:
        raise HarnessError(
            "invalid manifest:\n"
            + "\n".join(
                f"{source}:{p.line}:{p.column}: "
                + (f"document {p.document}: " if p.document is not None else "")
                + f"{p.path}: {p.message}"
                for p in reading.problems
            )
        )
    return list(reading.objects)


def _is_api_object(value: object) -> bool:
    return attrs.has(type(value)) and hasattr(value, "metadata")


__all__ = ["ManifestSource", "objects_of", "resolve_file"]
