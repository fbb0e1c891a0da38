"""The API server's fixed documents: version, discovery, and the Status every error is.

Discovery is what lets ``kubectl get po`` find that ``po`` means ``pods`` in the core group:
``/api`` and ``/apis`` list the group-versions, each group-version lists its resources with
their verbs, short names and categories (``kubectl get all`` lists the ``all`` category). The
model serves the legacy (unaggregated) documents; kubectl falls back to them when the server
does not answer in the aggregated format, as it does against older API servers.
"""

from __future__ import annotations

from typing import Any

from kubechaos.api.discovery import APIResource
from kubechaos.defaults import TARGET_RELEASE
from kubechaos.frontdoor.paths import group_versions

JSON = dict[str, Any]

# The verbs the front door serves (writes: kubechaos.frontdoor.writes).
READ_VERBS = ["get", "list", "watch"]
VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
# Subresources with their verbs and, where it is not the resource's own, their kind (group,
# version, kind): kubectl drain looks for pods/eviction of kind policy/v1 Eviction.
SUBRESOURCE_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"]}
SUBRESOURCE_KINDS = {
    "eviction": ("policy", "v1", "Eviction"),
    "binding": ("", "v1", "Binding"),
    "scale": ("autoscaling", "v1", "Scale"),
}

# Short names and categories as upstream's REST storage declares them (pkg/registry/*/rest).
SHORT_NAMES: dict[str, list[str]] = {
    "pods": ["po"],
    "nodes": ["no"],
    "namespaces": ["ns"],
    "services": ["svc"],
    "endpoints": ["ep"],
    "configmaps": ["cm"],
    "serviceaccounts": ["sa"],
    "priorityclasses": ["pc"],
    "deployments": ["deploy"],
    "replicasets": ["rs"],
    "statefulsets": ["sts"],
    "daemonsets": ["ds"],
    "poddisruptionbudgets": ["pdb"],
    "horizontalpodautoscalers": ["hpa"],
    "events": ["ev"],
}
ALL_CATEGORY = frozenset(
    {
        "pods",
        "services",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "horizontalpodautoscalers",
    }
)
# Subresources served per resource (read-only here: GET returns the whole object).
SUBRESOURCES: dict[str, list[str]] = {
    "pods": ["status", "log", "exec", "eviction", "binding"],
    "nodes": ["status"],
    "deployments": ["status", "scale"],
    "replicasets": ["status", "scale"],
    "statefulsets": ["status", "scale"],
    "daemonsets": ["status"],
    "jobs": ["status"],
    "horizontalpodautoscalers": ["status"],
    "poddisruptionbudgets": ["status"],
    "services": ["status"],
}


def version_document() -> JSON:
    """``/version`` as a v1.32 API server answers it (``kubectl version``)."""
    minor = TARGET_RELEASE.split(".")[1]
    return {
        "major": "1",
        "minor": minor,
        "gitVersion": f"{TARGET_RELEASE}.0",
        "gitCommit": "kubechaos",
        "gitTreeState": "clean",
        "buildDate": "2024-12-11T00:00:00Z",
        "goVersion": "go1.23.3",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> JSON:
    """``/api``: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(name: str, versions: list[str]) -> JSON:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_group_list() -> JSON:
    """``/apis``: every named group and its versions."""
    groups: dict[str, list[str]] = {}
    for group_version in group_versions():
        if "/" in group_version:
            group, version = group_version.split("/")
            groups.setdefault(group, []).append(version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, versions) for name, versions in groups.items()],
    }


def api_group(name: str) -> JSON:
    """``/apis/<group>``: one group."""
    versions = [gv.split("/")[1] for gv in group_versions() if gv.split("/")[0] == name]
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource_entry(resource: APIResource) -> JSON:
    entry: JSON = {
        "name": resource.name,
        "singularName": resource.kind.lower(),
        "namespaced": resource.namespaced,
        "kind": resource.kind,
        "verbs": list(VERBS),
    }
    if resource.name in SHORT_NAMES:
        entry["shortNames"] = SHORT_NAMES[resource.name]
    if resource.name in ALL_CATEGORY:
        entry["categories"] = ["all"]
    return entry


def resource_list(group_version: str) -> JSON:
    """``/api/v1`` or ``/apis/<group>/<version>``: the resources served there."""
    resources: list[JSON] = []
    for resource in group_versions().get(group_version, []):
        resources.append(_resource_entry(resource))
        for sub in SUBRESOURCES.get(resource.name, []):
            group, version, kind = SUBRESOURCE_KINDS.get(sub, ("", "", resource.kind))
            entry = {
                "name": f"{resource.name}/{sub}",
                "singularName": "",
                "namespaced": resource.namespaced,
                "kind": kind,
                "verbs": _subresource_verbs(sub),
            }
            if version:
                entry.update(group=group, version=version)
            resources.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


AGGREGATED_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    """kubectl (v1.30+) asks for aggregated discovery first and falls back to the legacy
    documents; the v2 form is served (v2beta1 is not)."""
    return "g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" in accept.replace(" ", "")


def aggregated_discovery(legacy: bool) -> JSON:
    """``/api`` (the core group) or ``/apis`` (the named groups) as one
    ``apidiscovery.k8s.io/v2`` APIGroupDiscoveryList: every resource in one answer."""
    groups: dict[str, dict[str, list[JSON]]] = {}
    for group_version, resources in group_versions().items():
        group, _, version = group_version.rpartition("/")
        if (group == "") != legacy:
            continue
        groups.setdefault(group, {})[version] = [_discovered(group, version, r) for r in resources]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [
            {
                "metadata": {"name": group},
                "versions": [
                    {"version": version, "resources": resources, "freshness": "Current"}
                    for version, resources in versions.items()
                ],
            }
            for group, versions in groups.items()
        ],
    }


def _discovered(group: str, version: str, resource: APIResource) -> JSON:
    kind = {"group": group, "version": version, "kind": resource.kind}
    out: JSON = {
        "resource": resource.name,
        "responseKind": kind,
        "scope": "Namespaced" if resource.namespaced else "Cluster",
        "singularResource": resource.kind.lower(),
        "verbs": list(VERBS),
    }
    if resource.name in SHORT_NAMES:
        out["shortNames"] = SHORT_NAMES[resource.name]
    if resource.name in ALL_CATEGORY:
        out["categories"] = ["all"]
    subresources = SUBRESOURCES.get(resource.name, [])
    if subresources:
        out["subresources"] = [
            {
                "subresource": sub,
                "responseKind": _sub_kind(sub, kind),
                "verbs": _subresource_verbs(sub),
            }
            for sub in subresources
        ]
    return out


def _subresource_verbs(sub: str) -> list[str]:
    if sub in ("eviction", "binding"):
        return ["create"]
    return list(SUBRESOURCE_VERBS.get(sub, ["get"]))


def _sub_kind(sub: str, own: JSON) -> JSON:
    if sub not in SUBRESOURCE_KINDS:
        return own
    group, version, kind = SUBRESOURCE_KINDS[sub]
    return {"group": group, "version": version, "kind": kind}


def status(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    """A ``metav1.Status`` failure, the body of every error response."""
    out: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        out["details"] = details
    return out


__all__ = [
    "AGGREGATED_TYPE",
    "READ_VERBS",
    "aggregated_discovery",
    "api_group",
    "api_group_list",
    "api_versions",
    "resource_list",
    "status",
    "version_document",
    "wants_aggregated",
]
