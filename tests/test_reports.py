"""Machine-readable reports: the JSON result against its schema, JUnit against the JUnit XSD,
for passing, failing, broken and interrupted runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
from click.testing import CliRunner

from kubechaos.cli import main
from kubechaos.report.junit import junit_xml
from kubechaos.report.result import result_of, schema
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import Run

ROOT = Path(__file__).resolve().parent.parent
JUNIT_XSD = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit.xsd")

SCENARIO = f"""\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: reports, description: "pod-kill <under> & traffic"}}
spec:
  seed: 5
  duration: 2m
  cluster: {{nodeGroups: [{{name: worker, count: 3}}]}}
  workloads: [{{path: {ROOT / "scenarios" / "manifests" / "web.yaml"}}}]
  traffic: [{{service: web, rate: 10}}]
  faults:
    - {{name: kill, type: pod-kill, at: 1m, target: {{labelSelector: {{app: web}}, mode: one}}}}
  slo:
    - recoveryWithin: {{fault: kill, within: WITHIN}}
    - availability: {{service: web, atLeast: "90%"}}
"""


def run_result(within: str = "30s", **kw: Any) -> dict[str, Any]:
    run = Run(parse_scenario(SCENARIO.replace("WITHIN", within), "reports.yaml")).run()
    return result_of(run, wall_seconds=0.5, **kw)


@pytest.fixture(scope="module")
def passed() -> dict[str, Any]:
    return run_result()


@pytest.fixture(scope="module")
def failed() -> dict[str, Any]:
    return run_result("1s")


def test_results_follow_their_schema(passed: dict[str, Any], failed: dict[str, Any]) -> None:
    for result in (passed, failed, run_result(error="RuntimeError: boom")):
        jsonschema.validate(result, schema())
    assert passed["verdict"] == "passed" and passed["exitCode"] == 0
    assert failed["verdict"] == "failed" and failed["exitCode"] == 1
    (fault,) = passed["faults"]
    assert fault["recovery"]["status"] == "recovered" and 0 < fault["recovery"]["seconds"] < 30
    assert passed["replay"] == "kubechaos run reports.yaml --seed 5"
    (web,) = passed["traffic"]
    assert web["requests"] == sum(web["outcomes"].values()) and web["perSecond"]
    (deployment,) = passed["deployments"]
    assert min(h[2] for h in deployment["history"][1:]) == 2, "the dip after the kill"


def test_the_schema_rejects_what_it_should(passed: dict[str, Any]) -> None:
    broken = dict(passed, verdict="mostly-fine")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in passed.items() if k != "slos"}, schema())


def test_junit_is_valid_and_tells_why_an_slo_failed(
    passed: dict[str, Any], failed: dict[str, Any]
) -> None:
    document = junit_xml([passed, failed])
    JUNIT_XSD.validate(document.decode())
    text = document.decode()
    assert text.count("<testsuite ") == 2
    assert 'tests="4" failures="1"' in text
    assert 'name="seed" value="5"' in text and 'name="duration" value="120s"' in text
    assert "recoveryWithin SLO violated: measured" in text and "threshold &lt;= 1s" in text
    assert "replay: kubechaos run reports.yaml --seed 5" in text


def test_junit_for_broken_and_interrupted_runs(passed: dict[str, Any]) -> None:
    broken = dict(passed, verdict="error", exitCode=3, error="RuntimeError: boom", complete=False)
    stopped = dict(passed, verdict="interrupted", exitCode=130, complete=False)
    document = junit_xml([broken, stopped]).decode()
    JUNIT_XSD.validate(document)
    assert 'errors="2"' in document and "the run itself failed: RuntimeError: boom" in document
    assert "<skipped" in document and "run interrupted at" in document


def test_cli_writes_both_reports_and_exit_codes_follow_the_verdict(tmp_path: Path) -> None:
    for within, code in (("30s", 0), ("1s", 1)):
        scenario = tmp_path / "s.yaml"
        scenario.write_text(SCENARIO.replace("WITHIN", within))
        out_json, out_xml = tmp_path / f"{within}.json", tmp_path / f"{within}.xml"
        out_html = tmp_path / f"{within}.html"
        result = CliRunner().invoke(
            main,
            ["run", str(scenario), "--json", str(out_json), "--junit", str(out_xml),
             "--html", str(out_html)],
        )  # fmt: skip
        assert "<svg" in out_html.read_text()
        assert result.exit_code == code, result.stdout
        data = json.loads(out_json.read_text())
        jsonschema.validate(data, schema())
        assert data["exitCode"] == code
        JUNIT_XSD.validate(out_xml.read_text())


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0 and json.loads(result.stdout) == schema()
