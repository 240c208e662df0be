"""A station network's own table (CSV or Parquet) → station observations, by column map.

This is how a city's automatic-weather-station network is plugged in without code: the
configuration says which column holds what, in which unit and time zone.

Options (see :class:`StationTableOptions`)
    ``station_id``, ``time``
        Column names of the station identifier and the observation time.
    ``timezone``
        Zone of times written without an offset (IANA name such as ``Asia/Shanghai`` or a
        fixed offset ``+08:00``). Times that carry an offset are converted from it. Without
        this option a time without an offset is an error: local time is ambiguous.
    ``time_label``
        ``end`` (default) if an accumulation is labelled with the end of its interval,
        ``start`` if with its beginning (the label is then moved to the end).
    ``lat``, ``lon``, ``elevation`` or ``stations``
        Coordinates as columns of the table, or a separate station table (CSV/Parquet) with
        the columns named by ``station_columns``.
    ``variables``
        CF name (``pr``, ``tas``, ``hurs``, ``sfcWind``, ``wsgsmax``, ``psl``) → column, the
        column's units, and for ``pr`` its accumulation ``interval``, for winds their
        ``averaging_period``.

Output (contract "station observations")
    dims ``(station, time)``, stations sorted by id, times sorted; values converted to the
    canonical units (the original unit is kept in the ``source_units`` attribute);
    ``<name>_flag`` is ``good``, ``missing`` (empty cell or a missing-value code) or
    ``unreadable`` (a cell that is not a number: the value is NaN, the count is in the
    dataset attribute ``unreadable_cells``).

Rows that cannot be placed (unparseable time, unknown station) are left out, listed in the
attribute ``rejected_rows`` and logged as a warning; the other rows are kept. Several rows
for the same station and time (late or repeated reports) are merged deterministically:
per variable the last non-missing value in file order wins (files are read in name
order), and the number of conflicting duplicates is in ``duplicate_conflicts``.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ingest.contracts import CANONICAL_UNITS, validate_station_obs
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, read_each, register_reader, rejected_files_text
from ingest.units import UnitsError, convert, parse_duration

__all__ = ["StationColumns", "StationTableOptions", "StationTableReader", "VariableColumn"]

_LOG = logging.getLogger(__name__)
_FLAG_MEANINGS = ("good", "missing", "unreadable")
_GOOD, _MISSING, _UNREADABLE = range(len(_FLAG_MEANINGS))
_WIND = ("sfcWind", "wsgsmax")
_MAX_LISTED = 20


class VariableColumn(BaseModel):
    """Where one CF variable is in the table and what its numbers mean."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str = Field(min_length=1)
    units: str = Field(min_length=1)
    interval: str | None = None
    averaging_period: str | None = None

    @field_validator("units")
    @classmethod
    def _known_units(cls, value: str) -> str:
        convert(1.0, value, value)  # raises UnitsError naming an unknown unit
        return value

    @field_validator("interval", "averaging_period")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class StationColumns(BaseModel):
    """Column names of a separate station table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    station_id: str = "station_id"
    lat: str = "lat"
    lon: str = "lon"
    elevation: str = "elevation"
    name: str | None = None


class StationTableOptions(ReaderOptions):
    """Options of :class:`StationTableReader` (see the module docstring)."""

    format: Literal["auto", "csv", "parquet"] = "auto"
    pattern: str | None = None
    station_id: str = Field(min_length=1)
    time: str = Field(min_length=1)
    time_format: str | None = None
    timezone: str | None = None
    time_label: Literal["end", "start"] = "end"
    lat: str | None = None
    lon: str | None = None
    elevation: str | None = None
    elevation_units: str = "m"
    stations: Path | None = None
    station_columns: StationColumns = StationColumns()
    variables: dict[str, VariableColumn] = Field(min_length=1)
    missing_values: tuple[str, ...] = ("", "NA", "N/A", "NaN", "nan", "null", "-9999", "-999")

    @field_validator("variables")
    @classmethod
    def _cf_names(cls, value: dict[str, VariableColumn]) -> dict[str, VariableColumn]:
        for name, column in value.items():
            if name not in CANONICAL_UNITS:
                raise ValueError(
                    f"variable {name!r} is not a CF name of the station contract; use one of "
                    f"{sorted(CANONICAL_UNITS)}"
                )
            convert(1.0, column.units, CANONICAL_UNITS[name])  # raises UnitsError if wrong
            if name == "pr" and column.interval is None:
                raise ValueError("pr needs 'interval' (e.g. '1 h'): the accumulation period")
            if name in _WIND and column.averaging_period is None:
                raise ValueError(f"{name} needs 'averaging_period' (e.g. '10 min', '2 min')")
        return value

    @model_validator(mode="after")
    def _coordinates(self) -> StationTableOptions:
        in_table = [self.lat, self.lon, self.elevation]
        if self.stations is None and None in in_table:
            raise ValueError(
                "give the coordinate columns 'lat', 'lon' and 'elevation', or a 'stations' "
                "table holding them"
            )
        if self.stations is not None and any(c is not None for c in in_table):
            raise ValueError("give coordinates either as columns or as 'stations', not both")
        if self.timezone is not None:
            _zone_offset_check(self.timezone)
        return self


def _zone_offset_check(zone: str) -> None:
    try:
        pd.Timestamp("2000-01-01").tz_localize(_tz(zone))
    except (ValueError, KeyError) as err:
        raise ValueError(
            f"timezone {zone!r} is not an IANA zone or an offset like '+08:00' ({err})"
        ) from None


def _tz(zone: str) -> Any:
    if zone[:1] in "+-":
        return pd.Timestamp(f"2000-01-01T00:00{zone}").tzinfo
    return zone


@register_reader
class StationTableReader:
    """Reader of a CSV/Parquet table of station reports, configured by a column map."""

    name: ClassVar[str] = "station-table"
    contract: ClassVar[str] = "station observations"
    Options: ClassVar[type[ReaderOptions]] = StationTableOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read the table file (or the files matching ``pattern`` in a folder) at ``path``.

        Raises
        ------
        SourceError
            If a file cannot be read, a configured column is missing, no row can be
            placed, or times lack a zone and no ``timezone`` is configured. The message names
            the file, the column and the fix.
        """
        return self.read_files(path, self.inputs(path, options, source), options, source)

    def inputs(self, path: Path, options: ReaderOptions, source: str) -> list[Path]:
        """The files matching the ``pattern`` option in the folder ``path`` (sorted), or
        ``[path]`` for one file."""
        if not isinstance(options, StationTableOptions):
            raise TypeError(f"expected StationTableOptions, got {type(options).__name__}")
        return _files(Path(path), options, source)

    def read_files(
        self, path: Path, files: Sequence[Path], options: ReaderOptions, source: str
    ) -> xr.Dataset:
        """Read ``files`` of the folder ``path`` (see :meth:`read`)."""
        if not isinstance(options, StationTableOptions):
            raise TypeError(f"expected StationTableOptions, got {type(options).__name__}")
        if not files:
            raise SourceError(source, str(path), "no file to read", "check the 'pattern' option")
        rejected: list[str] = []

        def read_one(file: Path) -> tuple[Path, pd.DataFrame]:
            rows_left_out: list[str] = []
            table = _read_table(file, options, source, rows_left_out)
            _require_columns(table, _wanted_columns(options), file, source)
            rejected.extend(rows_left_out)  # only the rows of a file that was read
            return file, table

        tables, rejected_files = read_each(files, read_one, source)
        files = [file for file, _ in tables]
        rows = pd.concat(
            [table.assign(_file=order) for order, (_, table) in enumerate(tables)],
            ignore_index=True,
        )
        rows["_time"] = _parse_times(rows, options, files, rejected, source)
        rows = rows[rows["_time"].notna()]
        stations = _station_table(rows, options, source, Path(path))
        known = rows[options.station_id].astype(str).str.strip().isin(stations.index)
        for _, row in rows[~known].iterrows():
            rejected.append(
                f"{files[int(row['_file'])].name} line {row['_line']}: station "
                f"{row[options.station_id]!r} has no coordinates"
            )
        rows = rows[known]
        if rows.empty:
            raise SourceError(
                source,
                str(path),
                "no row could be placed (every time or station was rejected: "
                + "; ".join(rejected[:3])
                + ")",
                "check the 'time', 'timezone' and station options against the table",
            )
        dataset = _build(rows, stations, options, source, files)
        dataset.attrs["rejected_rows"] = _summarise(rejected)
        dataset.attrs["rejected_files"] = rejected_files_text(rejected_files)
        if rejected:
            _LOG.warning("source %r: %d rows rejected: %s", source, len(rejected), rejected[:3])
        return validate_station_obs(dataset)


