"""Ingest one configured source into the partition store: read, check, QC, partition, write.

This is the plain function the ingest DAG's tasks and ``yujing ingest`` call. Per source
kind (the reader's contract):

station observations
    quality control (:func:`ingest.qc.quality_control`, thresholds from the source's ``qc``
    settings) adds ``<var>_qc`` flags; one partition per observation time; a time step is
    complete when at least ``min_valid_fraction`` of the stations have a good value.
gridded field
    analyses and radar (dim ``time``): one partition per time; forecasts (dims
    ``reference_time``, ``lead_time``): one partition per run.
tropical cyclone track
    best tracks: one partition per fix time; forecast tracks: one per reference time.

``as_of`` makes the ingest honest in a replay: steps labelled after ``as_of`` are not
written (they did not exist yet); their number is reported, never hidden. It also bounds a
live ingest: only the steps of the source's ``history`` before ``as_of`` are written (what
a cycle reads back), and from a folder whose files are named in time (``files``, or an
HTTP source's landed snapshots) only the files of that window are read
(:func:`read_window`), so a cycle costs the same on the first day and after a year.
Without ``as_of`` everything the source holds is read and written (a backfill).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import numpy as np
import xarray as xr

from ingest.errors import SourceError
from ingest.readers import FolderReader, get_reader, is_folder_reader, read_source
from ingest.selection import NameTime, name_time, select_files, snapshot_received
from ingest.store import PartitionStore, WriteResult
from yujing.settings import Settings

__all__ = [
    "IngestReport",
    "batch_notes",
    "fetch_source",
    "ingest_source",
    "partition_dim",
    "read_window",
]


@dataclass
class IngestReport:
    """What :func:`ingest_source` did, for logs, the CLI and the DAG."""

    source: str
    reader: str
    contract: str
    seconds: float = 0.0
    written: int = 0
    replaced: int = 0
    unchanged: int = 0
    incomplete: int = 0
    not_yet_available: int = 0
    before_window: int = 0
    notes: list[str] = field(default_factory=list)
    results: list[WriteResult] = field(default_factory=list)

    def line(self) -> str:
        """One line for a log."""
        parts = [
            f"{self.source} ({self.reader}): {len(self.results)} partitions",
            f"{self.written} written, {self.replaced} replaced, {self.unchanged} unchanged",
            f"{self.incomplete} incomplete",
        ]
        if self.not_yet_available:
            parts.append(f"{self.not_yet_available} steps after as-of left for later")
        if self.before_window:
            parts.append(f"{self.before_window} steps before the history window left alone")
        return "; ".join(parts) + f" in {self.seconds:.2f} s"


#: How far a landed snapshot's receive time may lie from its data's times (an hourly
#: report polled late in the hour; the readers refuse data from after the receive time).
_LANDED_TOLERANCE = timedelta(hours=1)


def _name_times(settings: Settings, name: str) -> tuple[NameTime, timedelta] | None:
    """How the files of source ``name`` are named in time, if they are."""
    source = settings.sources[name]
    if source.fetch is not None:
        return snapshot_received, _LANDED_TOLERANCE
    if source.files is not None:
        return name_time(source.files.time), source.files.tolerance
    return None


def batch_notes(dataset: xr.Dataset, *, qc: bool = True) -> list[str]:
    """What reading a source left out or flagged, from the dataset's batch attributes
    (files that could not be read, rejected rows or snapshots, and with ``qc`` the QC
    counts): one line each, none when nothing was."""
    return [
        f"{key}: {dataset.attrs[key]}"
        for key in _REPORTED_ATTRIBUTES
        if key in dataset.attrs
        and str(dataset.attrs[key]) not in ("none", "0")
        and (qc or key != "qc_summary")
    ]


def read_window(
    settings: Settings,
    name: str,
    start: datetime,
    end: datetime,
    store_root: Path | None = None,
) -> tuple[xr.Dataset, list[str]]:
    """Source ``name`` read for its steps in ``(start, end]``, with notes on what was left.

    From a folder whose files are named in time (the source's ``files``, or the landed
    snapshots of an HTTP source) only the files named in the window, widened by the names'
    tolerance, are read; any other source is read whole. The steps are not cut here: the
    caller cuts on the data's own times.

    Raises
    ------
    SourceError
        If no file of the folder is named in the window: the source has delivered nothing
        for that long, or ``files.time`` does not match its names.
    """
    source = settings.sources[name]
    path = settings.source_path(name, store_root)
    reader = get_reader(source.reader)
    naming = _name_times(settings, name)
    if naming is None or not is_folder_reader(reader) or not Path(path).is_dir():
        return read_source(source.reader, path, source.options, name), []
    folder = cast(FolderReader, reader)
    options = reader.Options.model_validate(dict(source.options))
    time_of, tolerance = naming
    chosen = select_files(folder.inputs(path, options, name), time_of, start, end, tolerance)
    notes = []
    if chosen.outside:
        notes.append(f"{chosen.outside} files named outside the window left unread")
    if chosen.unmatched:
        shown = ", ".join(chosen.unmatched[:3]) + (" ..." if len(chosen.unmatched) > 3 else "")
        notes.append(f"{len(chosen.unmatched)} files not named in time left unread: {shown}")
    if not chosen.files:
        raise SourceError(
            name,
            str(path),
            f"holds no file named in {start:%Y-%m-%dT%H:%MZ} .. {end:%Y-%m-%dT%H:%MZ} "
            f"({chosen.outside} named outside it, {len(chosen.unmatched)} not named in time)",
            "check that the source still delivers and that 'files.time' matches its names",
        )
    return read_source(source.reader, path, source.options, name, files=chosen.files), notes


def fetch_source(
    settings: Settings,
    name: str,
    store: PartitionStore,
    *,
    base_url: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Poll every endpoint of HTTP source ``name`` once and land the answers.

    ``now`` stamps the snapshots' receive time (a replay's cycle time); default the clock.
    Returns one note per endpoint. A failing endpoint raises
    :class:`~ingest.http.FetchError` after the retries; snapshots landed before stay.
    """
    from ingest.http import HttpFetcher, land_snapshot
    from ingest.replay_server import snapshot_folder

    config = settings.sources[name].fetch
    if config is None:
        raise ValueError(f"source {name!r} has no 'fetch' settings")
    landing = settings.source_path(name, store.root)
    root = (base_url or config.base_url).rstrip("/")
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    fetcher = HttpFetcher(name, config.options, state_dir=store.root / "_fetch" / name, now=clock)
    notes = []
    for endpoint in config.endpoints:
        result = fetcher.fetch(f"{root}/{endpoint.lstrip('/')}")
        path = land_snapshot(result, snapshot_folder(landing, endpoint))
        state = "not modified" if result.not_modified else f"HTTP {result.status}"
        notes.append(f"{endpoint}: {state}, {len(result.body)} bytes -> {path.name}")
    return notes


