"""Quantities with units at the configuration boundary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.units import UnitsError, convert, parse_duration, parse_quantity


def test_quantities_convert_to_the_requested_unit() -> None:
    # Beaufort 8 lower bound 17.2 m/s = 61.92 km/h (17.2 * 3.6)
    assert parse_quantity("17.2 m s-1", "km h-1") == pytest.approx(61.92)
    assert parse_quantity("5 cm", "mm") == pytest.approx(50.0)
    assert parse_quantity("35 degC", "K") == pytest.approx(308.15)
    assert parse_duration("12 h") == timedelta(hours=12)
    assert parse_duration("5 min") == timedelta(minutes=5)
    assert convert([0.0, 100.0], "degC", "degF").tolist() == pytest.approx([32.0, 212.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (50, "has no unit"),
        ("50", "is not '<number> <unit>'"),
        ("50 kg", "cannot be converted to 'mm'"),
        ("50 furlongz", "unknown unit"),
    ],
)
def test_bad_quantities_say_what_to_write(text: object, message: str) -> None:
    with pytest.raises(UnitsError, match=message):
        parse_quantity(text, "mm")


def test_duration_must_be_positive() -> None:
    with pytest.raises(UnitsError, match="positive"):
        parse_duration("0 h")
