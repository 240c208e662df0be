"""Readers: one per source format, chosen by name from ``configs/``.

A reader turns one source (file, folder or URL) into an ``xr.Dataset`` that follows a
contract of :mod:`ingest.contracts`, with CF names, canonical units, UTC times and QC flag
variables. It validates its own options (a pydantic model, ``Options``) so that
``yujing config check`` catches a wrong option before a cycle runs.

>>> from ingest.readers import available_readers
>>> "knmi-hdf5" in available_readers()
True
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, cast

import xarray as xr
from pydantic import BaseModel, ConfigDict

from ingest.errors import SourceError

__all__ = [
    "FolderReader",
    "Reader",
    "ReaderOptions",
    "available_readers",
    "frames_in_time",
    "get_reader",
    "is_folder_reader",
    "no_matching_files",
    "read_each",
    "read_source",
    "register_reader",
    "rejected_files_text",
]

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")


class ReaderOptions(BaseModel):
    """Base of every reader's options: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Reader(Protocol):
    """What a reader provides."""

    name: ClassVar[str]
    contract: ClassVar[str]  # "station observations" or "gridded field" ...
    Options: ClassVar[type[ReaderOptions]]

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read ``path`` into a contract-following dataset; ``source`` names it in errors."""
        ...


class FolderReader(Reader, Protocol):
    """A reader of a folder of files (one radar frame, one poll, one table each) that can
    read a chosen subset of them: what a live cycle does, so that the cost of a cycle does
    not grow with the folder (:mod:`ingest.selection` chooses the files by their names)."""

    def inputs(self, path: Path, options: ReaderOptions, source: str) -> list[Path]:
        """The files under the folder ``path`` that :meth:`read` would read, sorted."""
        ...

    def read_files(
        self, path: Path, files: Sequence[Path], options: ReaderOptions, source: str
    ) -> xr.Dataset:
        """Read ``files`` (some of :meth:`inputs`) of the folder ``path``, as :meth:`read`
        reads them all."""
        ...


_READERS: dict[str, type[Reader]] = {}


def register_reader(cls: type[Reader]) -> type[Reader]:
    """Class decorator adding a reader to the registry under ``cls.name``."""
    if cls.name in _READERS:
        raise ValueError(f"reader {cls.name!r} is registered twice")
    _READERS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    # Imported here, not at module import, so that importing ingest stays cheap.
    from ingest.readers import (  # noqa: F401
        atcf,
        grib,
        hko_daily,
        hko_district_hourly,
        hko_regional,
        hko_warnings,
        jma_besttrack,
        knmi_hdf5,
        nasa_power,
        netcdf_grid,
        odim_hdf5,
        station_table,
        tc_bulletin,
    )


def available_readers() -> list[str]:
    """Names of all registered readers, sorted."""
    _load_builtin()
    return sorted(_READERS)


def get_reader(name: str) -> Reader:
    """Return an instance of the reader registered as ``name``.

    Raises
    ------
    ValueError
        If no reader has that name; the message lists the ones that exist.
    """
    _load_builtin()
    try:
        return _READERS[name]()
    except KeyError:
        raise ValueError(
            f"unknown reader {name!r}; available readers: {', '.join(sorted(_READERS))}"
        ) from None


def no_matching_files(source: str, path: Path, pattern: str) -> SourceError:
    """The error of a folder holding no file that matches a reader's ``pattern``."""
    return SourceError(
        source,
        str(path),
        f"holds no file matching {pattern!r}",
        "check the folder and the 'pattern' option",
    )


def read_each(
    files: Sequence[Path], read_one: Callable[[Path], _T], source: str
) -> tuple[list[_T], list[str]]:
    """``read_one`` of every file, leaving out the files it cannot read.

    One unreadable file of a folder (a truncated download, an error page saved as a frame,
    a field missing) must not cost the cycle the good files beside it: a file whose read
    raises :class:`SourceError` is left out, logged as a warning and listed as
    ``"<name>: <problem> (<fix>)"`` in the second value (readers keep the list in the
    ``rejected_files`` attribute, which ingest reports). Errors other than bad input still
    raise.

    Raises
    ------
    SourceError
        The first file's error when no file could be read.
    """
    kept: list[_T] = []
    rejected: list[str] = []
    first_error: SourceError | None = None
    for file in files:
        try:
            kept.append(read_one(file))
        except SourceError as err:
            first_error = first_error or err
            rejected.append(_left_out(Path(file), err, source))
    if not kept and first_error is not None:
        raise first_error
    return kept, rejected


def _left_out(file: Path, err: SourceError, source: str) -> str:
    """Log a file left out of a read; its line for ``rejected_files``."""
    _LOG.warning("source %r: file left out: %s", source, err)
    return f"{file.name}: {err.problem} ({err.fix})"


class _Frame(Protocol):
    """One file's content, as a folder reader holds it before stacking."""

    @property
    def path(self) -> Path: ...


_F = TypeVar("_F", bound=_Frame)


def frames_in_time(
    frames: Sequence[_F],
    time_of: Callable[[_F], datetime],
    check: Callable[[_F, _F], None],
    source: str,
    time_field: str,
) -> tuple[list[_F], list[str]]:
    """``frames`` sorted by time, those of another product than the newest left out.

    ``check(frame, newest)`` raises :class:`SourceError` when ``frame``'s grid, interval or
    quantity is not the newest frame's. One odd frame in a folder (a test product, a
    different composite dropped in by mistake) must not fail every cycle whose window holds
    it, and after a real change of product the newest frames are the ones that count: the
    odd frames are left out, logged and listed like unreadable files (the second value, for
    ``rejected_files``). A model whose grid no longer matches the region then says so.

    Raises
    ------
    SourceError
        If two frames have the same time (``time_field`` names where it is read): which
        one holds the truth cannot be told.
    """
    ordered = sorted(frames, key=time_of)
    for previous, frame in itertools.pairwise(ordered):
        if time_of(frame) == time_of(previous):
            raise SourceError(
                source,
                str(frame.path),
                f"{time_field} {time_of(frame):%Y-%m-%dT%H:%M:%SZ} is also the time of "
                f"{previous.path.name}",
                "remove the duplicate file from the folder",
            )
    newest = ordered[-1]
    kept: list[_F] = []
    rejected: list[str] = []
    for frame in ordered[:-1]:
        try:
            check(frame, newest)
        except SourceError as err:
            rejected.append(_left_out(frame.path, err, source))
            continue
        kept.append(frame)
    return [*kept, newest], rejected


def rejected_files_text(rejected: Sequence[str]) -> str:
    """The ``rejected_files`` attribute of a reader's dataset: the list, or ``"none"``."""
    return "; ".join(rejected) if rejected else "none"


def is_folder_reader(reader: Reader) -> bool:
    """Whether ``reader`` can read a chosen subset of a folder (:class:`FolderReader`)."""
    return callable(getattr(reader, "read_files", None)) and callable(
        getattr(reader, "inputs", None)
    )


def read_source(
    reader: str,
    path: Path,
    options: Mapping[str, Any],
    source: str,
    files: Sequence[Path] | None = None,
) -> xr.Dataset:
    """Validate ``options`` for ``reader`` and read ``path`` with it (only ``files`` of the
    folder ``path`` when given; the reader must be a :class:`FolderReader`)."""
    instance = get_reader(reader)
    checked = instance.Options.model_validate(dict(options))
    if files is None:
        return instance.read(path, checked, source)
    if not is_folder_reader(instance):
        raise TypeError(f"reader {reader!r} reads one file; it cannot read a chosen subset")
    return cast(FolderReader, instance).read_files(path, files, checked, source)
