"""Seed sweeps, shards and A/B comparisons: the same runs give the same report however they are
split, across processes, shards and machines; and the CI and Kubernetes examples really work."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
import yaml
from click.testing import CliRunner

from kubechaos.batch.sweep import merge, run_sweep
from kubechaos.cli import main
from kubechaos.report.compare import compare
from kubechaos.report.compare import schema as compare_schema
from kubechaos.report.sweep import SweepError, _fault_summaries, normalised, schema
from kubechaos.scenario.loader import load_scenario
from kubechaos.scenario.runner import Run
from kubechaos.scenario.seeds import Shard, format_seeds, parse_seeds, parse_shard

ROOT = Path(__file__).resolve().parent.parent
JUNIT_XSD = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit.xsd")
WORKFLOW = ROOT / "examples" / "ci" / "sweep-workflow.yml"
INDEXED_JOB = ROOT / "examples" / "k8s" / "sweep-indexed-job.yaml"

# Two nodes, one Deployment behind a Service, one pod killed a minute in: a run takes ~0.1 s.
# With one replica the recovery takes 7-10 s depending on the seed, so a 9 s recoveryWithin
# fails for some seeds and holds for others. (imageSizeMib 0: ImageLocality scores every node 0,
# so the replacement lands on either node, pulling its image on the other.)
SCENARIO = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: NAME}
spec:
  duration: 2m
  cluster:
    nodeGroups: [{name: worker, count: 2, capacity: {cpu: "4", memory: 16Gi, pods: 110}}]
    settings: {imageSizeMib: 0}
  workloads:
    - manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: default, labels: {app: web}}
        spec:
          replicas: REPLICAS
          selector: {matchLabels: {app: web}}
          template:
            metadata:
              labels: {app: web}
              annotations: {kubechaos.io/behaviour: "startup=2s"}
            spec:
              containers:
                - name: web
                  image: nginx:1.27
                  ports: [{containerPort: 8080}]
                  readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5}
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: default}
        spec:
          selector: {app: web}
          ports: [{name: http, port: 80, targetPort: 8080}]
  traffic: [{service: web, rate: 5}]
  faults:
    - name: kill
      type: pod-kill
      at: 60s
      target: {namespace: default, labelSelector: {app: web}, mode: one}
      params: {gracePeriod: 0s}
  slo:
    - recoveryWithin: {fault: kill, within: WITHIN}
    - availability: {service: web, atLeast: "AVAILABILITY"}
"""


def write_scenario(
    directory: Path,
    name: str = "tiny",
    replicas: int = 1,
    within: str = "8s",  # 1 replica: some seeds recover in 8-9 s, most in 6-8
    availability: str = "50%",
) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        SCENARIO.replace("NAME", name)
        .replace("REPLICAS", str(replicas))
        .replace("WITHIN", within)
        .replace("AVAILABILITY", availability)
    )
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def as_json(data: dict[str, Any]) -> str:
    return json.dumps(normalised(json.loads(json.dumps(data))), sort_keys=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario(tmp_path_factory.mktemp("sweep"))


@pytest.fixture(scope="module")
def serial(tiny: Path) -> dict[str, Any]:
    """The 20-seed sweep run in this process, one seed after another: the reference."""
    return run_sweep(load_scenario(str(tiny)), "1-20", workers=1)


# --- seeds and shards -----------------------------------------------------------------------


def test_seed_specs() -> None:
    assert parse_seeds("1-5") == [1, 2, 3, 4, 5]
    assert parse_seeds("1,5,9") == [1, 5, 9]
    assert parse_seeds("20-22, 1-3") == [1, 2, 3, 20, 21, 22]
    assert parse_seeds("0") == [0]
    assert format_seeds(parse_seeds("40,20-30,1-10")) == "1-10,20-30,40"
    assert format_seeds([5, 1, 2, 3]) == "1-3,5"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty seed spec"),
        ("  ", "empty seed spec"),
        ("1,,2", "empty item"),
        ("abc", "'abc' in seed spec 'abc' is not a seed or a range"),
        ("-3", "is not a seed or a range"),
        ("1-", "is not a seed or a range"),
        ("1.5", "is not a seed or a range"),
        ("10-1", "range '10-1' in seed spec '10-1' runs backwards"),
        ("1-10,5-20", "seed 5 is listed twice in seed spec '1-10,5-20' (in '1-10' and '5-20')"),
        ("0-9999999", "more than 1,000,000 seeds"),
    ],
)
def test_seed_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_seeds(spec)


