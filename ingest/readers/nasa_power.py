"""NASA POWER hourly point data (GeoJSON) → station observations.

Source
    ``obs/shenzhen_2023_0907/nasa_power_prectotcorr_20230907_20230909_utc.json``
    (SOURCES.md §4.2): the answer of the NASA POWER hourly API (``POWER Hourly API``) for
    ``PRECTOTCORR`` (bias-corrected precipitation) at 113.98 E, 22.56 N, 2023-09-07 to
    2023-09-09 UTC. POWER data are free to use; cite NASA POWER.

Format
    A GeoJSON ``Feature``: ``geometry`` is a ``Point`` ``[lon, lat, elevation_m]``;
    ``properties.parameter.<PARAM>`` maps ``"YYYYMMDDHH"`` to a value; ``header.fill_value``
    (``-999``) marks missing values; ``header.time_standard`` must be ``"UTC"``;
    ``parameters.<PARAM>.units`` gives the unit (``"mm/hour"``).

What a value means
    POWER's hourly precipitation is MERRA-2 ``tavg1`` output: the *mean rate* over one hour,
    labelled with the hour it *begins* (``2023090723`` covers 23:00-24:00Z). The value is a
    grid-cell mean over a cell of about 0.5° × 0.625°; it is coarse and underestimates
    convective peaks several-fold (SOURCES.md §4.2).

Output (contract "station observations")
    dims ``(station=1, time)``. ``pr`` is the amount in mm over each hour (rate in mm/h × 1 h)
    with ``cell_methods = "time: sum (interval: 1 hour)"``, labelled with the *end* of its
    hour, i.e. the API's label + 1 h. ``pr_flag`` is 0 ``good`` or 1 ``missing`` (the fill
    value; ``pr`` is NaN). Hours absent from the answer are absent from the dataset.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from pydantic import Field

from ingest.contracts import validate_station_obs
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.units import UnitsError, convert

__all__ = ["NasaPowerHourlyReader", "NasaPowerOptions"]

_INTERVAL = timedelta(hours=1)
_FLAG_MEANINGS = ("good", "missing")
_GOOD, _MISSING = range(len(_FLAG_MEANINGS))


class NasaPowerOptions(ReaderOptions):
    """Options of :class:`NasaPowerHourlyReader`.

    Parameters
    ----------
    station_id, station_name
        Identifier and name given to the point (POWER answers carry neither).
    parameter
        POWER precipitation parameter to read, default ``"PRECTOTCORR"``.
    """

    station_id: str = Field(min_length=1)
    station_name: str = Field(min_length=1)
    parameter: str = Field(default="PRECTOTCORR", min_length=1)


class _Answer:
    """Walks the decoded JSON, raising :class:`SourceError` that names the missing field."""

    def __init__(self, document: Any, source: str, location: str) -> None:
        self.document = document
        self.source = source
        self.location = location

    def error(self, problem: str, fix: str) -> SourceError:
        return SourceError(self.source, self.location, problem, fix)

    def get(self, *keys: str) -> Any:
        node = self.document
        for depth, key in enumerate(keys):
            if not isinstance(node, dict) or key not in node:
                field = ".".join(keys[: depth + 1])
                raise self.error(
                    f"field {field!r} is missing",
                    "save the full answer of the POWER hourly API (format=JSON)",
                )
            node = node[key]
        return node

    def number(self, value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(f"{field} = {value!r} is not a number", "check the API answer")
        return float(value)


@register_reader
class NasaPowerHourlyReader:
    """Reader of a NASA POWER hourly point answer (GeoJSON)."""

    name: ClassVar[str] = "nasa-power-hourly"
    contract: ClassVar[str] = "station observations"
    Options: ClassVar[type[ReaderOptions]] = NasaPowerOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the POWER answer at ``path`` into a station-observation dataset.

        Parameters
        ----------
        path
            The JSON file.
        options
            A :class:`NasaPowerOptions`.
        source
            Name of the source, for error messages.

        Returns
        -------
        xr.Dataset
            Hourly ``pr`` (mm per hour) and ``pr_flag`` on ``(station, time)``.

        Raises
        ------
        SourceError
            If the file is missing or not JSON, a field is missing or malformed, the time
            standard is not UTC or the unit is not a precipitation rate.
        """
        if not isinstance(options, NasaPowerOptions):
            raise TypeError(f"expected NasaPowerOptions, got {type(options).__name__}")
        answer = _Answer(_load(path, source), source, str(path))
        lon, lat, elevation = _point(answer)
        fill_value = answer.number(answer.get("header", "fill_value"), "header.fill_value")
        standard = answer.get("header", "time_standard")
        if standard != "UTC":
            raise answer.error(
                f"header.time_standard is {standard!r}, not 'UTC'",
                "request the data again with time-standard=UTC",
            )
        parameter = options.parameter
        series = answer.get("properties", "parameter", parameter)
        units = answer.get("parameters", parameter, "units")
        if not isinstance(series, dict) or not series:
            raise answer.error(
                f"properties.parameter.{parameter} holds no values", "check the request period"
            )
        times, rates = _hourly_series(answer, series, parameter)
        missing = rates == fill_value
        rates[missing] = np.nan
        try:
            per_hour = np.asarray(convert(rates, str(units), "mm/h"), dtype=np.float64)
        except UnitsError as err:
            raise answer.error(
                f"parameters.{parameter}.units: {err}",
                "read a precipitation-rate parameter (e.g. PRECTOTCORR in mm/hour)",
            ) from None
        amounts = per_hour * (_INTERVAL / timedelta(hours=1))
        flags = np.where(missing, _MISSING, _GOOD).astype(np.int8)
        dataset = _build_dataset(options, (lon, lat, elevation), times, amounts, flags)
        api = answer.get("header").get("api")
        api = api if isinstance(api, dict) else {}
        api_name = " ".join(str(api.get(k, "")) for k in ("name", "version")).strip()
        dataset.attrs.update(
            title=f"NASA POWER hourly {parameter} at {options.station_name}",
            source=f"{path.name}: NASA {api_name or 'POWER hourly API'}, {parameter} (MERRA-2)",
            institution="NASA Langley Research Center, POWER project",
            references="https://power.larc.nasa.gov/ (data free to use; cite NASA POWER)",
            comment=(
                "Value of a MERRA-2 grid cell of about 0.5 x 0.625 degrees, not a gauge: "
                "coarse, it underestimates convective peaks. Hourly mean rates labelled by "
                "the API with the start of the hour; here labelled with its end."
            ),
        )
        return validate_station_obs(dataset)