def _files(path: Path, options: StationTableOptions, source: str) -> list[Path]:
    if path.is_dir():
        if not options.pattern:
            raise SourceError(
                source, str(path), "is a folder", "set 'pattern' (e.g. '*.csv') or name a file"
            )
        files = sorted(path.glob(options.pattern))
        if not files:
            raise SourceError(
                source, str(path), f"holds no file matching {options.pattern!r}", "check it"
            )
        return files
    if not path.exists():
        raise SourceError(source, str(path), "file not found", "check the source's path")
    return [path]


def _read_table(
    file: Path, options: StationTableOptions, source: str, rejected: list[str] | None = None
) -> pd.DataFrame:
    """The table as strings (CSV) or typed columns (Parquet), with a ``_line`` column.

    A CSV row with the wrong number of fields is left out and listed in ``rejected``.
    """
    kind = options.format
    if kind == "auto":
        kind = "parquet" if file.suffix.lower() in (".parquet", ".pq") else "csv"
    try:
        if kind == "parquet":
            table = pd.read_parquet(file)
            table = table.astype({c: str for c in table.columns if table[c].dtype == object})
            return table.assign(_line=np.arange(len(table)) + 1)
        with open(file, encoding="utf-8-sig", newline="") as handle:
            records = list(csv.reader(handle, skipinitialspace=True))
    except (OSError, ValueError, UnicodeDecodeError, csv.Error) as err:
        raise SourceError(
            source,
            str(file),
            f"cannot be read as {kind} ({type(err).__name__}: {err})",
            "check the file is complete and the 'format' option",
        ) from None
    if not records:
        raise SourceError(source, str(file), "is empty", "check the export or download")
    header = [name.strip() for name in records[0]]
    kept, lines = [], []
    for line, record in enumerate(records[1:], start=2):
        if not record:
            continue
        if len(record) != len(header):
            if rejected is not None:
                rejected.append(
                    f"{file.name} line {line}: {len(record)} fields, the header has {len(header)}"
                )
            continue
        kept.append(record)
        lines.append(line)
    table = pd.DataFrame(kept, columns=header, dtype=str)
    return table.assign(_line=np.asarray(lines, dtype=int))