#: Attributes that describe a whole batch (how many files, receive times, QC counts), not a
#: partition's step: kept in the report, left out of partitions so that a step's bytes do not
#: depend on which other steps were read with it.
BATCH_ATTRIBUTES = (
    "duplicate_conflicts",
    "duplicate_reports",
    "merge_conflicts",
    "merge_duplicate_reports",
    "merged_reports",
    "qc_summary",
    "receive_time_first",
    "receive_time_last",
    "rejected_files",
    "rejected_rows",
    "rejected_snapshots",
    "snapshots_read",
    "source",
    "unreadable_cells",
)
_BATCH_VARIABLE_ATTRIBUTES = ("flag_counts", "merge_conflicts")
#: Batch attributes worth a line in the report (problems and QC counts).
_REPORTED_ATTRIBUTES = (
    "qc_summary",
    "rejected_files",
    "rejected_rows",
    "rejected_snapshots",
    "unreadable_cells",
    "duplicate_conflicts",
    "merge_conflicts",
)


def _without_batch_attributes(dataset: xr.Dataset, name: str, reader: str) -> xr.Dataset:
    clean = dataset.copy()
    clean.attrs = {k: v for k, v in dataset.attrs.items() if k not in BATCH_ATTRIBUTES}
    clean.attrs["source"] = f"source {name!r} read by {reader!r}"
    for variable in clean.variables.values():
        variable.attrs = {
            k: v for k, v in variable.attrs.items() if k not in _BATCH_VARIABLE_ATTRIBUTES
        }
    return clean


