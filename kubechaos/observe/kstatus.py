"""Whether a custom object is reconciled: kstatus, the convention the ecosystem reads.

sigs.k8s.io/cli-utils/pkg/kstatus/status computes a status for any object (``kubectl wait``,
Flux's health checks and Argo CD's generic health read custom resources the same way):

- ``metadata.deletionTimestamp`` set: **Terminating** (generic.go, checkGenericProperties);
- ``status.observedGeneration`` present and different from ``metadata.generation``:
  **InProgress**, "generation is G, but latest observed generation is O" (generic.go,
  checkGeneration: upstream compares with ``!=``, so an observedGeneration ahead of the
  generation is not Current either);
- a condition ``Reconciling=True``: **InProgress**; ``Stalled=True``: **Failed** (generic.go);
- for a kind with no type-specific rule (every custom kind), a ``Ready`` condition: True is
  **Current**, False or Unknown **InProgress** (status.go, checkReadyCondition);
- anything else: **Current** ("the absence of any known conditions means the resource is
  current", status.go Compute).

Steady state counts a custom object only when its status *follows the convention*: it has
``status.observedGeneration`` or a non-empty ``status.conditions`` list. An object whose
controller writes neither is one kstatus can only ever call Current, so it tells nothing and
never counts (:func:`unsteady_reason` returns None for it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"
TERMINATING = "Terminating"


def _conditions(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = status.get("conditions")
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return []
    return [c for c in raw if isinstance(c, Mapping) and isinstance(c.get("type"), str)]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def follows_convention(content: Mapping[str, Any]) -> bool:
    """The object's status has ``observedGeneration`` or conditions (see module)."""
    status = content.get("status")
    if not isinstance(status, Mapping):
        return False
    return _int(status.get("observedGeneration")) is not None or bool(_conditions(status))


def compute(content: Mapping[str, Any], deleting: bool = False) -> tuple[str, str]:
    """``(status, message)`` of a custom object (its JSON map), as kstatus computes it."""
    if deleting:
        return TERMINATING, "Resource scheduled for deletion"
    meta = content.get("metadata")
    status = content.get("status")
    status = status if isinstance(status, Mapping) else {}
    generation = _int(meta.get("generation")) if isinstance(meta, Mapping) else None
    observed = _int(status.get("observedGeneration"))
    if generation is not None and observed is not None and observed != generation:
        kind = content.get("kind", "")
        return IN_PROGRESS, (
            f"{kind} generation is {generation}, but latest observed generation is {observed}"
        )
    conditions = _conditions(status)
    for c in conditions:
        if c["type"] == "Reconciling" and c.get("status") == "True":
            return IN_PROGRESS, str(c.get("message") or "Reconciling")
        if c["type"] == "Stalled" and c.get("status") == "True":
            return FAILED, str(c.get("message") or "Stalled")
    for c in conditions:
        if c["type"] != "Ready":
            continue
        if c.get("status") == "True":
            return CURRENT, "Resource is Ready"
        if c.get("status") in ("False", "Unknown"):
            return IN_PROGRESS, str(c.get("message") or f"Ready={c.get('status')}")
    return CURRENT, "Resource is current"


def unsteady_reason(content: Mapping[str, Any], deleting: bool = False) -> str | None:
    """Why a custom object is out of steady state (None: Current, or its status does not follow
    the convention, see module)."""
    if not follows_convention(content):
        return None
    status, message = compute(content, deleting)
    if status == CURRENT:
        return None
    return f"is {status}: {message}"


__all__ = [
    "CURRENT",
    "FAILED",
    "IN_PROGRESS",
    "TERMINATING",
    "compute",
    "follows_convention",
    "unsteady_reason",
]
