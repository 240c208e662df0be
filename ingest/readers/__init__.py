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

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, cast

import xarray as xr
from pydantic import BaseModel, ConfigDict

from ingest.errors import SourceError

__all__ = [
    "FolderReader",
    "Reader",
    "ReaderOptions",
    "available_readers",
    "get_reader",
    "is_folder_reader",
    "no_matching_files",
    "read_source",
    "register_reader",
]


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
