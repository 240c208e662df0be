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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import xarray as xr
from pydantic import BaseModel, ConfigDict

__all__ = [
    "Reader",
    "ReaderOptions",
    "available_readers",
    "get_reader",
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


def read_source(reader: str, path: Path, options: Mapping[str, Any], source: str) -> xr.Dataset:
    """Validate ``options`` for ``reader`` and read ``path`` with it."""
    instance = get_reader(reader)
    return instance.read(path, instance.Options.model_validate(dict(options)), source)
