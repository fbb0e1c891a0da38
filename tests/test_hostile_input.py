"""Hostile input is bounded and answered with one located line, never a traceback or a hang.

Each row is an input a careless or hostile user can hand kubechaos; each must be refused before it
costs much, with a message naming where.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from kubechaos.api.validation import is_dns1123_label, validate_label_key, validate_label_value
from kubechaos.cli import main
from kubechaos.scenario.limits import Limits
from kubechaos.scenario.loader import ScenarioError, load_scenario, parse_scenario
from kubechaos.scenario.yamlfile import (
    MAX_ALIASES,
    MAX_DEPTH,
    FileRefused,
    YAMLSyntaxError,
    load_all,
    read_text,
)

YAML_ROWS = [
    # (what, text, line, message)
    ("a key given twice", "replicas: 3\nname: web\nreplicas: 1\n", 3, 'duplicate key "replicas"'),
    ("a key twice in a flow mapping", "a: {x: 1, x: 2}\n", 1, 'duplicate key "x"'),
    (
        "nesting past the limit (300 levels was a RecursionError traceback)",
        "[" * 300 + "]" * 300,
        1,
        f"nested deeper than {MAX_DEPTH} levels",
    ),
    (
        "an alias bomb",
        "a: &a [x, x]\n" + "".join(f"b{i}: &b{i} [*a, *a]\n" for i in range(MAX_ALIASES)),
        52,
        f"more than {MAX_ALIASES} aliases",
    ),
]


@pytest.mark.parametrize(
    ("what", "text", "line", "message"), YAML_ROWS, ids=[r[0] for r in YAML_ROWS]
)
def test_hostile_yaml_is_a_located_syntax_error(
    what: str, text: str, line: int, message: str
) -> None:
    with pytest.raises(YAMLSyntaxError) as caught:
        load_all(text)
    assert caught.value.line == line
    assert message in str(caught.value)


def test_what_yaml_allows_still_loads() -> None:
    """A merge key may be overridden (that is not a duplicate), and nesting and aliases up to
    the limits load."""
    [doc] = load_all("base: &b {x: 1, y: 2}\nweb:\n  <<: *b\n  x: 3\n")
    assert doc["web"] == {"x": 3, "y": 2}
    load_all("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    load_all("a: &a 1\n" + "".join(f"b{i}: *a\n" for i in range(MAX_ALIASES)))


def test_only_regular_files_of_a_bounded_size_are_read(tmp_path: Path) -> None:
    """A FIFO would block forever and /dev/zero would stream until memory runs out: neither is
    opened. A file over the limit is refused by its size."""
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match="is not a regular file"):
        read_text(fifo)
    with pytest.raises(FileRefused, match="is not a regular file"):
        read_text(Path("/dev/zero"))
    with pytest.raises(FileRefused, match="is not a regular file"):
        read_text(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("x" * 2048)
    with pytest.raises(FileRefused, match="2048 bytes, more than the 1024 read"):
        read_text(big, limit=1024)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\n")
    with pytest.raises(FileRefused, match="not UTF-8 text"):
        read_text(binary)
    assert read_text(big) == "x" * 2048


def test_errors_name_types_in_a_users_words_not_the_loaders_classes() -> None:
    """The loader reads YAML into its own marked list and mapping classes; an error says "a
    list", never `MarkedList`."""
    text = "apiVersion: kubechaos/v1\nkind: Scenario\nmetadata: {name: x}\nspec:\n  duration: 1m\n  cluster: [1]\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.yaml")
    shown = [str(error) for error in caught.value.errors]
    assert "s.yaml:6:3: spec.cluster: expected a mapping, got a list" in shown
    assert not any("Marked" in line for line in shown)


# ------------------------------------------------------------------ the whole table, via the CLI
BASE = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: hostile, description: a small scenario to break}
spec:
  duration: 1m
  cluster:
    nodeGroups:
      - {name: worker, count: 2, labels: {zone: a}}
  workloads:
    - manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 2
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: nginx, ports: [{containerPort: 8080}]}]
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec: {selector: {app: web}, ports: [{port: 80}]}
  traffic:
    - {service: web, rate: 10}
  faults:
    - {name: kill, type: pod-kill, at: 10s, target: {labelSelector: {app: web}, mode: one}}
  slo:
    - recoveryWithin: {fault: kill, within: 30s}
