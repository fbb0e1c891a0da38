"""A ``condition`` SLO on a custom kind: one whose CustomResourceDefinition the workloads
declare, or one an operator installs at run time (unknown when the scenario loads).

``kind`` names a kind of the model with conditions (``Deployment``, ``Node``...), or else a
custom kind, with ``apiVersion: group/version`` to say which group's (``kind: WebApp`` alone
matches the first served definition of that kind in any group). A custom kind declared by the
workloads is resolved at load; one that is not is accepted with a located warning saying what
could not be checked yet (that the kind will be served, that its objects have the condition),
and at run time the SLO fails as *not measured* if the kind never became served or the object
never appeared (see kubechaos.observe.conditions): it never passes on nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from kubechaos.api.crd import CRDInfo
from kubechaos.api.discovery import RESOURCE_OF_KIND
from kubechaos.api.fieldreader import format_path
from kubechaos.observe.conditions import condition_kinds
from kubechaos.scenario.check import Check, Path
from kubechaos.scenario.yamlfile import locate

# the API groups of the model's own kinds (apiVersion v1, apps/v1, ...), and the k8s.io ones
_BUILTIN_GROUPS = frozenset({"", "apps", "batch", "policy", "autoscaling", "extensions"})
_API_VERSION = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?/[a-z0-9]+$")
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")  # a kind is one CamelCase word


def _builtin(group: str) -> bool:
    return group in _BUILTIN_GROUPS or group.endswith(".k8s.io")


def custom_kind(
    check: Check,
    body: Mapping[str, Any],
    kp: Path,
    kind: str,
    custom: Sequence[CRDInfo],
    warnings: list[str] | None,
) -> str | None:
    """The group of the custom kind a condition SLO names (``""``: any group, resolved at run
    time), or None for a kind of the model. Errors and warnings go to ``check`` and
    ``warnings``."""
    api_version = check.string(body, "apiVersion", kp)
    group = api_version.rpartition("/")[0]
    if api_version and api_version != "v1" and not _API_VERSION.match(api_version):
        check.error(
            (*kp, "apiVersion"),
            f"expected group/version (e.g. example.com/v1), got {api_version!r}",
        )
        return None
    if not kind:
        return None
    kinds = condition_kinds()
    if not group or _builtin(group):
        if kind in kinds:
            return None
        if kind in RESOURCE_OF_KIND or (api_version and _builtin(group)):
            check.error(
                (*kp, "kind"),
                f"{kind!r} has no status.conditions in the model; kinds with conditions: "
                + ", ".join(sorted(kinds)),
            )
            return None
    if not _KIND.match(kind):
        check.error((*kp, "kind"), f"{kind!r} is not a kind (one CamelCase word, e.g. WebApp)")
        return None
    declared = [i for i in custom if i.kind == kind and group in ("", i.group)]
    if declared:
        return declared[0].group
    if warnings is not None:
        line, column = locate(check.root, (*kp, "kind"))
        of = f" of group {group}" if group else " (of any group: add apiVersion to pick one)"
        warnings.append(
            f"{check.file}:{line}:{column}: {format_path((*kp, 'kind'))}: {kind!r} is not a kind "
            "of the model nor of a CustomResourceDefinition among the workloads: taken as a "
            f"custom kind{of} whose definition is installed at run time; that it is served and "
            "its object has the condition can only be checked then (if it never is, the SLO "
            "fails as not measured)"
        )
    return group


__all__ = ["custom_kind"]
