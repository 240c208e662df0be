"""Polygon layers: CRS checks, GCJ-02 conversion, bad geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from hazard_models.errors import GeometryError
from hazard_models.geometry import gcj02_to_wgs84, read_polygon_layer, wgs84_to_gcj02


def test_gcj02_conversion_reproduces_the_published_wgs84_copy(data_root: Path) -> None:
    # SOURCES.md 2.2: the WGS84 districts were made from the raw DataV GCJ-02 file with the
    # public inverse transform and rounded to 6 decimals; converting the raw file must agree.
    raw = read_polygon_layer(data_root / "boundaries/datav_440300_full_gcj02.json", "GCJ-02")
    derived = read_polygon_layer(
        data_root / "boundaries/shenzhen_districts_datav_wgs84.geojson", "WGS84"
    )
    assert [f.properties["adcode"] for f in raw] == [f.properties["adcode"] for f in derived]
    for ours, theirs in zip(raw, derived, strict=True):
        difference = shapely.get_coordinates(ours.geometry) - shapely.get_coordinates(
            theirs.geometry
        )
        assert np.abs(difference).max() < 1e-6


def test_gcj02_offset_is_hundreds_of_metres_in_shenzhen() -> None:
    # SOURCES.md 2.1/2.2: GCJ-02 is offset from WGS84 by "about 300-500 m" around Shenzhen
    # (measured there as vertex-to-outline distance, which understates a shift; 606 m here).
    lon, lat = wgs84_to_gcj02(np.array([114.06]), np.array([22.55]))
    offset_m = np.hypot((lon - 114.06) * 102_800, (lat - 22.55) * 110_800)[0]
    assert 300 < offset_m < 700
    back_lon, back_lat = gcj02_to_wgs84(lon, lat)
    assert abs(back_lon[0] - 114.06) < 1e-9 and abs(back_lat[0] - 22.55) < 1e-9


def test_datav_file_declared_wgs84_is_refused(data_root: Path) -> None:
    with pytest.raises(GeometryError, match="GCJ-02"):
        read_polygon_layer(data_root / "boundaries/datav_440300_full_gcj02.json", "WGS84")


def _write_layer(path: Path, coordinates: list, **extra: object) -> Path:
    document = {
        "type": "FeatureCollection",
        **extra,
        "features": [
            {
                "type": "Feature",
                "properties": {"id": "a", "name": "A"},
                "geometry": {"type": "Polygon", "coordinates": coordinates},
            }
        ],
    }
    path.write_text(json.dumps(document))
    return path


def test_projected_coordinates_declared_wgs84_are_refused(tmp_path: Path) -> None:
    # A Shenzhen cell in Web Mercator metres, wrongly declared as WGS84.
    square = [[[12696000, 2575000], [12697000, 2575000], [12697000, 2576000], [12696000, 2575000]]]
    with pytest.raises(GeometryError, match="not longitude/latitude degrees"):
        read_polygon_layer(_write_layer(tmp_path / "m.geojson", square), "WGS84")


def test_file_crs_member_must_match_the_configuration(tmp_path: Path) -> None:
    square = [[[114.0, 22.5], [114.01, 22.5], [114.01, 22.51], [114.0, 22.5]]]
    layer = _write_layer(
        tmp_path / "c.geojson", square, crs={"type": "name", "properties": {"name": "EPSG:3857"}}
    )
    with pytest.raises(GeometryError, match="the file says its crs is 'EPSG:3857'"):
        read_polygon_layer(layer, "WGS84")


def test_empty_and_invalid_polygons_name_the_feature(tmp_path: Path) -> None:
    empty = _write_layer(tmp_path / "e.geojson", [])
    with pytest.raises(GeometryError, match=r"feature 0 \(A\): polygon is empty"):
        read_polygon_layer(empty, "WGS84")
    bowtie = [[[114.0, 22.5], [114.01, 22.51], [114.01, 22.5], [114.0, 22.51], [114.0, 22.5]]]
    with pytest.raises(GeometryError, match="invalid polygon"):
        read_polygon_layer(_write_layer(tmp_path / "b.geojson", bowtie), "WGS84")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(GeometryError, match="file not found"):
        read_polygon_layer(tmp_path / "nope.geojson", "WGS84")
