"""The formats of the Hong Kong Observatory open-data feeds: parsing one snapshot.

Private to :mod:`ingest.readers.hko_regional`, whose docstring describes the feeds
(``rhrread`` JSON, ``hourlyRainfall`` JSON, the regional-weather CSVs). A
:class:`_Parser` turns one snapshot into :class:`_Observation` records or raises a
:class:`~ingest.errors.SourceError` naming the file and the field.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ingest.errors import SourceError
from ingest.units import convert, parse_quantity

FLAG_MEANINGS = ("good", "missing", "maintenance", "trace", "not_reported")
GOOD, MISSING, MAINTENANCE, TRACE, NOT_REPORTED = range(len(FLAG_MEANINGS))

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

    def __init__(
        self, snapshot: _Snapshot, source: str, csv_utc_offset: str, future_tolerance: str
    ) -> None:
        self.snapshot = snapshot
        self.source = source
        self.offset = csv_utc_offset
        self.latest = snapshot.received + timedelta(seconds=parse_quantity(future_tolerance, "s"))

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
