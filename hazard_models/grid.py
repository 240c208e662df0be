"""The analysis grid: a regular grid in any CRS, its cells as polygons, its coordinates.

Shenzhen's default is the city's official 1-km analysis grid (cell lower-left corner
``lon = 113.7333 + 0.01·X``, ``lat = 22.40 + 0.01·Y``, X 0..91, Y 0..45, id ``92·Y + X``);
the KNMI demo uses the 1-km polar-stereographic radar grid. Both are a :class:`GridSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely
import xarray as xr
from pyproj import CRS, Transformer

from hazard_models.config import GridSpec

__all__ = ["AnalysisGrid", "geodesic_area_km2"]


@dataclass(frozen=True)
class AnalysisGrid:
    """A regular grid defined by a :class:`~hazard_models.config.GridSpec`.

    Cell ``(j, i)`` is row ``j`` (along ``y``) and column ``i`` (along ``x``); its flat
    index is ``j * nx + i``, which for Shenzhen is the official cell id ``92·Y + X``.
    """

    spec: GridSpec

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return (self.spec.ny, self.spec.nx)

    @property
    def size(self) -> int:
        """Number of cells."""
        return self.spec.ny * self.spec.nx

    @cached_property
    def crs(self) -> CRS:
        """The grid's CRS."""
        return CRS.from_user_input(self.spec.crs)

    @property
    def is_geographic(self) -> bool:
        """True when the grid is in longitude/latitude degrees."""
        return bool(self.crs.is_geographic)

    @property
    def x(self) -> np.ndarray:
        """Cell-centre x coordinates (``nx``)."""
        return self.spec.x_origin + self.spec.dx * (np.arange(self.spec.nx) + 0.5)

    @property
    def y(self) -> np.ndarray:
        """Cell-centre y coordinates (``ny``); descending when ``dy < 0``."""
        return self.spec.y_origin + self.spec.dy * (np.arange(self.spec.ny) + 0.5)

    def to_wgs84(self) -> Transformer:
        """Transformer from grid coordinates to WGS84 lon/lat."""
        return Transformer.from_crs(self.crs, CRS.from_epsg(4326), always_xy=True)

    def from_wgs84(self) -> Transformer:
        """Transformer from WGS84 lon/lat to grid coordinates."""
        return Transformer.from_crs(CRS.from_epsg(4326), self.crs, always_xy=True)

    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """2-D arrays of cell-centre longitude and latitude, shape ``(ny, nx)``."""
        xx, yy = np.meshgrid(self.x, self.y)
        if self.is_geographic:
            return xx, yy
        lon, lat = self.to_wgs84().transform(xx, yy)
        return np.asarray(lon), np.asarray(lat)

    def cell_boxes(self) -> np.ndarray:
        """Flat array (``ny * nx``) of shapely boxes, one per cell, in grid coordinates."""
        spec = self.spec
        i, j = np.meshgrid(np.arange(spec.nx), np.arange(spec.ny))
        x0 = spec.x_origin + spec.dx * i
        y0 = spec.y_origin + spec.dy * j
        y1 = y0 + spec.dy
        return shapely.box(
            x0.ravel(),
            np.minimum(y0, y1).ravel(),
            (x0 + spec.dx).ravel(),
            np.maximum(y0, y1).ravel(),
        )

    def area_factor(self) -> np.ndarray:
        """Relative true area of each cell (flat), for area weighting.

        For a longitude/latitude grid this is ``cos(latitude)`` of the cell centre (cells of
        equal angular size shrink towards the poles); for a projected grid it is 1.
        """
        if not self.is_geographic:
            return np.ones(self.size)
        _, lat = np.meshgrid(self.x, self.y)
        return np.cos(np.radians(lat)).ravel()

    def coords(self) -> dict[str, xr.DataArray]:
        """Coordinates (``y``, ``x``, 2-D ``lat``/``lon``) for a dataset on this grid."""
        lon, lat = self.lonlat()
        units = "degrees" if self.is_geographic else str(self.crs.axis_info[0].unit_name)
        return {
            "y": xr.DataArray(self.y, dims="y", attrs={"units": units, "axis": "Y"}),
            "x": xr.DataArray(self.x, dims="x", attrs={"units": units, "axis": "X"}),
            "lat": xr.DataArray(
                lat, dims=("y", "x"), attrs={"units": "degrees_north", "standard_name": "latitude"}
            ),
            "lon": xr.DataArray(
                lon, dims=("y", "x"), attrs={"units": "degrees_east", "standard_name": "longitude"}
            ),
        }

    def matches(self, field: xr.Dataset | xr.DataArray, tolerance: float = 1e-6) -> bool:
        """True when ``field`` has this grid's ``y``/``x`` cell centres."""
        if "x" not in field.coords or "y" not in field.coords:
            return False
        x, y = np.asarray(field["x"].values), np.asarray(field["y"].values)
        scale = max(abs(self.spec.dx), abs(self.spec.dy))
        return bool(
            x.shape == self.x.shape
            and y.shape == self.y.shape
            and np.allclose(x, self.x, atol=tolerance * scale)
            and np.allclose(y, self.y, atol=tolerance * scale)
        )


def geodesic_area_km2(geometries: np.ndarray) -> np.ndarray:
    """Area on the WGS84 ellipsoid (km²) of lon/lat polygons."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    return np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for g in geometries])
