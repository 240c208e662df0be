"""Physical quantities at the boundary: parse ``"50 mm"``, convert units once.

Thresholds and settings are written with their units (``"50 mm"``, ``"12 h"``,
``"17.2 m s-1"``, ``"35 degC"``). They are parsed here, checked for the expected
dimension and converted to the unit the kernels use; inside a kernel numbers are
plain floats in the stated unit. CF-style unit strings (``m s-1``) are accepted.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import cache
from typing import Any

import numpy as np
import pint

__all__ = ["UnitsError", "convert", "parse_duration", "parse_quantity", "units_of"]

_CF_EXPONENT = re.compile(r"(?<=[A-Za-z])(-?\d+)\b")


class UnitsError(ValueError):
    """A quantity has no unit, an unknown unit or the wrong dimension."""


@cache
def _registry() -> pint.UnitRegistry:
    registry: pint.UnitRegistry = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    registry.define("degree_north = degree = degrees_north")
    registry.define("degree_east = degree = degrees_east")
    return registry


def _cf_to_pint(text: str) -> str:
    """Turn a CF unit string (``m s-1``, ``kg m-2 s-1``) into one pint can read."""
    tokens = text.strip().split()
    if len(tokens) > 1 and not any(op in text for op in "*/^"):
        text = " * ".join(_CF_EXPONENT.sub(r"**\1", token) for token in tokens)
    elif len(tokens) == 1:
        text = _CF_EXPONENT.sub(r"**\1", text)
    return text


def units_of(text: str) -> pint.Unit:
    """Return the pint unit for a CF or pint unit string.

    Raises
    ------
    UnitsError
        If the unit is unknown.
    """
    try:
        return _registry().Unit(_cf_to_pint(text))
    except (pint.errors.UndefinedUnitError, AttributeError, ValueError, TypeError) as err:
        raise UnitsError(f"unknown unit {text!r} ({err})") from None


def parse_quantity(text: Any, to_units: str) -> float:
    """Parse ``"<number> <unit>"`` and return the magnitude in ``to_units``.

    Parameters
    ----------
    text
        A string such as ``"50 mm"``. A bare number is refused: the unit must be written.
    to_units
        The unit the caller wants, e.g. ``"mm"``; its dimension is the one required.

    Examples
    --------
    >>> parse_quantity("5 cm", "mm")
    50.0
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise UnitsError(f"{text!r} has no unit; write it with its unit, e.g. '{text} {to_units}'")
    match = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*", text)
    if match is None or not match.group(2):
        example = match.group(1) if match is not None else "50"
        raise UnitsError(f"{text!r} is not '<number> <unit>'; write it like '{example} {to_units}'")
    magnitude, unit_text = float(match.group(1)), match.group(2)
    unit = units_of(unit_text)
    target = units_of(to_units)
    try:
        return float(_registry().Quantity(magnitude, unit).to(target).magnitude)
    except pint.errors.DimensionalityError:
        raise UnitsError(
            f"{text!r} has unit {unit_text!r}, which cannot be converted to {to_units!r}; "
            f"give a quantity with the dimension of {to_units!r}"
        ) from None


def parse_duration(text: Any) -> timedelta:
    """Parse a duration such as ``"3 h"`` or ``"6 min"`` into a ``timedelta``."""
    seconds = parse_quantity(text, "s")
    if seconds <= 0:
        raise UnitsError(f"{text!r} is not a positive duration")
    return timedelta(seconds=round(seconds))


_SCALED = re.compile(r"\s*((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s+(\S.*)")


def _scale_and_unit(text: str) -> tuple[float, str]:
    """Split a scaled unit such as ``"0.1 mm"`` (common in station feeds) into 0.1, ``mm``."""
    match = _SCALED.fullmatch(text)
    if match is None:
        return 1.0, text
    return float(match.group(1)), match.group(2)


def convert(values: Any, from_units: str, to_units: str) -> Any:
    """Convert numbers (scalar or array) from one unit to another.

    Offsets (degC ↔ K) are handled; NaN stays NaN. A unit may carry a scale factor, as
    station feeds often do (``"0.1 mm"``, ``"0.1 hPa"``).

    >>> float(convert(12, "0.1 mm", "mm"))
    1.2
    """
    from_scale, from_text = _scale_and_unit(from_units)
    to_scale, to_text = _scale_and_unit(to_units)
    source, target = units_of(from_text), units_of(to_text)
    if source == target and from_scale == to_scale == 1.0:
        return values
    try:
        magnitudes = np.asarray(values, dtype=float) * from_scale
        quantity = _registry().Quantity(magnitudes, source)
        return quantity.to(target).magnitude / to_scale
    except pint.errors.DimensionalityError:
        raise UnitsError(f"cannot convert {from_units!r} to {to_units!r}") from None
