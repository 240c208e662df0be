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
written (they did not exist yet); their number is reported, never hidden.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import xarray as xr

from ingest.readers import get_reader, read_source
from ingest.store import PartitionStore, WriteResult
from yujing.settings import Settings

__all__ = ["IngestReport", "fetch_source", "ingest_source", "partition_dim"]


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
        return "; ".join(parts) + f" in {self.seconds:.2f} s"


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
        Only steps labelled at or before ``as_of`` are written (a replay's cycle time);
        ``None`` writes everything the source holds.
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
    path = settings.source_path(name, store.root)
    dataset = read_source(source.reader, path, source.options, name)
    if reader.contract == "station observations":
        from ingest.qc import quality_control

        dataset = quality_control(dataset, source.qc)

        def is_complete(step: xr.Dataset) -> bool:
            return _is_complete_station(step, source.min_valid_fraction)
    else:

        def is_complete(step: xr.Dataset) -> bool:
            return _is_complete_grid(step, source.min_valid_fraction)

    report.notes += [
        f"{key}: {dataset.attrs[key]}"
        for key in _REPORTED_ATTRIBUTES
        if key in dataset.attrs and str(dataset.attrs[key]) not in ("none", "0")
    ]
    dataset = _without_batch_attributes(dataset, name, source.reader)
    dim = partition_dim(dataset, reader.contract)
    if dim not in dataset.dims:
        # A forecast track carries its reference time as a scalar coordinate: one partition.
        dataset = dataset.expand_dims("reference_time")
    if as_of is not None:
        later = dataset[dim].values > _utc_naive(as_of)
        report.not_yet_available = int(later.sum())
        dataset = dataset.isel({dim: ~later})
    if dataset.sizes[dim]:
        report.results = store.write_steps(
            name, dataset, dim, latency=source.latency, is_complete=is_complete
        )
    for result in report.results:
        setattr(report, result.action, getattr(report, result.action) + 1)
        report.incomplete += not result.partition.complete
    report.seconds = time.perf_counter() - started
    return report
