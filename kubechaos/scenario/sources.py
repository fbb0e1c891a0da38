"""The files a scenario is made of, and their content digests: what a run's result records so
``kubechaos replay`` can refuse a scenario or manifest that changed since.

A scenario file and the manifest files its ``spec.workloads`` name by ``path`` (relative to the
scenario file) are a run's whole input besides its seed. :func:`source_digests` gives the SHA-256
of each, as the sweep JSON gives its scenario's; :func:`changed_source` compares them with a
recorded set. Only regular files are read (``yamlfile.read_text``), and nothing here ever puts a
file's content into a message: a hostile result JSON may point at any path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from kubechaos.scenario.yamlfile import YAMLSyntaxError, load_all, read_text


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_paths(text: str) -> list[str]:
    """The workload paths a scenario's text names, as written (relative to its file)."""
    try:
        docs = load_all(text)
    except YAMLSyntaxError:
        return []
    spec = docs[0].get("spec") if docs and isinstance(docs[0], dict) else None
    workloads = spec.get("workloads") if isinstance(spec, dict) else None
    paths: list[str] = []
    for entry in workloads if isinstance(workloads, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            paths.append(entry["path"])
    return list(dict.fromkeys(paths))


def source_digests(scenario_file: Path) -> tuple[str, dict[str, str]]:
    """The SHA-256 of the scenario file and of each manifest file it names (by its path as
    written). Raises ``OSError`` if one cannot be read."""
    text = read_text(scenario_file)
    manifests = {rel: digest(read_text(scenario_file.parent / rel)) for rel in manifest_paths(text)}
    return digest(text), manifests


def changed_source(
    scenario_file: Path, text: str, sha256: str, manifests: Mapping[str, str]
) -> str | None:
    """Which of a scenario's files differ from the digests recorded for it (the scenario's
    ``text`` was read already): None when none does, else one line naming the file."""
    if digest(text) != sha256:
        return f"{scenario_file}: changed since the run was recorded (its SHA-256 differs)"
    now = manifest_paths(text)
    for rel in now:
        if rel not in manifests:
            return f"{scenario_file}: names {rel}, which the recorded run did not read"
        path = scenario_file.parent / rel
        try:
            current = digest(read_text(path))
        except OSError as exc:
            return f"{path}: cannot read: {exc.strerror or exc}"
        if current != manifests[rel]:
            return f"{path}: changed since the run was recorded (its SHA-256 differs)"
    return None
