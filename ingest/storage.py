"""Atomic writes: a file is either the old one or the complete new one, never half-written.

Everything yujing writes (NetCDF partitions, caches, reports) goes through these helpers:
write to a temporary file in the target folder, flush to disk, then ``os.replace``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

__all__ = [
    "atomic_path",
    "write_bytes_atomic",
    "write_netcdf_atomic",
    "write_netcdf_if_changed",
]


@contextmanager
def _temporary_beside(target: Path) -> Iterator[Path]:
    """A new empty file in ``target``'s folder, removed on exit unless renamed away."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def _replace(temporary: Path, target: Path) -> None:
    """Flush ``temporary`` to disk and rename it onto ``target``."""
    with open(temporary, "rb") as written:
        os.fsync(written.fileno())
    os.replace(temporary, target)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    On any exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    with _temporary_beside(target) as temporary:
        yield temporary
        _replace(temporary, target)


def write_bytes_atomic(target: Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return ``target``."""
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)
    return Path(target)


def write_netcdf_atomic(
    dataset: xr.Dataset,
    target: Path,
    encoding: dict[str, dict[str, object]] | None = None,
) -> Path:
    """Write ``dataset`` as NetCDF-4 to ``target`` atomically and return ``target``."""
    with atomic_path(target) as temporary:
        dataset.to_netcdf(temporary, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return Path(target)


def write_netcdf_if_changed(
    dataset: xr.Dataset,
    target: Path,
    encoding: dict[str, dict[str, object]] | None = None,
) -> tuple[str, str, int]:
    """Write ``dataset`` to ``target`` atomically unless ``target`` already has those bytes.

    Returns
    -------
    tuple
        ``(action, sha256, size)`` with ``action`` one of ``written`` (``target`` was new),
        ``replaced`` (its bytes differed) or ``unchanged`` (not touched: same bytes).
    """
    target = Path(target)
    with _temporary_beside(target) as temporary:
        dataset.to_netcdf(temporary, engine="netcdf4", format="NETCDF4", encoding=encoding)
        data = temporary.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            return "unchanged", digest, len(data)
        action = "replaced" if target.exists() else "written"
        _replace(temporary, target)
        return action, digest, len(data)
