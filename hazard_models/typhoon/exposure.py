"""Land or sea under each grid cell, and what it does to the mean wind and the gust.

A parametric profile gives the wind over open sea. Over land the surface is rougher: the
10-min mean at 10 m is lower and the gusts are relatively stronger. Both are applied per
cell from its **land fraction**, the share of DEM pixels above sea level inside the cell
(SRTM sets the sea to 0 m; cells the DEM does not reach get NaN and are treated as sea).

Mean wind (:func:`roughness_factor`)
    The neutral logarithmic profile ``u(z) = (u*/k) ln(z/z0)`` over sea (``z0_sea``) and
    over land (``z0_land``), matched at a common height ``z_ref`` above the surface layer::

        V10_land / V10_sea = s(z0_land) / s(z0_sea),   s(z0) = ln(10/z0) / ln(z_ref/z0)

    Defaults: ``z0_sea`` 0.001 m (sea surface under hurricane winds, where the drag
    coefficient levels off; Powell et al. 2003), ``z0_land`` 0.03 m (WMO's standard open-
    terrain exposure for 10-m winds: warning criteria refer to it, not to the city's streets),
    ``z_ref`` 500 m: factor 0.85. A cell with land fraction ``f`` takes
    ``1 - f (1 - factor)``.

Gust (:func:`gust_factors`)
    The 3-s gust over the 10-min mean, ``G(3 s, 600 s)``, of WMO/TD-No. 1555 Table 1.1:
    1.23 at sea, 1.66 in-land, blended linearly by land fraction.

References
----------
Powell, M. D., P. J. Vickery, and T. A. Reinhold, 2003: Reduced drag coefficient for high wind
speeds in tropical cyclones. Nature, 422, 279-283.
WMO, 2018: Guide to Instruments and Methods of Observation (WMO-No. 8), Vol. I, ch. 5
(standard exposure: 10 m over open terrain, roughness length 0.03 m).
Harper, B. A., J. D. Kepert, and J. D. Ginger, 2010: WMO/TD-No. 1555.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from hazard_models.errors import RegionError
from hazard_models.grid import AnalysisGrid
from hazard_models.typhoon.wind_conversion import gust_factor

__all__ = ["gust_factors", "land_fraction", "mean_wind_factors", "roughness_factor"]


def roughness_factor(
    z0_land: float = 0.03, z0_sea: float = 0.001, reference_height: float = 500.0
) -> float:
    """Ratio of the 10-m mean wind over land to that over sea (see the module docstring)."""
    if not 0.0 < z0_sea < 10.0 or not 0.0 < z0_land < 10.0 or reference_height <= 10.0:
        raise ValueError(
            f"roughness lengths must be in (0, 10) m and the reference height above 10 m; "
            f"got z0_land={z0_land}, z0_sea={z0_sea}, reference_height={reference_height}"
        )

    def ten_metre_share(z0: float) -> float:
        return float(np.log(10.0 / z0) / np.log(reference_height / z0))

    return ten_metre_share(z0_land) / ten_metre_share(z0_sea)


def land_fraction(grid: AnalysisGrid, dem_path: Path) -> xr.DataArray:
    """Share (0-1) of the DEM pixels whose centre falls in each cell that lie above 0 m.

    Raises
    ------
    RegionError
        If the DEM cannot be read or is not in longitude/latitude.
    """
    import rasterio

    try:
        with rasterio.open(dem_path) as source:
            if source.crs is None or not source.crs.is_geographic:
                raise RegionError(f"{dem_path}: DEM CRS is {source.crs}; reproject it to EPSG:4326")
            elevation = source.read(1, masked=True).astype(float).filled(np.nan)
            transform = source.transform
    except rasterio.errors.RasterioIOError as err:
        raise RegionError(f"{dem_path}: cannot read the DEM ({err}); check the path") from None
    rows, cols = np.indices(elevation.shape)
    lon = transform.c + transform.a * (cols + 0.5)
    lat = transform.f + transform.e * (rows + 0.5)
    if grid.is_geographic:
        x, y = lon, lat
    else:
        x, y = grid.from_wgs84().transform(lon, lat)
    spec = grid.spec
    i = np.floor((np.asarray(x) - spec.x_origin) / spec.dx).astype(int)
    j = np.floor((np.asarray(y) - spec.y_origin) / spec.dy).astype(int)
    valid = np.isfinite(elevation) & (i >= 0) & (i < spec.nx) & (j >= 0) & (j < spec.ny)
    cell = (j * spec.nx + i)[valid]
    counted = np.bincount(cell, minlength=grid.size)
    land = np.bincount(cell, weights=elevation[valid] > 0.0, minlength=grid.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(counted > 0, land / counted, np.nan)
    coords = grid.coords()
    return xr.DataArray(
        share.reshape(grid.shape),
        dims=("y", "x"),
        coords={name: coords[name] for name in ("y", "x", "lat", "lon")},
        name="land_fraction",
        attrs={
            "units": "1",
            "long_name": "share of DEM pixels above 0 m in the cell",
            "source": f"{dem_path.name}; NaN where the DEM does not reach (treated as sea)",
        },
    )


def mean_wind_factors(fraction: xr.DataArray, factor_over_land: float) -> xr.DataArray:
    """Per cell, sea-to-local factor of the 10-min mean: ``1 - f (1 - factor_over_land)``."""
    land = fraction.fillna(0.0)
    return (1.0 - land * (1.0 - factor_over_land)).rename("mean_wind_factor")


def gust_factors(fraction: xr.DataArray) -> xr.DataArray:
    """Per cell, the 3-s gust over the 10-min mean blended between at-sea and in-land."""
    land = fraction.fillna(0.0)
    sea, inland = gust_factor("10 min", "at-sea"), gust_factor("10 min", "in-land")
    return (sea + land * (inland - sea)).rename("gust_factor")
