"""Container behaviours: what the process inside a modelled container does, as a script.

A pod chooses the behaviour of its containers through the annotation
``kubechaos.io/behaviour`` (every container) or ``kubechaos.io/behaviour.<container-name>`` (one
container; it wins over the pod-wide one). The text is a comma-separated list of clauses; times
are Go-style durations (``500ms``, ``30s``, ``1.5m``, ``1h``, ``1m30s``; a bare number is seconds)
measured from the moment the process started. Every restart starts a new process, so the script
replays from zero: ``crash-after=30s`` crashes every run 30 s after it started.

======================== ====================================================================
clause                   meaning
======================== ====================================================================
``serve``                a healthy server forever (the default; the empty text means this)
``startup=D``            every probe fails until D after start (the process is still starting)
``crash-after=D``        the process exits with code 1 at D (``exit-code=N`` changes the code)
``exit-after=D``         the process exits with code 0 at D: a Job-like batch process
``exit-code=N``          the exit code of ``crash-after``/``exit-after`` (0-255)
``crash-times=N``        with ``crash-after``: only the first N runs crash; later runs exit 0
                         at the same time (a step that fails N times, then succeeds: an init
                         container waiting for a dependency, a flaky batch process)
``liveness-fail-after=D`` from D on, liveness, readiness and startup probes fail; the process
                         keeps running (a deadlocked server)
``readiness-fail-after=D`` from D on, the readiness probe fails; the process keeps running
``readiness-fail-for=D`` with ``readiness-fail-after``: readiness fails only for a window of D
``shutdown=D``           the process needs D to exit after SIGTERM (default 0: at once)
``term-exit-code=N``     the exit code when SIGTERM ends it within the grace period (default 0,
                         a server that handles SIGTERM; 143 for a batch process it kills)
``serves-while-unready`` while its readiness probe fails, the process still answers requests
                         (a readiness endpoint that checks a dependency the requests do not
                         need); without it a request reaching it gets an error (``not_ready``)
``closes-on-term``       on SIGTERM the process closes its listener at once: requests reaching
                         it until it exits are refused; without it, it serves until it exits
``prestop=D``            the container's ``preStop`` hook takes D (instead of what its ``exec``
                         command or ``sleep`` says; see :mod:`kubechaos.node.kubelet.hooks`)
``poststart=D``          the container's ``postStart`` hook takes D
``prestop-fail``         the ``preStop`` hook fails (after its duration): FailedPreStopHook
``poststart-fail``       the ``postStart`` hook fails: FailedPostStartHook, the container is
                         killed and restarted per restartPolicy
======================== ====================================================================

What a request reaching the process meets (:meth:`Behaviour.answer`, the traffic model's
outcome): while starting (``startup``) nothing listens yet (refused); once
``liveness-fail-after`` has passed the process is hung: it accepts connections and never answers
(the client times out); while readiness fails it answers with errors unless
``serves-while-unready``; otherwise it serves.

Example: ``startup=5s,readiness-fail-after=60s,readiness-fail-for=30s,shutdown=10s``.

**Init containers** (not sidecars) run to completion: an init container whose behaviour has no
``crash-after``/``exit-after`` exits 0 at its ``startup`` time (default 0: as soon as it has
started). ``exit-after=30s`` is an init step of 30 s, ``crash-after=30s`` one that fails after
30 s, ``crash-after=30s,crash-times=2`` one that fails twice and then succeeds. A sidecar
(``restartPolicy: Always``) behaves as an app container.

A :class:`Behaviour` answers everything the kubelet needs without being polled: when the process
exits on its own and with which code, whether a probe of a given kind passes at a time ``t``
after start, and the next time after ``t`` at which that answer changes. Probe results are
piecewise constant with a handful of breakpoints, which is what lets the kubelet schedule probe
outcomes instead of running every probe tick of every healthy container.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

import attrs

from kubechaos.api.duration import DurationError
from kubechaos.api.duration import parse_duration as go_duration
from kubechaos.defaults import BEHAVIOUR_ANNOTATION

ProbeKind = Literal["startup", "liveness", "readiness"]
# What a request reaching the process meets (see Behaviour.answer)
SERVING, STARTING, HUNG, UNREADY = "serving", "starting", "hung", "unready"
PROBE_KINDS: tuple[ProbeKind, ...] = ("startup", "liveness", "readiness")

Interval = tuple[float, float]  # [start, end), seconds after process start; end may be inf

_BARE_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)$")

_DURATION_CLAUSES = (
    "startup",
    "crash-after",
    "exit-after",
    "liveness-fail-after",
    "readiness-fail-after",
    "readiness-fail-for",
    "shutdown",
    "prestop",
    "poststart",
)
_FLAG_CLAUSES = (
    "serve",
    "serves-while-unready",
    "closes-on-term",
    "prestop-fail",
    "poststart-fail",
)
_INT_CLAUSES = {"exit-code": 255, "term-exit-code": 255, "crash-times": 1 << 31}  # the maximum
KNOWN_CLAUSES = (
    "serve",
    *(f"{name}=D" for name in _DURATION_CLAUSES),
    "prestop-fail",
    "poststart-fail",
    "exit-code=N",
    "crash-times=N",
    "term-exit-code=N",
    *_FLAG_CLAUSES[1:],
)


class BehaviourError(ValueError):
    """A behaviour text that does not parse; the message names the clause at fault."""


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration (``1m30s``, ``500ms``, ``2.5s``) or a bare number."""
    text = text.strip()
    if _BARE_NUMBER.match(text):
        return float(text)
    try:
        return go_duration(text)
    except DurationError:
        raise ValueError(
            f"invalid duration {text!r} (use e.g. 30s, 1.5m, 500ms, 1h, 1m30s)"
        ) from None


