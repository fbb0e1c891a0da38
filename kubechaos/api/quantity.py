"""Kubernetes resource quantities: ``100m``, ``1.5``, ``128Mi``, ``1Gi``, ``2e3``.

CPU is kept as integer millicores and memory as integer bytes, as the scheduler compares them.
The grammar follows apimachinery's ``resource.Quantity``: a signed decimal number, then an
optional binary suffix (Ki Mi Gi Ti Pi Ei), decimal suffix (n u m k M G T P E) or exponent.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)


_LIMIT = Decimal(2**63 - 1)  # apimachinery keeps quantities in int64


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> Decimal:
    """The exact value of a quantity (``"128Mi"`` -> ``134217728``)."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        number = Decimal(str(value))
        if not number.is_finite() or abs(number) > _LIMIT:
            raise QuantityError(f"{value!r} is not a quantity (too large or not a number)")
        return number
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if match is None:
        raise QuantityError(f"{value!r} is not a quantity (expected e.g. 100m, 1.5, 128Mi, 1Gi)")
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"{value!r} is not a quantity") from exc
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        result = number * _BINARY[suffix]
    elif suffix in _DECIMAL:
        result = number * _DECIMAL[suffix]
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > 30:
            raise QuantityError(f"{value!r} is out of range")
        result = number * (Decimal(10) ** exponent)
    if abs(result) > _LIMIT:
        raise QuantityError(f"{value!r} is out of range (at most 2^63-1)")
    return result


def parse_cpu_millis(value: str | int | float) -> int:
    """CPU in millicores, rounded up as the API server does (``"1.5"`` -> ``1500``)."""
    millis = parse_quantity(value) * 1000
    rounded = int(millis.to_integral_value(rounding="ROUND_CEILING"))
    if rounded < 0:
        raise QuantityError(f"{value!r} must not be negative")
    return rounded


def parse_bytes(value: str | int | float) -> int:
    """Memory (or any byte count) in bytes, rounded up."""
    rounded = int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))
    if rounded < 0:
        raise QuantityError(f"{value!r} must not be negative")
    return rounded


def parse_count(value: str | int | float) -> int:
    """A whole, non-negative count such as ``pods: 110``."""
    number = parse_quantity(value)
    if number != number.to_integral_value() or number < 0:
        raise QuantityError(f"{value!r} must be a whole, non-negative number")
    return int(number)
