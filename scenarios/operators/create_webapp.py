"""A user of the example operator: create the WebApp objects of a manifest file once their CRD
is served (the operator installs it), retrying every second of the run for a minute, as ``kubectl apply -f`` would; then,
for each ``--scale N --at SECONDS`` (repeatable, in order), set their ``spec.replicas`` to N at
that time of the run (as ``kubectl patch`` would), and exit.

Usage: ``python create_webapp.py webapp.yaml [--scale 6 --at 65 [--scale 5 --at 155 ...]]``.
Run times are virtual
seconds: the process converts them with the run's pace (``KUBECHAOS_SPEED``, virtual seconds per
wall second, 1 outside kubechaos), counting from its own start (a moment after the run's).
"""

from __future__ import annotations

import time

# The run's times count from this process's start: taken before the imports, which take seconds
# of wall time on a busy machine (tens of virtual seconds at --speed 10).
STARTED = time.monotonic()

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import kubernetes  # noqa: E402
import yaml  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

GROUP, PLURAL = "example.kubechaos.io", "webapps"


def _create(custom: Any, obj: dict[str, Any], speed: float) -> bool:
    version = obj["apiVersion"].partition("/")[2]
    namespace = obj["metadata"].get("namespace", "default")
    for _ in range(60 * max(1, round(speed))):  # every second of the run, for a wall minute
        try:
            custom.create_namespaced_custom_object(GROUP, version, namespace, PLURAL, obj)
            print(f"created WebApp {namespace}/{obj['metadata']['name']}", flush=True)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return True
            if exc.status != 404:
                raise
            time.sleep(1 / speed)  # the CRD is not served yet: again a second of the run later
    print("the WebApp CRD was never served", file=sys.stderr)
    return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("--scale", type=int, action="append", default=[], help="spec.replicas")
    parser.add_argument("--at", type=float, action="append", default=[], help="run time (s)")
    args = parser.parse_args()
    if len(args.scale) != len(args.at):
        parser.error("give each --scale its --at")
    started = STARTED
    speed = float(os.environ.get("KUBECHAOS_SPEED", "1"))
    kubernetes.config.load_kube_config()
    custom = kubernetes.client.CustomObjectsApi()
    with open(args.manifest, encoding="utf-8") as manifest:
        objects = [o for o in yaml.safe_load_all(manifest) if o]
    if not all(_create(custom, obj, speed) for obj in objects):
        return 1
    for replicas, at in zip(args.scale, args.at, strict=True):
        time.sleep(max(0.0, started + at / speed - time.monotonic()))
        for obj in objects:
            _scale(custom, obj, replicas)
    return 0


def _scale(custom: Any, obj: dict[str, Any], replicas: int) -> None:
    version = obj["apiVersion"].partition("/")[2]
    namespace, name = obj["metadata"].get("namespace", "default"), obj["metadata"]["name"]
    patch = {"spec": {"replicas": replicas}}
    custom.patch_namespaced_custom_object(GROUP, version, namespace, PLURAL, name, patch)
    print(f"scaled WebApp {namespace}/{name} to {replicas}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
