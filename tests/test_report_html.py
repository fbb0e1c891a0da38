"""The HTML report: what it draws for real runs, that it escapes what it is given and fetches
nothing, that an incomplete run says so, that long runs stay small, and that a real browser
(headless Chromium) renders it: the DOM holds the plots, the screenshot is not blank and shows
the report's colours, and the console stays silent.

Without ``/usr/bin/chromium`` the browser tests skip with the install command, except under
``CI=true``, where a missing browser is a failure: CI must never pass by skipping what it was
meant to check.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from kubechaos.report.html.causal import causal_timeline
from kubechaos.report.html.charts import MAX_POINTS
from kubechaos.report.html.page import read_events_jsonl, render_html, write_html
from kubechaos.report.html.stories import FULL_PER_FAULT
from kubechaos.report.result import result_of, schema
from kubechaos.scenario.loader import load_scenario, parse_scenario
from kubechaos.scenario.runner import Run, run_scenario
from kubechaos.sim.events import Event

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
CHROMIUM = "/usr/bin/chromium"
HOSTILE = "<script>alert(1)</script>"

# A scenario written here: a lasting fault (a node cut off for 90 s) and an instantaneous one
# (a pod kill), and a description that tries to inject a script into the page.
PROBE = """
apiVersion: kubechaos/v1
kind: Scenario
metadata:
  name: report-probe
  description: "<script>alert(1)</script> & a partition"
spec:
  seed: 3
  duration: 4m
  cluster:
    nodeGroups:
      - name: worker
        count: 3
        capacity: {cpu: "4", memory: 16Gi, pods: 110}
  workloads:
    - path: manifests/web.yaml
  traffic:
    - service: web
      rate: 10
  faults:
    - name: cut-worker-0
      type: network-partition
      at: 1m
      duration: 90s
      target: {nodes: [worker-0]}
      params: {controlPlane: true}
    - name: kill-one
      type: pod-kill
      at: 3m
      target: {namespace: default, labelSelector: {app: web}, mode: one}
      params: {gracePeriod: 0s}
  slo:
    - recoveryWithin: {fault: kill-one, within: 30s}
    - availability: {service: web, atLeast: "50%"}
