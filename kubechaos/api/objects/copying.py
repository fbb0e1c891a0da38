"""A cheaper :func:`attrs.evolve` for the frozen API objects, for the API server's write path.

Every write through the API server copies its object a few times (the strategy's merge of the
request over the stored object, the watch cache's stamp of the ``resourceVersion``): at 1,000
nodes that is hundreds of thousands of copies per virtual minute. ``attrs.evolve`` looks the
class's fields up and reads them one by one on every call; :func:`replace` reads them all at
once with an ``operator.attrgetter`` built once per class and calls the class positionally.

It must agree with ``attrs.evolve`` exactly: both call the class's own ``__init__`` with every
field's current value except those changed, so defaults, validators and converters run the same
way and the result compares equal field by field. A class whose ``__init__`` is not simply its
fields in order (a field with ``init=False`` or ``kw_only``) is left to ``attrs.evolve``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

# class -> (read every field at once, field name -> position), or None: use attrs.evolve
_Layout = tuple[Callable[[Any], tuple[Any, ...]], dict[str, int]]
_LAYOUTS: dict[type, _Layout | None] = {}


def _layout(cls: type) -> _Layout | None:
    fields = attrs.fields(cls)
    layout: _Layout | None = None
    positional = all(f.init and not f.kw_only and f.alias == f.name for f in fields)
    if positional and len(fields) > 1:  # attrgetter of one name returns the value, not a tuple
        getter = operator.attrgetter(*(f.name for f in fields))
        layout = (getter, {f.name: i for i, f in enumerate(fields)})
    _LAYOUTS[cls] = layout
    return layout


def replace(obj: T, **changes: Any) -> T:
    """``attrs.evolve(obj, **changes)``, cheaper (the same object, see the module docstring)."""
    cls = type(obj)
    # (one lookup of the class, and of each change's position, on the path every copy takes:
    # a try costs nothing until it catches)
    try:
        layout = _LAYOUTS[cls]
    except KeyError:
        layout = _layout(cls)
    if layout is None:
        return attrs.evolve(obj, **changes)  # type: ignore[misc]
    getter, index = layout
    values = list(getter(obj))
    try:
        for name, value in changes.items():
            values[index[name]] = value
    except KeyError:
        return attrs.evolve(obj, **changes)  # type: ignore[misc]  # attrs' own TypeError
    return cls(*values)


__all__ = ["replace"]
