"""The Grafana dashboards, provisioning and alert rules of ``grafana/``, checked against real runs.

Static checks read the files as Grafana and Prometheus would: every dashboard is well formed
(uid, unique panel ids, a datasource variable, a unit and a description on every panel,
``$__rate_interval`` in every rate), and every PromQL expression — panel targets, annotation
queries, the selectors inside ``label_values(...)`` variable queries, alert rules — passes the real
``promtool check rules``. The rest is checked against runs of the real CLI, recorded with
``--openmetrics``:

- every metric name a dashboard or rule mentions is one the run actually exposed;
- a real Prometheus loaded with the backfilled recording of a run with a pod kill, a crash loop,
  dropped etcd writes and a node crash answers every dashboard query with data over the run,
  for the default "All" selection and for a narrowed one: no empty panels;
- the recorded series become ``promtool test rules`` input: KubeNodeNotReady fires 15 minutes
  after the crashed node went NotReady (and not before), and nothing at all fires for a run of
  pod kills that each recover within seconds.

Without ``prometheus``/``promtool`` the real-server tests skip (fail under CI=true); see
``tests/promserver.py``.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import yaml
from click.testing import CliRunner

from kubechaos.cli import main
from kubechaos.observe.metrics import family_of
from tests.promserver import Prometheus, backfill, binary, start_prometheus

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
RULES = GRAFANA / "alerts" / "kubechaos-rules.yaml"
DATA = Path(__file__).resolve().parent / "data"
CRASH_SCENARIO = DATA / "grafana-node-crash.yaml"
POD_KILL_SCENARIO = DATA / "grafana-pod-kill.yaml"

START = 1_700_000_000  # virtual time zero in the recordings: fixed, so runs are reproducible
INTERVAL = 15  # seconds between recorded samples (the recorder's default)
RATE_INTERVAL = "1m"  # what Grafana makes of $__rate_interval at a 15 s scrape interval

PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and",
     "or", "unless", "inf", "nan", "atan2"}
)  # fmt: skip
RATE_FUNCTIONS = ("rate", "irate", "increase")


# ---------------------------------------------------------------------------- dashboards as data
def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def annotation_queries(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in dashboard["annotations"]["list"] if not a.get("builtIn")]


def query_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in dashboard["templating"]["list"] if v["type"] == "query"]


def variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return str(query["query"] if isinstance(query, dict) else query)


def label_values(query: str) -> tuple[str, str]:
    """``label_values(SELECTOR, LABEL)`` (a Grafana function, not PromQL) -> (SELECTOR, LABEL)."""
    match = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_]\w*)\s*\)\s*", query, re.S)
    assert match, f"expected label_values(selector, label), got {query!r}"
    return match.group(1), match.group(2)


@attrs.frozen
class Query:
    where: str  # dashboard / panel / refId, for messages
    expr: str


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    """Every PromQL expression of a dashboard: targets, annotations, variable selectors."""
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            where = f"{dashboard['uid']} panel {panel['id']} {panel['title']!r} {target['refId']}"
            found.append(Query(where, target["expr"]))
    for annotation in annotation_queries(dashboard):
        found.append(
            Query(f"{dashboard['uid']} annotation {annotation['name']!r}", annotation["expr"])
        )
    for variable in query_variables(dashboard):
        selector, _ = label_values(variable_query(variable))
        found.append(Query(f"{dashboard['uid']} variable ${variable['name']}", selector))
    return found


def all_dashboard_queries() -> list[Query]:
    return [q for path in DASHBOARDS for q in dashboard_queries(load(path))]


def rule_exprs() -> list[Query]:
    rules = yaml.safe_load(RULES.read_text())
    return [
        Query(f"rule {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in rules["groups"]
        for rule in group["rules"]
    ]


def substitute(expr: str, variables: dict[str, str], run_seconds: int = 1800) -> str:
    """Grafana's interpolation, as it is for a dashboard over a recorded run at a 15 s step."""
    builtins = {
        "__rate_interval": RATE_INTERVAL,
        "__interval": f"{INTERVAL}s",
        "__range": f"{run_seconds}s",
        "__range_s": str(run_seconds),
    }
    values = {**builtins, **variables}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"unknown template variable ${name} in {expr!r}"
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


def strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, label
    names (in ``{...}``, ``by (...)`` and friends), durations or template variables."""
    e = strip_strings(expr)
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # range and subquery selectors
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?\w+(:\w+)?\}?", " ", e)  # template variables
    e = re.sub(r"(?<![\w:])\d+(\.\d+)?(e[+-]?\d+)?(ms|[smhdwy])?\b", " ", e)  # numbers, durations
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = match.group()
        if e[match.end() :].lstrip().startswith("(") or word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def call_arguments(expr: str, function: str) -> list[str]:
    """The argument text of every call of ``function`` in ``expr`` (strings blanked)."""
    e = strip_strings(expr)
    found = []
    for match in re.finditer(rf"\b{function}\s*\(", e):
        depth, i = 1, match.end()
        while depth:
            assert i < len(e), f"unbalanced parentheses in {expr!r}"
            depth += {"(": 1, ")": -1}.get(e[i], 0)
            i += 1
        found.append(e[match.end() : i - 1])
    return found


def test_helpers_read_promql_as_prometheus_does() -> None:
    expr = (
        'sum by (code, le) (rate(apiserver_request_total{code=~"5..", verb!="WATCH"}[5m] offset 1m))'
        " / on (job) group_left () max(up) + scalar(kubechaos_virtual_time_seconds) * 2"
    )
    assert metric_names(expr) == {"apiserver_request_total", "up", "kubechaos_virtual_time_seconds"}
    assert call_arguments(expr, "rate") == [
        'apiserver_request_total{code=~"", verb!=""}[5m] offset 1m'
    ]
    assert (
        substitute('x{a=~"$namespace"}[$__rate_interval]', {"namespace": ".*"}) == 'x{a=~".*"}[1m]'
    )
    assert values_notation({1: 1.0, 2: 1.0, 3: 2.5}, 5) == "_ 1.0x1 2.5 stale _"
    assert unescape(r"a\"b\\c\nd") == 'a"b\\c\nd'
    assert label_values('label_values(kube_pod_info{namespace=~"$namespace"}, pod)') == (
        'kube_pod_info{namespace=~"$namespace"}',
        "pod",
    )


# ---------------------------------------------------------------------------- static checks
def test_there_are_the_two_dashboards_the_issue_asks_for() -> None:
    assert {p.stem for p in DASHBOARDS} == {"kubechaos-overview", "kubechaos-control-plane"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_well_formed(path: Path) -> None:
    dashboard = load(path)
    # A stable uid (links and bookmarks survive re-provisioning): the file's name.
    assert dashboard["uid"] == path.stem and dashboard["title"]
    assert dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"

    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in query_variables(dashboard):
        assert variable["datasource"]["uid"] == "${datasource}", variable["name"]
        label_values(variable_query(variable))  # a form Grafana's Prometheus datasource knows

    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        name = f"panel {panel['id']} {panel['title']!r}"
        assert panel.get("description", "").strip(), f"{name} has no description"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{name} has no unit"
        assert panel["datasource"]["uid"] == "${datasource}", name
        assert panel["targets"], f"{name} has no query"
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), name
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", name
        w, x = panel["gridPos"]["w"], panel["gridPos"]["x"]
        assert w > 0 and x + w <= 24, f"{name} does not fit the 24-column grid"
    for annotation in annotation_queries(dashboard):
        assert annotation["datasource"]["uid"] == "${datasource}", annotation["name"]
        assert annotation["expr"].strip(), annotation["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_rate_uses_rate_interval(path: Path) -> None:
    """rate/irate/increase over $__rate_interval: never fewer than four scrapes in a window."""
    calls = 0
    for query in dashboard_queries(load(path)):
        for function in RATE_FUNCTIONS:
            for args in call_arguments(query.expr, function):
                calls += 1
                ranges = re.findall(r"\[([^\]]*)\]", args)
                assert ranges == ["$__rate_interval"], f"{query.where}: {function}({args})"
        # Every other range selector too (offsets, *_over_time): Grafana scales them together.
        for window in re.findall(r"\[([^\]]*)\]", strip_strings(query.expr)):
            assert window == "$__rate_interval", f"{query.where}: [{window}]"
    assert calls, "a dashboard without rates: the check would prove nothing"


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_every_promql_expression_is_valid(tmp_path: Path) -> None:
    """promtool parses every dashboard expression (as recording rules) and the rules file."""
    everything = {"namespace": ".*", "service": ".*", "deployment": ".*", "node": ".*"}
    rules = []
    for i, query in enumerate(all_dashboard_queries()):
        expr = substitute(query.expr, everything)
        assert "$" not in expr, f"{query.where}: uninterpolated variable in {expr!r}"
        rules.append({"record": f"grafana:check:{i}", "expr": expr})
    generated = tmp_path / "dashboards-rules.yaml"
    generated.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    for path in (generated, RULES):
        result = run_promtool("check", "rules", str(path))
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}{result.stderr}"
        assert f"SUCCESS: {len(rules) if path == generated else len(rule_exprs())} rules found" in (
            result.stdout
        )


def test_alert_rules_carry_severity_summary_and_description() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"] if "alert" in rule]
    names = {a["alert"] for a in alerts}
    assert {"KubePodCrashLooping", "KubeDeploymentReplicasMismatch", "KubeNodeNotReady",
            "KubeNodeUnreachable", "KubechaosSLOViolated"} <= names  # fmt: skip
    assert len(names) == len(alerts)
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning", "info"), alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
    # The kubernetes-mixin timings, unchanged.
    by_name = {a["alert"]: a for a in alerts}
    for name in ("KubePodCrashLooping", "KubeDeploymentReplicasMismatch", "KubeNodeNotReady",
                 "KubeNodeUnreachable"):  # fmt: skip
        assert by_name[name]["for"] == "15m"


def test_compose_prometheus_and_provisioning_fit_together(tmp_path: Path) -> None:
    compose = yaml.safe_load((GRAFANA / "docker-compose.yml").read_text())
    prometheus, grafana = compose["services"]["prometheus"], compose["services"]["grafana"]
    assert "host.docker.internal:host-gateway" in prometheus["extra_hosts"]

    def mounts(service: dict[str, Any]) -> dict[str, str]:
        found = {}
        for volume in service["volumes"]:
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                assert (GRAFANA / source).exists(), f"compose mounts missing {source}"
                found[target] = source
        return found

    prom_mounts, grafana_mounts = mounts(prometheus), mounts(grafana)
    assert grafana_mounts["/etc/grafana/provisioning"] == "./provisioning"

    # prometheus.yml: scrapes the host's kubechaos every 1-5 s and loads the mounted rules.
    config = yaml.safe_load((GRAFANA / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["host.docker.internal:9464"]
    assert config["global"]["scrape_interval"] in ("1s", "2s", "5s")
    (rule_file,) = config["rule_files"]
    rules_dir = Path(rule_file).parent.as_posix()
    assert (GRAFANA / prom_mounts[rules_dir] / Path(rule_file).name).resolve() == RULES.resolve()
    # promtool checks the config with the rule file where the container finds it.
    local = tmp_path / "prometheus.yml"
    local.write_text((GRAFANA / "prometheus.yml").read_text().replace(rule_file, str(RULES)))
    result = run_promtool("check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr

    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )["datasources"]
    assert all(d["url"] == "http://prometheus:9090" and d["uid"] for d in datasources)
    assert sum(bool(d.get("isDefault")) for d in datasources) == 1
    (provider,) = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "kubechaos.yaml").read_text()
    )["providers"]
    assert provider["type"] == "file"
    assert grafana_mounts[provider["options"]["path"]] == "./dashboards"


# ---------------------------------------------------------------------------- recorded runs
@attrs.frozen
class Recording:
    """A run recorded with ``kubechaos run --openmetrics``: the file and its series by tick."""

    path: Path
    duration: int  # seconds of virtual time
    # (name, sorted (label, value) pairs) -> {tick: value}; a tick is INTERVAL seconds
    series: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]]

    @property
    def names(self) -> set[str]:
        return {name for name, _ in self.series}

    def select(
        self, name: str, **labels: str
    ) -> dict[tuple[tuple[str, str], ...], dict[int, float]]:
        return {
            key: values
            for (n, key), values in self.series.items()
            if n == name and all((k, v) in key for k, v in labels.items())
        }


SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+) (\S+)$")
LABEL = re.compile(r'([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"')


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def record(scenario: Path, out: Path) -> Recording:
    """Run the scenario through the CLI with --openmetrics and read the recording back."""
    result = CliRunner().invoke(
        main, ["run", str(scenario), "--openmetrics", str(out), "--start-time", str(START)]
    )
    assert result.exit_code == 0, result.output  # every SLO of the scenario holds
    series: dict[tuple[str, tuple[tuple[str, str], ...]], dict[int, float]] = defaultdict(dict)
    last = 0
    for line in out.read_text().splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"unreadable sample line {line!r}"
        name, labels, value, stamp = match.groups()
        offset = float(stamp) - START
        tick = round(offset / INTERVAL)
        if abs(offset - tick * INTERVAL) > 1e-3:
            continue  # a last sample off the grid (runs here end on it)
        key = tuple(sorted((k, unescape(v)) for k, v in LABEL.findall(labels or "")))
        series[(name, key)][tick] = float(value)
        last = max(last, tick)
    return Recording(out, last * INTERVAL, dict(series))


@pytest.fixture(scope="module")
def crash_run(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return record(CRASH_SCENARIO, tmp_path_factory.mktemp("crash") / "run.om")


@pytest.fixture(scope="module")
def pod_kill_run(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return record(POD_KILL_SCENARIO, tmp_path_factory.mktemp("pod-kill") / "run.om")


def test_every_metric_name_used_is_exposed_by_a_run(
    crash_run: Recording, pod_kill_run: Recording
) -> None:
    exposed = crash_run.names | pod_kill_run.names
    used: dict[str, list[str]] = defaultdict(list)
    for query in [*all_dashboard_queries(), *rule_exprs()]:
        for name in metric_names(query.expr):
            used[name].append(query.where)
    assert len(used) >= 30  # the extraction found the dashboards' metrics at all
    missing = {name: where for name, where in used.items() if name not in exposed}
    assert not missing, f"not exposed by a kubechaos run: {missing}"
    assert all(family_of(name) is not None for name in used)  # and declared in FAMILIES


# ---------------------------------------------------------------------------- a real Prometheus
@pytest.fixture(scope="module")
def prometheus(
    crash_run: Recording, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    blocks = workdir / "data"
    backfill(crash_run.path, blocks)
    with start_prometheus(workdir, data_dir=blocks) as prom:
        yield prom


def nodes_of(run: Recording) -> list[str]:
    return sorted({dict(key)["node"] for key in run.select("kube_node_status_condition")})


def crashed_node(run: Recording) -> str:
    """The node whose Ready condition is not true at the end of the run."""
    end = run.duration // INTERVAL
    (node,) = (
        dict(key)["node"]
        for key, values in run.select(
            "kube_node_status_condition", condition="Ready", status="true"
        ).items()
        if values.get(end) == 0
    )
    return node


def selections(run: Recording) -> list[dict[str, str]]:
    """The default view (every variable at All) and a narrowed one (the crash-looping app, on a
    node that survives)."""
    survivor = next(n for n in nodes_of(run) if n != crashed_node(run))
    return [
        {"namespace": ".*", "service": ".*", "deployment": ".*", "node": ".*"},
        {"namespace": "shop", "service": "cart", "deployment": "cart", "node": survivor},
    ]


def has_data(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(v)) for series in result for _, v in series["values"])


def test_every_dashboard_query_has_data_over_the_run(
    prometheus: Prometheus, crash_run: Recording
) -> None:
    start, end = START, START + crash_run.duration
    for variables in selections(crash_run):
        for query in all_dashboard_queries():
            expr = substitute(query.expr, variables, crash_run.duration)
            result = prometheus.query_range(expr, start, end, INTERVAL)
            assert has_data(result), f"empty panel with {variables}: {query.where}\n{expr}"


def test_variable_queries_offer_the_runs_values(
    prometheus: Prometheus, crash_run: Recording
) -> None:
    """``label_values(selector, label)`` as Grafana asks it: the label values API."""
    expected = {
        "namespace": {"default", "shop"},
        "service": {"web", "cart"},
        "deployment": {"web", "cart"},
        "node": set(nodes_of(crash_run)),
    }
    all_values = selections(crash_run)[0]
    for path in DASHBOARDS:
        for variable in query_variables(load(path)):
            selector, label = label_values(variable_query(variable))
            values = prometheus.api(
                f"label/{label}/values",
                **{"match[]": substitute(selector, all_values)},
                start=str(START),
                end=str(START + crash_run.duration),
            )
            assert set(values) == expected[variable["name"]], variable["name"]


def test_fault_panels_show_every_fault(prometheus: Prometheus, crash_run: Recording) -> None:
    """Each fault of the scenario is annotated at its injection (even the first injection of a
    counter series, which increase() alone misses), and each one's recovery has a bar."""
    faults = {"kill-one-web-pod", "cart-crashloop", "etcd-drops", "worker-dies"}
    overview = load(GRAFANA / "dashboards" / "kubechaos-overview.json")
    everything = selections(crash_run)[0]

    def faults_in(expr: str) -> set[str]:
        expr = substitute(expr, everything, crash_run.duration)
        result = prometheus.query_range(expr, START, START + crash_run.duration, INTERVAL)
        return {series["metric"]["fault"] for series in result}

    annotations = {a["name"]: a["expr"] for a in annotation_queries(overview)}
    assert faults_in(annotations["Fault injections"]) == faults
    assert faults_in(annotations["Faults active"]) == faults - {"kill-one-web-pod"}  # instant
    (recovery,) = (p for p in panels(overview) if p["title"] == "Recovery time per fault")
    assert faults_in(recovery["targets"][0]["expr"]) == faults