def test_shards_partition_the_seeds_fairly() -> None:
    seeds = parse_seeds("3-40,100-117")
    for count in range(1, 9):
        shards = [Shard(k, count).select(seeds) for k in range(1, count + 1)]
        assert sorted(s for shard in shards for s in shard) == seeds  # every seed exactly once
        assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert Shard(2, 3).select(list(range(1, 11))) == [2, 5, 8]
    assert parse_shard("2/4") == Shard(2, 4) and str(Shard(2, 4)) == "2/4"
    for bad, message in (
        ("0/3", "between 1 and 3"),
        ("4/3", "between 1 and 3"),
        ("1/0", "at least 1"),
        ("3", "expected K/N"),
        ("a/b", "expected K/N"),
        ("-1/3", "expected K/N"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_shard(bad)


# --- sweeps ---------------------------------------------------------------------------------


def test_parallel_sweep_equals_serial(tiny: Path, serial: dict[str, Any]) -> None:
    parallel = run_sweep(load_scenario(str(tiny)), "1-20", workers=2)
    assert [r["seed"] for r in parallel["results"]] == list(range(1, 21))
    assert as_json(parallel) == as_json(serial)
    # each seed's result is exactly its own single run's
    single = Run(load_scenario(str(tiny)), 7).run()
    assert single.slo_ok == (serial["results"][6]["verdict"] == "passed")


def test_the_summary(serial: dict[str, Any]) -> None:
    jsonschema.validate(json.loads(json.dumps(serial)), schema())
    summary = serial["summary"]
    results = serial["results"]
    seconds = sorted(r["faults"][0]["recovery"]["seconds"] for r in results)
    (fault,) = summary["faults"]
    assert fault["injections"] == fault["recovered"] == 20
    assert fault["recoverySeconds"]["min"] == seconds[0]
    assert fault["recoverySeconds"]["max"] == seconds[-1]
    assert fault["recoverySeconds"]["p50"] == seconds[9]  # nearest rank: ceil(0.5 * 20) = 10th
    assert fault["recoverySeconds"]["p95"] == seconds[18]
    slow = [r["seed"] for r in results if r["faults"][0]["recovery"]["seconds"] > 8]
    assert 0 < len(slow) < 20, "the scenario should fail for some seeds only"
    recovery = next(s for s in summary["slos"] if s["kind"] == "recoveryWithin")
    assert recovery["failingSeeds"] == slow
    assert recovery["passRate"] == round((20 - len(slow)) / 20, 6)
    assert [f["seed"] for f in summary["failing"]] == slow
    assert summary["passed"] == 20 - len(slow) and serial["exitCode"] == 1
    assert all(
        f["replay"] == f"kubechaos run {serial['scenario']['file']} --seed {f['seed']}"
        for f in summary["failing"]
    )


def test_shards_merge_to_the_unsharded_sweep(tiny: Path, serial: dict[str, Any]) -> None:
    scenario = load_scenario(str(tiny))
    shards = [run_sweep(scenario, "1-20", parse_shard(f"{k}/3"), workers=1) for k in (1, 2, 3)]
    assert [len(s["results"]) for s in shards] == [7, 7, 6]
    through_files = [json.loads(json.dumps(s)) for s in (shards[2], shards[0], shards[1])]
    merged = merge(through_files)
    assert merged["shard"] is None
    assert as_json(merged) == as_json(serial)


def test_merge_refuses_what_does_not_fit(tiny: Path, tmp_path: Path) -> None:
    scenario = load_scenario(str(tiny))

    def shard(k: int, n: int = 3, seeds: str = "1-6") -> dict[str, Any]:
        return json.loads(json.dumps(run_sweep(scenario, seeds, Shard(k, n), workers=1)))

    one, two, three = shard(1), shard(2), shard(3)
    cases: list[tuple[list[dict[str, Any]], str]] = [
        ([one, two, one], "shard 1/3 is also in input 1"),
        ([one, three], "missing shard 2/3"),
        ([one, two, shard(3, seeds="1-7")], "a different seed spec (1-7) than input 1 (1-6)"),
        ([one, shard(2, 2)], "different numbers of shards"),
        ([one, two, dict(three, complete=False)], "input 3: the sweep was interrupted"),
        ([one, two, dict(three, results=one["results"])], "shard 3/3 should hold seeds 3,6"),
        ([one, two, dict(three, schema="kubechaos/result/v1")], "input 3: not a sweep result"),
        ([], "nothing to merge"),
    ]
    other = write_scenario(tmp_path, "tiny", within="5s")  # same name, other content
    cases.append(
        (
            [one, two, json.loads(json.dumps(run_sweep(load_scenario(str(other)), "1-6",
                                                       Shard(3, 3), workers=1)))],
            "input 3: a different scenario",
        )
    )  # fmt: skip
    for sweeps, message in cases:
        with pytest.raises(SweepError, match=re.escape(message)):
            merge(sweeps)


# --- the command line -----------------------------------------------------------------------


def test_sweep_cli_lists_failing_seeds_and_merges(tiny: Path, tmp_path: Path) -> None:
    out_json, out_junit = tmp_path / "all.json", tmp_path / "all.xml"
    code, out, err = run_cli(
        "sweep", str(tiny), "--seeds", "1-8", "--workers", "1",
        "--json", str(out_json), "--junit", str(out_junit),
    )  # fmt: skip
    whole = json.loads(out_json.read_text())
    failing = [f["seed"] for f in whole["summary"]["failing"]]
    assert code == 1 and failing and len(failing) < 8, out + err
    for seed in failing:
        assert f"kubechaos run {tiny} --seed {seed}" in out
    assert "Recovery times" in out and "p99" in out and "pass rate" in out
    junit = out_junit.read_text()
    JUNIT_XSD.validate(junit)
    assert junit.count("<testsuite ") == 8  # one per seed
    assert f'failures="{len(failing)}"' in junit.split("<testsuite ")[0]
    # the printed replay command reproduces the failure
    assert run_cli("run", str(tiny), "--seed", str(failing[0]))[0] == 1

    shard_files = []
    for k in (1, 2):
        shard_file = tmp_path / f"shard-{k}.json"
        code, _, _ = run_cli(
            "sweep", str(tiny), "--seeds", "1-8", "--workers", "1", "--shard", f"{k}/2",
            "--json", str(shard_file),
        )  # fmt: skip
        assert code in (0, 1)
        shard_files.append(str(shard_file))
    merged_json = tmp_path / "merged.json"
    code, out, _ = run_cli(
        "sweep-merge", *reversed(shard_files), "--json", str(merged_json), "--junit",
        str(tmp_path / "merged.xml"),
    )  # fmt: skip
    assert code == 1 and "merged from 2 shards" in out
    assert as_json(json.loads(merged_json.read_text())) == as_json(whole)

    code, _, err = run_cli("sweep-merge", shard_files[0], shard_files[0])
    assert code == 2 and "each shard must be given once" in err
    code, _, err = run_cli("sweep-merge", shard_files[0])
    assert code == 2 and "missing shard 2/2" in err
    (tmp_path / "broken.json").write_text("{")
    code, _, err = run_cli("sweep-merge", str(tmp_path / "broken.json"))
    assert code == 2 and "invalid JSON" in err


def test_sweep_cli_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    easy = write_scenario(tmp_path, "easy", within="60s")
    assert run_cli("sweep", str(easy), "--seeds", "1-3", "--workers", "1", "--progress")[0] == 0
    for args, message in (
        (("--seeds", "3-1"), "--seeds: range '3-1'"),
        (("--seeds", "1-3", "--shard", "4/3"), "--shard: the shard number must be between"),
        (("--seeds", "1-3", "--json", str(tmp_path / "no" / "x.json")), "cannot write"),
    ):
        code, _, err = run_cli("sweep", str(easy), *args)
        assert code == 2 and message in err, err
    code, _, err = run_cli("sweep", str(tmp_path / "missing.yaml"), "--seeds", "1")
    assert code == 2 and "cannot read" in err

    real_run = Run.run

    def breaks_on_seed_2(self: Run, speed: float | None = None) -> Run:
        if self.seed == 2:
            raise RuntimeError("a model invariant broke")
        return real_run(self, speed)

    monkeypatch.setattr(Run, "run", breaks_on_seed_2)
    out_json = tmp_path / "broken.json"
    code, out, _ = run_cli(
        "sweep", str(easy), "--seeds", "1-3", "--workers", "1", "--json", str(out_json)
    )
    assert code == 3 and "1 failed internally" in out
    (broken,) = json.loads(out_json.read_text())["summary"]["failing"]
    assert broken["seed"] == 2 and broken["error"] == "RuntimeError: a model invariant broke"


def test_compare_more_replicas_is_more_resilient(tmp_path: Path) -> None:
    """20 seeds: measured at event resolution, one replica's recovery is as fast as three's on
    about half the seeds (the replacement's readiness ends both) and 1-3 s slower on the rest
    (no endpoints until kube-proxy syncs it), which 8 seeds cannot tell apart (p = 0.13;
    sampled at 1 s the rounding made it look larger)."""
    slos = {"within": "7.5s", "availability": "99%"}
    one = write_scenario(tmp_path, "one-replica", replicas=1, **slos)
    three = write_scenario(tmp_path, "three-replicas", replicas=3, **slos)
    out_json = tmp_path / "compare.json"
    code, out, _ = run_cli(
        "compare", str(one), str(three), "--seeds", "1-20", "--workers", "1",
        "--json", str(out_json),
    )  # fmt: skip
    assert code == 0, out
    result = json.loads(out_json.read_text())
    jsonschema.validate(result, compare_schema())
    assert result["schema"] == "kubechaos/compare/v2" and result["pairedSeeds"] == 20
    (recovery,) = result["faults"]
    assert recovery["presentIn"] == "both" and recovery["verdict"] == "better"
    assert recovery["meanDifference"] < 0 and recovery["better"] > recovery["worse"]
    assert [s for s, _, _ in recovery["perSeed"]] == list(range(1, 21))
    (availability,) = result["availability"]
    assert availability["name"] == "default/web" and availability["better"] == 20
    assert availability["meanDifference"] > 0
    by_name = {s["name"]: s for s in result["slos"]}
    assert by_name["default-web-availability"]["a"]["passRate"] == 0
    assert by_name["default-web-availability"]["b"]["passRate"] == 1
    assert by_name["recovery-kill"]["verdict"] == "better"
    assert "B better" in out and "Recovery time" in out
    # bad input
    assert run_cli("compare", str(one), str(three), "--seeds", "0-2,1")[0] == 2
    assert run_cli("compare", str(one), str(one), "--seeds", "1")[0] == 2


def test_compare_reports_what_only_one_variant_has(serial: dict[str, Any]) -> None:
    renamed = json.loads(json.dumps(serial))
    for result in renamed["results"]:
        for fault in result["faults"]:
            fault["name"] = "kill-two"
        result["slos"] = result["slos"][:1]
    comparison = compare(serial, renamed)
    jsonschema.validate(json.loads(json.dumps(comparison)), compare_schema())
    faults = {f["name"]: f for f in comparison["faults"]}
    assert faults["kill"]["presentIn"] == "a" and faults["kill"]["b"] is None
    assert faults["kill-two"]["presentIn"] == "b" and faults["kill-two"]["verdict"] is None
    assert faults["kill"]["meanDifference"] is None
    slos = {s["name"]: s for s in comparison["slos"]}
    assert slos["default-web-availability"]["presentIn"] == "a"
    assert slos["recovery-kill"]["presentIn"] == "both"
    # v2: the verdict is a test's, so no difference reads "not-significant" (p = 1), not "same"
    assert slos["recovery-kill"]["same"] == 20
    assert slos["recovery-kill"]["verdict"] == "not-significant"
    assert slos["recovery-kill"]["test"]["pValue"] == 1
    assert faults["kill"]["test"] is None and slos["default-web-availability"]["test"] is None
    assert compare(serial, serial) == compare(serial, serial)  # deterministic


# --- the examples for CI and Kubernetes -----------------------------------------------------


def _shell(script: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.Popen(
        ["/bin/sh", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": path, "KUBECHAOS_WORKERS": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(procs: list[subprocess.Popen[str]]) -> list[int]:
    codes = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode in (0, 1), out
        codes.append(proc.returncode)
    return codes


def test_the_ci_workflow_example_shards_and_merges(tiny: Path, tmp_path: Path) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    sweep_job, merge_job = workflow["jobs"]["sweep"], workflow["jobs"]["merge"]
    shards = sweep_job["strategy"]["matrix"]["shard"]
    count = len(shards)
    assert shards == list(range(1, count + 1))
    assert sweep_job["strategy"]["fail-fast"] is False
    (sweep_step,) = [s for s in sweep_job["steps"] if "kubechaos sweep " in s.get("run", "")]
    (upload,) = [s for s in sweep_job["steps"] if "upload-artifact" in s.get("uses", "")]
    assert upload["if"] == "${{ !cancelled() }}"
    assert merge_job["needs"] == "sweep" and merge_job["if"] == "${{ !cancelled() }}"
    (download,) = [s for s in merge_job["steps"] if "download-artifact" in s.get("uses", "")]
    assert download["with"]["merge-multiple"] is True
    (merge_step,) = [s for s in merge_job["steps"] if "sweep-merge" in s.get("run", "")]
    glob = merge_step["run"].split("sweep-merge ")[1].split()[0]

    def expand(text: str, shard: int) -> str:  # what Actions does to ${{ matrix.shard }}
        return text.replace("${{ matrix.shard }}", str(shard))

    commands = [expand(sweep_step["run"], k) for k in shards]
    for k, command in zip(shards, commands, strict=True):
        assert f" --shard {k}/{count} " in command
        json_file = command.split("--json ")[1].split()[0]
        assert expand(upload["with"]["path"], k) == json_file
        assert fnmatch.fnmatch(json_file, glob)  # the merge reads it
        assert fnmatch.fnmatch(expand(upload["with"]["name"], k), download["with"]["pattern"])

    # Run it as Actions would, on a tiny scenario: each shard's command, then the merge.
    env = {**workflow["env"], "SCENARIO": str(tiny), "SEEDS": "1-6"}
    _finish([_shell(command, env, tmp_path) for command in commands])
    code = _finish([_shell(merge_step["run"], env, tmp_path)])[0]
    whole = run_sweep(load_scenario(str(tiny)), "1-6", workers=1)
    assert code == whole["exitCode"]
    assert as_json(json.loads((tmp_path / "sweep.json").read_text())) == as_json(whole)


def test_the_indexed_job_example_shards_and_merges(tiny: Path, tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all(INDEXED_JOB.read_text()))
    (claim,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    (sweep_job,) = [d for d in docs if d["kind"] == "Job" and "completionMode" in d["spec"]]
    (merge_job,) = [d for d in docs if d["kind"] == "Job" and d is not sweep_job]
    spec = sweep_job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["parallelism"] <= spec["completions"]

    def env_of(job: dict[str, Any]) -> dict[str, str]:
        (container,) = job["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e["value"] for e in container["env"]}

    sweep_env, merge_env = env_of(sweep_job), env_of(merge_job)
    assert int(sweep_env["SHARDS"]) == int(merge_env["SHARDS"]) == spec["completions"]
    assert sweep_env["RESULTS"] == merge_env["RESULTS"]
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"  # required by podFailurePolicy
    (rule,) = spec["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [2]
    for job in (sweep_job, merge_job):
        template = job["spec"]["template"]["spec"]
        (container,) = template["containers"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in template["volumes"]}
        assert mounts["results"] == sweep_env["RESULTS"]
        assert volumes["results"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    scenarios = {v["name"]: v for v in pod["volumes"]}["scenarios"]["configMap"]["items"]
    (container,) = pod["containers"]
    mount = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["scenarios"]
    assert sweep_env["SCENARIO"] in [f"{mount}/{item['path']}" for item in scenarios]

    # Run each pod's script as the Job would (JOB_COMPLETION_INDEX 0..N-1), then the merge.
    (sweep_script,) = container["args"]
    (merge_script,) = merge_job["spec"]["template"]["spec"]["containers"][0]["args"]
    env = {
        **sweep_env,
        "SCENARIO": str(tiny),
        "SEEDS": "1-6",
        "RESULTS": str(tmp_path),
        "KUBECHAOS_WORKERS": "1",
    }
    pods = [
        _shell(sweep_script, {**env, "JOB_COMPLETION_INDEX": str(i)}, tmp_path)
        for i in range(spec["completions"])
    ]
    assert _finish(pods) == [0] * spec["completions"]  # a failing seed is no reason to retry
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"shard-{k}.json" for k in range(1, spec["completions"] + 1)
    ]
    code = _finish([_shell(merge_script, env, tmp_path)])[0]
    whole = run_sweep(load_scenario(str(tiny)), "1-6", workers=1)
    assert code == whole["exitCode"] == 1
    assert as_json(json.loads((tmp_path / "sweep.json").read_text())) == as_json(whole)


def test_a_sweep_counts_injections_too_late_to_observe_apart_from_unrecovered_ones() -> None:
    """An injection whose recovery the run ended too soon to see (status not-observable) is no
    measurement: a sweep counts it apart, not as "pending" nor as a failure to recover."""

    def fault(status: str, seconds: float | None = None) -> dict[str, object]:
        return {
            "name": "kill",
            "type": "pod-kill",
            "recovery": {"status": status, "seconds": seconds},
        }

    results = [
        {"faults": [fault("recovered", 5.0), fault("not-observable")]},
        {"faults": [fault("not-recovered"), fault("pending")]},
    ]
    [summary] = _fault_summaries(results)
    assert (summary["injections"], summary["recovered"], summary["notRecovered"]) == (4, 1, 1)
    assert (summary["notObservable"], summary["pending"]) == (1, 1)
