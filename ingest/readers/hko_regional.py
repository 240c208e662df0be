"""Hong Kong Observatory open-data station feeds, polled → station observations.

Reads a folder of raw snapshots of HKO's open-data endpoints, as landed by
:func:`ingest.http.land_snapshot` (or laid out for :mod:`ingest.replay_server`), into ONE
station-observation dataset, merging overlapping polls with
:func:`ingest.merge.merge_station_reports`.

Snapshots
    Any file under the folder (sub-folders included, dot-files ignored) named
    ``<YYYYmmddTHHMMSSZ>_<16 hex of SHA-256>.<json|csv>`` (landed) or
    ``<YYYYmmddTHHMMZ>.<json|csv>`` (replay layout; the hash is then computed). The time in
    the name is the *receive time* in UTC. The endpoint is recognised from the content.

Endpoints and fields (field names as HKO publishes them)
    ``weather.php?dataType=rhrread`` (current weather report, JSON)
        ``updateTime``; ``rainfall.startTime``/``endTime`` and ``rainfall.data[]`` with
        ``place`` (one of the 18 districts), ``unit`` (``"mm"``), ``max``, optional ``min``
        and ``main`` (``"TRUE"`` = under maintenance); optional ``temperature`` and
        ``humidity`` with ``recordTime`` and ``data[]`` of ``place``, ``value``, ``unit``
        (``"C"``, ``"percent"``).
    ``hourlyRainfall.php`` (past-hour rainfall per automatic weather station, JSON)
        ``obsTime``; ``hourlyRainfall[]`` with ``automaticWeatherStation``,
        ``automaticWeatherStationID``, ``value`` (a string: a number, ``"M"`` = maintenance,
        ``"Trace"``) and ``unit`` (``"mm"``).
    ``hko_data/regional-weather/latest_*.csv`` (regional weather, CSV)
        header ``Date time,Automatic Weather Station,<value columns>`` with value columns
        ``Air Temperature(degree Celsius)``, ``Relative Humidity(percent)``,
        ``Mean Sea Level Pressure(hPa)``, or ``10-Minute Mean Wind Direction(Compass
        points),10-Minute Mean Speed(km/hour),10-Minute Maximum Gust(km/hour)``;
        ``Date time`` is ``YYYYmmddHHMM`` in HKT; ``N/A`` or blank = missing; a mean speed
        of ``Calm`` is 0.

Output (contract "station observations")
    ``pr`` (mm in the hour ending at ``time``), ``tas`` (degC), ``hurs`` (%), ``psl`` (hPa),
    ``sfcWind`` (m s-1, 10-min mean), ``wsgsmax`` (m s-1, highest gust in the 10 min
    ending at ``time``), each with ``<var>_flag``: 0 ``good``, 1 ``missing``,
    2 ``maintenance``, 3 ``trace`` (HKO "Trace", too little to measure; ``pr`` 0.0),
    4 ``not_reported``.
    A district of ``rhrread`` is a station ``district:<place>`` (``station_kind`` =
    ``district``): its ``pr`` is the *highest* gauge total in the district, and
    ``pr_district_min`` the lowest. Automatic weather stations keep the name (CSV,
    ``rhrread``) or ID (``hourlyRainfall``) HKO gives them; the two spellings of one
    station (``HK Observatory`` in the CSVs, ``Hong Kong Observatory`` in JSON) are not
    joined, since the feeds give no common key.

Times
    JSON times must carry an offset (HKO writes ``+08:00``); a time without one is an
    error. The CSVs' ``Date time`` carries none: it is HKT by HKO's documentation, and
    ``csv_utc_offset`` (default ``+08:00``) is applied. A time later than the snapshot's
    receive time (plus ``future_tolerance``) is an error: the data cannot have been
    observed after they were received.

Bad snapshots
    A snapshot with a missing field, a unit other than the expected one, a naive or future
    time, or a header that is not HKO's raises :class:`~ingest.errors.SourceError`
    naming the file, the field and the fix. The reader catches it for that snapshot only,
    logs a warning and lists it in the attribute ``rejected_snapshots``; the other
    snapshots are still read. If no snapshot can be read, the error is raised.

Station coordinates
    The feeds carry none. ``station_metadata`` names a CSV with the header
    ``station_id,station_name,lat,lon,elevation_m,source`` (one row per station, ``source``
    saying where the position comes from); stations not in it, and all stations when
    ``station_metadata`` is ``None``, get NaN coordinates and are listed in the attribute
    ``stations_without_coordinates``. No published table of HKO automatic-weather-station
    coordinates was found to ship with yujing, so none is invented here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import field_validator

from ingest.contracts import validate_station_obs
from ingest.errors import SourceError
from ingest.merge import merge_station_reports, with_receipt
from ingest.readers import ReaderOptions, register_reader
from ingest.units import convert, parse_quantity

__all__ = ["HkoRegionalOptions", "HkoRegionalReader", "read_station_metadata"]

_LOG = logging.getLogger(__name__)

FLAG_MEANINGS = ("good", "missing", "maintenance", "trace", "not_reported")
GOOD, MISSING, MAINTENANCE, TRACE, NOT_REPORTED = range(len(FLAG_MEANINGS))

_LANDED = re.compile(r"^(\d{8}T\d{6}Z)_([0-9a-f]{16})\.(json|csv)$")
_REPLAY = re.compile(r"^(\d{8}T\d{4}Z)\.(json|csv)$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")
_DISTRICT = "district:"

_VARIABLE_ATTRS: dict[str, dict[str, str]] = {
    "pr": {
        "standard_name": "lwe_thickness_of_precipitation_amount",
        "long_name": "rainfall in the past hour",
        "units": "mm",
        "cell_methods": "time: sum (interval: 1 hour)",
        "comment": "for station_kind 'district': the highest total among the district's gauges",
    },
    "pr_district_min": {
        "long_name": "lowest past-hour rainfall among the district's gauges",
        "units": "mm",
        "cell_methods": "time: sum (interval: 1 hour)",
    },
    "tas": {"standard_name": "air_temperature", "long_name": "air temperature", "units": "degC"},
    "hurs": {"standard_name": "relative_humidity", "long_name": "relative humidity", "units": "%"},
    "psl": {
        "standard_name": "air_pressure_at_mean_sea_level",
        "long_name": "mean sea level pressure",
        "units": "hPa",
    },
    "sfcWind": {
        "standard_name": "wind_speed",
        "long_name": "10-minute mean wind speed",
        "units": "m s-1",
        "averaging_period": "10 min",
        "cell_methods": "time: mean (interval: 10 minutes)",
    },
    "wsgsmax": {
        "standard_name": "wind_speed_of_gust",
        "long_name": "maximum gust in the past 10 minutes",
        "units": "m s-1",
        "averaging_period": "10 min",
        "cell_methods": "time: maximum (interval: 10 minutes)",
        "comment": "highest gust in the 10 minutes ending at time (HKO 10-Minute Maximum Gust)",
    },
}

# Regional-weather CSVs: value column header -> (variable, unit written in the header).
_CSV_COLUMNS: dict[str, tuple[str, str]] = {
    "Air Temperature(degree Celsius)": ("tas", "degC"),
    "Relative Humidity(percent)": ("hurs", "%"),
    "Mean Sea Level Pressure(hPa)": ("psl", "hPa"),
    "10-Minute Mean Speed(km/hour)": ("sfcWind", "km/h"),
    "10-Minute Maximum Gust(km/hour)": ("wsgsmax", "km/h"),
}
_CSV_IGNORED = {"10-Minute Mean Wind Direction(Compass points)"}
_CSV_KEYS = ("Date time", "Automatic Weather Station")
_JSON_UNITS = {"rainfall": ("mm", "mm"), "temperature": ("C", "degC"), "humidity": ("percent", "%")}
_JSON_VARIABLES = {"temperature": "tas", "humidity": "hurs"}


class HkoRegionalOptions(ReaderOptions):
    """Options of :class:`HkoRegionalReader`.

    Parameters
    ----------
    station_metadata
        CSV of station positions (see the module docstring), or ``None`` to state that no
        positions are known (coordinates are then NaN). Required: it must be given.
    csv_utc_offset
        UTC offset of the regional CSVs' ``Date time``, default ``"+08:00"`` (HKT).
    future_tolerance
        How far after its receive time an observation time may lie (clock skew), e.g.
        ``"2 min"``.
    """

    station_metadata: Path | None
    csv_utc_offset: str = "+08:00"
    future_tolerance: str = "2 min"

    @field_validator("csv_utc_offset")
    @classmethod
    def _offset_is_hh_mm(cls, value: str) -> str:
        if not _OFFSET.match(value):
            raise ValueError(f"{value!r} is not an offset like '+08:00'")
        return value

    @field_validator("future_tolerance")
    @classmethod
    def _tolerance_is_duration(cls, value: str) -> str:
        if parse_quantity(value, "s") < 0:
            raise ValueError(f"{value!r} is negative; give a duration >= 0 such as '2 min'")
        return value


@dataclass(frozen=True)
class _Observation:
    station: str
    kind: str
    time: datetime
    variable: str
    value: float
    flag: int


@dataclass(frozen=True)
class _Snapshot:
    path: Path
    received: datetime
    digest: str
    extension: str


class _Parser:
    """Parses one snapshot; raises :class:`SourceError` naming the file and field."""

    def __init__(self, snapshot: _Snapshot, source: str, options: HkoRegionalOptions) -> None:
        self.snapshot = snapshot
        self.source = source
        self.offset = options.csv_utc_offset
        self.latest = snapshot.received + timedelta(
            seconds=parse_quantity(options.future_tolerance, "s")
        )

    def error(self, problem: str, fix: str) -> SourceError:
        return SourceError(self.source, str(self.snapshot.path), problem, fix)

    def instant(self, text: Any, field: str) -> datetime:
        """Parse an ISO time that must carry an offset and not lie after the receive time."""
        if not isinstance(text, str):
            raise self.error(f"field {field!r} = {text!r} is not a time", "check the feed")
        try:
            stamp = pd.Timestamp(text)
        except ValueError:
            raise self.error(
                f"field {field!r} = {text!r} is not an ISO 8601 time", "check the feed"
            ) from None
        if stamp.tzinfo is None:
            raise self.error(
                f"field {field!r} = {text!r} has no UTC offset",
                "HKO JSON times carry '+08:00'; a naive time cannot be placed in UTC, so the "
                "snapshot is not used (fix the recorder or the feed)",
            )
        instant: datetime = stamp.tz_convert(UTC).to_pydatetime()
        if instant > self.latest:
            raise self.error(
                f"field {field!r} = {text!r} is after the snapshot's receive time "
                f"{self.snapshot.received.isoformat()}",
                "check the recorder's clock and the snapshot's file name (its receive time)",
            )
        return instant

    def parse(self) -> list[_Observation]:
        try:
            text = self.snapshot.path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as err:
            raise self.error(f"cannot be read as UTF-8 ({err})", "land it again") from None
        if not text.strip():
            raise self.error("is empty", "fetch it again; an empty answer is not a report")
        if self.snapshot.extension == "csv":
            return self.regional_csv(text)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise self.error(
                f"is not valid JSON (line {err.lineno}: {err.msg})", "fetch it again"
            ) from None
        if not isinstance(document, dict):
            raise self.error("is not a JSON object", "this reader reads HKO open-data JSON")
        if "hourlyRainfall" in document or "obsTime" in document:
            return self.hourly_rainfall(document)
        return self.current_weather(document)

    # -- JSON helpers -------------------------------------------------------------------

    def get(self, node: Any, field: str, key: str) -> Any:
        if not isinstance(node, dict) or key not in node:
            raise self.error(
                f"field {field!r} is missing",
                "save the complete answer of the HKO open-data API; if HKO changed the "
                "format, update ingest/readers/hko_regional.py",
            )
        return node[key]

    def items(self, node: Any, field: str) -> Iterator[tuple[int, dict[str, Any]]]:
        if not isinstance(node, list):
            raise self.error(f"field {field!r} is not a list", "check the feed")
        for index, item in enumerate(node):
            if not isinstance(item, dict):
                raise self.error(f"field {field}[{index}] is not an object", "check the feed")
            yield index, item

    def unit(self, item: dict[str, Any], field: str, expected: str) -> None:
        unit = self.get(item, f"{field}.unit", "unit")
        if unit != expected:
            raise self.error(
                f"field {field!r}.unit is {unit!r}, expected {expected!r}",
                "HKO changed the unit: check the feed's documentation and update the reader's "
                "unit table before using these values",
            )

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"field {field!r} = {value!r} is not a number", "check the feed")
        if not math.isfinite(value):
            raise self.error(f"field {field!r} = {value!r} is not finite", "check the feed")
        return float(value)

    # -- endpoints ----------------------------------------------------------------------

    def current_weather(self, document: dict[str, Any]) -> list[_Observation]:
        """``weather.php?dataType=rhrread``."""
        self.instant(self.get(document, "updateTime", "updateTime"), "updateTime")
        rainfall = self.get(document, "rainfall", "rainfall")
        start = self.instant(
            self.get(rainfall, "rainfall.startTime", "startTime"), "rainfall.startTime"
        )
        end = self.instant(self.get(rainfall, "rainfall.endTime", "endTime"), "rainfall.endTime")
        if end - start != timedelta(hours=1):
            raise self.error(
                f"fields 'rainfall.startTime'..'rainfall.endTime' span {end - start}, not 1 hour",
                "this reader reads past-hour rainfall only; check the feed",
            )
        records: list[_Observation] = []
        data = self.get(rainfall, "rainfall.data", "data")
        for index, item in self.items(data, "rainfall.data"):
            field = f"rainfall.data[{index}]"
            place = str(self.get(item, f"{field}.place", "place"))
            self.unit(item, field, _JSON_UNITS["rainfall"][0])
            maintenance = self.get(item, f"{field}.main", "main")
            if maintenance not in ("TRUE", "FALSE"):
                raise self.error(
                    f"field {field}.main = {maintenance!r} is not TRUE/FALSE", "check the feed"
                )
            station = _DISTRICT + place
            for variable, key in (("pr", "max"), ("pr_district_min", "min")):
                if maintenance == "TRUE":
                    value, flag = math.nan, MAINTENANCE
                elif key in item:
                    value, flag = self.number(item[key], f"{field}.{key}"), GOOD
                elif key == "min" and "max" in item:
                    # HKO writes only "max" when the district's gauges agree (e.g. all 0).
                    value, flag = self.number(item["max"], f"{field}.max"), GOOD
                else:
                    value, flag = math.nan, MISSING
                records.append(_Observation(station, "district", end, variable, value, flag))
        for section, variable in _JSON_VARIABLES.items():
            if section not in document or document[section] in ("", None):
                continue
            node = document[section]
            when = self.instant(
                self.get(node, f"{section}.recordTime", "recordTime"), f"{section}.recordTime"
            )
            expected = _JSON_UNITS[section][0]
            for index, item in self.items(
                self.get(node, f"{section}.data", "data"), f"{section}.data"
            ):
                field = f"{section}.data[{index}]"
                place = str(self.get(item, f"{field}.place", "place"))
                self.unit(item, field, expected)
                value = self.number(self.get(item, f"{field}.value", "value"), f"{field}.value")
                records.append(
                    _Observation(place, "automatic weather station", when, variable, value, GOOD)
                )
        return records

    def hourly_rainfall(self, document: dict[str, Any]) -> list[_Observation]:
        """``hourlyRainfall.php``."""
        when = self.instant(self.get(document, "obsTime", "obsTime"), "obsTime")
        records: list[_Observation] = []
        rows = self.get(document, "hourlyRainfall", "hourlyRainfall")
        for index, item in self.items(rows, "hourlyRainfall"):
            field = f"hourlyRainfall[{index}]"
            station = str(
                self.get(item, f"{field}.automaticWeatherStationID", "automaticWeatherStationID")
            )
            self.get(item, f"{field}.automaticWeatherStation", "automaticWeatherStation")
            self.unit(item, field, "mm")
            raw = self.get(item, f"{field}.value", "value")
            text = str(raw).strip()
            if text == "M":
                value, flag = math.nan, MAINTENANCE
            elif text == "Trace":
                value, flag = 0.0, TRACE
            else:
                try:
                    value, flag = float(text), GOOD
                except ValueError:
                    raise self.error(
                        f"field {field}.value = {raw!r} is not a number, 'M' or 'Trace'",
                        "check the feed",
                    ) from None
                if not math.isfinite(value) or value < 0:
                    raise self.error(f"field {field}.value = {raw!r} is not >= 0", "check the feed")
            records.append(
                _Observation(station, "automatic weather station", when, "pr", value, flag)
            )
        return records

    def regional_csv(self, text: str) -> list[_Observation]:
        """``hko_data/regional-weather/latest_*.csv``."""
        rows = list(csv.reader(io.StringIO(text)))
        header = [column.strip() for column in rows[0]]
        if tuple(header[:2]) != _CSV_KEYS or len(header) < 3:
            raise self.error(
                f"header {','.join(header)!r} does not start with 'Date time,Automatic Weather "
                "Station,<value>'",
                "this reader reads HKO regional-weather CSVs (latest_1min_temperature.csv ...)",
            )
        columns: list[tuple[int, str, str]] = []
        for index, name in enumerate(header[2:], start=2):
            if name in _CSV_IGNORED:
                continue
            if name not in _CSV_COLUMNS:
                raise self.error(
                    f"column {name!r} (header field {index + 1}) is not one this reader knows "
                    f"({', '.join(sorted(_CSV_COLUMNS))})",
                    "if HKO changed a column or its unit, update the reader's column table",
                )
            columns.append((index, *_CSV_COLUMNS[name]))
        records: list[_Observation] = []
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise self.error(
                    f"line {line}: {len(row)} fields, the header has {len(header)}",
                    "check the feed; the row cannot be matched to the header",
                )
            stamp = row[0].strip()
            if not re.fullmatch(r"\d{12}", stamp):
                raise self.error(
                    f"line {line}: 'Date time' = {stamp!r} is not YYYYmmddHHMM", "check the feed"
                )
            iso = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:]}{self.offset}"
            when = self.instant(iso, f"line {line} 'Date time'")
            station = row[1].strip()
            for index, variable, unit in columns:
                cell = row[index].strip()
                if cell in ("", "N/A"):
                    value, flag = math.nan, MISSING
                elif cell == "Calm" and variable == "sfcWind":
                    value, flag = 0.0, GOOD
                else:
                    try:
                        value, flag = float(cell), GOOD
                    except ValueError:
                        raise self.error(
                            f"line {line}: {header[index]!r} = {cell!r} is not a number or N/A",
                            "check the feed",
                        ) from None
                value = float(convert(value, unit, _VARIABLE_ATTRS[variable]["units"]))
                records.append(
                    _Observation(station, "automatic weather station", when, variable, value, flag)
                )
        return records


def _snapshots(folder: Path) -> tuple[list[_Snapshot], list[str]]:
    """Snapshot files under ``folder`` and the names of files that are not snapshots."""
    found: list[_Snapshot] = []
    strays: list[str] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        landed, replay = _LANDED.match(path.name), _REPLAY.match(path.name)
        if landed is not None:
            received = datetime.strptime(landed.group(1), "%Y%m%dT%H%M%SZ")
            digest, extension = landed.group(2), landed.group(3)
        elif replay is not None:
            received = datetime.strptime(replay.group(1), "%Y%m%dT%H%MZ")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            extension = replay.group(2)
        else:
            strays.append(str(relative))
            continue
        found.append(_Snapshot(path, received.replace(tzinfo=UTC), digest, extension))
    return found, strays


def _report(records: list[_Observation], snapshot: _Snapshot, source: str) -> xr.Dataset:
    """One snapshot's observations as a station-observation report with receipt attrs."""
    stations = sorted({(r.station, r.kind) for r in records})
    index = {station: i for i, (station, _) in enumerate(stations)}
    times = sorted({r.time for r in records})
    column = {when: i for i, when in enumerate(times)}
    variables = sorted({r.variable for r in records})
    shape = (len(stations), len(times))
    values = {v: np.full(shape, np.nan) for v in variables}
    flags = {v: np.full(shape, NOT_REPORTED, dtype=np.int8) for v in variables}
    seen: set[tuple[str, datetime, str]] = set()
    for r in records:
        key = (r.station, r.time, r.variable)
        if key in seen:
            raise SourceError(
                source,
                str(snapshot.path),
                f"station {r.station!r} reports {r.variable} at {r.time.isoformat()} twice",
                "check the feed; one snapshot gives one value per station and time",
            )
        seen.add(key)
        values[r.variable][index[r.station], column[r.time]] = r.value
        flags[r.variable][index[r.station], column[r.time]] = r.flag
    flag_attrs = {
        "standard_name": "status_flag",
        "flag_values": np.arange(len(FLAG_MEANINGS), dtype=np.int8),
        "flag_meanings": " ".join(FLAG_MEANINGS),
    }
    data_vars: dict[str, Any] = {}
    for v in variables:
        data_vars[v] = (
            ("station", "time"),
            values[v],
            dict(_VARIABLE_ATTRS[v], ancillary_variables=f"{v}_flag"),
        )
        data_vars[f"{v}_flag"] = (
            ("station", "time"),
            flags[v],
            dict(flag_attrs, long_name=f"quality flag of {v}"),
        )
    naive = np.asarray([t.replace(tzinfo=None) for t in times], dtype="datetime64[ns]")
    report = xr.Dataset(
        data_vars,
        coords={
            "time": ("time", naive, {"standard_name": "time", "long_name": "end of observation"}),
            "station_id": ("station", np.asarray([s for s, _ in stations], dtype=object)),
            "station_kind": ("station", np.asarray([k for _, k in stations], dtype=object)),
        },
    )
    return with_receipt(report, snapshot.received, snapshot.digest)


