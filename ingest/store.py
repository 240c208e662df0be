"""The ingest store: NetCDF partitions by source and reference time, with a catalogue.

Layout under the store root::

    <root>/catalogue.sqlite                                   one row per partition
    <root>/<source>/<YYYY>/<MM>/<source>_<YYYYmmddTHHMMSSZ>.nc one partition

A *partition* holds what one source says for one reference time: a radar frame, the
station reports for one observation time, one NWP run, one forecast-track bulletin. It is
written atomically (temporary file, then rename, :mod:`ingest.storage`) with a fixed
encoding and no wall-clock attribute, so writing the same data twice gives the same bytes;
a write whose bytes equal the partition already stored leaves the file untouched.

Each partition records when its data became *available* (``available_at``: the reference
time plus the source's latency, or the receive time of the raw input) and whether it is
*complete* (the caller's rule: all lead times present, enough stations reporting ...). The
catalogue answers "the latest complete partition of source X as of time T" using
``available_at <= T``, so a replay at T never sees data that arrived after T.

The catalogue is an index, not the truth: every fact in it is also a global attribute of
the partition file (``yujing_source``, ``yujing_reference_time``, ``yujing_available_at``,
``yujing_complete``), and :meth:`PartitionStore.rebuild_catalogue` re-derives it from the
files after a crash between the rename and the catalogue update.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import xarray as xr

from ingest.contracts import utc_instant
from ingest.errors import DataError, LookAheadError
from ingest.storage import write_netcdf_if_changed

__all__ = ["Partition", "PartitionStore", "StoreError", "WriteResult", "partition_encoding"]

_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_STAMP = "%Y%m%dT%H%M%SZ"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS partition (
    source         TEXT NOT NULL,
    reference_time TEXT NOT NULL,
    path           TEXT NOT NULL,
    available_at   TEXT NOT NULL,
    complete       INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    size           INTEGER NOT NULL,
    PRIMARY KEY (source, reference_time)
)
"""


class StoreError(DataError):
    """The store cannot do what was asked (bad source name, missing partition ...)."""


@dataclass(frozen=True)
class Partition:
    """One stored partition, as the catalogue knows it."""

    source: str
    reference_time: datetime
    path: Path
    available_at: datetime
    complete: bool
    sha256: str
    size: int


@dataclass(frozen=True)
class WriteResult:
    """What :meth:`PartitionStore.write` did: ``written``, ``unchanged`` or ``replaced``."""

    partition: Partition
    action: str


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def partition_encoding(dataset: xr.Dataset) -> dict[str, dict[str, object]]:
    """Return the fixed NetCDF encoding of a partition.

    Floats and integers are zlib-compressed (level 4, shuffled); floats use NaN as fill;
    times are ``int64`` seconds since 1970-01-01 (sub-second times are refused by
    :meth:`PartitionStore.write`). The encoding depends only on the variables' dtypes, so
    equal datasets give equal bytes.
    """
    encoding: dict[str, dict[str, object]] = {}
    for name, variable in dataset.variables.items():
        kind = variable.dtype.kind
        if kind == "M":
            encoding[str(name)] = {"units": "seconds since 1970-01-01", "dtype": "int64"}
        elif kind == "m":
            encoding[str(name)] = {"units": "seconds", "dtype": "int64"}
        elif kind == "f":
            encoding[str(name)] = {
                "zlib": True,
                "complevel": 4,
                "shuffle": True,
                "_FillValue": np.nan,
            }
        elif kind in "iub" and variable.ndim > 0 and name not in dataset.dims:
            encoding[str(name)] = {"zlib": True, "complevel": 4, "shuffle": True}
    return encoding


def _without_encoding(dataset: xr.Dataset) -> xr.Dataset:
    """A copy whose variables forget where they were read from (encodings differ by origin)."""
    clean = dataset.copy()
    for variable in clean.variables.values():
        variable.encoding = {}
    clean.encoding = {}
    return clean