"""
FILE_WORKLOAD = "    - path: {path}\n"


@attrs.frozen
class Row:
    """One hostile input: ``edits`` (old -> new) turn BASE into it; ``args`` are extra flags;
    ``line`` is what the one line printed must hold (for ``run``, after ``error: ``)."""

    what: str
    edits: tuple[tuple[str, str], ...]
    line: str
    args: tuple[str, ...] = ()
    code: int = 2


def row(what: str, line: str, *edits: tuple[str, str], args: tuple[str, ...] = ()) -> Row:
    return Row(what, edits, line, args)


WORKLOADS = ("  workloads:\n", "  workloads:\n" + FILE_WORKLOAD)
ROWS = [
    # files: only regular files of a bounded size are read
    row("a workloads path of /dev/zero (reached 22 GB)", "spec.workloads[0].path: /dev/zero is not a regular file",
        WORKLOADS, ("{path}", "/dev/zero")),
    row("a workloads path that is a FIFO (blocked forever)", "spec.workloads[0].path: {tmp}/fifo.yaml is not a regular file",
        WORKLOADS, ("{path}", "{tmp}/fifo.yaml")),
    row("a manifest file over 4 MiB", "spec.workloads[0].path: {tmp}/big.yaml is 5242880 bytes, more than the 4194304 read",
        WORKLOADS, ("{path}", "{tmp}/big.yaml")),
    row("YAML nested 300 levels (a RecursionError traceback)", "nested deeper than 100 levels",
        ("description: a small scenario to break", "description: " + "[" * 300 + "]" * 300)),
    row("a key given twice", 'spec.duration: duplicate key "duration"' if False else 'duplicate key "duration" (first given on line 5)',
        ("  duration: 1m\n", "  duration: 1m\n  duration: 2m\n")),
    # manifests: strict fields and types, as kubectl apply --validate=strict
    row("replcias (ran 1 replica)", 'spec.workloads[0].manifest.spec.replcias: unknown field "replcias"; did you mean "replicas"?',
        ("replicas: 2", "replcias: 2")),
    row("readinesProbe (no probe)", 'spec.workloads[0].manifest.spec.template.spec.containers[0].readinesProbe: unknown field "readinesProbe"; did you mean "readinessProbe"?',
        ("image: nginx,", "image: nginx, readinesProbe: {tcpSocket: {port: 8080}},")),
    row("namepsace (the default namespace)", 'spec.workloads[1].manifest.metadata.namepsace: unknown field "namepsace"; did you mean "namespace"?',
        ("metadata: {name: web}\n        spec: {selector", "metadata: {name: web, namepsace: shop}\n        spec: {selector")),
    row("a wrong type the model never read", "spec.workloads[0].manifest.spec.template.spec.containers[0].terminationMessagePath: expected a string, not 5",
        ("image: nginx,", "image: nginx, terminationMessagePath: 5,")),
    row("a missing required field", "spec.workloads[0].manifest.spec.template.spec.containers[0].env[0].name: required field is missing",
        ("image: nginx,", "image: nginx, env: [{value: x}],")),
    # limits
    row("count: 1000000000 (13.6 GB in 60 s)", "spec.cluster.nodeGroups[0].count: 1,000,000,000 nodes, more than the limit of 10,000; raise it with --max-nodes",
        ("count: 2", "count: 1000000000")),
    row("rate: 1e9 (never ended)", "spec.traffic[0].rate: 1e+09 requests per second, more than the limit of 10,000; raise it with --max-rate",
        ("rate: 10", "rate: 1.0e+9")),
    row("rate: .nan (a traceback)", "spec.traffic[0].rate: expected requests per second > 0, got nan",
        ("rate: 10", "rate: .nan")),
    row("rate: .inf (exit 3)", "spec.traffic[0].rate: expected requests per second > 0, got inf",
        ("rate: 10", "rate: .inf")),
    row("two rates over the total", "spec.traffic[1].rate: 120000 requests per second in all, more than the limit of 100,000; raise it with --max-total-rate",
        ("    - {service: web, rate: 10}\n", "    - {service: web, rate: 60000, from: {nodes: [worker-0]}}\n"
         "    - {service: web, rate: 60000, from: {nodes: [worker-1]}}\n"),
        args=("--max-rate", "60000")),
    row("duration: 100000h (never ended)", "spec.duration: 100000h is longer than the limit of 720h; raise it with --max-duration",
        ("duration: 1m", "duration: 100000h")),
    row("duration: .inf", "spec.duration: inf is not a duration", ("duration: 1m", "duration: .inf")),
    row("every: 1ms", "spec.faults[0].every: 1ms is shorter than the shortest interval, 1s",
        ("at: 10s,", "at: 10s, every: 1ms,")),
    row("every second for 30 days", "spec.faults[0].every: 2,592,001 injections in all, more than the limit of 10,000; raise it with --max-injections",
        ("duration: 1m", "duration: 720h"), ("at: 10s,", "at: 0s, every: 1s,")),
    row("a million replicas", "spec.workloads[0]: 1,000,001 objects in all (counting the pods their replicas ask for), more than the limit of 100,000; raise it with --max-objects",
        ("replicas: 2", "replicas: 1000000")),
    row("explore count: a billion", "spec.explore.count: 1e+09 faults in one schedule, more than the limit of 100",
        ("  faults:\n", "  explore:\n    faults: [{name: e, type: pod-kill, target: {labelSelector: {app: web}}}]\n"
         "    count: {min: 1, max: 1000000000}\n  faults:\n")),
    row("a fault param of .inf", "spec.faults[0].params.factor: expected a finite number, got inf",
        ("    - {name: kill, type: pod-kill,", "    - {name: slow, type: runtime-slow, params: {factor: .inf}}\n    - {name: kill, type: pod-kill,")),
    row("a loop period of 0 (ran forever at one instant)", "spec.cluster.settings.nodeMonitorPeriod: a period must be at least 1ms",
        ("  workloads:\n", "    settings: {nodeMonitorPeriod: 0s}\n  workloads:\n")),
    row("a lease of 0 seconds (ran forever)", "spec.cluster.settings.nodeLeaseDurationSeconds: expected a whole number >= 1, got 0",
        ("  workloads:\n", "    settings: {nodeLeaseDurationSeconds: 0}\n  workloads:\n")),
    # empty targets known before the run
    row("a pod fault in a namespace without workloads", "spec.faults[0].target.namespace: no workload makes pods in namespace 'nope' (pods are made in: default)",
        ("target: {labelSelector", "target: {namespace: nope, labelSelector")),
    row("a pod selector no pod template matches", "spec.faults[0].target.labelSelector: no pod of the workloads in namespace 'default' has the labels app=db",
        ("target: {labelSelector: {app: web}", "target: {namespace: default, labelSelector: {app: db}")),
    row("a pod label on a node fault", "spec.faults[0].target.labelSelector: no node of the cluster has the labels app=web",
        ("type: pod-kill", "type: node-crash")),
    row("a node selector outside its group", "spec.faults[0].target.labelSelector: no node of the cluster in node group 'worker' has the labels zone=b",
        ("type: pod-kill, at: 10s, target: {labelSelector: {app: web}", "type: node-crash, at: 10s, target: {nodeGroup: worker, labelSelector: {zone: b}")),
    row("nodes: [worker-99]", "spec.faults[0].target.nodes[0]: no node named 'worker-99'; did you mean \"worker-1\"?",
        ("type: pod-kill, at: 10s, target: {labelSelector: {app: web}", "type: node-crash, at: 10s, target: {nodes: [worker-99]")),
    # names printed to a terminal
    row("an ANSI escape in the scenario name", "metadata.name: must not contain control characters (found U+001B)",
        ("name: hostile,", 'name: "hostile\\e[2J\\e[31m",')),
    row("a newline in a fault name (a forged timeline line)", "spec.faults[0].name: must not contain control characters (found U+000A)",
        ("name: kill, type", 'name: "kill\\n  120.000s  observer  Recovered", type'), ("fault: kill,", 'fault: "kill\\n  120.000s  observer  Recovered",')),
    row("a bell in an SLO name", "spec.slo[0].name: must not contain control characters (found U+0007)",
        ("    - recoveryWithin:", '    - name: "x\\a"\n      recoveryWithin:')),
    row("a C1 CSI in the description", "metadata.description: must not contain control characters (found U+009B)",
        ("description: a small scenario to break", 'description: "\\x9b[31m a small scenario to break"')),
    row("a node label key no Node could carry", "spec.cluster.nodeGroups[0].labels[\"bad key!\"]: 'bad key!' is not a valid label key",
        ("labels: {zone: a}", 'labels: {"bad key!": a}')),
    row("a node label value no Node could carry", "spec.cluster.nodeGroups[0].labels.zone: 'a b' is not a valid label value",
        ("labels: {zone: a}", 'labels: {zone: "a b"}')),
    # flags
    row("--start-time past 9999", "Invalid value for '--start-time': expected a time from 1970 to 9999, got '1e15'. Run 'kubechaos run --help' for usage.",
        args=("--start-time", "1e15")),
    row("--start-time nan", "Invalid value for '--start-time': expected a time from 1970 to 9999, got 'nan'.",
        args=("--start-time", "nan")),
    row("--start-time before 1970", "Invalid value for '--start-time': expected a time from 1970 to 9999, got '1969-12-31T23:59:59Z'.",
        args=("--start-time", "1969-12-31T23:59:59Z")),
    row("an unknown option (a usage block)", "No such option '--sed'. (Did you mean one of: '--seed', '--serve', '--speed'?) Run 'kubechaos run --help' for usage.",
        args=("--sed", "1")),
    row("a --speed so slow the run would never end", "Invalid value for '--speed': expected a number >= 0.01 (slow motion) or \"max\", got '1e-9'",
        args=("--speed", "1e-9")),
    row("a negative --seed", "Invalid value for '--seed': -1 is not in the range x>=0.", args=("--seed", "-1")),
    row("a --scrape-interval that overflows", "--scrape-interval: '" + "9" * 400 + "s' is too long a duration",
        args=("--scrape-interval", "9" * 400 + "s")),
    row("--max-nodes 0", "Invalid value for '--max-nodes': expected a whole number > 0, got '0'.", args=("--max-nodes", "0")),
]  # fmt: skip
CLI_ONLY = {
    "--start-time",
    "--sed",
    "--seed",
    "--scrape-interval",
    "--speed",
}  # `validate` has no such flag


def _scenario(tmp_path: Path, edits: tuple[tuple[str, str], ...]) -> Path:
    """BASE with ``edits``; the FIFO and the large file the rows point at are made here."""
    fifo, big = tmp_path / "fifo.yaml", tmp_path / "big.yaml"
    if not fifo.exists():
        os.mkfifo(fifo)
        big.write_text("# padding\n" * (5 * 1024 * 1024 // 10))
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new.replace("{tmp}", str(tmp_path)), 1)
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def _invoke(*args: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(main, list(args), prog_name="kubechaos")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stderr.splitlines(), result.output


@pytest.mark.parametrize("case", ROWS, ids=[r.what for r in ROWS])
def test_hostile_input_is_one_line_and_exit_2(tmp_path: Path, case: Row) -> None:
    """Every row, through `kubechaos run` and `kubechaos validate`: exit 2 and exactly one line
    saying where and what, never a traceback, a hang, a huge allocation or exit 3."""
    scenario = _scenario(tmp_path, case.edits)
    expected = case.line.replace("{tmp}", str(tmp_path))
    code, lines, output = _invoke("run", str(scenario), "--no-progress", *case.args)
    assert code == case.code, output
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert expected in lines[0], lines[0]
    assert "Traceback" not in output and "Marked" not in output
    if not CLI_ONLY & set(case.args):
        code, lines, output = _invoke("validate", str(scenario), *case.args)
        assert code == case.code, output
        assert len(lines) == 1 and expected in lines[0], lines


def test_the_base_of_the_table_is_valid(tmp_path: Path) -> None:
    """So each row fails for its own edit alone."""
    code, lines, output = _invoke("validate", str(_scenario(tmp_path, ())))
    assert code == 0 and lines == [], output


@pytest.mark.parametrize(
    ("flag", "value", "edit"),
    [
        ("--max-nodes", "20000", ("count: 2", "count: 15000")),
        ("--max-rate", "20000", ("rate: 10", "rate: 15000")),
        ("--max-duration", "1000h", ("duration: 1m", "duration: 900h")),
        ("--max-objects", "300000", ("replicas: 2", "replicas: 200000")),
        ("--max-injections", "200000", ("at: 10s,", "at: 0s, every: 1s, ")),
    ],
)
def test_a_flag_raises_its_limit(
    tmp_path: Path, flag: str, value: str, edit: tuple[str, str]
) -> None:
    """What a default limit refuses, its flag lets through (validate and run take the same)."""
    edits: tuple[tuple[str, str], ...] = (edit,)
    if flag == "--max-injections":
        edits += (("duration: 1m", "duration: 48h"),)
    scenario = _scenario(tmp_path, edits)
    assert _invoke("validate", str(scenario))[0] == 2
    code, _, output = _invoke("validate", str(scenario), flag, value)
    assert code == 0, output


def test_the_limits_are_the_documented_ones() -> None:
    """README's limits table states these defaults."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    limits = Limits()
    assert (
        limits.nodes == 10_000
        and "| nodes in `spec.cluster` | 10,000 | `--max-nodes N` |" in readme
    )
    assert limits.duration == 720 * 3600 and "| `spec.duration` | 720h (30 days) |" in readme
    assert limits.injections == 10_000 and limits.objects == 100_000 and limits.every == 1


