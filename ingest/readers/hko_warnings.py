"""Hong Kong Observatory Rainstorm Warning Signal history → a table of warning periods.

Source
    ``warnings/hko_rainstorm_warnings_1998_2025jul.csv`` (SOURCES.md §3.1): every Rainstorm
    Warning Signal HKO issued from 1998-04-12 to July 2025, from HKO's Rainstorm Warning
    Signals database (DATA.GOV.HK terms).

Format
    Header ``signal,start,end,duration_min``, then one row per signal period, e.g.
    ``Black,2025-07-29 09:10:00,2025-07-29 11:05:00,115.0``. ``signal`` is ``Amber``,
    ``Red`` or ``Black``; ``start`` and ``end`` are HKT at minute resolution (``utc_offset``,
    default ``+08:00``, converts them); ``duration_min`` is ``end - start`` in minutes. An
    upgrade ends one row and starts the next at the same minute (Amber 08:05-08:40, Red
    08:40-09:10, Black 09:10-11:05 on 29 July 2025).

Output
    Warning records are not one of the DESIGN.md data contracts, so
    :func:`read_hko_warnings` returns a :class:`pandas.DataFrame`, one row per signal period
    in file order, with columns

    ``line`` (line number in the file), ``signal`` (as written), ``level`` (``amber``,
    ``red``, ``black``), ``start``, ``end`` (timezone-aware UTC), ``duration_min`` (as
    written) and ``problem`` (empty when the row is sound).

    The registered reader ``hko-warnings`` returns the same as an ``xr.Dataset`` on the
    dimension ``warning`` (``start``/``end`` as UTC ``datetime64``).

Bad rows
    A row whose ``duration_min`` differs from ``end - start`` (by more than half a minute)
    or whose ``end`` is not after its ``start`` is *kept*, with the reason in ``problem``:
    which of its fields is wrong cannot be told, so the caller decides (the comparison in
    :mod:`hazard_models.rainstorm.hk_signals` leaves such rows out and reports them). A row
    that cannot be parsed at all (field count, an unknown signal, a time or number that does
    not parse) is left out and listed in ``attrs["rejected_rows"]``. Every bad row is logged.
    A wrong header, or no usable row, raises :class:`~ingest.errors.SourceError`.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import field_validator

from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.readers._csv import read_csv_rows

__all__ = ["HkoWarningsOptions", "HkoWarningsReader", "read_hko_warnings"]

_LOG = logging.getLogger(__name__)

_HEADER = ("signal", "start", "end", "duration_min")
_LEVELS = {"Amber": "amber", "Red": "red", "Black": "black"}
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
_TIME = "%Y-%m-%d %H:%M:%S"
_COLUMNS = ["line", "signal", "level", "start", "end", "duration_min", "problem"]


class HkoWarningsOptions(ReaderOptions):
    """Options of :class:`HkoWarningsReader`.

    Parameters
    ----------
    utc_offset
        UTC offset of the file's naive times, default ``"+08:00"`` (HKT).
    """

    utc_offset: str = "+08:00"

    @field_validator("utc_offset")
    @classmethod
    def _offset_is_hh_mm(cls, value: str) -> str:
        if not _OFFSET.match(value):
            raise ValueError(f"{value!r} is not an offset like '+08:00'")
        return value


def _zone(text: str) -> timezone:
    match = _OFFSET.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not an offset like '+08:00'")
    sign = -1 if match.group(1) == "-" else 1
    return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))


def read_hko_warnings(path: Path, source: str, utc_offset: str = "+08:00") -> pd.DataFrame:
    """Read the HKO rainstorm warning history into a table of signal periods.

    Parameters
    ----------
    path
        The CSV file (SOURCES.md §3.1).
    source
        Name of the source, for error messages.
    utc_offset
        UTC offset of the file's times, default ``"+08:00"`` (HKT).

    Returns
    -------
    pandas.DataFrame
        Columns ``line, signal, level, start, end, duration_min, problem`` (``start``/``end``
        timezone-aware UTC); ``attrs["rejected_rows"]`` lists rows left out.

    Raises
    ------
    SourceError
        If the file is missing or unreadable, its header is wrong, or no row is usable.

    Examples
    --------
    >>> from pathlib import Path
    >>> read_hko_warnings(Path("no-such.csv"), "hko-warnings")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ingest.errors.SourceError: source 'hko-warnings' (no-such.csv): file not found; ...
    """
    location = str(path)
    zone = _zone(utc_offset)
    rows = read_csv_rows(
        Path(path), source, _HEADER, "the HKO rainstorm warning history CSV (SOURCES.md §3.1)"
    )
    records: list[dict[str, object]] = []
    rejected: list[str] = []
    for number, fields in enumerate(rows, start=2):
        if not fields or not "".join(fields).strip():
            continue
        record, problem = _parse_row(number, [f.strip() for f in fields], zone)
        if record is None:
            rejected.append(f"line {number}: {problem}")
            continue
        records.append(record)
    for note in rejected:
        _LOG.warning("%s (%s): row rejected: %s", source, location, note)
    for record in records:
        if record["problem"]:
            _LOG.warning(
                "%s (%s): line %s: %s", source, location, record["line"], record["problem"]
            )
    if not records:
        raise SourceError(
            source,
            location,
            f"has no usable row ({len(rejected)} rejected)",
            "check the file; rejected rows: " + "; ".join(rejected[:5]),
        )
    frame = pd.DataFrame.from_records(records, columns=_COLUMNS)
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    frame["end"] = pd.to_datetime(frame["end"], utc=True)
    frame.attrs["rejected_rows"] = rejected
    frame.attrs["source"] = source
    return frame


def _parse_row(
    number: int, fields: list[str], zone: timezone
) -> tuple[dict[str, object] | None, str]:
    """Parse one row; return ``(record, "")`` or ``(None, problem)``."""
    if len(fields) != len(_HEADER):
        return None, (
            f"{len(fields)} fields in {','.join(fields)!r}, expected 4; "
            "repair the row (signal,start,end,duration_min)"
        )
    signal, start_text, end_text, duration_text = fields
    if signal not in _LEVELS:
        return None, f"signal {signal!r} is not Amber, Red or Black; correct the signal name"
    times: list[datetime] = []
    for label, value in (("start", start_text), ("end", end_text)):
        try:
            times.append(datetime.strptime(value, _TIME).replace(tzinfo=zone).astimezone(UTC))
        except ValueError:
            return None, f"{label} {value!r} is not 'YYYY-mm-dd HH:MM:SS'; repair the time"
    try:
        duration = float(duration_text)
    except ValueError:
        return None, f"duration_min {duration_text!r} is not a number; repair it"
    start, end = times
    problem = ""
    measured = (end - start).total_seconds() / 60.0
    if end <= start:
        problem = f"end {end_text} is not after start {start_text}; repair the times"
    elif abs(measured - duration) > 0.5:
        problem = (
            f"duration_min {duration:g} differs from end - start = {measured:g} min; "
            "check start, end and duration_min against HKO's database"
        )
    record: dict[str, object] = {
        "line": number,
        "signal": signal,
        "level": _LEVELS[signal],
        "start": start,
        "end": end,
        "duration_min": duration,
        "problem": problem,
    }
    return record, ""


@register_reader
class HkoWarningsReader:
    """Reader of the HKO Rainstorm Warning Signal history (SOURCES.md §3.1)."""

    name: ClassVar[str] = "hko-warnings"
    contract: ClassVar[str] = "warning record"
    Options: ClassVar[type[ReaderOptions]] = HkoWarningsOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the CSV at ``path`` into a dataset on the dimension ``warning``.

        Parameters
        ----------
        path
            The CSV file.
        options
            A :class:`HkoWarningsOptions`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            ``signal``, ``level``, ``start``, ``end`` (UTC), ``duration_min`` (min),
            ``problem`` and ``line`` on ``warning``; attribute ``rejected_rows``.

        Raises
        ------
        SourceError
            As :func:`read_hko_warnings`.
        """
        if not isinstance(options, HkoWarningsOptions):
            raise TypeError(f"expected HkoWarningsOptions, got {type(options).__name__}")
        frame = read_hko_warnings(path, source, options.utc_offset)
        utc = {"standard_name": "time", "comment": "UTC"}

        def naive(column: str) -> np.ndarray:
            values: np.ndarray = (
                frame[column].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
            )
            return values

        rejected = frame.attrs["rejected_rows"]
        return xr.Dataset(
            data_vars={
                "signal": ("warning", frame["signal"].to_numpy(dtype=object)),
                "level": ("warning", frame["level"].to_numpy(dtype=object)),
                "start": ("warning", naive("start"), dict(utc, long_name="signal issued")),
                "end": ("warning", naive("end"), dict(utc, long_name="signal cancelled")),
                "duration_min": (
                    "warning",
                    frame["duration_min"].to_numpy(dtype=float),
                    {"units": "min", "long_name": "duration as written in the file"},
                ),
                "problem": ("warning", frame["problem"].to_numpy(dtype=object)),
            },
            coords={"line": ("warning", frame["line"].to_numpy(dtype=np.int64))},
            attrs={
                "title": "Hong Kong Observatory Rainstorm Warning Signals",
                "institution": "Hong Kong Observatory",
                "source": f"{Path(path).name}, HKO Rainstorm Warning Signals database",
                "references": "DATA.GOV.HK terms: https://data.gov.hk/en/terms-and-conditions",
                "local_utc_offset": options.utc_offset,
                "rejected_rows": "; ".join(rejected) if rejected else "none",
            },
        )