def _wanted_columns(options: StationTableOptions) -> list[str]:
    columns = [options.station_id, options.time]
    columns += [c for c in (options.lat, options.lon, options.elevation) if c]
    columns += [v.column for v in options.variables.values()]
    return columns


def _require_columns(table: pd.DataFrame, columns: list[str], file: Path, source: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise SourceError(
            source,
            str(file),
            f"column(s) {missing} missing; the table has {list(map(str, table.columns))}",
            "fix the column map in the source's options or the table's header",
        )


_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)$")


def _parse_times(
    rows: pd.DataFrame,
    options: StationTableOptions,
    files: list[Path],
    rejected: list[str],
    source: str,
) -> pd.Series:
    """UTC times (naive ``datetime64[ns]``), NaT where a row's time cannot be read.

    Vectorised: times with an offset are converted from it, times without one are
    localised in ``options.timezone`` (an ambiguous or non-existent local time, at a
    daylight-saving change, is rejected rather than guessed).
    """
    raw = rows[options.time]
    times = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        aware = raw.dt.tz is not None
        text = raw.astype(str)
        if aware:
            times = raw.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
            naive = pd.Series(False, index=rows.index)
        else:
            naive = raw.notna()
    else:
        text = raw.astype(str).str.strip()
        has_offset = text.str.contains(_OFFSET)
        naive = ~has_offset & (text != "")
        form = options.time_format or "ISO8601"
        if has_offset.any():
            parsed = pd.to_datetime(text[has_offset], utc=True, format=form, errors="coerce")
            times[has_offset] = parsed.dt.tz_localize(None).astype("datetime64[ns]")
    if naive.any():
        if options.timezone is None:
            first: Any = naive.idxmax()
            raise SourceError(
                source,
                _where(rows, first, files),
                f"column {options.time!r} holds {text.loc[first]!r}, a time without a timezone",
                "set the 'timezone' option (e.g. Asia/Shanghai or +08:00) or write offsets",
            )
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            local = raw[naive]
        else:
            local = pd.to_datetime(
                text[naive], format=options.time_format or "ISO8601", errors="coerce"
            )
        localised = local.dt.tz_localize(_tz(options.timezone), ambiguous="NaT", nonexistent="NaT")
        times[naive] = localised.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    for index in times.index[times.isna()]:
        reason = "is not a time"
        if options.timezone is not None and bool(naive[index]):
            try:
                pd.Timestamp(text[index])
                reason = f"is ambiguous or does not exist in {options.timezone}"
            except ValueError:
                pass
        rejected.append(f"{_where(rows, index, files)}: {options.time} {text[index]!r} {reason}")
    if options.time_label == "start" and "pr" in options.variables:
        interval = parse_duration(options.variables["pr"].interval)
        times = times + pd.Timedelta(interval)
    return times


