"""Asset geometries: GeoJSON in WGS84, checked with shapely, and distances in metres.

An asset is a GeoJSON ``Point``, ``LineString`` or ``Polygon`` (RFC 7946) in WGS84
longitude/latitude degrees; a position is exactly ``[lon, lat]`` (no altitude). A polygon's
rings must be closed (last position repeats the first) and the polygon must be valid in the
OGC sense (no self-intersection, holes inside the shell), which shapely checks.

A configured :class:`RegionBounds` (default :data:`EARTH`) refuses assets outside the
deployment's region, so a swapped ``[lat, lon]`` pair is caught at registration.

Distances use an azimuthal equidistant projection centred on the asset, so an asset with a
buffer of ``1 km`` matches an area whose nearest point is at most 1 km away on the ellipsoid
(to well under a metre for buffers of tens of kilometres). Geometries crossing the
antimeridian are not supported.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Annotated, Any, Literal

import numpy as np
import shapely
from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

__all__ = [
    "EARTH",
    "Geometry",
    "LineStringGeometry",
    "PointGeometry",
    "PolygonGeometry",
    "RegionBounds",
    "envelope",
    "region_bounds",
    "within_distance",
]

_METRES_PER_DEGREE_LATITUDE = 110_000.0  # shortest degree is 110.57 km: errs on the wide side
_METRES_PER_DEGREE_EQUATOR = 111_000.0  # degree of longitude at the equator is 111.32 km

Coordinate = Annotated[float, Strict(), AllowInfNan(False)]


def _check_position(position: tuple[float, float]) -> tuple[float, float]:
    lon, lat = position
    if not -180.0 <= lon <= 180.0:
        raise ValueError(
            f"longitude {lon} is outside [-180, 180]; positions are [lon, lat] in WGS84 degrees"
        )
    if not -90.0 <= lat <= 90.0:
        raise ValueError(
            f"latitude {lat} is outside [-90, 90]; positions are [lon, lat] in WGS84 degrees"
        )
    return position


Position = Annotated[tuple[Coordinate, Coordinate], AfterValidator(_check_position)]


class _GeoJSON(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_shapely(self) -> BaseGeometry:
        """Return the geometry as a shapely object (lon, lat degrees).

        Built once per distinct geometry (validation, matching and impact assessment each
        ask for it; shapely geometries are immutable, so one object is shared)."""
        return _shape(self)


@lru_cache(maxsize=100_000)
def _shape(geometry: _GeoJSON) -> BaseGeometry:
    return shapely.geometry.shape(geometry.model_dump(mode="json"))


class PointGeometry(_GeoJSON):
    """A GeoJSON Point: one ``[lon, lat]`` position."""

    type: Literal["Point"]
    coordinates: Position


class LineStringGeometry(_GeoJSON):
    """A GeoJSON LineString: two or more positions, not all the same."""

    type: Literal["LineString"]
    coordinates: Annotated[tuple[Position, ...], Field(min_length=2, max_length=100_000)]

    @model_validator(mode="after")
    def _has_length(self) -> LineStringGeometry:
        if len(set(self.coordinates)) < 2:
            raise ValueError("all positions of the line are the same; give a Point instead")
        return self


Ring = Annotated[tuple[Position, ...], Field(min_length=4, max_length=100_000)]


class PolygonGeometry(_GeoJSON):
    """A GeoJSON Polygon: a closed shell and optional closed holes, valid per OGC."""

    type: Literal["Polygon"]
    coordinates: Annotated[tuple[Ring, ...], Field(min_length=1, max_length=1_000)]

    @model_validator(mode="after")
    def _closed_and_valid(self) -> PolygonGeometry:
        for index, ring in enumerate(self.coordinates):
            if ring[0] != ring[-1]:
                raise ValueError(
                    f"ring {index} is not closed: it starts at {list(ring[0])} and ends at "
                    f"{list(ring[-1])}; repeat the first position at the end"
                )
        polygon = self.to_shapely()
        if not polygon.is_valid:
            raise ValueError(
                f"polygon is not valid ({shapely.is_valid_reason(polygon)}); "
                "remove the self-intersection or fix the holes, e.g. with shapely.make_valid"
            )
        if polygon.area == 0.0:
            raise ValueError("polygon has zero area; give a Point or LineString instead")
        return self


Geometry = Annotated[
    PointGeometry | LineStringGeometry | PolygonGeometry, Field(discriminator="type")
]
"""An asset geometry, told apart by its GeoJSON ``type``."""


class RegionBounds(BaseModel):
    """The region assets must lie in, as WGS84 (min_lon, min_lat, max_lon, max_lat)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    min_lat: Annotated[float, Field(ge=-90.0, le=90.0)]
    max_lon: Annotated[float, Field(ge=-180.0, le=180.0)]
    max_lat: Annotated[float, Field(ge=-90.0, le=90.0)]

    @model_validator(mode="after")
    def _not_empty(self) -> RegionBounds:
        if self.min_lon >= self.max_lon or self.min_lat >= self.max_lat:
            raise ValueError(
                f"region ({self.min_lon}, {self.min_lat}, {self.max_lon}, {self.max_lat}) is "
                "empty; give (min_lon, min_lat, max_lon, max_lat) with min < max"
            )
        return self

    def problem(self, geometry: BaseGeometry) -> str | None:
        """Say why ``geometry`` is outside the region, or return None when it is inside."""
        region = shapely.box(self.min_lon, self.min_lat, self.max_lon, self.max_lat)
        if region.covers(geometry):
            return None
        swapped = shapely.transform(geometry, lambda xy: xy[:, ::-1])
        hint = (
            "; the positions look like [lat, lon]: GeoJSON wants [lon, lat]"
            if region.covers(swapped)
            else "; check the asset's location"
        )
        return (
            f"lies outside the configured region (lon {self.min_lon}..{self.max_lon}, "
            f"lat {self.min_lat}..{self.max_lat}){hint}"
        )


