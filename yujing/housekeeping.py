"""Retention: what a live deployment deletes so that its disk does not fill.

A live deployment writes every six minutes: a partition per radar frame, a snapshot per
HTTP poll, a result (several MB) per hazard per cycle. Left alone, the KNMI demo writes
about 17 MB of results per cycle, 4 GB a day. :func:`prune` deletes, for what the
configuration gives a retention:

- a source's store partitions (``sources.<name>.retention``) with a reference time before
  ``now - retention``, never the newest complete one (:meth:`ingest.store.PartitionStore.prunable`);
- an HTTP source's landed snapshots (the same retention) received before that, never the
  newest of each endpoint;
- hazard results (``output.retention``): ``<output>/<region>/<hazard>/<YYYYmmddTHHMMZ>*``
  files issued before ``now - retention``, never the newest issue of each hazard.

A source's retention is at least its ``history + latency`` (checked with the settings), so
no cycle looks for what was pruned. Nothing without a configured retention is touched;
the alert database (warnings, CAP messages, deliveries and their audit) is a record and
is never pruned here, nor are replays (``<output>/replay``), nor files whose names are not
the pipeline's own. The Airflow DAG ``yujing_housekeeping`` calls this once a day;
``yujing prune --dry-run`` shows what it would delete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.selection import snapshot_received
from ingest.store import PartitionStore
from yujing.settings import Settings

__all__ = ["PruneReport", "Pruned", "prune"]

_RESULT = re.compile(r"^(\d{8}T\d{4}Z)(?:\.nc|\.txt|_[a-z]+\.csv)$")


@dataclass(frozen=True)
class Pruned:
    """What was (or would be) deleted of one kind of data."""

    kind: str
    """``partitions``, ``snapshots`` or ``results``."""
    name: str
    """The source or hazard."""
    before: datetime
    files: int
    size: int
    """Bytes."""


@dataclass
class PruneReport:
    """What :func:`prune` did, one line per source or hazard with a retention."""

    now: datetime
    dry_run: bool
    lines: list[Pruned] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(line.files for line in self.lines)

    @property
    def size(self) -> int:
        return sum(line.size for line in self.lines)


def _sizes(paths: list[Path]) -> int:
    return sum(path.stat().st_size for path in paths if path.exists())


def _delete(paths: list[Path], dry_run: bool) -> None:
    if dry_run:
        return
    for path in paths:
        path.unlink(missing_ok=True)


def _old_snapshots(folder: Path, before: datetime) -> list[Path]:
    """Landed snapshots under ``folder`` received before ``before``, the newest of each
    endpoint folder kept."""
    old: list[Path] = []
    by_folder: dict[Path, list[tuple[datetime, Path]]] = {}
    for path in folder.rglob("*"):
        received = snapshot_received(path.name) if path.is_file() else None
        if received is not None:
            by_folder.setdefault(path.parent, []).append((received, path))
    for found in by_folder.values():
        found.sort()
        old += [path for received, path in found[:-1] if received < before]
    return sorted(old)


def _old_results(folder: Path, before: datetime) -> list[Path]:
    """A hazard's result files issued before ``before``, the newest issue kept."""
    stamped: dict[datetime, list[Path]] = {}
    for path in folder.iterdir() if folder.is_dir() else ():
        match = _RESULT.match(path.name)
        if match is not None and path.is_file():
            issued = datetime.strptime(match.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
            stamped.setdefault(issued, []).append(path)
    newest = max(stamped, default=None)
    return sorted(
        path
        for issued, paths in stamped.items()
        if issued < before and issued != newest
        for path in paths
    )


def prune(settings: Settings, now: datetime, *, dry_run: bool = False) -> PruneReport:
    """Delete what is older than its retention at ``now`` (see the module's description).

    Parameters
    ----------
    settings
        The deployment; only sources with ``retention`` and, with ``output.retention``,
        the hazard results are pruned.
    now
        The time retention is counted back from (timezone-aware).
    dry_run
        Count what would be deleted, delete nothing.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    report = PruneReport(now.astimezone(UTC), dry_run)
    store = PartitionStore(settings.store_directory)
    for name, source in sorted(settings.sources.items()):
        if source.retention is None:
            continue
        before = report.now - source.retention
        doomed = store.prunable(name, before)
        report.lines.append(Pruned("partitions", name, before, len(doomed), _sizes(doomed)))
        if not dry_run:
            store.delete(name, doomed)
        if source.fetch is not None:
            landed = _old_snapshots(settings.source_path(name), before)
            report.lines.append(Pruned("snapshots", name, before, len(landed), _sizes(landed)))
            _delete(landed, dry_run)
    retention: timedelta | None = settings.output.retention
    if retention is not None:
        before = report.now - retention
        for hazard in sorted(settings.hazards):
            folder = settings.output_directory / settings.region.code / hazard
            old = _old_results(folder, before)
            report.lines.append(Pruned("results", hazard, before, len(old), _sizes(old)))
            _delete(old, dry_run)
    return report