class PartitionStore:
    """NetCDF partitions under ``root`` with a SQLite catalogue.

    Parameters
    ----------
    root
        Folder of the store; created on first write.

    Examples
    --------
    >>> store = PartitionStore(tmp)  # doctest: +SKIP
    >>> store.write_steps("knmi_radar", radar, "time", latency=timedelta(minutes=3))  # +SKIP
    >>> store.latest_complete("knmi_radar", as_of=issue_time)  # doctest: +SKIP
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- catalogue ---------------------------------------------------------------------

    @contextmanager
    def _catalogue(self) -> Iterator[sqlite3.Connection]:
        self.root.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.root / "catalogue.sqlite", timeout=30)) as connection:
            connection.execute(_SCHEMA)
            with connection:
                yield connection

    def _row_to_partition(self, row: tuple[str, str, str, str, int, str, int]) -> Partition:
        source, reference, path, available, complete, sha256, size = row
        return Partition(
            source=source,
            reference_time=_from_iso(reference),
            path=self.root / path,
            available_at=_from_iso(available),
            complete=bool(complete),
            sha256=sha256,
            size=size,
        )

    def partitions(
        self,
        source: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        as_of: datetime | None = None,
        complete_only: bool = False,
    ) -> list[Partition]:
        """Partitions of ``source`` with ``start < reference_time <= end``, oldest first.

        ``as_of`` keeps only partitions available by then (``available_at <= as_of``) whose
        reference time is not after it either.
        """
        _check_source(source)
        query = (
            "SELECT source, reference_time, path, available_at, complete, sha256, size "
            "FROM partition WHERE source = ?"
        )
        arguments: list[object] = [source]
        if start is not None:
            query += " AND reference_time > ?"
            arguments.append(_iso(utc_instant(start, "start")))
        if end is not None:
            query += " AND reference_time <= ?"
            arguments.append(_iso(utc_instant(end, "end")))
        if as_of is not None:
            limit = _iso(utc_instant(as_of, "as_of"))
            query += " AND available_at <= ? AND reference_time <= ?"
            arguments += [limit, limit]
        if complete_only:
            query += " AND complete = 1"
        query += " ORDER BY reference_time"
        with self._catalogue() as connection:
            rows = connection.execute(query, arguments).fetchall()
        return [self._row_to_partition(row) for row in rows]

    def latest_complete(self, source: str, as_of: datetime) -> Partition | None:
        """The newest complete partition of ``source`` available at ``as_of``, or ``None``."""
        found = self.partitions(source, as_of=as_of, complete_only=True)
        return found[-1] if found else None

    def rebuild_catalogue(self) -> int:
        """Re-derive the catalogue from the partition files; return how many were indexed."""
        rows = []
        for path in sorted(self.root.glob("*/*/*/*.nc")):
            with netCDF4.Dataset(path) as handle:
                attrs = {name: handle.getncattr(name) for name in handle.ncattrs()}
            if "yujing_source" not in attrs:
                continue
            rows.append(
                (
                    str(attrs["yujing_source"]),
                    str(attrs["yujing_reference_time"]),
                    str(path.relative_to(self.root)),
                    str(attrs["yujing_available_at"]),
                    int(str(attrs["yujing_complete"]) == "true"),
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    path.stat().st_size,
                )
            )
        with self._catalogue() as connection:
            connection.execute("DELETE FROM partition")
            connection.executemany("INSERT INTO partition VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def prunable(self, source: str, before: datetime) -> list[Path]:
        """The partition files of ``source`` with a reference time before ``before``, except
        the newest complete one (the answer to "latest complete as of now" is kept however
        old it is), including files no catalogue row names (found by their name's time)."""
        _check_source(source)
        limit = utc_instant(before, "before")
        newest = self.latest_complete(source, datetime.max.replace(tzinfo=UTC))
        kept = newest.path if newest is not None else None
        doomed = {
            p.path
            for p in self.partitions(source, end=limit)
            if p.reference_time < limit and p.path != kept
        }
        for path in (self.root / source).glob(f"*/*/{source}_*.nc"):
            try:
                when = datetime.strptime(path.stem.removeprefix(f"{source}_"), _STAMP)
            except ValueError:
                continue
            if when.replace(tzinfo=UTC) < limit and path != kept:
                doomed.add(path)
        return sorted(doomed)

    def delete(self, source: str, paths: list[Path]) -> None:
        """Delete the partition files ``paths`` of ``source`` (from :meth:`prunable`).

        The catalogue rows go first, in one transaction, then the files: a crash between
        leaves files no row points to, never a row without its file, and the next prune
        finds such files by the time in their names. Emptied month and year folders are
        removed.
        """
        if not paths:
            return
        relative = [(source, str(path.relative_to(self.root))) for path in paths]
        with self._catalogue() as connection:
            connection.executemany("DELETE FROM partition WHERE source = ? AND path = ?", relative)
        for path in paths:
            path.unlink(missing_ok=True)
        for month in sorted({path.parent for path in paths}):
            for folder in (month, month.parent):
                if folder.is_dir() and not any(folder.iterdir()):
                    folder.rmdir()

    def prune(self, source: str, before: datetime) -> list[Path]:
        """Delete :meth:`prunable` partitions of ``source`` and return their files."""
        doomed = self.prunable(source, before)
        self.delete(source, doomed)
        return doomed

    # -- writing -----------------------------------------------------------------------

    def path_for(self, source: str, reference_time: datetime) -> Path:
        """Where the partition of ``source`` at ``reference_time`` lives."""
        _check_source(source)
        stamp = utc_instant(reference_time, "reference_time")
        return self.root / source / f"{stamp:%Y}" / f"{stamp:%m}" / f"{source}_{stamp:{_STAMP}}.nc"

    def write(
        self,
        source: str,
        dataset: xr.Dataset,
        reference_time: datetime,
        *,
        available_at: datetime | None = None,
        complete: bool = True,
    ) -> WriteResult:
        """Store ``dataset`` as the partition of ``source`` at ``reference_time``.

        Parameters
        ----------
        source
            Configured source name (lower case letters, digits, ``_`` and ``-``).
        dataset
            What the source says for that reference time (already validated by its reader).
        reference_time
            The partition key (timezone-aware).
        available_at
            When the data became available; default ``reference_time``. Never earlier.
        complete
            Whether the partition holds everything expected of it (the caller's rule).

        Returns
        -------
        WriteResult
            ``action`` is ``written`` (new), ``unchanged`` (same bytes already stored, the
            file is not touched) or ``replaced`` (different data for the same key, e.g. late
            reports merged in).
        """
        reference = utc_instant(reference_time, "reference_time")
        available = utc_instant(available_at, "available_at") if available_at else reference
        if available < reference:
            raise StoreError(
                f"source {source!r}: available_at {_iso(available)} is before the reference "
                f"time {_iso(reference)}; data cannot arrive before they are valid"
            )
        _check_whole_seconds(dataset, source)
        target = self.path_for(source, reference)
        prepared = _without_encoding(dataset).assign_attrs(
            yujing_source=source,
            yujing_reference_time=_iso(reference),
            yujing_available_at=_iso(available),
            yujing_complete="true" if complete else "false",
        )
        action, digest, size = write_netcdf_if_changed(
            prepared, target, partition_encoding(prepared)
        )
        partition = Partition(source, reference, target, available, complete, digest, size)
        with self._catalogue() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO partition VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    source,
                    _iso(reference),
                    str(target.relative_to(self.root)),
                    _iso(available),
                    int(complete),
                    digest,
                    size,
                ),
            )
        return WriteResult(partition, action)

    def write_steps(
        self,
        source: str,
        dataset: xr.Dataset,
        dim: str,
        *,
        latency: timedelta = timedelta(0),
        is_complete: Callable[[xr.Dataset], bool] | None = None,
    ) -> list[WriteResult]:
        """Write one partition per step of ``dim`` (``time`` or ``reference_time``).

        ``available_at`` of each is its step + ``latency``; ``is_complete`` decides
        completeness per step (default: complete).
        """
        if dim not in dataset.dims:
            raise StoreError(
                f"source {source!r}: cannot partition along {dim!r}, the dataset's dims are "
                f"{sorted(map(str, dataset.dims))}"
            )
        results = []
        for index in range(dataset.sizes[dim]):
            step = dataset.isel({dim: slice(index, index + 1)})
            reference = pd.Timestamp(step[dim].values[0]).tz_localize(UTC).to_pydatetime()
            results.append(
                self.write(
                    source,
                    step,
                    reference,
                    available_at=reference + latency,
                    complete=True if is_complete is None else bool(is_complete(step)),
                )
            )
        return results

    # -- reading -----------------------------------------------------------------------

    def read(self, partition: Partition) -> xr.Dataset:
        """Load one partition into memory (the file is closed afterwards)."""
        with xr.open_dataset(partition.path, engine="netcdf4") as handle:
            return handle.load()

    def open_range(
        self,
        source: str,
        dim: str | None = None,
        *,
        start: datetime,
        end: datetime,
        as_of: datetime,
    ) -> xr.Dataset:
        """Concatenate along ``dim`` the partitions in ``(start, end]`` available at ``as_of``.

        ``dim`` defaults to ``reference_time`` if the partitions have that dimension (NWP
        runs, forecast bulletins), else ``time``.

        Raises
        ------
        StoreError
            If there is none.
        LookAheadError
            If ``end`` is after ``as_of`` (asking for the future is a bug in the caller).
        """
        limit = utc_instant(as_of, "as_of")
        if utc_instant(end, "end") > limit:
            raise LookAheadError(
                f"source {source!r}: asked for data up to {_iso(end)} as of {_iso(limit)}; "
                "a cycle may only read data available at its issue time"
            )
        found = self.partitions(source, start=start, end=end, as_of=limit)
        if not found:
            raise StoreError(
                f"source {source!r}: no partition in ({_iso(start)}, {_iso(end)}] available "
                f"as of {_iso(limit)} in {self.root}; run the ingest for that period first"
            )
        parts = [self.read(partition) for partition in found]
        if dim is None:
            dim = "reference_time" if "reference_time" in parts[0].dims else "time"
        combined = xr.concat(
            parts,
            dim=dim,
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="outer",
            combine_attrs="drop_conflicts",
        )
        for name in ("yujing_reference_time", "yujing_available_at", "yujing_complete"):
            combined.attrs.pop(name, None)
        return combined


def _check_source(source: str) -> None:
    if not _SOURCE_NAME.match(source):
        raise StoreError(
            f"source name {source!r} cannot name a store folder; use lower-case letters, "
            "digits, '_' and '-' (at most 63 characters)"
        )


def _check_whole_seconds(dataset: xr.Dataset, source: str) -> None:
    for name, variable in dataset.variables.items():
        if variable.dtype.kind == "M" and variable.size:
            values = np.asarray(variable.values).astype("datetime64[ns]").astype(np.int64)
            if np.any(values % 1_000_000_000):
                raise StoreError(
                    f"source {source!r}: {name} has sub-second times; round them to seconds "
                    "in the reader"
                )
