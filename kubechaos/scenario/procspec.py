"""External processes a run starts against its API: ``spec.processes`` of a scenario file and
``kubechaos run --exec``, read and checked into :class:`ProcessSpec`.

A process is a real program (a controller, an operator, a script) that talks to the run's API
through the kubeconfig it is handed. Its name is the client name its requests carry, so a
fault's ``clients`` (or a watch fault's ``component``) picks it, and ``process-kill`` kills it.
What it did is kept as a :class:`ProcessOutcome` for the report.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.scenario.check import Check, Path, string_map

# What an early exit does: fail the run (non-zero code), ignore it, or restart the process with
# the kubelet's crash-loop backoff (as a Deployment's pod would be restarted).
EXIT_POLICIES = ("fail", "ignore", "restart")
_PROCESS_KEYS = ("name", "command", "env", "restart")
# A DNS label (RFC 1123), as upstream's client names and a pod's name part are.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
MAX_NAME = 63
# Names the model's own components make requests as: a process may not pose as one.
RESERVED_NAMES = frozenset(
    {"kube-scheduler", "kube-controller-manager", "kubelet", "kube-proxy", "kubechaos"}
)
# The environment a process finds its API through (set by the supervisor, not by the spec).
RESERVED_ENV = frozenset({"KUBECONFIG", "KUBECHAOS_CLIENT"})


@attrs.frozen
class ProcessSpec:
    """One external process: its client name, argv (no shell), extra environment, what an
    early exit does and the directory it runs in (None: the current one)."""

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str] = attrs.field(factory=dict)
    restart: str = "fail"
    cwd: str | None = None


@attrs.define
class ProcessOutcome:
    """What one process did in a run (the report's ``processes``): its last exit code (None
    while it still ran; negative: killed by that signal), how often it was restarted, and the
    tail of its output (stdout and stderr interleaved)."""

    name: str
    command: tuple[str, ...]
    exit_code: int | None = None
    restarts: int = 0
    output: str = ""
    truncated: bool = False


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a process, or None."""
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        return (
            f"expected a DNS label (lower-case letters, digits and '-', at most {MAX_NAME}), "
            f"got {name!r}"
        )
    if name in RESERVED_NAMES or name.partition("/")[0] in RESERVED_NAMES:
        return f"{name!r} is the name of a component of the model; choose another"
    return None


def read_processes(check: Check, value: Any, base_dir: str) -> tuple[ProcessSpec, ...]:
    """``spec.processes``: each entry checked, errors located; commands run in ``base_dir``
    (the scenario file's directory, as its workload paths are relative to it)."""
    specs: list[ProcessSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(check.sequence(value, ("spec", "processes"))):
        path: Path = ("spec", "processes", i)
        entry = check.mapping(raw, path, _PROCESS_KEYS)
        if not entry:
            if isinstance(raw, Mapping):
                check.error((*path, "name"), "required field is missing")
            continue
        name = check.string(entry, "name", path, required=True)
        problem = name_problem(name) if name else None
        if problem is not None:
            check.error((*path, "name"), problem)
        elif name in seen:
            check.error((*path, "name"), f"process {name!r} is declared twice")
        seen.add(name)
        command = _command(check, entry.get("command"), (*path, "command"))
        env = string_map(check, entry.get("env"), (*path, "env")) if "env" in entry else {}
        for key in env:
            if key in RESERVED_ENV:
                check.error((*path, "env", key), f"{key} is set by kubechaos; it cannot be given")
        restart = check.string(entry, "restart", path, default="fail")
        if restart not in EXIT_POLICIES:
            check.error(
                (*path, "restart"), f"expected one of {', '.join(EXIT_POLICIES)}, got {restart!r}"
            )
        specs.append(ProcessSpec(name, command, env, restart, base_dir))
    return tuple(specs)


def _command(check: Check, value: Any, path: Path) -> tuple[str, ...]:
    if value is None:
        check.error(path, "required field is missing")
        return ()
    if isinstance(value, str):
        check.error(path, "expected a list of arguments (no shell), e.g. [python, op.py]")
        return ()
    items = check.sequence(value, path)
    if not items and isinstance(value, list):
        check.error(path, "expected at least the program to run")
    for j, item in enumerate(items):
        if not isinstance(item, str | int | float) or isinstance(item, bool) or item == "":
            check.error((*path, j), f"expected a non-empty string, got {item!r}")
            return ()
    return tuple(str(item) for item in items)


def parse_exec(text: str, index: int, policy: str) -> ProcessSpec:
    """One ``--exec`` value: ``CMD`` (named ``exec-<index>``) or ``NAME=CMD``, split as a POSIX
    shell would split it but run without one. Raises ValueError saying what is wrong."""
    name = f"exec-{index}"
    head, sep, rest = text.partition("=")
    if sep and head and not any(c.isspace() for c in head) and _NAME.fullmatch(head):
        name, text = head, rest
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(problem)
    try:
        argv = tuple(shlex.split(text))
    except ValueError as exc:
        raise ValueError(f"cannot split {text!r}: {exc}") from None
    if not argv:
        raise ValueError("empty command")
    return ProcessSpec(name, argv, {}, policy, None)


__all__ = [
    "EXIT_POLICIES",
    "RESERVED_ENV",
    "RESERVED_NAMES",
    "ProcessOutcome",
    "ProcessSpec",
    "name_problem",
    "parse_exec",
    "read_processes",
]
