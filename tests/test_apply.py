"""Applying workloads: create what is new, update what exists (a rollout), on schedule."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from kubechaos.scenario.loader import ScenarioError, parse_scenario

from .factories import deployment, service
from .harness import deployment_of, ready_pods, running, wait_until

ROOT = Path(__file__).resolve().parent.parent


async def test_applying_a_new_template_rolls_the_deployment_out_and_keeps_the_service_ip() -> None:
    async with running() as cluster:
        web = deployment("web", 3)
        svc = service("web")
        await cluster.apply([web, svc])
        await wait_until(lambda: len(ready_pods(cluster)) == 3, 60, "3 ready pods")
        ip = cluster.api.cache("services").get("/registry/services/default/web").spec.cluster_ip
        template = web.spec.template
        container = attrs.evolve(template.spec.containers[0], image="nginx:1.28")
        v2 = attrs.evolve(
            web,
            spec=attrs.evolve(
                web.spec,
                template=attrs.evolve(
                    template, spec=attrs.evolve(template.spec, containers=(container,))
                ),
            ),
        )
        await cluster.apply([v2, svc])
        await wait_until(
            lambda: (
                {p.spec.containers[0].image for p in ready_pods(cluster)} == {"nginx:1.28"}
                and len(ready_pods(cluster)) == 3
            ),
            120,
            "the rollout",
        )
        d = deployment_of(cluster)
        assert d.metadata.generation == 2 and d.status.updated_replicas == 3
        assert (
            cluster.api.cache("services").get("/registry/services/default/web").spec.cluster_ip
            == ip
        )
        applied = [e.message for e in cluster.events.find(reason="Applied")]
        assert applied[-2:] == ["deployments configured", "services configured"]


def test_workloads_with_at_are_applied_later() -> None:
    text = f"""\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: roll}}
spec:
  duration: 5m
  cluster: {{nodeGroups: [{{name: worker, count: 2}}]}}
  workloads:
    - path: {ROOT / "scenarios" / "manifests" / "web.yaml"}
    - path: {ROOT / "scenarios" / "manifests" / "web-v2.yaml"}
      at: 2m
"""
    scenario = parse_scenario(text)
    assert len(scenario.workloads) == 2
    ((at, objects),) = scenario.updates
    assert at == 120 and [type(o).__name__ for o in objects] == ["Deployment", "Service"]
    with pytest.raises(ScenarioError, match=r"spec.workloads\[1\].at: 6m is not before the end"):
        parse_scenario(text.replace("at: 2m", "at: 6m"))
