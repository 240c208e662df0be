"""Polygon layers: read GeoJSON, check the CRS, convert GCJ-02, refuse bad geometry.

Every polygon that enters yujing is turned into WGS84 (EPSG:4326) shapely geometry here.

GCJ-02 ("Mars coordinates") is the obfuscated datum of Chinese web maps (Amap/AutoNavi,
and the Aliyun DataV.GeoAtlas boundaries derived from it); around Shenzhen it is offset
from WGS84 by 300-500 m. A layer declared ``crs: GCJ-02`` is converted with the inverse of
the public GCJ-02 forward formulas (Krasovsky ellipsoid, a = 6378245 m,
e² = 0.00669342162296594323), solved by fixed-point iteration to 1e-10°. A DataV file
declared as WGS84 is refused, because that silent mix-up shifts every community.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from hazard_models.errors import GeometryError

__all__ = [
    "Feature",
    "gcj02_to_wgs84",
    "read_polygon_layer",
    "transform_geometries",
    "wgs84_to_gcj02",
]

_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
#: Properties only Aliyun DataV.GeoAtlas files carry; those files are GCJ-02.
_DATAV_PROPERTIES = frozenset({"acroutes", "childrenNum", "subFeatureIndex"})


@dataclass(frozen=True)
class Feature:
    """One polygon feature in WGS84 with its properties."""

    index: int
    geometry: BaseGeometry
    properties: dict[str, Any]


def _offset_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    result += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    result += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    result += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return result


def _offset_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    result += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    result += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    result += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return result


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward GCJ-02 transform of WGS84 longitudes and latitudes (degrees)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    d_lat = _offset_lat(lon - 105.0, lat - 35.0)
    d_lon = _offset_lon(lon - 105.0, lat - 35.0)
    rad_lat = np.radians(lat)
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = d_lon * 180.0 / (_KRASOVSKY_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84(
    lon: np.ndarray, lat: np.ndarray, tolerance: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse GCJ-02 transform by fixed-point iteration (degrees in, degrees out)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    wgs_lon, wgs_lat = lon.copy(), lat.copy()
    for _ in range(50):
        fwd_lon, fwd_lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
        err_lon, err_lat = fwd_lon - lon, fwd_lat - lat
        wgs_lon -= err_lon
        wgs_lat -= err_lat
        if max(np.abs(err_lon).max(initial=0), np.abs(err_lat).max(initial=0)) < tolerance:
            break
    return wgs_lon, wgs_lat


def transform_geometries(geometries: Any, transformer: Transformer) -> Any:
    """Apply a pyproj ``transformer`` (built with ``always_xy=True``) to shapely geometries.

    Works on one geometry or an array of them and returns the same kind.
    """
    return shapely.transform(
        geometries, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def _declared_crs(name: str, path: Path) -> CRS | None:
    """The pyproj CRS declared in configuration; ``None`` for GCJ-02."""
    if name.upper().replace("_", "-") in {"GCJ-02", "GCJ02"}:
        return None
    try:
        return CRS.from_user_input("EPSG:4326" if name.upper() == "WGS84" else name)
    except Exception as err:  # noqa: BLE001 - pyproj raises several types
        raise GeometryError(
            f"{path}: crs {name!r} is not understood ({err}); use 'WGS84', 'GCJ-02' or an EPSG code"
        ) from None


def _check_file_crs(document: dict[str, Any], declared: CRS | None, path: Path) -> None:
    """Compare the GeoJSON's own ``crs`` member (old GeoJSON) with the configured one."""
    member = document.get("crs", {}).get("properties", {}).get("name")
    if member is None:
        return
    file_crs = CRS.from_user_input("EPSG:4326" if "CRS84" in member else member)
    if declared is None or not file_crs.equals(declared, ignore_axis_order=True):
        raise GeometryError(
            f"{path}: the file says its crs is {member!r} but the configuration declares "
            f"{declared.to_string() if declared else 'GCJ-02'}; fix the 'crs' key"
        )


def read_polygon_layer(path: Path, crs: str) -> list[Feature]:
    """Read polygon features from GeoJSON and return them in WGS84.

    Raises
    ------
    GeometryError
        Missing file, not GeoJSON, a DataV (GCJ-02) file declared WGS84, coordinates that
        are not degrees, or an empty/invalid polygon (naming the feature).
    """
    path = Path(path)
    if not path.exists():
        raise GeometryError(f"{path}: file not found; fix the layer's 'path'")
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GeometryError(f"{path}: not valid GeoJSON ({err}); export the layer again") from None
    features = document.get("features") if isinstance(document, dict) else None
    if not features:
        raise GeometryError(f"{path}: no 'features'; give a GeoJSON FeatureCollection")
    declared = _declared_crs(crs, path)
    _check_file_crs(document, declared, path)
    to_wgs84 = None
    if declared is not None and not declared.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        to_wgs84 = Transformer.from_crs(declared, CRS.from_epsg(4326), always_xy=True)
    result = []
    for index, raw in enumerate(features):
        properties = dict(raw.get("properties") or {})
        label = f"{path.name} feature {index} ({properties.get('name', properties.get('id', '?'))})"
        if declared is not None and _DATAV_PROPERTIES & properties.keys() and to_wgs84 is None:
            raise GeometryError(
                f"{label}: this is an Aliyun DataV file, whose coordinates are GCJ-02, but the "
                "configuration declares WGS84; set crs: GCJ-02 (converted on load) or use the "
                "WGS84 copy"
            )
        if raw.get("geometry") is None:
            raise GeometryError(f"{label}: has no geometry; remove the feature or draw it")
        try:
            geometry = shape(raw["geometry"])
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise GeometryError(f"{label}: unreadable geometry ({err})") from None
        geometry = _to_wgs84(geometry, declared, to_wgs84, label)
        if geometry.geom_type not in {"Polygon", "MultiPolygon"}:
            raise GeometryError(
                f"{label}: is a {geometry.geom_type}; community layers need polygons"
            )
        if geometry.is_empty:
            raise GeometryError(f"{label}: polygon is empty; remove the feature or draw it")
        if not geometry.is_valid:
            reason = shapely.is_valid_reason(geometry)
            raise GeometryError(f"{label}: invalid polygon ({reason}); repair it (e.g. make_valid)")
        if geometry.area == 0:
            raise GeometryError(f"{label}: polygon has no area; remove the feature or draw it")
        result.append(Feature(index=index, geometry=geometry, properties=properties))
    return result


def _to_wgs84(
    geometry: BaseGeometry, declared: CRS | None, to_wgs84: Transformer | None, label: str
) -> BaseGeometry:
    if to_wgs84 is not None:
        return transform_geometries(geometry, to_wgs84)
    coords = shapely.get_coordinates(geometry)
    if coords.size and (np.abs(coords[:, 0]).max() > 180 or np.abs(coords[:, 1]).max() > 90):
        raise GeometryError(
            f"{label}: coordinates such as ({coords[0, 0]:.1f}, {coords[0, 1]:.1f}) are not "
            "longitude/latitude degrees; declare the layer's projected CRS with 'crs: EPSG:<code>'"
        )
    if declared is None:
        return shapely.transform(
            geometry, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1]))
        )
    return geometry
