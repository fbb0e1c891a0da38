"""An example operator written with kopf (https://kopf.readthedocs.io), run by kubechaos as the
controller under test (``scenarios/own-controller.yaml``, README "Test your own controller").

For each ``WebApp`` (group ``example.kubechaos.io``: ``spec.replicas``, ``spec.image``) it
keeps a Deployment of that many replicas, owned by the WebApp, and reports on the WebApp's
status how far it got: ``readyReplicas`` and a ``Ready`` condition (True once every replica
of the Deployment is available), and ``observedGeneration``, the WebApp generation it acted
on, as a well-behaved controller does (the API conventions' "typical status properties"): so
kstatus, ``kubectl wait`` and kubechaos can tell a WebApp whose latest spec it has not seen
yet from one it has reconciled. It reconciles on every change and every 5 s (level-triggered,
so it heals what it missed while its watch was dropped or it was down), and it installs its
own CustomResourceDefinition at startup (a real operator's manifests would).

Its own timings (the 5 s resync and retry, kopf's backoffs after an API error) are seconds of the
run: under kubechaos they are divided by the run's pace (``KUBECHAOS_SPEED``, virtual seconds per
wall second, 1 outside kubechaos), so the operator behaves at ``--speed 10`` as it would on a
real cluster, instead of looking ten times slower to the model.

Run it against any cluster::

    python -m kopf run --standalone --namespace default webapp_operator.py

It reads the API through KUBECONFIG, as kubechaos hands each process a kubeconfig of its own.
"""

from __future__ import annotations

import os
import time
from typing import Any

import kopf
import kubernetes
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "example.kubechaos.io", "v1", "webapps"
MANAGED_BY = {"app.kubernetes.io/managed-by": "webapp-operator"}
# virtual seconds per wall second of the kubechaos run this operator is under (1 elsewhere)
SPEED = float(os.environ.get("KUBECHAOS_SPEED", "1"))

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "webapp", "kind": "WebApp"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["image"],
                                "properties": {
                                    "image": {"type": "string"},
                                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, logger: Any, **_: Any) -> None:
    """Install the CRD (if missing) and wait until it is established; keep kopf's bookkeeping
    in annotations, post no Events, and time out requests and watches like a careful client."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    settings.posting.enabled = False
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 70
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    # kopf's backoffs after a failed API call, in seconds of the run (see the module docstring)
    settings.networking.error_backoffs = [b / SPEED for b in settings.networking.error_backoffs]
    settings.batching.error_delays = [d / SPEED for d in settings.batching.error_delays]
    kubernetes.config.load_kube_config()
    extensions = kubernetes.client.ApiextensionsV1Api()
    try:
        extensions.create_custom_resource_definition(CRD)
        logger.info("installed the WebApp CRD")
    except ApiException as exc:
        if exc.status != 409:
            raise
    for _ in range(60 * max(1, round(SPEED))):  # every second of the run, for a wall minute
        crd = extensions.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
        conditions = (crd.status.conditions or []) if crd.status else []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        time.sleep(1 / SPEED)
    raise kopf.PermanentError("the WebApp CRD never became established")


def _deployment(name: str, namespace: str, spec: Any, owner: Any) -> dict[str, Any]:
    labels = {"app": name, **MANAGED_BY}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "WebApp",
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": int(spec.get("replicas", 1)),
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": spec["image"],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


def _reconcile(body: Any, spec: Any, name: str, namespace: str, patch: Any, logger: Any) -> None:
    """Make the Deployment match the WebApp; report what the Deployment has achieved."""
    apps = kubernetes.client.AppsV1Api()
    wanted = _deployment(name, namespace, spec, body)
    try:
        current = apps.read_namespaced_deployment(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        apps.create_namespaced_deployment(namespace, wanted)
        logger.info(f"created Deployment {namespace}/{name}")
        current = None
    if current is not None and current.spec.replicas != wanted["spec"]["replicas"]:
        apps.patch_namespaced_deployment(
            name, namespace, {"spec": {"replicas": wanted["spec"]["replicas"]}}
        )
        logger.info(f"scaled Deployment {namespace}/{name} to {wanted['spec']['replicas']}")
    available = (current.status.available_replicas or 0) if current and current.status else 0
    desired = wanted["spec"]["replicas"]
    ready = available >= desired
    patch.status["readyReplicas"] = available
    patch.status["observedGeneration"] = body["metadata"].get("generation")
    patch.status["conditions"] = [
        {
            "type": "Ready",
            "status": "True" if ready else "False",
            "reason": "DeploymentAvailable" if ready else "DeploymentProgressing",
            "message": f"{available}/{desired} replicas available",
        }
    ]


# Retry a failed reconcile (a 429 while throttled, a 409 on a racing write) after 5 s of the run,
# as the API's Retry-After suggests, not after kopf's default of 60 s: a controller that backs off a
# minute per error stays stale that long after every API hiccup, and kubechaos reads it.
RETRY = 5.0 / SPEED
RESYNC = 5.0 / SPEED


@kopf.on.create(GROUP, VERSION, PLURAL, backoff=RETRY)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec", backoff=RETRY)
@kopf.on.resume(GROUP, VERSION, PLURAL, backoff=RETRY)
def on_change(body: Any, spec: Any, name: str, namespace: str, patch: Any, logger: Any, **_: Any) -> None:
    _reconcile(body, spec, name, namespace, patch, logger)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC, idle=None, backoff=RETRY)
def resync(body: Any, spec: Any, name: str, namespace: str, patch: Any, logger: Any, **_: Any) -> None:
    _reconcile(body, spec, name, namespace, patch, logger)
