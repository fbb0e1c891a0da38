"""Quantities, selectors, durations, seeded randomness and the event log."""

from __future__ import annotations

import io
import json

import pytest

from kubechaos.api.duration import DurationError, format_duration, parse_duration
from kubechaos.api.quantity import QuantityError, parse_bytes, parse_count, parse_cpu_millis
from kubechaos.api.selectors import (
    FieldSelector,
    LabelSelector,
    Requirement,
    SelectorError,
    parse_label_selector,
)
from kubechaos.defaults import Settings
from kubechaos.sim.events import EventLog
from kubechaos.sim.rand import Rng


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("100m", 100),
        ("1.5", 1500),
        ("2", 2000),
        (2, 2000),
        ("0.1", 100),
        ("2e-1", 200),
        ("250m", 250),
    ],
)
def test_cpu_quantities(text: str | int, millis: int) -> None:
    assert parse_cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("128Mi", 128 * 2**20),
        ("1Gi", 2**30),
        ("1G", 10**9),
        ("1.5Gi", 3 * 2**29),
        ("512", 512),
        ("1k", 1000),
    ],
)
def test_byte_quantities(text: str, count: int) -> None:
    assert parse_bytes(text) == count


@pytest.mark.parametrize("bad", ["", "1.2.3", "12 Mi", "Mi", "1mi", "-1Gi", "abc", True])
def test_bad_quantities_are_refused(bad: object) -> None:
    with pytest.raises(QuantityError):
        parse_bytes(bad)  # type: ignore[arg-type]


def test_pod_count_must_be_whole() -> None:
    assert parse_count(110) == 110
    with pytest.raises(QuantityError):
        parse_count("1.5")


def test_label_selector_string_form() -> None:
    selector = parse_label_selector("app=web,tier!=db,env in (a, b),!legacy,track")
    assert selector.matches({"app": "web", "env": "a", "track": "x"})
    assert not selector.matches({"app": "web", "env": "c", "track": "x"})
    assert not selector.matches({"app": "web", "env": "a", "track": "x", "legacy": "1"})
    assert not selector.matches({"app": "web", "env": "a", "track": "x", "tier": "db"})
    assert not selector.matches({"app": "web", "env": "a"})
    with pytest.raises(SelectorError):
        parse_label_selector("env in (a,b")


def test_structured_selector_and_index_key() -> None:
    selector = LabelSelector({"b": "2", "a": "1"}, (Requirement("c", "NotIn", ("x",)),))
    assert selector.matches({"a": "1", "b": "2"}) and not selector.matches(
        {"a": "1", "b": "2", "c": "x"}
    )
    assert selector.index_key() == ("a", "1")
    assert LabelSelector().matches({"anything": "goes"})


def test_field_selector() -> None:
    assert FieldSelector.parse("spec.nodeName=worker-1").node_name == "worker-1"
    with pytest.raises(SelectorError, match=r"only spec\.nodeName"):
        FieldSelector.parse("status.phase=Running")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("0", 0), (12, 12)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["90", "5 m", "1d", "", "-5s", -1])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)  # type: ignore[arg-type]


def test_format_duration() -> None:
    assert format_duration(340) == "5m40s"
    assert format_duration(0.25) == "250ms"
    assert format_duration(0) == "0s"


def test_rng_streams_are_independent_and_reproducible() -> None:
    a, b = Rng(7), Rng(7)
    assert [a.stream("x").random() for _ in range(3)] == [b.stream("x").random() for _ in range(3)]
    c = Rng(7)
    c.stream("other").random()  # drawing from one stream does not shift another
    assert c.stream("x").random() == Rng(7).stream("x").random()
    assert Rng(8).stream("x").random() != Rng(7).stream("x").random()
    assert len(a.name_suffix("n")) == 5


async def test_event_log_is_ordered_json_lines() -> None:
    log = EventLog()
    seen = []
    log.subscribe(seen.append)
    log.record(
        "kubelet", "Pod", "default/web-1", "Started", "Started container web", container="web"
    )
    log.record("kube-scheduler", "Pod", "default/web-2", "Scheduled")
    out = io.StringIO()
    log.write_jsonl(out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["reason"] for line in lines] == ["Started", "Scheduled"]
    assert lines[0]["fields"] == {"container": "web"} and "fields" not in lines[1]
    assert len(seen) == 2 and log.find(reason="Scheduled")[0].object == "default/web-2"


def test_settings_overrides_by_camel_case_name() -> None:
    settings = Settings().with_overrides({"nodeMonitorGracePeriod": 40.0})
    assert settings.node_monitor_grace_period == 40.0
    with pytest.raises(KeyError):
        Settings().with_overrides({"nodeMonitorGracePeriodd": 1})
    assert "nodeMonitorGracePeriod" in Settings.names()
    # every default names where it comes from
    assert all(source for source in Settings.names().values())


def test_virtual_clock_jumps_to_each_deadline_in_one_pass() -> None:
    import trio

    from kubechaos.sim.clock import run_virtual

    passes = []

    class Passes(trio.abc.Instrument):
        def before_io_wait(self, timeout: float) -> None:
            passes.append(timeout)

    async def main() -> list[float]:
        seen = []
        for delay in (0.5, 30, 3600):
            await trio.sleep(delay)
            seen.append(trio.current_time())
        return seen

    assert run_virtual(main) == [0.5, 30.5, 3630.5]
    import trio.testing

    from kubechaos.sim.clock import VirtualClock

    def count_passes(clock: trio.abc.Clock) -> int:
        passes.clear()
        trio.run(main, clock=clock, instruments=[Passes()])
        return len(passes)

    mock = count_passes(trio.testing.MockClock(autojump_threshold=0))
    # MockClock spends an idle pass of the run loop before each jump; VirtualClock does not
    assert count_passes(VirtualClock()) == mock - 3
