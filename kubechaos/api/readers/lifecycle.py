"""Reader for a container's ``lifecycle`` hooks and a probe's ``terminationGracePeriodSeconds``.

Upstream ``core/v1`` ``Lifecycle``/``LifecycleHandler`` (pkg/apis/core/types.go). The hook's
action is read with what its duration depends on (an ``exec`` command, a ``sleep``'s seconds);
an ``httpGet``'s path and port are read as "an HTTP hook", as a probe's are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path, type_name
from kubechaos.api.objects import HOOK_ACTIONS, Lifecycle, LifecycleHandler


def read_optional_int(r: FieldReader, raw: Mapping[str, Any], key: str, path: Path) -> int | None:
    """An integer field whose absence means something (upstream a ``*int64``)."""
    if raw.get(key) is None:
        return None
    return r.int_(raw, key, path, 0)


def _handler(r: FieldReader, data: Any, path: Path) -> LifecycleHandler | None:
    if data is None:
        return None
    raw = r.map(data, path)
    given = [action for action in HOOK_ACTIONS if raw.get(action) is not None]
    action = given[0] if given else ""
    command: tuple[str, ...] = ()
    seconds = 0
    if action == "exec":
        exec_path = (*path, "exec")
        words = r.seq(r.map(raw["exec"], exec_path).get("command"), (*exec_path, "command"))
        for i, word in enumerate(words):
            if not isinstance(word, str):
                r.error((*exec_path, "command", i), f"expected a string, got {type_name(word)}")
        command = tuple(w for w in words if isinstance(w, str))
    elif action == "sleep":
        sleep_path = (*path, "sleep")
        seconds = r.int_(r.map(raw["sleep"], sleep_path), "seconds", sleep_path, 0)
    elif action == "httpGet":
        r.map(raw["httpGet"], (*path, "httpGet"))
    return LifecycleHandler(action=action, command=command, seconds=seconds, actions=len(given))


def read_lifecycle(r: FieldReader, data: Any, path: Path) -> Lifecycle | None:
    """``containers[].lifecycle``; None when absent or empty (it asks for nothing)."""
    if data is None:
        return None
    raw = r.map(data, path)
    post_start = _handler(r, raw.get("postStart"), (*path, "postStart"))
    pre_stop = _handler(r, raw.get("preStop"), (*path, "preStop"))
    if post_start is None and pre_stop is None:
        return None
    return Lifecycle(post_start=post_start, pre_stop=pre_stop)


__all__ = ["read_lifecycle", "read_optional_int"]