def _where(rows: pd.DataFrame, index: Any, files: list[Path]) -> str:
    file_index, line = rows.loc[index, ["_file", "_line"]].astype(int).tolist()
    return f"{files[file_index].name} line {line}"


def _station_table(
    rows: pd.DataFrame, options: StationTableOptions, source: str, location: Path
) -> pd.DataFrame:
    """Per station: lat, lon, elevation (m), name; indexed by station id (str)."""
    if options.stations is not None:
        table = _read_table(options.stations, options, source)
        names = options.station_columns
        wanted = [names.station_id, names.lat, names.lon, names.elevation]
        _require_columns(
            table, wanted + ([names.name] if names.name else []), options.stations, source
        )
        meta = pd.DataFrame(
            {
                "station_id": table[names.station_id].astype(str).str.strip(),
                "lat": table[names.lat],
                "lon": table[names.lon],
                "elevation": table[names.elevation],
                "name": table[names.name] if names.name else table[names.station_id],
            }
        )
        origin = options.stations
    else:
        assert options.lat and options.lon and options.elevation
        meta = pd.DataFrame(
            {
                "station_id": rows[options.station_id].astype(str).str.strip(),
                "lat": rows[options.lat],
                "lon": rows[options.lon],
                "elevation": rows[options.elevation],
                "name": rows[options.station_id].astype(str).str.strip(),
            }
        )
        origin = location
    for column in ("lat", "lon", "elevation"):
        numbers = pd.to_numeric(meta[column], errors="coerce")
        bad = meta[column][numbers.isna()]
        if len(bad):
            raise SourceError(
                source,
                str(origin),
                f"station {meta['station_id'][bad.index[0]]!r}: {column} {bad.iloc[0]!r} is "
                "not a number",
                "every station needs numeric lat, lon (degrees) and elevation",
            )
        meta[column] = numbers.astype(float)
    meta["elevation"] = np.asarray(
        convert(meta["elevation"].to_numpy(), options.elevation_units, "m"), dtype=float
    )
    # One row per station: coordinates must agree wherever they are repeated.
    grouped = meta.groupby("station_id", sort=True)
    spread = grouped[["lat", "lon", "elevation"]].max() - grouped[["lat", "lon", "elevation"]].min()
    moving = spread[(spread > 1e-6).any(axis=1)]
    if len(moving):
        raise SourceError(
            source,
            str(origin),
            f"station {moving.index[0]!r} has different coordinates on different rows",
            "one station id must keep one position; give a moved station a new id",
        )
    return grouped.first()