"""


class Report:
    """A rendered report and the elements it holds (tag, attributes), in document order."""

    def __init__(self, result: dict[str, Any], events: list[Event]) -> None:
        self.result = result
        self.events = events
        self.html = render_html(result, events)
        self.elements: list[tuple[str, dict[str, str]]] = []
        parser = _Collector(self.elements)
        parser.feed(self.html)
        parser.close()

    def having(self, css_class: str, tag: str | None = None) -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.elements
            if css_class in attrs.get("class", "").split() and (tag is None or name == tag)
        ]

    def tags(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.elements if name == tag]

    def section(self, element_id: str) -> str:
        """The HTML of the element with ``element_id`` up to the next sibling section."""
        start = self.html.index(f'id="{element_id}"')
        end = self.html.find("<section", start + 1)
        return self.html[start : end if end != -1 else len(self.html)]


class _Collector(HTMLParser):
    def __init__(self, into: list[tuple[str, dict[str, str]]]) -> None:
        super().__init__()
        self.into = into

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.into.append((tag, {k: v or "" for k, v in attrs}))


def _report_of(run: Run, **kwargs: Any) -> Report:
    return Report(result_of(run, **kwargs), list(run.events))


@pytest.fixture(scope="module")
def pod_kill() -> Report:
    return _report_of(run_scenario(load_scenario(SCENARIOS / "pod-kill.yaml")))


@pytest.fixture(scope="module")
def node_crash() -> Report:
    return _report_of(run_scenario(load_scenario(SCENARIOS / "node-crash.yaml")))


@pytest.fixture(scope="module")
def probe() -> Report:
    scenario = parse_scenario(PROBE, "report-probe.yaml", base_dir=SCENARIOS)
    run = run_scenario(scenario)
    result = result_of(run)
    events = list(run.events)
    # an event whose text is hostile too, inside the partition's window
    events.insert(
        next(i for i, e in enumerate(events) if e.time > 70),
        Event(70.0, "kubelet", "Pod", "default/x", "Hostile", '<img src=x onerror="alert(2)">'),
    )
    return Report(result, events)


@pytest.fixture(scope="module")
def interrupted() -> Report:
    """The probe scenario stopped at 100 s the way Ctrl-C stops a run."""
    scenario = parse_scenario(PROBE, "report-probe.yaml", base_dir=SCENARIOS)
    run = Run(scenario)

    def ctrl_c(now: float) -> None:
        if now >= 100:
            raise KeyboardInterrupt

    run.ticker.every(1, ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run.run()
    return _report_of(run, interrupted=True)


# ---------------------------------------------------------------------------- structure
def test_pod_kill_report_draws_every_plot(pod_kill: Report) -> None:
    result = pod_kill.result
    charts = pod_kill.having("chart", "svg")
    # the fault timeline, one replicas chart per Deployment, success rate + latency per Service
    assert len(charts) == 1 + len(result["deployments"]) + 2 * len(result["traffic"])
    assert len(pod_kill.having("timeline", "svg")) == 1
    # pod-kill is instantaneous: a marker per injection, no band
    assert len(result["faults"]) == 3
    assert len(pod_kill.having("fault-marker")) == 3
    assert pod_kill.having("fault-band") == []
    # each recovery is marked where steady state returned, and drawn across every chart
    assert len(pod_kill.having("recovery-marker")) == 3
    assert len(pod_kill.having("recovery-line")) == 3 * len(charts)
    assert pod_kill.having("steady-ok") and pod_kill.having("steady-lost")
    assert len(pod_kill.having("desired", "path")) == len(pod_kill.having("available", "path"))
    assert pod_kill.having("success", "path") and len(pod_kill.having("latency", "path")) == 3
    for series in pod_kill.having("series", "path"):
        assert series["d"].startswith("M"), "every series has data"
    assert "virtual time (seconds since the run began)" in pod_kill.html
    assert ">replicas<" in pod_kill.html and ">latency (ms)<" in pod_kill.html


def test_header_shows_verdict_seed_and_replay(pod_kill: Report) -> None:
    (badge,) = pod_kill.having("verdict")
    assert "background:#1a7f37" in badge["style"]  # passed: green
    assert ">PASSED<" in pod_kill.html
    assert "<dd>42</dd>" in pod_kill.html  # seed
    replay = pod_kill.result["replay"]
    assert replay.startswith("kubechaos run ") and replay.endswith("pod-kill.yaml --seed 42")
    assert f"<code>{replay}</code>" in pod_kill.html
    assert 'role="alert"' not in pod_kill.html  # complete: no banner


def test_slo_and_fault_tables(pod_kill: Report) -> None:
    slos = pod_kill.result["slos"]
    table = pod_kill.html[pod_kill.html.index('<table class="slos">') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == 1 + len(slos)
    for slo in slos:
        assert f"<td>{slo['name']}</td>" in table and f"<td>{slo['kind']}</td>" in table
    assert table.count('<span class="pill ok">held</span>') == len(slos)
    faults = pod_kill.html[pod_kill.html.index('<table class="faults">') :]
    faults = faults[: faults.index("</table>")]
    assert faults.count("<tr>") == 1 + 3
    for fault in pod_kill.result["faults"]:
        assert f"{fault['recovery']['seconds']:.3f} s" in faults
        assert fault["targets"][0] in faults


def test_pod_kill_causal_timeline_reads_in_order(pod_kill: Report) -> None:
    stories = causal_timeline(pod_kill.result, pod_kill.events)
    assert [s.number for s in stories] == [1, 2, 3]
    story = pod_kill.section("cause-1")
    chain = story[story.index('<p class="chain">') :]
    chain = chain[: chain.index("</p>")]
    fault = stories[0].fault  # its times as the result records them (the goldens pin them)
    expected = [
        f"pod-kill at {fault['injectedAt']:.3f}s",
        "kubelet Killing",
        "replicaset-controller SuccessfulCreate",
        "default-scheduler Scheduled",
        "kubelet Started",
        "observer DeploymentAvailable",
        f"observer Recovered {fault['recovery']['seconds']:.3f}s",
    ]
    positions = [chain.index(text) for text in expected]
    assert positions == sorted(positions), chain
    # availability dips and returns as the observer's events, at their logged times (steps
    # from the sampled replica history used to say "dropped" up to 5 s late); the verdict is
    # the observer's Recovered event, last
    steps = [(s.who, s.what) for s in stories[0].steps]
    assert steps.index(("observer", "DeploymentDegraded")) < steps.index(
        ("observer", "DeploymentAvailable")
    )
    assert steps[-1] == ("observer", "Recovered")
    # a step's offset is from the injection; the window ends where steady state returned
    first = stories[0]
    assert first.why_end == "recovery" and first.end == first.fault["recovery"]["recoveredAt"]
    # (within the microsecond the result rounds its times to)
    assert all(first.start - 1e-6 <= e.time <= first.end + 1e-6 for e in first.events)


def test_node_crash_causal_timeline_and_open_band(node_crash: Report) -> None:
    (fault,) = node_crash.result["faults"]
    assert fault["lasting"] and fault["revertedAt"] is None
    (band,) = node_crash.having("fault-band")
    assert "open" in band["class"].split()  # never reverted: runs to the end of the run
    story = node_crash.section("cause-1")
    for reason in (
        "NodeNotReady",
        "TaintManagerEviction",
        "SuccessfulCreate",
        "Scheduled",
        "Started",
        "Recovered",
    ):
        assert reason in story
    assert story.index("NodeNotReady") < story.index("TaintManagerEviction")
    assert "requests failing" in story and "DeploymentDegraded" in story
    assert "node-lifecycle-controller" in story and "taint-eviction-controller" in story


def test_one_band_per_lasting_fault_and_marker_per_instant(probe: Report) -> None:
    faults = probe.result["faults"]
    lasting = [f for f in faults if f["lasting"]]
    assert len(lasting) == 1 and len(faults) == 2
    assert len(probe.having("fault-band")) == len(lasting)
    assert len(probe.having("fault-marker")) == len(faults) - len(lasting)
    # shaded behind every chart too
    charts = len(probe.having("chart", "svg"))
    assert len(probe.having("fault-shade")) == len(lasting) * charts
    assert len(probe.having("fault-line")) == (len(faults) - len(lasting)) * charts
    story = probe.section("cause-1")
    assert "NodeNotReady" in story and "FaultReverted" in story


def test_text_is_escaped(probe: Report) -> None:
    assert HOSTILE not in probe.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; a partition" in probe.html
    assert "<img" not in probe.html and "onerror=&quot;alert(2)&quot;" in probe.html
    assert probe.tags("script") == [] and probe.tags("img") == []


def test_nothing_is_fetched(pod_kill: Report, node_crash: Report, probe: Report) -> None:
    for report in (pod_kill, node_crash, probe):
        assert "http://" not in report.html and "https://" not in report.html
        assert "@import" not in report.html and "url(" not in report.html
        for _tag, attrs in report.elements:
            assert "src" not in attrs
            assert attrs.get("href", "#").startswith("#"), attrs
        assert report.tags("link") == [] and report.tags("iframe") == []
        # every in-page link lands somewhere
        ids = {attrs["id"] for _tag, attrs in report.elements if "id" in attrs}
        for _tag, attrs in report.elements:
            if "href" in attrs:
                assert attrs["href"][1:] in ids


def test_numbers_in_the_svg_are_finite(pod_kill: Report, node_crash: Report) -> None:
    for report in (pod_kill, node_crash):
        for name, attrs in report.elements:
            for key in ("x", "y", "x1", "x2", "y1", "y2", "width", "height", "cx", "cy", "d"):
                value = attrs.get(key, "")
                assert "nan" not in value.lower() and "inf" not in value.lower(), (name, attrs)
            if "width" in attrs and name == "rect":
                assert float(attrs["width"]) >= 0


def test_incomplete_run_shows_a_banner(interrupted: Report) -> None:
    result = interrupted.result
    assert result["complete"] is False and result["verdict"] == "interrupted"
    assert 'class="banner incomplete"' in interrupted.html
    assert "Incomplete run." in interrupted.html and ">INTERRUPTED<" in interrupted.html
    assert interrupted.having("not-run")  # the part of the axis the run never reached
    assert "recovery pending" in interrupted.html
    assert "so far" in interrupted.html


def test_not_recovered_and_failed_runs(pod_kill: Report) -> None:
    result = json.loads(json.dumps(pod_kill.result))
    last = result["faults"][-1]
    last["recovery"] = {"status": "not-recovered", "seconds": None,
                        "disturbedAt": last["injectedAt"] + 1, "recoveredAt": None}  # fmt: skip
    result.update(verdict="error", exitCode=3, complete=False, error="InvariantError: <pod> lost")
    report = Report(result, pod_kill.events)
    assert len(report.having("not-recovered-marker")) == 1
    assert len(report.having("recovery-marker")) == 2
    assert '<span class="pill bad">not recovered</span>' in report.html
    (story,) = [s for s in causal_timeline(result, pod_kill.events) if s.number == 3]
    # the status was edited into the result, and the log has no NotRecovered for it: a step is
    # only ever an event of the log (it used to be made up at the end of the run)
    assert story.why_end == "end of run"
    assert "NotRecovered" not in [s.what for s in story.steps]
    assert ">ERROR<" in report.html and "the run itself failed" in report.html.lower()
    assert "InvariantError: &lt;pod&gt; lost" in report.html


def test_write_html_and_events_from_a_log_file(pod_kill: Report, tmp_path: Path) -> None:
    """A report can be rendered after the fact from the --json and --events files."""
    log = tmp_path / "events.jsonl"
    log.write_text("".join(e.to_json() + "\n" for e in pod_kill.events), encoding="utf-8")
    loaded = read_events_jsonl(log)
    assert [e.to_json() for e in loaded] == [e.to_json() for e in pod_kill.events]
    result = json.loads(json.dumps(pod_kill.result))
    out = tmp_path / "report.html"
    write_html(result, loaded, out)
    assert out.read_text(encoding="utf-8") == render_html(result, loaded)
    # the same story as from the run's own log (times in the file are rounded to 1 µs)
    assert [
        [(s.who, s.what) for s in story.steps] for story in causal_timeline(result, loaded)
    ] == [
        [(s.who, s.what) for s in story.steps]
        for story in causal_timeline(pod_kill.result, pod_kill.events)
    ]


def _long_result() -> tuple[dict[str, Any], list[Event]]:
    """An hour with a pod kill every 30 s, a request every 20 ms and ~4,000 events."""
    faults, events, history, steady = [], [], [[5.0, 3, 0], [10.0, 3, 3]], [[0.0, 1]]
    for i in range(119):
        at = 30.0 + 30 * i
        faults.append(
            {"name": "kill", "type": "pod-kill", "injectedAt": at, "revertedAt": None,
             "lasting": False, "targets": [f"default/web-{i}"], "params": "",
             "recovery": {"status": "recovered", "seconds": 6.0 + i % 7,
                          "disturbedAt": at + 1, "recoveredAt": at + 6 + i % 7}}
        )  # fmt: skip
        events.append(Event(at, "kubechaos", "Fault", "kill", "FaultInjected"))
        for k, (component, reason) in enumerate(
            [("kubelet", "Killing"), ("replicaset-controller", "SuccessfulCreate"),
             ("default-scheduler", "Scheduled"), ("kubelet", "Pulled"), ("kubelet", "Created"),
             ("kubelet", "Started"), ("kube-proxy", "Synced"), ("observer", "DeploymentDegraded"),
             ("observer", "DeploymentAvailable"), ("endpoints-controller", "Updated")] * 3
        ):  # fmt: skip
            events.append(Event(at + 0.1 * (k + 1), component, "Pod", f"default/web-{i}", reason,
                                "x" * 60))  # fmt: skip
        history += [[at + 5, 3, 2], [at + 10, 3, 3]]
        steady += [[at + 1, 0], [at + 6 + i % 7, 1]]
    per_second = [[s, 50 - (s % 30 == 1) * 10, (s % 30 == 1) * 10] for s in range(3600)]
    latency = [[5.0 * i, 0.002, 0.004, 0.005 + (i % 6 == 0) * 0.5] for i in range(1, 721)]
    result = {
        "schema": "kubechaos/result/v1", "kubechaosVersion": "0", "kubernetesVersion": "v1.32",
        "scenario": {"name": "long", "description": "", "file": "long.yaml", "duration": 3600.0},
        "seed": 1, "verdict": "passed", "exitCode": 0, "complete": True, "error": None,
        "virtualSeconds": 3600.0, "wallSeconds": 10.0, "replay": "kubechaos run long.yaml",
        "faults": faults, "failedInjections": [], "slos": [],
        "traffic": [{"namespace": "default", "service": "web", "requests": 180000,
                     "outcomes": {"success": 178800, "timeout": 1200}, "successRate": 0.99,
                     "unsent": 0, "perSecond": per_second, "latency": latency}],
        "deployments": [{"namespace": "default", "name": "web", "desired": 3, "available": 3,
                         "updated": 3, "history": history}],
        "steadyState": steady, "events": len(events),
    }  # fmt: skip
    return result, events


def test_long_run_stays_small() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result, events = _long_result()
    jsonschema.validate(result, schema())
    report = Report(result, events)
    assert len(events) > 3500
    assert len(report.html) < 1_000_000, len(report.html)
    # traffic is bucketed to at most MAX_POINTS steps across the axis
    (success,) = report.having("success", "path")
    assert success["d"].count("H") <= MAX_POINTS
    assert "(per 4 s)" in report.html
    # every injection is marked and gets a story; repeats past the first few are compact
    assert len(report.having("fault-marker")) == 119
    assert len(report.having("story", "section")) == 119
    assert report.html.count('<ol class="steps">') <= FULL_PER_FAULT + 1
    assert "not listed: in full are the first" in report.html


# ---------------------------------------------------------------------------- in a browser
def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: the browser tests must not skip)")
    pytest.skip(message)


def _browse(page: Path, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    """Chromium headless, offline and quiet, with the page's console copied to stderr."""
    profile.mkdir(exist_ok=True)
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile}",
        *mode,
        page.as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _console(stderr: str) -> list[str]:
    """What the page wrote to its console (Chromium logs it as INFO:CONSOLE lines)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB(A), non-interlaced PNG into rows of RGB pixels (3 bytes each)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, width, height, bpp = 8, [], 0, 0, 0
    while pos < len(data):
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            chunks.append(body)
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    prev = bytearray(stride)
    low7, high = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        row = bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:  # Sub
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 255
        elif kind == 2:  # Up: bytewise addition mod 256, all bytes at once on big integers
            x, z = int.from_bytes(row, "big"), int.from_bytes(prev, "big")
            x = ((x & low7) + (z & low7)) ^ ((x ^ z) & high)
            row = bytearray(x.to_bytes(stride, "big"))
        elif kind == 3:  # Average
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = row[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(row) if bpp == 3 else bytes(v for i, v in enumerate(row) if i % 4 != 3))
        prev = row
    return width, height, rows


@pytest.fixture(scope="module")
def browser_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _chromium()
    return tmp_path_factory.mktemp("chromium")


def test_console_capture_sees_page_errors(browser_dir: Path) -> None:
    """The console check below can fail: a page that throws is caught by it."""
    page = browser_dir / "throws.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>throw new Error('boom')</script>")
    done = _browse(page, browser_dir / "profile-throws", "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in _console(done.stderr)), done.stderr


@pytest.mark.parametrize("which", ["pod_kill", "probe"])
def test_chromium_renders_the_plots(
    which: str, request: pytest.FixtureRequest, browser_dir: Path
) -> None:
    report: Report = request.getfixturevalue(which)
    page = browser_dir / f"{which}.html"
    page.write_text(report.html, encoding="utf-8")
    done = _browse(page, browser_dir / f"profile-{which}", "--dump-dom")
    dom = done.stdout
    assert _console(done.stderr) == [], _console(done.stderr)
    parsed: list[tuple[str, dict[str, str]]] = []
    collector = _Collector(parsed)
    collector.feed(dom)
    svgs = [a for t, a in parsed if t == "svg" and "chart" in a.get("class", "")]
    assert len(svgs) == len(report.having("chart", "svg"))
    for css in ("fault-shade", "fault-line", "recovery-marker", "steady-ok", "series"):
        in_dom = [a for _t, a in parsed if css in a.get("class", "").split()]
        assert len(in_dom) == len(report.having(css)), css
    assert "Causal timeline" in dom and "Traceback" not in dom
    assert not re.search(r"\b(NaN|undefined)\b", dom)


def test_chromium_screenshot_is_not_blank(pod_kill: Report, browser_dir: Path) -> None:
    page = browser_dir / "screenshot.html"
    page.write_text(pod_kill.html, encoding="utf-8")
    png = browser_dir / "pod-kill.png"
    done = _browse(page, browser_dir / "profile-shot", f"--screenshot={png}",
                   "--window-size=1400,3000")  # fmt: skip
    assert _console(done.stderr) == []
    width, height, rows = _png_pixels(png.read_bytes())
    assert (width, height) == (1400, 3000)
    colours = Counter(pixel for (pixel,) in struct.iter_unpack("3s", b"".join(rows)))
    assert len(colours) > 50, "a blank page"
    white = colours.get(b"\xff\xff\xff", 0)
    assert white < 0.97 * width * height, "nearly all white"
    # the report's own paint: the verdict badge, the steady-state strip, the replicas line
    for colour in ("1a7f37", "2da44e", "0969da"):
        assert colours.get(bytes.fromhex(colour), 0) > 100, colour