def test_an_injection_too_close_to_the_end_is_a_warning(tmp_path: Path) -> None:
    """`every: 20s` in 1 m injects at 10 s, 30 s and 50 s: the last leaves 10 s, less than the
    30 s its SLO allows, so its recovery cannot be seen (it used to fail as "not recovered"
    without a word at validation). A fault without an SLO gets the 10 s stability window."""
    scenario = _scenario(
        tmp_path,
        (
            ("at: 10s,", "at: 10s, every: 20s,"),
            ("  slo:\n", "    - {name: late, type: pod-kill, at: 55s}\n  slo:\n"),
        ),
    )
    code, lines, output = _invoke("validate", str(scenario))
    assert code == 0, output
    assert lines == [
        f"warning: {scenario}:29:45: spec.faults[0].every: fault 'kill' injected at 50s leaves 10s "
        "before the end, less than its recoveryWithin SLO's 30s: its recovery cannot be observed",
        f"warning: {scenario}:30:36: spec.faults[1].at: fault 'late' injected at 55s leaves 5s "
        "before the end, less than the 10s stability window: its recovery cannot be observed",
    ]


def test_a_pod_fault_with_no_pods_anywhere_is_an_error() -> None:
    """No workload makes pods at all: every pod fault is known to match nothing."""
    text = BASE.split("  workloads:")[0] + "  faults:\n    - {type: pod-kill}\n"
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.yaml")
    assert [str(e) for e in caught.value.errors] == [
        "s.yaml:10:7: spec.faults[0].target: no workload makes pods for this fault to act on"
    ]


def test_a_trailing_newline_is_not_part_of_a_valid_name() -> None:
    """The name and label patterns ended in `$`, which also matches before a final newline:
    "web\\n" passed as a DNS label, a label key and a label value."""
    assert not is_dns1123_label("web\n")
    assert not validate_label_key("app\n") and not validate_label_value("web\n")
    assert is_dns1123_label("web") and validate_label_key("app") and validate_label_value("")


def test_a_harness_apply_of_a_fifo_is_refused(tmp_path: Path) -> None:
    """The test harness reads manifest files the scenario's way: a FIFO is never opened."""
    from kubechaos.sim.events import EventLog
    from kubechaos.testing import HarnessError
    from kubechaos.testing.manifests import objects_of

    fifo = tmp_path / "m.yaml"
    os.mkfifo(fifo)
    with pytest.raises(HarnessError, match="is not a regular file"):
        objects_of(os.fspath(fifo), tmp_path, EventLog())


def test_a_scenario_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "s.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="is not a regular file"):
        load_scenario(fifo)
