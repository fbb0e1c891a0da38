from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kubechaos.api.objects import Probe
from kubechaos.defaults import BEHAVIOUR_ANNOTATION
from kubechaos.node.behaviour import (
    DEFAULT_BEHAVIOUR,
    Behaviour,
    BehaviourError,
    ProbeKind,
    behaviour_for,
    parse_behaviour,
    parse_duration,
)
from kubechaos.node.probes import failure_message, next_flip

# ---------------------------------------------------------------------------- grammar


def test_durations() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("1.5m") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration("1h") == 3600
    assert parse_duration("1m30s") == 90
    assert parse_duration("12") == 12
    for bad in ("", "3x", "s", "-5s", "1m 30s", "5 s"):
        with pytest.raises(ValueError, match="invalid duration"):
            parse_duration(bad)


def test_default_is_a_healthy_server() -> None:
    for text in ("", "serve", " serve "):
        b = parse_behaviour(text)
        assert b.exits() is None and b.shutdown == 0
        for kind in ("startup", "liveness", "readiness"):
            assert b.passes(kind, 0) and b.next_change(kind, 0) is None
    assert behaviour_for({}, "app") is DEFAULT_BEHAVIOUR


def test_full_grammar() -> None:
    b = parse_behaviour(
        "startup=5s, crash-after=2m, exit-code=3, liveness-fail-after=100s,"
        "readiness-fail-after=60s,readiness-fail-for=30s,shutdown=10s"
    )
    assert (b.startup, b.exits(), b.shutdown) == (5, (120, 3), 10)
    assert (b.liveness_fail_after, b.readiness_fail_after, b.readiness_fail_for) == (100, 60, 30)
    assert parse_behaviour("crash-after=30s").exits() == (30, 1)
    assert parse_behaviour("exit-after=10s").exits() == (10, 0)
    assert parse_behaviour("exit-after=10s,exit-code=2").exits() == (10, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("crash=3s", r"unknown clause 'crash=3s'.*known clauses: serve, startup=D"),
        ("crash-after=3x", r"clause 'crash-after=3x': invalid duration '3x'"),
        (
            "crash-after",
            r"clause 'crash-after': crash-after needs a duration, e.g. crash-after=30s",
        ),
        ("startup=5s,startup=6s", r"clause 'startup=6s' repeats 'startup=5s'"),
        ("exit-code=300,crash-after=1s", r"clause 'exit-code=300': exit-code must be an integer"),
        ("exit-code=2", r"clause 'exit-code=2' needs crash-after or exit-after"),
        ("crash-after=1s,exit-after=2s", r"contradict each other"),
        ("readiness-fail-for=10s", r"'readiness-fail-for=10s' needs readiness-fail-after"),
        ("serve=1", r"serve takes no value"),
    ],
)
def test_grammar_errors_name_the_clause(text: str, message: str) -> None:
    with pytest.raises(BehaviourError, match=message):
        parse_behaviour(text)
    assert issubclass(BehaviourError, ValueError)


def test_per_container_annotation_wins() -> None:
    annotations = {
        BEHAVIOUR_ANNOTATION: "crash-after=30s",
        f"{BEHAVIOUR_ANNOTATION}.sidecar": "serve",
    }
    assert behaviour_for(annotations, "app").exits() == (30, 1)
    assert behaviour_for(annotations, "sidecar").exits() is None
    with pytest.raises(BehaviourError):
        behaviour_for({f"{BEHAVIOUR_ANNOTATION}.app": "nope"}, "app")


# ---------------------------------------------------------------------------- probe answers


def test_probe_answers_and_changes() -> None:
    b = parse_behaviour("startup=5s,readiness-fail-after=60s,readiness-fail-for=30s")
    assert not b.passes("readiness", 0) and not b.passes("readiness", 4.9)
    assert b.passes("readiness", 5) and b.passes("readiness", 59.9)
    assert not b.passes("readiness", 60) and b.passes("readiness", 90)
    assert b.next_change("readiness", 0) == 5
    assert b.next_change("readiness", 5) == 60
    assert b.next_change("readiness", 60) == 90
    assert b.next_change("readiness", 90) is None
    assert b.passes("liveness", 70)  # readiness trouble leaves liveness alone
    dead = parse_behaviour("liveness-fail-after=60s")
    assert dead.passes("liveness", 59) and not dead.passes("liveness", 60)
    assert not dead.passes("readiness", 61)  # a deadlocked server is not ready either
    assert dead.next_change("liveness", 0) == 60 and dead.next_change("liveness", 60) is None


def test_stop_within_and_beyond_grace() -> None:
    b = parse_behaviour("shutdown=5s")
    assert b.stop_seconds(30) == (5, 0)
    assert b.stop_seconds(2) == (2, 137)
    assert DEFAULT_BEHAVIOUR.stop_seconds(30) == (0, 0)


# ---------------------------------------------------------------------------- probe timing


