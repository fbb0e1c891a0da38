"""The ``spec.slo`` section: objectives checked against the faults, Services and metric series
the scenario has."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from kubechaos.api.crd import CRDInfo
from kubechaos.observe.conditions import CONDITION_STATUSES
from kubechaos.observe.metrics import FAMILIES, family_of
from kubechaos.observe.slo import DURING, KINDS, SLO, default_name
from kubechaos.scenario.check import Check, Path, did_you_mean, printable, string_map
from kubechaos.scenario.conditioncustom import custom_kind

_SLO_KEYS: dict[str, tuple[str, ...]] = {
    "recoveryWithin": ("fault", "within", "from"),
    "availability": ("service", "namespace", "atLeast"),
    "maxErrors": ("service", "namespace", "count"),
    "threshold": ("metric", "labels", "atLeast", "atMost", "during"),
    "condition": (
        "kind",
        "apiVersion",
        "namespace",
        "name",
        "type",
        "status",
        "within",
        "after",
        "from",
    ),
}


def read_slos(
    check: Check,
    value: Any,
    fault_names: list[str],
    services: set[tuple[str, str]] | None,
    custom: Sequence[CRDInfo] = (),
    warnings: list[str] | None = None,
) -> list[SLO]:
    """``custom``: the definitions the workloads declare; ``warnings`` gets what a condition
    SLO on a custom kind leaves to be checked at run time (see conditioncustom)."""
    slos: list[SLO] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(check.sequence(value, ("spec", "slo"))):
        sp: Path = ("spec", "slo", i)
        entry = check.mapping(raw, sp, [*KINDS, "name"])
        kinds = [k for k in entry if k in KINDS]
        if not isinstance(raw, Mapping):
            continue
        if len(kinds) != 1:
            check.error(sp, f"each SLO needs exactly one of: {', '.join(KINDS)}")
            continue
        kind = kinds[0]
        kp: Path = (*sp, kind)
        body = check.mapping(entry[kind], kp, _SLO_KEYS[kind])
        slo = SLO(kind=kind, name="")
        if kind == "recoveryWithin":
            slo = _recovery(check, body, kp, slo, fault_names)
        elif kind in ("availability", "maxErrors"):
            slo = _service(check, body, kp, slo, services)
        elif kind == "condition":
            slo = _condition(check, body, kp, slo, fault_names, custom, warnings)
        else:
            slo = _threshold(check, body, kp, slo)
        name = printable(check, check.string(entry, "name", sp), (*sp, "name")) or default_name(slo)
        if name in names:
            check.error(sp, f'two SLOs are named {name!r}; give one a "name"')
        names.setdefault(name, i)
        slos.append(attrs.evolve(slo, name=name))
    return slos


def _fault(
    check: Check, body: Mapping[str, Any], kp: Path, key: str, fault_names: list[str]
) -> str:
    """A fault of the scenario (or an explored template) named by ``body[key]``."""
    fault = check.string(body, key, kp, required=True)
    if fault and fault not in fault_names and fault not in {n.split("#")[0] for n in fault_names}:
        check.error(
            (*kp, key),
            f"no fault named {fault!r} in spec.faults or spec.explore.faults"
            + did_you_mean(fault, fault_names),
        )
    return fault


def _recovery(
    check: Check, body: Mapping[str, Any], kp: Path, slo: SLO, fault_names: list[str]
) -> SLO:
    """``recoveryWithin``: a fault of the scenario (or an explored template), a time, a start."""
    fault = _fault(check, body, kp, "fault", fault_names)
    within = check.duration(body, "within", kp, 0.0)
    if "within" not in body:
        check.error((*kp, "within"), "required field is missing")
    reference = check.string(body, "from", kp, default="injection")
    if reference not in ("injection", "revert"):
        check.error((*kp, "from"), f"expected injection or revert, got {reference!r}")
    return attrs.evolve(slo, fault=fault, within=within, reference=reference)


def _condition(
    check: Check,
    body: Mapping[str, Any],
    kp: Path,
    slo: SLO,
    fault_names: list[str],
    custom: Sequence[CRDInfo] = (),
    warnings: list[str] | None = None,
) -> SLO:
    """``condition``: an object of a kind with conditions (of the model, or a custom kind), the
    condition and status it must reach, how soon after which fault (see
    kubechaos.observe.conditions)."""
    kind = check.string(body, "kind", kp, required=True)
    group = custom_kind(check, body, kp, kind, custom, warnings)
    cluster_scoped = kind in ("Node",) or any(
        i.kind == kind and i.group == group and not i.namespaced for i in custom
    )
    namespace = check.string(body, "namespace", kp, default="" if cluster_scoped else "default")
    if cluster_scoped and namespace:
        check.error((*kp, "namespace"), f"a {kind} is not namespaced: leave out the namespace")
    name = check.string(body, "name", kp, required=True)
    type_ = check.string(body, "type", kp, required=True)
    status = body.get("status")
    if status is None:
        check.error((*kp, "status"), 'required field is missing ("True", "False" or "Unknown")')
    elif status not in CONDITION_STATUSES:
        check.error(
            (*kp, "status"),
            f'expected "True", "False" or "Unknown" (a quoted string), got {status!r}',
        )
    within = check.duration(body, "within", kp, 0.0)
    if "within" not in body:
        check.error((*kp, "within"), "required field is missing")
    fault = _fault(check, body, kp, "after", fault_names)
    reference = check.string(body, "from", kp, default="injection")
    if reference not in ("injection", "revert"):
        check.error((*kp, "from"), f"expected injection or revert, got {reference!r}")
    return attrs.evolve(
        slo, object_kind=kind, namespace=namespace, object_name=name, condition=type_,
        status=str(status), within=within, fault=fault, reference=reference, custom_group=group,
    )  # fmt: skip


def _service(
    check: Check,
    body: Mapping[str, Any],
    kp: Path,
    slo: SLO,
    services: set[tuple[str, str]] | None,
) -> SLO:
    """``availability`` or ``maxErrors``: a Service among the workloads and its bound."""
    service = check.string(body, "service", kp, required=True)
    namespace = check.string(body, "namespace", kp, default="default")
    if services is not None and service and (namespace, service) not in services:
        check.error((*kp, "service"), f"no Service {namespace}/{service} among the workloads")
    slo = attrs.evolve(slo, service=service, namespace=namespace)
    if slo.kind == "availability":
        return attrs.evolve(slo, at_least=_ratio(check, body, "atLeast", kp))
    count = body.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        check.error((*kp, "count"), f"expected a whole number >= 0, got {count!r}")
        count = 0
    return attrs.evolve(slo, count=count)


def _threshold(check: Check, body: Mapping[str, Any], kp: Path, slo: SLO) -> SLO:
    """``threshold``: a series kubechaos exposes, its labels, one bound and when it applies."""
    metric = check.string(body, "metric", kp, required=True)
    if metric and family_of(metric) is None:
        check.error(
            (*kp, "metric"),
            f"{metric!r} is not a series kubechaos exposes"
            + (did_you_mean(metric, list(FAMILIES)) or "; see the README's metrics list"),
        )
    labels = string_map(check, body.get("labels"), (*kp, "labels"))
    bounds = {}
    for key in ("atLeast", "atMost"):
        if key in body:
            item = body[key]
            if isinstance(item, bool) or not isinstance(item, int | float) or item != item:
                check.error((*kp, key), f"expected a number, got {item!r}")
            else:
                bounds[key] = float(item)
    if len([k for k in ("atLeast", "atMost") if k in body]) != 1:
        check.error(kp, 'give exactly one of "atLeast" or "atMost"')
    during = check.string(body, "during", kp, default="whole")
    if during not in DURING:
        check.error((*kp, "during"), f"expected one of {', '.join(DURING)}, got {during!r}")
    return attrs.evolve(
        slo, metric=metric, labels=labels, at_least=bounds.get("atLeast"),
        at_most=bounds.get("atMost"), during=during,
    )  # fmt: skip


def _ratio(check: Check, body: Mapping[str, Any], key: str, path: Path) -> float:
    """A share written as "99.5%" or 0.995."""
    raw = body.get(key)
    if raw is None:
        check.error((*path, key), 'required field is missing (e.g. "99.5%")')
        return 0.0
    value: Any = raw
    if isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            value = float(raw.strip()[:-1]) / 100
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        check.error((*path, key), f'expected a share like "99.5%" or 0.995, got {raw!r}')
        return 0.0
    return float(value)