# ---------------------------------------------------------------------------- alert rules on runs
def values_notation(samples: dict[int, float], ticks: int) -> str:
    """promtool's input ``values`` for a recorded series: ``_`` before it appears, ``stale`` when
    it vanishes (as a live scrape marks it), runs of one value folded as ``vxN``."""
    tokens: list[str] = []
    previous: float | None = None
    run = 0

    def flush() -> None:
        if previous is not None and run:
            tokens.append(repr(previous) if run == 1 else f"{previous!r}x{run - 1}")

    present = False
    for tick in range(ticks + 1):
        value = samples.get(tick)
        if value is not None and value == previous:
            run += 1
            continue
        flush()
        previous, run = value, 1 if value is not None else 0
        if value is None:
            tokens.append("stale" if present else "_")
        present = value is not None
    flush()
    return " ".join(tokens).replace("nan", "NaN").replace("inf", "Inf")


def series_selector(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    # An empty label value is no label at all (as Prometheus stores it).
    inner = ",".join(f"{k}={json.dumps(v)}" for k, v in labels if v)
    return f"{name}{{{inner}}}"


def rules_test_file(run: Recording, tests: list[dict[str, Any]], out: Path) -> Path:
    """A ``promtool test rules`` file replaying the run's series that the rules read."""
    used = {name for q in rule_exprs() for name in metric_names(q.expr)}
    ticks = run.duration // INTERVAL
    input_series = [
        {"series": series_selector(name, labels), "values": values_notation(values, ticks)}
        for (name, labels), values in sorted(run.series.items())
        if name in used
    ]
    assert len(input_series) > 20
    out.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(RULES)],
                "evaluation_interval": f"{INTERVAL}s",
                "tests": [
                    {
                        "interval": f"{INTERVAL}s",
                        "input_series": input_series,
                        "alert_rule_test": tests,
                    }
                ],
            },
            width=1_000_000,
        )
    )
    return out


