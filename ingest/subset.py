"""Cut a gridded field down to a region's bounding box (degrees, WGS84).

Two kinds of grid are handled:

latitude/longitude grids
    ``lat`` and ``lon`` coordinates, either 1-D (``lat`` along ``y``, ``lon`` along ``x``) or
    2-D on ``(y, x)``. Latitudes may descend (ERA5/ERA-Interim run north to south) and keep
    their order. Longitudes may be in ``[-180, 180)`` or ``[0, 360)``; a box may be written
    in either convention and may cross the seam of the grid (e.g. ``[-10, 50, 2, 58]`` on a
    0–360 grid). For 1-D longitudes the selected columns are put in increasing longitude
    order; when the cut crosses the grid's seam its longitudes are rewritten continuously
    from ``west`` (minus 360 if they would pass 360), e.g. ``-10 … 2`` from a 0–360 grid.
projected grids
    ``x``/``y`` coordinates with a dataset attribute ``crs`` (proj string, WKT or EPSG). The
    box is transformed with pyproj (edges densified) and every cell whose area meets the
    smallest ``x``/``y`` rectangle containing it is kept (so no part of the box is lost).
    On lat/lon grids a cell is kept when its centre is inside the box, as ``sel(slice)``.

Only coordinate values are read; data variables stay lazy (``isel`` with slices where the
selection is contiguous).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ingest.errors import SourceError

__all__ = ["subset_to_bbox"]


def _check_bbox(
    west: float, south: float, east: float, north: float, where: tuple[str, str]
) -> None:
    values = (west, south, east, north)
    if not all(np.isfinite(v) for v in values):
        raise SourceError(*where, f"bbox {list(values)} has a non-finite value", "give 4 numbers")
    if not -90.0 <= south < north <= 90.0:
        raise SourceError(
            *where,
            f"bbox [west, south, east, north] = {list(values)} has south >= north or a latitude "
            "outside [-90, 90]",
            "write the box as [west, south, east, north] in degrees",
        )
    if not (-180.0 <= west <= 360.0 and -180.0 <= east <= 360.0):
        raise SourceError(
            *where,
            f"bbox {list(values)} has a longitude outside [-180, 360]",
            "write longitudes in degrees east",
        )


def _indexer(selected: np.ndarray) -> Any:
    """A slice when the indices are contiguous and increasing (lazy-friendly), else an array."""
    if selected.size and np.array_equal(selected, np.arange(selected[0], selected[-1] + 1)):
        return slice(int(selected[0]), int(selected[-1]) + 1)
    return selected


def _extent(ds: xr.Dataset) -> str:
    if "lat" in ds.variables and "lon" in ds.variables:
        lat = np.asarray(ds["lat"].values, dtype=float)
        lon = np.asarray(ds["lon"].values, dtype=float)
        return (
            f"lon {np.nanmin(lon):g} to {np.nanmax(lon):g}, lat {np.nanmin(lat):g} to "
            f"{np.nanmax(lat):g}"
        )
    x = np.asarray(ds["x"].values, dtype=float)
    y = np.asarray(ds["y"].values, dtype=float)
    return f"x {x.min():g} to {x.max():g}, y {y.min():g} to {y.max():g} (crs {ds.attrs['crs']})"


def subset_to_bbox(
    ds: xr.Dataset,
    west: float,
    south: float,
    east: float,
    north: float,
    *,
    source: str = "dataset",
    location: str = "in memory",
) -> xr.Dataset:
    """Subset a gridded field to a longitude/latitude box.

    Parameters
    ----------
    ds
        Dataset with dims ``y``, ``x`` and either ``lat``/``lon`` coordinates or ``x``/``y``
        coordinates and a ``crs`` attribute.
    west, south, east, north
        The box in degrees (WGS84). ``east < west`` means the box crosses the antimeridian.
    source, location
        Name and path of the source, for error messages.

    Returns
    -------
    xr.Dataset
        The rows and columns of ``ds`` inside the box (all variables, still lazy if they were).

    Raises
    ------
    SourceError
        If the box is malformed, the dataset has neither lat/lon nor x/y with a ``crs``, or
        the box and the grid do not intersect; the message gives both extents.
    """
    where = (source, location)
    _check_bbox(west, south, east, north, where)
    for dim in ("y", "x"):
        if dim not in ds.dims:
            raise SourceError(*where, f"has no {dim!r} dimension", "name the grid dims y, x")
    if "lat" in ds.variables and "lon" in ds.variables:
        result = _subset_latlon(ds, west, south, east, north, where)
    elif ds.attrs.get("crs") and "x" in ds.variables and "y" in ds.variables:
        result = _subset_projected(ds, west, south, east, north)
    else:
        raise SourceError(
            *where,
            "has neither lat/lon coordinates nor x/y coordinates with a 'crs' attribute",
            "the reader must set lat/lon or x/y and attrs['crs'] before subsetting",
        )
    if result is None:
        raise SourceError(
            *where,
            f"the box [west, south, east, north] = [{west:g}, {south:g}, {east:g}, {north:g}] "
            f"does not intersect the grid ({_extent(ds)})",
            "check the region's bbox and that this source covers the region",
        )
    return result


def _subset_latlon(
    ds: xr.Dataset, west: float, south: float, east: float, north: float, where: tuple[str, str]
) -> xr.Dataset | None:
    lat = np.asarray(ds["lat"].values, dtype=float)
    lon = np.asarray(ds["lon"].values, dtype=float)
    width = (east - west) % 360.0 or (360.0 if east != west else 0.0)
    east_of_west = (lon - west) % 360.0  # distance east of the west edge, in [0, 360)
    in_lon = east_of_west <= width
    in_lat = (lat >= south) & (lat <= north)
    if ds["lat"].dims == ("y",) and ds["lon"].dims == ("x",):
        rows = np.flatnonzero(in_lat)
        columns = np.flatnonzero(in_lon)
        if rows.size == 0 or columns.size == 0:
            return None
        columns = columns[np.argsort(east_of_west[columns], kind="stable")]
        result = ds.isel(y=_indexer(rows), x=_indexer(columns))
        if np.all(np.diff(lon[columns]) > 0):
            return result
        # the box crosses the grid's seam: give continuous longitudes in the box's convention
        new_lon = west + east_of_west[columns]
        if new_lon.max() > 360.0:
            new_lon -= 360.0
        return result.assign_coords(lon=("x", new_lon.astype(ds["lon"].dtype), ds["lon"].attrs))
    if ds["lat"].dims == ("y", "x") and ds["lon"].dims == ("y", "x"):
        inside = in_lat & in_lon
        if not inside.any():
            return None
        rows = np.flatnonzero(inside.any(axis=1))
        columns = np.flatnonzero(inside.any(axis=0))
        return ds.isel(
            y=slice(int(rows[0]), int(rows[-1]) + 1), x=slice(int(columns[0]), int(columns[-1]) + 1)
        )
    raise SourceError(
        *where,
        f"lat has dims {ds['lat'].dims} and lon {ds['lon'].dims}",
        "give lat on y and lon on x (1-D) or both on (y, x)",
    )


def _subset_projected(
    ds: xr.Dataset, west: float, south: float, east: float, north: float
) -> xr.Dataset | None:
    import pyproj

    transformer = pyproj.Transformer.from_crs("EPSG:4326", ds.attrs["crs"], always_xy=True)
    if east < west:
        east += 360.0
    xmin, ymin, xmax, ymax = transformer.transform_bounds(west, south, east, north, densify_pts=51)
    x = np.asarray(ds["x"].values, dtype=float)
    y = np.asarray(ds["y"].values, dtype=float)
    half_x = np.median(np.abs(np.diff(x))) / 2 if x.size > 1 else 0.0
    half_y = np.median(np.abs(np.diff(y))) / 2 if y.size > 1 else 0.0
    columns = np.flatnonzero((x + half_x >= xmin) & (x - half_x <= xmax))
    rows = np.flatnonzero((y + half_y >= ymin) & (y - half_y <= ymax))
    if rows.size == 0 or columns.size == 0:
        return None
    return ds.isel(y=_indexer(rows), x=_indexer(columns))