def _numbers(values: pd.Series, missing_codes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers and flags of a column of cells (strings or numbers)."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype=float)
        flags = np.where(np.isnan(numbers), _MISSING, _GOOD)
        codes = {float(c) for c in missing_codes if _is_number(c)}
        is_code = np.isin(numbers, list(codes))
        numbers[is_code] = np.nan
        return numbers, np.where(is_code, _MISSING, flags)
    text = values.astype(str).str.strip()
    missing = text.isin(missing_codes).to_numpy()
    numbers = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)
    unreadable = np.isnan(numbers) & ~missing
    flags = np.where(missing, _MISSING, np.where(unreadable, _UNREADABLE, _GOOD))
    return numbers, flags


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _build(
    rows: pd.DataFrame,
    stations: pd.DataFrame,
    options: StationTableOptions,
    source: str,
    files: list[Path],
) -> xr.Dataset:
    frame = pd.DataFrame(
        {"station": rows[options.station_id].astype(str).str.strip(), "time": rows["_time"]}
    )
    flags_of: dict[str, np.ndarray] = {}
    unreadable = 0
    for name, spec in options.variables.items():
        numbers, flags = _numbers(rows[spec.column], options.missing_values)
        unreadable += int((flags == _UNREADABLE).sum())
        try:
            frame[name] = np.asarray(convert(numbers, spec.units, CANONICAL_UNITS[name]), float)
        except UnitsError as err:
            raise SourceError(source, str(files[0]), f"{name}: {err}", "fix 'units'") from None
        flags_of[name] = flags
        frame[f"{name}_flag"] = flags
    # Deterministic merge of repeated reports: rows are in file order then line order; for
    # each variable the last non-missing value wins (groupby.last skips NaN).
    keys = ["station", "time"]
    conflicts = 0
    for name in options.variables:
        distinct = frame.dropna(subset=[name]).groupby(keys)[name].nunique()
        conflicts += int((distinct > 1).sum())
    merged = frame.groupby(keys, sort=True).last()
    for name in options.variables:
        # The flag follows the value: good where a value survived, else the last flag seen.
        merged[f"{name}_flag"] = np.where(
            merged[name].notna(), _GOOD, merged[f"{name}_flag"]
        ).astype(np.int8)
    duplicates = len(frame) - len(merged)
    grid = merged.to_xarray()
    data_vars: dict[str, Any] = {}
    for name, spec in options.variables.items():
        attrs: dict[str, Any] = {
            "units": CANONICAL_UNITS[name],
            "source_units": spec.units,
            "source_column": spec.column,
            "ancillary_variables": f"{name}_flag",
        }
        if spec.interval is not None:
            attrs["cell_methods"] = f"time: sum (interval: {spec.interval})"
        if spec.averaging_period is not None:
            attrs["averaging_period"] = spec.averaging_period
        values = grid[name].transpose("station", "time").astype(np.float64)
        flag = grid[f"{name}_flag"].transpose("station", "time")
        # Station-time pairs with no row at all are missing, not invented.
        flag = flag.fillna(_MISSING).astype(np.int8)
        data_vars[name] = values.assign_attrs(attrs)
        data_vars[f"{name}_flag"] = flag.assign_attrs(
            long_name=f"quality flag of {name} as delivered",
            standard_name="status_flag",
            flag_values=np.arange(len(_FLAG_MEANINGS), dtype=np.int8),
            flag_meanings=" ".join(_FLAG_MEANINGS),
        )
    ids = grid["station"].values.astype(str)
    meta = stations.loc[ids]
    dataset = xr.Dataset(data_vars).assign_coords(
        station_id=("station", ids),
        station_name=("station", meta["name"].astype(str).to_numpy()),
        lat=("station", meta["lat"].to_numpy(), {"units": "degrees_north"}),
        lon=("station", meta["lon"].to_numpy(), {"units": "degrees_east"}),
        elevation=("station", meta["elevation"].to_numpy(), {"units": "m"}),
    )
    dataset = dataset.drop_vars("station")
    dataset.attrs.update(
        title=f"station reports of {source}",
        source=", ".join(f.name for f in files),
        duplicate_reports=duplicates,
        duplicate_conflicts=conflicts,
        unreadable_cells=unreadable,
    )
    return dataset


def _summarise(rejected: list[str]) -> str:
    if not rejected:
        return "none"
    listed = "; ".join(rejected[:_MAX_LISTED])
    more = len(rejected) - _MAX_LISTED
    return f"{len(rejected)}: {listed}" + (f"; and {more} more" if more > 0 else "")