@attrs.frozen(slots=True)
class Behaviour:
    """What one process does, in seconds after it started (see the module docstring)."""

    startup: float = 0.0
    exit_after: float | None = None  # the process exits on its own at this time...
    exit_code: int = 0  # ...with this code
    liveness_fail_after: float | None = None
    readiness_fail_after: float | None = None
    readiness_fail_for: float | None = None  # None: from readiness_fail_after on, for ever
    shutdown: float = 0.0
    term_exit_code: int = 0  # the exit code after SIGTERM within the grace period
    serves_while_unready: bool = False  # answers requests while its readiness fails
    closes_on_term: bool = False  # refuses requests from SIGTERM on (else serves until exit)
    prestop: float | None = None  # the preStop hook's duration (None: as its action says)
    poststart: float | None = None  # the postStart hook's duration
    prestop_fail: bool = False
    poststart_fail: bool = False
    crash_times: int | None = None  # only this many runs crash; later ones exit 0
    text: str = ""
    # Failing intervals per probe kind, derived once (see __attrs_post_init__).
    _failing: Mapping[str, tuple[Interval, ...]] = attrs.field(
        init=False, factory=dict, eq=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        starting: list[Interval] = [(0.0, self.startup)] if self.startup > 0 else []
        broken: list[Interval] = []
        if self.liveness_fail_after is not None:
            broken.append((self.liveness_fail_after, math.inf))
        unready: list[Interval] = []
        if self.readiness_fail_after is not None:
            end = (
                math.inf
                if self.readiness_fail_for is None
                else self.readiness_fail_after + self.readiness_fail_for
            )
            if end > self.readiness_fail_after:
                unready.append((self.readiness_fail_after, end))
        failing = {
            "startup": tuple(starting + broken),
            "liveness": tuple(starting + broken),
            "readiness": tuple(starting + unready + broken),
        }
        object.__setattr__(self, "_failing", failing)

    # ------------------------------------------------------------------ the process
    def exits(self, attempt: int = 0) -> tuple[float, int] | None:
        """``(seconds after start, exit code)`` of the process's own exit in its run number
        ``attempt`` (0 for the first, the container's restart count), or None."""
        if self.exit_after is None:
            return None
        if self.crash_times is not None and attempt >= self.crash_times:
            return self.exit_after, 0
        return self.exit_after, self.exit_code

    def init_exits(self, attempt: int = 0) -> tuple[float, int]:
        """:meth:`exits` for an init container, which runs to completion: without a scripted
        exit it exits 0 at its ``startup`` time."""
        exits = self.exits(attempt)
        return (self.startup, 0) if exits is None else exits

    def stop_seconds(self, grace: float) -> tuple[float, int]:
        """After SIGTERM: ``(seconds to exit, exit code)`` given ``grace`` seconds before SIGKILL.

        A process that finishes its shutdown within the grace period exits 0 (a server that
        handles SIGTERM; ``term-exit-code`` changes it, 143 for a process SIGTERM kills); one
        that does not is SIGKILLed at the deadline and shows 137.
        """
        if self.shutdown <= grace:
            return self.shutdown, self.term_exit_code
        return max(grace, 0.0), 137

    # ------------------------------------------------------------------ requests
    def answer(self, t: float) -> tuple[str, float]:
        """What a request reaching the process ``t`` seconds after it started meets (SERVING,
        STARTING, HUNG or UNREADY) and until when (seconds after start) that holds."""
        hung_at = math.inf if self.liveness_fail_after is None else self.liveness_fail_after
        if t >= hung_at:
            return HUNG, math.inf
        if t < self.startup:
            return STARTING, min(self.startup, hung_at)
        unready_from = self.readiness_fail_after
        if unready_from is None or self.serves_while_unready:
            return SERVING, hung_at
        unready_to = (
            math.inf if self.readiness_fail_for is None else unready_from + self.readiness_fail_for
        )
        if t < unready_from:
            return SERVING, min(unready_from, hung_at)
        if t < unready_to:
            return UNREADY, min(unready_to, hung_at)
        return SERVING, hung_at

    # ------------------------------------------------------------------ probes
    def always_passes(self, kind: ProbeKind) -> bool:
        """Whether a probe of ``kind`` succeeds at every moment (no failing interval at all)."""
        return not self._failing[kind]

    def passes(self, kind: ProbeKind, t: float) -> bool:
        """Does a probe of ``kind`` succeed ``t`` seconds after the process started?"""
        return not any(start <= t < end for start, end in self._failing[kind])

    def next_change(self, kind: ProbeKind, t: float) -> float | None:
        """The first time after ``t`` at which :meth:`passes` gives a different answer.

        The answer is constant on ``[t, next_change)``; None means it never changes again.
        """
        now_passing = self.passes(kind, t)
        points = sorted(
            {p for interval in self._failing[kind] for p in interval if t < p < math.inf}
        )
        for point in points:
            if self.passes(kind, point) != now_passing:
                return point
        return None


DEFAULT_BEHAVIOUR = Behaviour(text="serve")


def _check_combinations(
    text: str, seen: dict[str, str], values: dict[str, float], ints: dict[str, int]
) -> None:
    """Clauses that contradict or need each other."""
    if "crash-after" in values and "exit-after" in values:
        raise BehaviourError(
            f"behaviour {text!r}: clauses {seen['crash-after']!r} and {seen['exit-after']!r} "
            "contradict each other (a process exits once)"
        )
    if "exit-code" in ints and "crash-after" not in values and "exit-after" not in values:
        raise BehaviourError(
            f"behaviour {text!r}: clause {seen['exit-code']!r} needs crash-after or exit-after"
        )
    if "crash-times" in ints and "crash-after" not in values:
        raise BehaviourError(
            f"behaviour {text!r}: clause {seen['crash-times']!r} needs crash-after"
        )
    if "readiness-fail-for" in values and "readiness-fail-after" not in values:
        raise BehaviourError(
            f"behaviour {text!r}: clause {seen['readiness-fail-for']!r} needs "
            "readiness-fail-after (the window's start)"
        )


@lru_cache(maxsize=4096)
def parse_behaviour(text: str) -> Behaviour:
    """Parse a behaviour text (see the module docstring); raises :class:`BehaviourError`.

    Results are cached: 150,000 pods share a handful of distinct annotation texts.
    """
    seen: dict[str, str] = {}
    values: dict[str, float] = {}
    ints: dict[str, int] = {}
    for raw in text.split(","):
        clause = raw.strip()
        if not clause:
            continue
        name, sep, value = (s.strip() for s in clause.partition("="))
        if name in seen:
            raise BehaviourError(f"behaviour {text!r}: clause {clause!r} repeats {seen[name]!r}")
        seen[name] = clause
        if name in _FLAG_CLAUSES:
            if sep:
                raise BehaviourError(
                    f"behaviour {text!r}: clause {clause!r}: {name} takes no value"
                )
        elif name in _INT_CLAUSES:
            if not sep or not re.fullmatch(r"\d+", value) or int(value) > _INT_CLAUSES[name]:
                raise BehaviourError(
                    f"behaviour {text!r}: clause {clause!r}: {name} must be an integer "
                    + ("0-255" if _INT_CLAUSES[name] == 255 else ">= 0")
                )
            ints[name] = int(value)
        elif name in _DURATION_CLAUSES:
            if not sep or not value:
                raise BehaviourError(
                    f"behaviour {text!r}: clause {clause!r}: {name} needs a duration, "
                    f"e.g. {name}=30s"
                )
            try:
                values[name] = parse_duration(value)
            except ValueError as exc:
                raise BehaviourError(f"behaviour {text!r}: clause {clause!r}: {exc}") from None
        else:
            raise BehaviourError(
                f"behaviour {text!r}: unknown clause {clause!r}; known clauses: "
                + ", ".join(KNOWN_CLAUSES)
            )
    _check_combinations(text, seen, values, ints)
    exit_code = ints.get("exit-code")
    exit_after = values.get("crash-after", values.get("exit-after"))
    default_code = 1 if "crash-after" in values else 0
    return Behaviour(
        startup=values.get("startup", 0.0),
        exit_after=exit_after,
        exit_code=default_code if exit_code is None else exit_code,
        liveness_fail_after=values.get("liveness-fail-after"),
        readiness_fail_after=values.get("readiness-fail-after"),
        readiness_fail_for=values.get("readiness-fail-for"),
        shutdown=values.get("shutdown", 0.0),
        term_exit_code=ints.get("term-exit-code", 0),
        crash_times=ints.get("crash-times"),
        serves_while_unready="serves-while-unready" in seen,
        closes_on_term="closes-on-term" in seen,
        prestop=values.get("prestop"),
        poststart=values.get("poststart"),
        prestop_fail="prestop-fail" in seen,
        poststart_fail="poststart-fail" in seen,
        text=text.strip() or "serve",
    )


def behaviour_text(annotations: Mapping[str, str], container: str) -> str:
    """The behaviour text for ``container``: its own annotation, else the pod's, else ''."""
    own = annotations.get(f"{BEHAVIOUR_ANNOTATION}.{container}")
    if own is not None:
        return own
    return annotations.get(BEHAVIOUR_ANNOTATION, "")


def behaviour_for(annotations: Mapping[str, str], container: str) -> Behaviour:
    """The parsed behaviour of ``container``; raises :class:`BehaviourError` on bad text."""
    text = behaviour_text(annotations, container)
    if not text:
        return DEFAULT_BEHAVIOUR
    return parse_behaviour(text)


__all__ = [
    "DEFAULT_BEHAVIOUR",
    "HUNG",
    "PROBE_KINDS",
    "SERVING",
    "STARTING",
    "UNREADY",
    "Behaviour",
    "BehaviourError",
    "ProbeKind",
    "behaviour_for",
    "behaviour_text",
    "parse_behaviour",
    "parse_duration",
]