def partition_dim(dataset: xr.Dataset, contract: str) -> str:
    """The dimension a dataset of ``contract`` is partitioned along."""
    if contract == "gridded field" and "reference_time" in dataset.dims:
        return "reference_time"
    if contract == "tropical cyclone track" and dataset.attrs.get("is_forecast") in (True, 1):
        return "reference_time"
    return "time"


def _utc_naive(instant: datetime) -> np.datetime64:
    return np.datetime64(instant.astimezone(UTC).replace(tzinfo=None), "ns")


def _is_complete_station(step: xr.Dataset, fraction: float) -> bool:
    """A time step is complete when enough stations have a good, QC-clean value."""
    from ingest.qc import usable_observations

    names = [str(n) for n in step.data_vars if f"{n}_flag" in step]
    if not names:
        return False
    usable = xr.concat([usable_observations(step, n) for n in names], dim="variable")
    share = float(usable.any("variable").mean())
    return share >= fraction


def _is_complete_grid(step: xr.Dataset, fraction: float) -> bool:
    names = [n for n in step.data_vars if "flag_values" not in step[n].attrs]
    names = [n for n in names if "flag_masks" not in step[n].attrs and step[n].dtype.kind == "f"]
    if not names:
        return True
    share = min(float(np.isfinite(step[n].values).mean()) for n in names)
    return share >= fraction


def ingest_source(
    settings: Settings,
    name: str,
    store: PartitionStore,
    *,
    as_of: datetime | None = None,
    fetch: bool = True,
    base_url: str | None = None,
) -> IngestReport:
    """Read source ``name`` of ``settings`` and write its partitions into ``store``.

    Parameters
    ----------
    settings
        The deployment's settings.
    name
        A key of ``settings.sources``.
    store
        Where partitions go.
    as_of
        Only steps labelled in ``(as_of - history, as_of]`` are written (the cycle's time,
        live or in a replay), read from the files of that window where they are named in
        time; ``None`` reads and writes everything the source holds.
    fetch
        For an HTTP source, poll its endpoints first (``False``: read what has landed).
    base_url
        Replaces the configured base URL (a local replay server in demos and tests).

    Returns
    -------
    IngestReport
        Counts of partitions written, replaced (late data merged), unchanged (idempotent
        re-run) and incomplete.
    """
    started = time.perf_counter()
    source = settings.sources[name]
    reader = get_reader(source.reader)
    report = IngestReport(name, source.reader, reader.contract)
    if source.fetch is not None and fetch:
        report.notes += fetch_source(settings, name, store, base_url=base_url, now=as_of)
    if as_of is None:
        path = settings.source_path(name, store.root)
        dataset = read_source(source.reader, path, source.options, name)
    else:
        dataset, notes = read_window(
            settings, name, as_of - source.read_window(), as_of, store.root
        )
        report.notes += notes
    if reader.contract == "station observations":
        from ingest.qc import quality_control

        dataset = quality_control(dataset, source.qc)

        def is_complete(step: xr.Dataset) -> bool:
            return _is_complete_station(step, source.min_valid_fraction)
    else:

        def is_complete(step: xr.Dataset) -> bool:
            return _is_complete_grid(step, source.min_valid_fraction)

    report.notes += batch_notes(dataset)
    dataset = _without_batch_attributes(dataset, name, source.reader)
    dim = partition_dim(dataset, reader.contract)
    if dim not in dataset.dims:
        # A forecast track carries its reference time as a scalar coordinate: one partition.
        dataset = dataset.expand_dims("reference_time")
    if as_of is not None:
        labels = dataset[dim].values
        later = labels > _utc_naive(as_of)
        earlier = labels <= _utc_naive(as_of - source.history)
        report.not_yet_available = int(later.sum())
        report.before_window = int(earlier.sum())
        dataset = dataset.isel({dim: ~(later | earlier)})
    if dataset.sizes[dim]:
        report.results = store.write_steps(
            name, dataset, dim, latency=source.latency, is_complete=is_complete
        )
    for result in report.results:
        setattr(report, result.action, getattr(report, result.action) + 1)
        report.incomplete += not result.partition.complete
    report.seconds = time.perf_counter() - started
    return report