def test_liveness_flip_after_failure_threshold_ticks() -> None:
    b = parse_behaviour("liveness-fail-after=60s")
    # ticks at 0, 10, 20, ...: failing from 60; the third failing tick is at 80
    assert next_flip(Probe(), b, "liveness", True, 0) == (80, False)
    # with a 5 s initial delay the ticks are 5, 15, ...: failing ones 65, 75, 85
    assert next_flip(Probe(initial_delay_seconds=5), b, "liveness", True, 0) == (85, False)
    assert next_flip(Probe(), DEFAULT_BEHAVIOUR, "liveness", True, 0) is None


def test_readiness_flips_both_ways() -> None:
    b = parse_behaviour("readiness-fail-after=60s,readiness-fail-for=30s")
    probe = Probe(period_seconds=5, success_threshold=2)
    assert next_flip(probe, b, "readiness", False, 0) == (5, True)  # ticks 0 and 5 pass
    assert next_flip(probe, b, "readiness", True, 10) == (70, False)  # 60, 65, 70 fail
    assert next_flip(probe, b, "readiness", False, 75) == (95, True)  # 90, 95 pass
    assert next_flip(probe, b, "readiness", True, 100) is None


def test_short_failure_window_never_reaches_threshold() -> None:
    b = parse_behaviour("readiness-fail-after=60s,readiness-fail-for=15s")
    # failing ticks 60 and 70 only: two of three needed, the run is broken at 80
    assert next_flip(Probe(), b, "readiness", True, 0) is None


def test_startup_probe_from_unknown() -> None:
    slow = parse_behaviour("startup=25s")
    assert next_flip(Probe(failure_threshold=5), slow, "startup", None, 0) == (30, True)
    assert next_flip(Probe(failure_threshold=3), slow, "startup", None, 0) == (20, False)


def test_failure_messages_follow_upstream_shape() -> None:
    assert failure_message("liveness", Probe()) == (
        "Liveness probe failed: HTTP probe failed with statuscode: 503"
    )
    assert failure_message("readiness", Probe(handler="tcpSocket")).startswith(
        "Readiness probe failed: dial tcp"
    )


def _prober(
    probe: Probe, b: Behaviour, kind: ProbeKind, current: bool | None, not_before: float
) -> list[tuple[float, bool]]:
    """Upstream's worker, tick by tick (pkg/kubelet/prober/worker.go doProbe)."""
    flips = []
    last_result: bool | None = None
    run = 0
    result = current
    for k in range(400):
        t = probe.initial_delay_seconds + k * probe.period_seconds
        if t < not_before:
            continue
        value = b.passes(kind, t)
        if value == last_result:
            run += 1
        else:
            last_result, run = value, 1
        threshold = probe.success_threshold if value else probe.failure_threshold
        if run < threshold:
            continue
        if value != result:
            flips.append((t, value))
            result = value
    return flips


def _scheduled(
    probe: Probe, b: Behaviour, kind: ProbeKind, current: bool | None, not_before: float
) -> list[tuple[float, bool]]:
    """The kubelet's way: jump from flip to flip."""
    flips = []
    horizon = probe.initial_delay_seconds + 399 * probe.period_seconds
    while True:
        flip = next_flip(probe, b, kind, current, not_before)
        if flip is None or flip[0] > horizon:
            return flips
        flips.append(flip)
        current = flip[1]
        not_before = flip[0] + probe.period_seconds


_times = st.sampled_from([0.0, 2.5, 5.0, 10.0, 12.5, 30.0, 45.0, 60.0, 100.0])


@settings(max_examples=500, deadline=None)
@example(  # a failure window that falls between two ticks is never seen
    startup=30.0,
    liveness_fail=None,
    readiness_fail=45.0,
    readiness_for=2.5,
    delay=0,
    period=7,
    success=3,
    failure=1,
    kind="readiness",
    current=None,
    not_before=0.0,
)
@given(
    startup=_times,
    liveness_fail=st.one_of(st.none(), _times),
    readiness_fail=st.one_of(st.none(), _times),
    readiness_for=st.one_of(st.none(), _times),
    delay=st.integers(0, 20),
    period=st.integers(1, 15),
    success=st.integers(1, 3),
    failure=st.integers(1, 5),
    kind=st.sampled_from(["startup", "liveness", "readiness"]),
    current=st.sampled_from([None, True, False]),
    not_before=st.sampled_from([0.0, 7.0, 30.0]),
)
def test_scheduled_flips_equal_tick_by_tick_probing(
    startup: float,
    liveness_fail: float | None,
    readiness_fail: float | None,
    readiness_for: float | None,
    delay: int,
    period: int,
    success: int,
    failure: int,
    kind: ProbeKind,
    current: bool | None,
    not_before: float,
) -> None:
    b = Behaviour(
        startup=startup,
        liveness_fail_after=liveness_fail,
        readiness_fail_after=readiness_fail,
        readiness_fail_for=readiness_for if readiness_fail is not None else None,
    )
    probe = Probe(
        initial_delay_seconds=delay,
        period_seconds=period,
        success_threshold=success,
        failure_threshold=failure,
    )
    expected = _prober(probe, b, kind, current, not_before)
    assert _scheduled(probe, b, kind, current, not_before) == expected


def test_infinite_interval_end_is_never_a_change() -> None:
    b = parse_behaviour("readiness-fail-after=10s")
    assert b.next_change("readiness", 10) is None
    assert not b.passes("readiness", 1e12)
