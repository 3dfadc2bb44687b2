"""Numbers for the schema sampler (`schema_sample`): the smallest natural value inside a
schema's bounds and steps.

A value is 1 (or a small lower bound: ``minimum: 0``) moved into the bounds, so zod's
±(2^53-1) on every ``z.number().int()`` is not answered with ``-9007199254740991``. Bounds
may be written as draft-4 booleans, draft-6 numbers, or strings (Gemini's int64 limits).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

__all__ = ["is_real", "sample_integer", "sample_number"]

# A lower bound this close to 0 is a natural value itself (minimum 0, 18, -3); a larger one
# (zod's -(2^53-1) on every integer) is a limit of the type, not a hint.
_SMALL_BOUND = 1000

_LARGEST_FLOAT = Fraction(sys.float_info.max)


def sample_integer(schema: Mapping[str, Any]) -> int:
    multiple = _as_fraction(schema.get("multipleOf"))
    if multiple is not None and multiple <= 0:
        multiple = None
    # An integer is a multiple of p/q exactly when it is a multiple of p.
    step = multiple.numerator if multiple is not None else 1
    lo, lo_exclusive = _bound(schema, lower=True)
    hi, hi_exclusive = _bound(schema, lower=False)
    lo_int = None if lo is None else (math.floor(lo) + 1 if lo_exclusive else math.ceil(lo))
    hi_int = None if hi is None else (math.ceil(hi) - 1 if hi_exclusive else math.floor(hi))

    # The smallest positive multiple (1) moved into the bounds, or a small lower bound.
    value, direction = step, step
    if lo_int is not None and (abs(lo_int) <= _SMALL_BOUND or value < lo_int):
        value = -(-lo_int // step) * step
    elif hi_int is not None and value > hi_int:
        value, direction = (hi_int // step) * step, -step

    raw_multiple = schema.get("multipleOf")
    if multiple is not None and isinstance(raw_multiple, float):
        # Validators divide floats, so e.g. 3 / 0.1 is rejected; walk to a value that survives.
        for _ in range(100):
            if _float_multiple_ok(value, raw_multiple):
                break
            value += direction
    return int(value)


def sample_number(schema: Mapping[str, Any]) -> float:
    lo, lo_exclusive = _bound(schema, lower=True)
    hi, hi_exclusive = _bound(schema, lower=False)
    step = _as_fraction(schema.get("multipleOf"))
    if step is None or step <= 0:
        return float(_unstepped_number(lo, lo_exclusive, hi, hi_exclusive))

    # k * step: k = 1 moved into the bounds, or the lowest k over a small lower bound.
    k, direction = 1, 1
    if lo is not None:
        k_lo = math.floor(lo / step) + 1 if lo_exclusive else math.ceil(lo / step)
        if abs(lo) <= _SMALL_BOUND or k < k_lo:
            k = k_lo
    if hi is not None and (lo is None or abs(lo) > _SMALL_BOUND):
        k_hi = math.ceil(hi / step) - 1 if hi_exclusive else math.floor(hi / step)
        if k > k_hi:
            k, direction = k_hi, -1

    raw_multiple = schema.get("multipleOf")
    for attempt in range(100):
        candidate = float((k + attempt * direction) * step)
        if not isinstance(raw_multiple, float) or _float_multiple_ok(candidate, raw_multiple):
            return candidate
    return float(k * step)


def _unstepped_number(
    lo: Fraction | None, lo_exclusive: bool, hi: Fraction | None, hi_exclusive: bool
) -> Fraction:
    one = Fraction(1)
    if lo is not None and (abs(lo) <= _SMALL_BOUND or one < lo or (one == lo and lo_exclusive)):
        # The bound, or a whole step over it if the upper bound allows, else the middle.
        above = lo + 1
        if not lo_exclusive:
            return lo
        fits = hi is None or above < hi or (above == hi and not hi_exclusive)
        return above if fits or hi is None else (lo + hi) / 2
    if hi is not None and (one > hi or (one == hi and hi_exclusive)):
        if not hi_exclusive:
            return hi
        return hi - 1 if lo is None or hi - 1 > lo else (lo + hi) / 2
    return one


def _float_multiple_ok(value: float, multiple: float) -> bool:
    quotient = value / multiple
    return math.isfinite(quotient) and int(quotient) == quotient


def _bound(schema: Mapping[str, Any], *, lower: bool) -> tuple[Fraction | None, bool]:
    """Effective bound and whether it is exclusive, for draft-4 and draft-6+ spellings."""
    key, exclusive_key = (
        ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
    )
    inclusive = _as_fraction(schema.get(key))
    flag = schema.get(exclusive_key)
    if isinstance(flag, bool):
        return inclusive, flag and inclusive is not None
    exclusive = _as_fraction(flag)
    if exclusive is None:
        return inclusive, False
    if inclusive is None:
        return exclusive, True
    tighter = exclusive >= inclusive if lower else exclusive <= inclusive
    return (exclusive, True) if tighter else (inclusive, False)


def is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_fraction(value: Any) -> Fraction | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # Past the largest float a bound can only overflow the number written for it.
        return Fraction(value) if abs(value) <= _LARGEST_FLOAT else None
    if isinstance(value, float):
        # str() keeps the decimal the author wrote (0.1), not its binary approximation.
        return Fraction(str(value)) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            return None
        return parsed if abs(parsed) <= _LARGEST_FLOAT else None
    return None