def read_station_metadata(
    path: Path, source: str
) -> dict[str, tuple[str, float, float, float, str]]:
    """Read a station metadata CSV into ``{station_id: (name, lat, lon, elevation_m, source)}``.

    Raises
    ------
    SourceError
        If the file is missing, its header is not
        ``station_id,station_name,lat,lon,elevation_m,source`` or a row is malformed.
    """
    expected = ["station_id", "station_name", "lat", "lon", "elevation_m", "source"]
    try:
        rows = list(csv.reader(io.StringIO(Path(path).read_text(encoding="utf-8-sig"))))
    except FileNotFoundError:
        raise SourceError(
            source, str(path), "station metadata file not found", "fix station_metadata"
        ) from None
    if not rows or [c.strip() for c in rows[0]] != expected:
        raise SourceError(
            source,
            str(path),
            f"header is not {','.join(expected)!r}",
            "write the station file with that header",
        )
    stations: dict[str, tuple[str, float, float, float, str]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or row[0].startswith("#"):
            continue
        try:
            identifier, name, lat, lon, elevation, cited = (c.strip() for c in row)
            position = (float(lat), float(lon), float(elevation))
        except ValueError:
            raise SourceError(
                source,
                str(path),
                f"line {line}: {','.join(row)!r} is not 6 fields with numbers",
                "fix the row (lat, lon in degrees; elevation_m in metres)",
            ) from None
        if not (-90 <= position[0] <= 90 and -180 <= position[1] <= 360) or not cited:
            raise SourceError(
                source,
                str(path),
                f"line {line}: position out of range or no source",
                "give WGS84 degrees and say where the position comes from",
            )
        stations[identifier] = (name, *position, cited)
    return stations


@register_reader
class HkoRegionalReader:
    """Reader of a folder of polled HKO open-data snapshots (rhrread, hourlyRainfall, CSVs)."""

    name: ClassVar[str] = "hko-regional"
    contract: ClassVar[str] = "station observations"
    Options: ClassVar[type[ReaderOptions]] = HkoRegionalOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read every snapshot under the folder ``path`` into one dataset.

        Parameters
        ----------
        path
            The raw folder of the source.
        options
            A :class:`HkoRegionalOptions`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            Station observations; attributes ``rejected_snapshots``, ``snapshots_read``,
            ``stations_without_coordinates`` and the merge counts of
            :func:`ingest.merge.merge_station_reports`.

        Raises
        ------
        SourceError
            If the folder is missing, holds no snapshot, or no snapshot could be read.
        """
        if not isinstance(options, HkoRegionalOptions):
            raise TypeError(f"expected HkoRegionalOptions, got {type(options).__name__}")
        folder = Path(path)
        if not folder.is_dir():
            raise SourceError(
                source, str(folder), "is not a folder", "give the raw folder of polled snapshots"
            )
        snapshots, strays = _snapshots(folder)
        rejected = [f"{name}: not named <YYYYmmddTHHMMSSZ>_<hash>.<json|csv>" for name in strays]
        for note in rejected:
            _LOG.warning("%s: file ignored: %s", source, note)
        reports: list[xr.Dataset] = []
        first_error: SourceError | None = None
        for snapshot in snapshots:
            try:
                records = _Parser(snapshot, source, options).parse()
                if not records:
                    raise SourceError(
                        source, str(snapshot.path), "holds no observations", "check the feed"
                    )
                reports.append(_report(records, snapshot, source))
            except SourceError as err:
                first_error = first_error or err
                rejected.append(f"{snapshot.path.relative_to(folder)}: {err.problem}")
                _LOG.warning("%s: snapshot rejected: %s", source, err)
        if not reports:
            if first_error is not None:
                raise first_error
            raise SourceError(
                source,
                str(folder),
                "holds no snapshots",
                "point the source at the raw folder the fetcher lands into",
            )
        merged = merge_station_reports(reports)
        merged = _with_positions(merged, options.station_metadata, source)
        merged.attrs.update(
            title="Hong Kong Observatory open-data station feeds",
            institution="Hong Kong Observatory",
            source=f"{len(reports)} snapshots under {folder.name}",
            references=(
                "https://data.weather.gov.hk/weatherAPI/doc/HKO_Open_Data_API_Documentation.pdf;"
                " DATA.GOV.HK terms: https://data.gov.hk/en/terms-and-conditions"
            ),
            snapshots_read=len(reports),
            rejected_snapshots="; ".join(rejected) if rejected else "none",
        )
        return validate_station_obs(merged)


def _with_positions(ds: xr.Dataset, metadata: Path | None, source: str) -> xr.Dataset:
    """Attach lat, lon, elevation and station_name from the station file (NaN if unknown)."""
    known = read_station_metadata(metadata, source) if metadata is not None else {}
    ids = [str(s) for s in ds["station_id"].values]
    rows = [known.get(s) for s in ids]
    missing = [s for s, row in zip(ids, rows, strict=True) if row is None]
    ds = ds.assign_coords(
        station_name=(
            "station",
            np.asarray(
                [
                    row[0] if row else s.removeprefix(_DISTRICT)
                    for s, row in zip(ids, rows, strict=True)
                ],
                dtype=object,
            ),
        ),
        lat=("station", [row[1] if row else np.nan for row in rows], {"units": "degrees_north"}),
        lon=("station", [row[2] if row else np.nan for row in rows], {"units": "degrees_east"}),
        elevation=("station", [row[3] if row else np.nan for row in rows], {"units": "m"}),
        position_source=(
            "station",
            np.asarray([row[4] if row else "unknown" for row in rows], dtype=object),
        ),
    )
    ds.attrs["station_metadata"] = str(metadata) if metadata is not None else "none given"
    ds.attrs["stations_without_coordinates"] = "; ".join(missing) if missing else "none"
    if missing:
        _LOG.warning(
            "%s: %d stations have no coordinates (NaN): %s",
            source,
            len(missing),
            ", ".join(missing),
        )
    return ds