EARTH = RegionBounds(min_lon=-180.0, min_lat=-90.0, max_lon=180.0, max_lat=90.0)
"""The default region: anywhere on Earth."""


def region_bounds(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> RegionBounds:
    """Return the region check for assets inside (min_lon, min_lat, max_lon, max_lat).

    Examples
    --------
    >>> region_bounds(113.7, 22.3, 114.7, 22.9).problem(shapely.Point(114.27, 22.57)) is None
    True
    """
    return RegionBounds(min_lon=min_lon, min_lat=min_lat, max_lon=max_lon, max_lat=max_lat)


def envelope(geometry: BaseGeometry, buffer_m: float) -> tuple[float, float, float, float]:
    """Return a lon/lat box that contains ``geometry`` grown by ``buffer_m`` metres.

    The box errs on the wide side (it is a prefilter); near the poles it spans all
    longitudes.
    """
    min_lon, min_lat, max_lon, max_lat = (float(value) for value in geometry.bounds)
    if buffer_m <= 0.0:
        return min_lon, min_lat, max_lon, max_lat
    grow_lat = buffer_m / _METRES_PER_DEGREE_LATITUDE
    min_lat, max_lat = max(-90.0, min_lat - grow_lat), min(90.0, max_lat + grow_lat)
    widest = math.cos(math.radians(max(abs(min_lat), abs(max_lat))))
    grow_lon = buffer_m / (_METRES_PER_DEGREE_EQUATOR * widest) if widest > 1e-9 else 360.0
    if grow_lon >= 180.0:
        return -180.0, min_lat, 180.0, max_lat
    return max(-180.0, min_lon - grow_lon), min_lat, min(180.0, max_lon + grow_lon), max_lat


def within_distance(asset: BaseGeometry, buffer_m: float, area: BaseGeometry) -> bool:
    """Return whether ``area`` comes within ``buffer_m`` metres of ``asset``.

    Notes
    -----
    With no buffer this is ``asset.intersects(area)`` in degrees. With a buffer both shapes
    are projected to an azimuthal equidistant plane centred on the asset (WGS84 ellipsoid)
    and their shortest distance is compared with the buffer.
    """
    if asset.intersects(area):
        return True
    if buffer_m <= 0.0:
        return False
    centre = asset.representative_point()
    transformer = Transformer.from_crs(
        "EPSG:4326",
        f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +datum=WGS84 +units=m",
        always_xy=True,
    )

    def project(xy: Any) -> Any:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack((np.asarray(x, dtype=float), np.asarray(y, dtype=float)))

    projected_asset = shapely.transform(asset, project)
    projected_area = shapely.transform(area, project)
    return float(shapely.distance(projected_asset, projected_area)) <= buffer_m
