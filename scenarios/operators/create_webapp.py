"""Create the WebApp objects of a manifest file once their CRD is served (the operator installs
it), retrying for a minute: what ``kubectl apply -f`` would do in a cluster where the operator
runs already. Usage: ``python create_webapp.py webapp.yaml``."""

from __future__ import annotations

import sys
import time

import kubernetes
import yaml
from kubernetes.client.rest import ApiException


def main(path: str) -> int:
    kubernetes.config.load_kube_config()
    custom = kubernetes.client.CustomObjectsApi()
    with open(path, encoding="utf-8") as manifest:
        objects = [o for o in yaml.safe_load_all(manifest) if o]
    for obj in objects:
        group, _, version = obj["apiVersion"].partition("/")
        namespace = obj["metadata"].get("namespace", "default")
        for _ in range(60):
            try:
                custom.create_namespaced_custom_object(group, version, namespace, "webapps", obj)
                print(f"created WebApp {namespace}/{obj['metadata']['name']}", flush=True)
                break
            except ApiException as exc:
                if exc.status == 409:
                    break
                if exc.status != 404:
                    raise
                time.sleep(1)  # the CRD is not served yet
        else:
            print("the WebApp CRD was never served", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
