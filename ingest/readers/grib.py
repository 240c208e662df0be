"""GRIB edition 1 and 2 fields (NWP, reanalysis) through cfgrib/ecCodes → gridded field.

Source
    e.g. ``nwp/era5-2mt-2019-03-uk.grib`` (SOURCES.md §8): ERA5 2 m temperature, GRIB1,
    744 hourly analyses of March 2019 on a 0.25° grid over the UK.

Output (contract "gridded field"), dims ``(reference_time, lead_time, [member,] y, x)``
    cfgrib's ``time`` (the data date and time) becomes ``reference_time`` and ``step``
    becomes ``lead_time``, each kept as a dimension even when the file has one value;
    ``valid_time = reference_time + lead_time`` is a 2-D coordinate. ``number`` becomes
    ``member`` when it is a dimension (an ensemble) and is dropped when it is a single value.
    ``latitude``/``longitude`` become ``lat(y)``/``lon(x)``. Variables are renamed and
    converted as in :mod:`ingest.readers.netcdf_grid` (``{t2m: tas}``: K → degC, the file's
    unit kept in ``original_units``); other scalar coordinates (``surface``,
    ``heightAboveGround`` ...) are kept.

Completeness
    cfgrib (through ecCodes) reads a file cut in the middle of a message as if it ended at
    the last complete message, without an error. Before opening, the file is therefore
    walked message by message (:func:`grib_message_count`): each must begin with ``GRIB``,
    declare a length that fits in the file and end with ``7777``; a partial or damaged
    message is a :class:`~ingest.errors.SourceError` naming its number and byte offset.
    Without ``filter_by_keys`` the number of fields cfgrib returns must equal the number of
    messages.

``.idx`` files are never written (``indexpath=""``): the data folder may be read-only and an
index next to the data would go stale.

References
----------
WMO (2019): Manual on Codes, Volume I.2 (WMO-No. 306), FM 92 GRIB edition 2; FM 92 GRIB
edition 1 (section 0: ``GRIB`` + 3-byte length + edition; GRIB2: 8-byte length at octet 9).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, ClassVar

import numpy as np
import xarray as xr
from eccodes import GribInternalError
from pydantic import Field

from ingest.contracts import validate_gridded_field
from ingest.errors import SourceError
from ingest.readers import ReaderOptions, register_reader
from ingest.readers.netcdf_grid import BBox, NetcdfGridOptions, conform_grid

__all__ = ["GribOptions", "GribReader", "grib_message_count"]

_GRIB1_LARGE = 0x800000  # ECMWF's flag for GRIB1 messages over 8 MB (length in 120-byte units)


class GribOptions(ReaderOptions):
    """Options of :class:`GribReader`.

    Parameters
    ----------
    variables
        cfgrib variable name → CF name, e.g. ``{"t2m": "tas"}``.
    units
        CF name → unit to convert to, overriding the canonical one.
    filter_by_keys
        ecCodes keys selecting one hypercube of a multi-message file, e.g.
        ``{"typeOfLevel": "surface", "shortName": "2t"}``.
    level
        Level value(s) to keep when the file has a vertical dimension.
    subset
        ``[west, south, east, north]`` in degrees; ``None`` keeps the whole grid.
    chunks
        Dask chunks; ``None`` loads eagerly and closes the file.
    """

    variables: dict[str, str] = Field(min_length=1)
    units: dict[str, str] = Field(default_factory=dict)
    filter_by_keys: dict[str, str | int | float] = Field(default_factory=dict)
    level: float | list[float] | None = None
    subset: BBox | None = None
    chunks: dict[str, int] | None = None


def grib_message_count(path: Path, source: str = "grib") -> int:
    """Count the GRIB messages of a file, checking that each is complete.

    Parameters
    ----------
    path
        The GRIB file.
    source
        Name of the source, for error messages.

    Returns
    -------
    int
        Number of complete messages.

    Raises
    ------
    SourceError
        If the file holds no message, or a message is cut short, lacks its ``7777`` end
        marker or is followed by bytes that are not a GRIB message.
    """
    location = str(path)
    size = path.stat().st_size
    count, offset = 0, 0
    with path.open("rb") as handle:
        while offset < size:
            offset += _zero_padding(handle, offset)
            if offset >= size:
                break
            handle.seek(offset)
            head = handle.read(16)
            if head[:4] != b"GRIB":
                raise SourceError(
                    source,
                    location,
                    f"bytes at offset {offset} (after message {count}) are not a GRIB message",
                    "the file is damaged or not GRIB; download it again",
                )
            length = _message_length(head)
            if length is None:
                return _count_with_eccodes(path, source)
            if len(head) < 16 or offset + length > size:
                raise SourceError(
                    source,
                    location,
                    f"GRIB message {count + 1} at byte {offset} declares {length} bytes but the "
                    f"file ends after {size - offset}: the file is truncated",
                    "download the file again (it was cut during transfer)",
                )
            handle.seek(offset + length - 4)
            if handle.read(4) != b"7777":
                raise SourceError(
                    source,
                    location,
                    f"GRIB message {count + 1} at byte {offset} does not end with '7777'",
                    "the file is damaged; download it again",
                )
            count += 1
            offset += length
    if count == 0:
        raise SourceError(source, location, "holds no GRIB message", "check the path")
    return count


def _zero_padding(handle: BinaryIO, offset: int) -> int:
    """Number of zero bytes from ``offset`` (producers pad messages, ECMWF GRIB1 to 120 B)."""
    handle.seek(offset)
    skipped = 0
    while block := handle.read(4096):
        stripped = len(block) - len(block.lstrip(b"\x00"))
        skipped += stripped
        if stripped < len(block):
            break
    return skipped


def _message_length(head: bytes) -> int | None:
    """Length of the message starting with ``head``; ``None`` for an ECMWF large GRIB1."""
    edition = head[7] if len(head) > 7 else 0
    if edition == 2:
        return int.from_bytes(head[8:16], "big")
    length = int.from_bytes(head[4:7], "big")
    if edition == 1 and length & _GRIB1_LARGE:
        return None  # over 8 MB: the true length needs section 4; let ecCodes decide
    return length


def _count_with_eccodes(path: Path, source: str) -> int:
    """Count messages with ecCodes, which raises on a message cut short."""
    import eccodes

    count = 0
    with path.open("rb") as handle:
        while True:
            try:
                message = eccodes.codes_grib_new_from_file(handle)
            except GribInternalError as err:
                raise SourceError(
                    source,
                    str(path),
                    f"GRIB message {count + 1} cannot be read ({err}): the file is truncated "
                    "or damaged",
                    "download the file again",
                ) from None
            if message is None:
                return count
            eccodes.codes_release(message)
            count += 1


@register_reader
class GribReader:
    """Reader of GRIB1/GRIB2 files through cfgrib."""

    name: ClassVar[str] = "grib"
    contract: ClassVar[str] = "gridded field"
    Options: ClassVar[type[ReaderOptions]] = GribOptions

    def read(self, path: Path, options: ReaderOptions, source: str) -> xr.Dataset:
        """Read one GRIB file into a gridded field (see the module docstring).

        Raises
        ------
        SourceError
            If the file is missing, truncated or damaged, cfgrib cannot build one hypercube
            (use ``filter_by_keys``), a variable is absent or its unit unconvertible, or
            cfgrib returned fewer fields than the file holds.
        """
        if not isinstance(options, GribOptions):
            raise TypeError(f"expected GribOptions, got {type(options).__name__}")
        location = str(path)
        if not path.is_file():
            raise SourceError(source, location, "does not exist", "check the configured path")
        messages = grib_message_count(path, source)
        try:
            raw = xr.open_dataset(
                path,
                engine="cfgrib",
                chunks=options.chunks,
                decode_timedelta=True,
                backend_kwargs={
                    "indexpath": "",
                    "filter_by_keys": dict(options.filter_by_keys),
                    "errors": "raise",
                },
            )
        except (ValueError, KeyError, OSError, GribInternalError) as err:
            raise SourceError(
                source,
                location,
                f"cfgrib cannot build one dataset ({type(err).__name__}: {err})",
                "select one hypercube with 'filter_by_keys' (e.g. typeOfLevel, shortName)",
            ) from None
        try:
            if not options.filter_by_keys:
                _check_all_messages_read(raw, messages, source, location)
            grid_options = NetcdfGridOptions(
                variables=options.variables,
                units=options.units,
                reference_time="time",
                lead_time="step",
                member="number" if "number" in raw.dims else None,
                level_dim=_level_dim(raw),
                level=options.level,
                lat="latitude",
                lon="longitude",
                subset=options.subset,
                chunks=options.chunks,
            )
            ds = conform_grid(raw, grid_options, source, location)
            if "number" in ds.variables and "number" not in ds.dims:
                ds = ds.drop_vars("number")
            if options.chunks is None:
                ds = ds.load()
        finally:
            if options.chunks is None:
                raw.close()
        edition = raw.attrs.get("GRIB_edition", "?")
        return validate_gridded_field(
            ds.assign_attrs(source=f"{path.name} (GRIB{edition}, {messages} messages)")
        )


def _level_dim(ds: xr.Dataset) -> str:
    """cfgrib names the vertical dimension after typeOfLevel (isobaricInhPa, hybrid ...)."""
    spatial = {"time", "step", "number", "latitude", "longitude", "values"}
    extra = [str(d) for d in ds.dims if d not in spatial]
    return extra[0] if len(extra) == 1 else "level"


def _check_all_messages_read(ds: xr.Dataset, messages: int, source: str, location: str) -> None:
    fields = 0
    for var in ds.data_vars.values():
        spatial = {"latitude", "longitude", "values", "x", "y"}
        fields += int(np.prod([size for dim, size in var.sizes.items() if dim not in spatial]))
    if fields != messages:
        raise SourceError(
            source,
            location,
            f"cfgrib returned {fields} fields but the file holds {messages} GRIB messages",
            "the file mixes several hypercubes; select one with 'filter_by_keys'",
        )