def alert(name: str) -> dict[str, Any]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    (rule,) = (r for g in groups for r in g["rules"] if r.get("alert") == name)
    return dict(rule)


def render(template: str, labels: dict[str, str]) -> str:
    """The ``{{ $labels.x }}`` templates of an annotation (the only kind the asserted alerts use)."""
    text = re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)
    assert "{{" not in text, f"cannot render {template!r}"
    return text


def expected(name: str, labels: dict[str, str]) -> dict[str, Any]:
    rule = alert(name)
    all_labels = {**labels, **rule["labels"]}
    return {
        "exp_labels": all_labels,
        "exp_annotations": {k: render(v, all_labels) for k, v in rule["annotations"].items()},
    }


def at(seconds: int) -> str:
    return f"{seconds}s"


def run_rules_test(path: Path) -> None:
    result = run_promtool("test", "rules", str(path))
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    assert "SUCCESS" in result.stdout


def test_kube_node_not_ready_fires_for_a_node_crash(crash_run: Recording, tmp_path: Path) -> None:
    node = crashed_node(crash_run)
    ready = crash_run.select(
        "kube_node_status_condition", node=node, condition="Ready", status="true"
    )
    (samples,) = ready.values()
    not_ready_from = min(t for t, v in samples.items() if v == 0) * INTERVAL
    fires_at = not_ready_from + 15 * 60  # for: 15m from the first evaluation that saw it
    assert fires_at + INTERVAL <= crash_run.duration, "the run must outlast the 15 minutes"
    taint = crash_run.select(
        "kube_node_spec_taint", node=node, key="node.kubernetes.io/unreachable", effect="NoSchedule"
    )
    assert taint, "a crashed node gets the unreachable NoSchedule taint"
    unreachable_from = min(min(values) for values in taint.values()) * INTERVAL

    not_ready = expected("KubeNodeNotReady", {"node": node, "condition": "Ready", "status": "true"})
    unreachable = expected(
        "KubeNodeUnreachable",
        {"node": node, "key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
    )
    tests = [
        # Pending, not firing, one evaluation before the 15 minutes are up.
        {"eval_time": at(fires_at - INTERVAL), "alertname": "KubeNodeNotReady", "exp_alerts": []},
        {"eval_time": at(fires_at), "alertname": "KubeNodeNotReady", "exp_alerts": [not_ready]},
        {"eval_time": at(crash_run.duration), "alertname": "KubeNodeNotReady",
         "exp_alerts": [not_ready]},
        {"eval_time": at(unreachable_from + 15 * 60), "alertname": "KubeNodeUnreachable",
         "exp_alerts": [unreachable]},
        # The pods came back elsewhere: no Deployment stays short, the workloads recovered.
        {"eval_time": at(crash_run.duration), "alertname": "KubeDeploymentReplicasMismatch",
         "exp_alerts": []},
        {"eval_time": at(crash_run.duration), "alertname": "KubechaosNotSteady",
         "exp_alerts": []},
    ]  # fmt: skip
    run_rules_test(rules_test_file(crash_run, tests, tmp_path / "node-crash-test.yaml"))


def test_nothing_fires_for_pod_kills_that_recover(pod_kill_run: Recording, tmp_path: Path) -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    names = [r["alert"] for g in groups for r in g["rules"] if "alert" in r]
    eval_times = [3 * 60, 7 * 60, 12 * 60, 16 * 60, pod_kill_run.duration]
    tests = [
        {"eval_time": at(t), "alertname": name, "exp_alerts": []}
        for t in eval_times
        for name in names
    ]
    run_rules_test(rules_test_file(pod_kill_run, tests, tmp_path / "pod-kill-test.yaml"))


def test_slo_ok_never_drops_for_an_slo_the_run_meets(crash_run: Recording) -> None:
    (samples,) = crash_run.select("kubechaos_slo_ok", slo="default-web-availability").values()
    assert samples[crash_run.duration // INTERVAL] == 1  # the final verdict: ok
    assert min(samples.values()) == 1
