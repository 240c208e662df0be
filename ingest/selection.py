"""Which files of a source folder a cycle reads: those whose name puts them in its window.

A live source folder only grows: a radar composite every five minutes, an HTTP snapshot
every poll. Reading all of it every cycle makes each cycle slower than the last (and its
memory larger) until the cycle misses its slot. A cycle at ``T`` needs only the steps in
its window ``(T - history, T]``, so it reads only the files whose *name time* is in that
window, widened by a tolerance for how far a file's name may be from the times of the data
inside it (a composite named by its start, not its end; an hourly report landed minutes
after its hour). The exact cut is still made on the data's own time labels afterwards.

The name time comes from a ``strftime`` pattern of the file name (``files.time`` of a
source, e.g. ``RAD_NL25_RAP_5min_%Y%m%d%H%M.h5``; the same idea as pysteps' ``fn_pattern``)
or, for the snapshots an HTTP source lands, from their receive time
(:func:`ingest.http.snapshot_name`). A file whose name does not match is not read, and is
counted, so that a stray file is seen rather than read every cycle.

>>> from datetime import UTC, datetime, timedelta
>>> from pathlib import Path
>>> files = [Path(f"RAD_NL25_RAP_5min_2010082600{m:02d}.h5") for m in (0, 5, 10)]
>>> chosen = select_files(
...     files,
...     name_time("RAD_NL25_RAP_5min_%Y%m%d%H%M.h5"),
...     datetime(2010, 8, 26, 0, 0, tzinfo=UTC),
...     datetime(2010, 8, 26, 0, 5, tzinfo=UTC),
...     timedelta(0),
... )
>>> [path.name for path in chosen.files], chosen.outside
(['RAD_NL25_RAP_5min_201008260005.h5'], 2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.http import snapshot_received

__all__ = ["NameTime", "Selection", "name_time", "select_files", "snapshot_received"]

NameTime = Callable[[str], datetime | None]
"""The UTC time a file's name stands for, or ``None`` when the name does not match."""


def name_time(pattern: str) -> NameTime:
    """The name time of ``pattern``, a ``strftime`` pattern of whole file names in UTC.

    >>> name_time("%Y%m%d%H%M.h5")("201008260005.h5").isoformat()
    '2010-08-26T00:05:00+00:00'
    >>> name_time("%Y%m%d%H%M.h5")("readme.txt") is None
    True
    """

    def parse(name: str) -> datetime | None:
        try:
            parsed = datetime.strptime(name, pattern)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

    return parse


@dataclass(frozen=True)
class Selection:
    """The files to read, and what was left unread."""

    files: list[Path]
    """In the window (name time in ``(start - tolerance, end + tolerance]``), sorted."""
    outside: int
    """Named in the pattern but outside the window."""
    unmatched: list[str] = field(default_factory=list)
    """Names that do not match the pattern (not read)."""


def select_files(
    files: Sequence[Path],
    time_of: NameTime,
    start: datetime,
    end: datetime,
    tolerance: timedelta,
) -> Selection:
    """The ``files`` whose name time is within ``(start - tolerance, end + tolerance]``.

    Parameters
    ----------
    files
        The candidates (a reader's :meth:`~ingest.readers.FolderReader.inputs`).
    time_of
        The name time of a file name (:func:`name_time`, :func:`snapshot_received`).
    start, end
        The window of the data wanted (timezone-aware; ``start`` excluded).
    tolerance
        How far a name time may lie from the data's own times.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    low, high = start - tolerance, end + tolerance
    chosen: list[Path] = []
    outside = 0
    unmatched: list[str] = []
    for path in files:
        when = time_of(path.name)
        if when is None:
            unmatched.append(path.name)
        elif low < when <= high:
            chosen.append(path)
        else:
            outside += 1
    return Selection(sorted(chosen), outside, unmatched)
