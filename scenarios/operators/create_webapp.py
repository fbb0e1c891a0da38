"""A user of the example operator: create the WebApp objects of a manifest file once their CRD
is served (the operator installs it), retrying for a minute, as ``kubectl apply -f`` would; then,
with ``--scale N --at SECONDS``, set their ``spec.replicas`` to N at that time of the run (as
``kubectl patch`` would), and exit.

Usage: ``python create_webapp.py webapp.yaml [--scale 6 --at 65]``. Run times are virtual
seconds: the process converts them with the run's pace (``KUBECHAOS_SPEED``, virtual seconds per
wall second, 1 outside kubechaos), counting from its own start (a moment after the run's).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import kubernetes
import yaml
from kubernetes.client.rest import ApiException

GROUP, PLURAL = "example.kubechaos.io", "webapps"


def _create(custom: Any, obj: dict[str, Any]) -> bool:
    version = obj["apiVersion"].partition("/")[2]
    namespace = obj["metadata"].get("namespace", "default")
    for _ in range(60):
        try:
            custom.create_namespaced_custom_object(GROUP, version, namespace, PLURAL, obj)
            print(f"created WebApp {namespace}/{obj['metadata']['name']}", flush=True)
            return True
        except ApiException as exc:
            if exc.status == 409:
                return True
            if exc.status != 404:
                raise
            time.sleep(1)  # the CRD is not served yet
    print("the WebApp CRD was never served", file=sys.stderr)
    return False


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("--scale", type=int, help="set spec.replicas to this")
    parser.add_argument("--at", type=float, default=0.0, help="at this run time (virtual s)")
    args = parser.parse_args()
    started = time.monotonic()
    speed = float(os.environ.get("KUBECHAOS_SPEED", "1"))
    kubernetes.config.load_kube_config()
    custom = kubernetes.client.CustomObjectsApi()
    with open(args.manifest, encoding="utf-8") as manifest:
        objects = [o for o in yaml.safe_load_all(manifest) if o]
    if not all(_create(custom, obj) for obj in objects):
        return 1
    if args.scale is None:
        return 0
    time.sleep(max(0.0, started + args.at / speed - time.monotonic()))
    for obj in objects:
        version = obj["apiVersion"].partition("/")[2]
        namespace, name = obj["metadata"].get("namespace", "default"), obj["metadata"]["name"]
        patch = {"spec": {"replicas": args.scale}}
        custom.patch_namespaced_custom_object(GROUP, version, namespace, PLURAL, name, patch)
        print(f"scaled WebApp {namespace}/{name} to {args.scale}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