def _load(path: Path, source: str) -> Any:
    """Decode the JSON file, refusing duplicate keys (json would keep only the last)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise SourceError(
                    source, str(path), f"key {key!r} appears twice", "download the data again"
                )
            result[key] = value
        return result

    try:
        return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)
    except FileNotFoundError:
        raise SourceError(
            source, str(path), "file not found", "check the path in the source configuration"
        ) from None
    except json.JSONDecodeError as err:
        raise SourceError(
            source,
            str(path),
            f"is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})",
            "download the data again; a truncated or HTML error page is not an answer",
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise SourceError(source, str(path), f"cannot be read ({err})", "check the file") from None


def _point(answer: _Answer) -> tuple[float, float, float]:
    """Return lon, lat, elevation (m) of the GeoJSON point."""
    if answer.get("geometry", "type") != "Point":
        raise answer.error("geometry.type is not 'Point'", "request a single point")
    coordinates = answer.get("geometry", "coordinates")
    if not isinstance(coordinates, list) or len(coordinates) != 3:
        raise answer.error(
            f"geometry.coordinates = {coordinates!r} is not [lon, lat, elevation]",
            "save the full answer of the POWER point API",
        )
    lon, lat, elevation = (
        answer.number(value, f"geometry.coordinates[{index}]")
        for index, value in enumerate(coordinates)
    )
    return lon, lat, elevation


def _hourly_series(
    answer: _Answer, series: dict[str, Any], parameter: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return end-of-hour labels (``datetime64[ns]``) and values, sorted by time."""
    starts: list[datetime] = []
    values: list[float] = []
    for key, value in series.items():
        field = f"properties.parameter.{parameter}[{key!r}]"
        try:
            if len(key) != 10 or not key.isdigit():
                raise ValueError(key)
            starts.append(datetime.strptime(key, "%Y%m%d%H"))
        except ValueError:
            raise answer.error(
                f"{field}: time {key!r} is not YYYYMMDDHH", "check the API answer"
            ) from None
        number = answer.number(value, field)
        if not math.isfinite(number):
            raise answer.error(f"{field} = {value!r} is not finite", "check the API answer")
        values.append(number)
    order = np.argsort(np.asarray(starts, dtype="datetime64[ns]"), kind="stable")
    ends = np.asarray(starts, dtype="datetime64[ns]")[order] + np.timedelta64(_INTERVAL)
    return ends.astype("datetime64[ns]"), np.asarray(values, dtype=np.float64)[order]


def _build_dataset(
    options: NasaPowerOptions,
    point: tuple[float, float, float],
    times: np.ndarray,
    amounts: np.ndarray,
    flags: np.ndarray,
) -> xr.Dataset:
    """Assemble the contract dataset for one point."""
    lon, lat, elevation = point
    dims = ("station", "time")
    pr_attrs = {
        "standard_name": "lwe_thickness_of_precipitation_amount",
        "long_name": f"hourly precipitation ({options.parameter}, MERRA-2 grid cell)",
        "units": "mm",
        "cell_methods": "time: sum (interval: 1 hour)",
        "ancillary_variables": "pr_flag",
    }
    flag_attrs = {
        "long_name": "quality flag of pr",
        "standard_name": "status_flag",
        "flag_values": np.arange(len(_FLAG_MEANINGS), dtype=np.int8),
        "flag_meanings": " ".join(_FLAG_MEANINGS),
    }
    return xr.Dataset(
        data_vars={
            "pr": (dims, amounts[np.newaxis, :], pr_attrs),
            "pr_flag": (dims, flags[np.newaxis, :], flag_attrs),
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "long_name": "end of hour"}),
            "station_id": ("station", [options.station_id]),
            "station_name": ("station", [options.station_name]),
            "lat": ("station", [lat], {"units": "degrees_north"}),
            "lon": ("station", [lon], {"units": "degrees_east"}),
            "elevation": (
                "station",
                [elevation],
                {"units": "m", "comment": "from geometry.coordinates"},
            ),
        },
    )
