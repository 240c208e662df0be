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
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xarray as xr
from pydantic import field_validator

from ingest.contracts import validate_station_obs
from ingest.errors import SourceError
from ingest.http import parse_snapshot_name
from ingest.merge import merge_station_reports, with_receipt
from ingest.readers import ReaderOptions, register_reader
from ingest.readers._hko_formats import (
    _DISTRICT,
    _VARIABLE_ATTRS,
    FLAG_MEANINGS,
    NOT_REPORTED,
    _Observation,
    _Parser,
    _Snapshot,
)
from ingest.units import parse_quantity

__all__ = ["HkoRegionalOptions", "HkoRegionalReader", "read_station_metadata"]

_LOG = logging.getLogger(__name__)


_REPLAY = re.compile(r"^(\d{8}T\d{4}Z)\.(json|csv)$")
_OFFSET = re.compile(r"^[+-]\d{2}:\d{2}$")


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


def _files_under(folder: Path) -> list[Path]:
    """The files under ``folder`` and its subfolders, hidden ones left out, sorted."""
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]


def _snapshots(folder: Path, files: Sequence[Path]) -> tuple[list[_Snapshot], list[str]]:
    """The snapshots among ``files`` (under ``folder``) and the names of the files that
    are not snapshots."""
    found: list[_Snapshot] = []
    strays: list[str] = []
    for path in files:
        relative = path.relative_to(folder)
        landed, replay = parse_snapshot_name(path.name), _REPLAY.match(path.name)
        if landed is not None and landed.extension in ("json", "csv"):
            found.append(_Snapshot(path, landed.received, landed.digest, landed.extension))
        elif replay is not None:
            received = datetime.strptime(replay.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
            found.append(_Snapshot(path, received, digest, replay.group(2)))
        else:
            strays.append(str(relative))
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
        return self.read_files(path, self.inputs(path, options, source), options, source)

    def inputs(self, path: Path, options: ReaderOptions, source: str) -> list[Path]:
        """The files under the folder ``path`` (its endpoint subfolders included), sorted."""
        if not isinstance(options, HkoRegionalOptions):
            raise TypeError(f"expected HkoRegionalOptions, got {type(options).__name__}")
        folder = Path(path)
        if not folder.is_dir():
            raise SourceError(
                source, str(folder), "is not a folder", "give the raw folder of polled snapshots"
            )
        return _files_under(folder)

    def read_files(
        self, path: Path, files: Sequence[Path], options: ReaderOptions, source: str
    ) -> xr.Dataset:
        """Read the snapshots ``files`` under the folder ``path`` (see :meth:`read`)."""
        if not isinstance(options, HkoRegionalOptions):
            raise TypeError(f"expected HkoRegionalOptions, got {type(options).__name__}")
        folder = Path(path)
        snapshots, strays = _snapshots(folder, files)
        rejected = [f"{name}: not named <YYYYmmddTHHMMSSZ>_<hash>.<json|csv>" for name in strays]
        for note in rejected:
            _LOG.warning("%s: file ignored: %s", source, note)
        reports: list[xr.Dataset] = []
        first_error: SourceError | None = None
        for snapshot in snapshots:
            try:
                records = _Parser(
                    snapshot, source, options.csv_utc_offset, options.future_tolerance
                ).parse()
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
