"""The Shenzhen region and its default community layer, from the real data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import shapely
import xarray as xr

from hazard_models.config import CommunityLayerConfig
from hazard_models.region import load_region, region_cache_key


def test_default_layer_has_at_least_1500_cells_with_dem_attributes(shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    layer = shenzhen_region.communities
    with_dem = (
        np.isfinite(layer["elevation_mean"].values)
        & np.isfinite(layer["elevation_min"].values)
        & np.isfinite(layer["low_lying_fraction"].values)
    )
    assert layer.sizes["community"] >= 1500
    assert with_dem.sum() >= 1500
    # the DEM misses Neilingding Island south of 22.45 N and a sliver of Bao'an north of
    # 22.85 N (SOURCES.md 6.1): cells without DEM data lie there, not scattered in the city
    missing_lat = layer["lat"].values[~with_dem]
    assert ((missing_lat < 22.46) | (missing_lat > 22.85)).all()
    assert (layer["elevation_min"] <= layer["elevation_mean"]).where(with_dem, True).all()
    # the official grid id is 92*Y + X for the cell's lower-left corner
    first = str(layer["community_id"].values[0])
    cell = int(first.split("-")[1])
    x, y = cell % 92, cell // 92
    polygon = shapely.from_wkt(str(layer["geometry_wkt"].values[0]))
    assert polygon.bounds[0] >= 113.7333 + 0.01 * x - 1e-9
    assert polygon.bounds[1] >= 22.40 + 0.01 * y - 1e-9


def test_every_cell_has_an_official_district_code(shenzhen_region, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    with open(data_root / "admin_codes/shenzhen_districts_nbs2023.csv", encoding="utf-8") as f:
        official = {row["code"]: row["name"] for row in csv.DictReader(f)}
    layer = shenzhen_region.communities
    codes = set(layer["district_code"].values.tolist())
    assert codes == set(official)
    for code, name in zip(
        layer["district_code"].values, layer["district_name"].values, strict=True
    ):
        assert official[str(code)] == str(name)
    # no rule assigns a cell to a sub-district honestly: the default layer leaves it empty
    assert set(layer["subdistrict_code"].values.tolist()) == {""}


def test_total_area_is_close_to_the_city_outline(shenzhen_region, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    from hazard_models.geometry import read_polygon_layer
    from hazard_models.grid import geodesic_area_km2

    outline = read_polygon_layer(data_root / "boundaries/shenzhen_city_outline.geojson", "WGS84")
    city_km2 = geodesic_area_km2(np.array([f.geometry for f in outline])).sum()
    layer_km2 = float(shenzhen_region.communities["area"].sum())
    # cells at least half inside the outline, clipped to it: within 5 % of the city's area
    assert abs(layer_km2 - city_km2) / city_km2 < 0.05


def test_waterlogging_points_with_wrong_geocodes_are_not_counted(shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    layer = shenzhen_region.communities
    hotspots = layer["waterlogging_hotspots"]
    geometries = shapely.from_wkt(layer["geometry_wkt"].values.astype(str))
    # SOURCES.md 5 names geocodes that are clearly wrong, e.g. 沙头村 (盐田区) placed at
    # 113.803 E in Bao'an; the community holding that point must not count it.
    wrong = shapely.Point(113.803302, 22.732611)
    holder = np.flatnonzero(shapely.contains(geometries, wrong))
    assert holder.size == 1 and layer["district_name"].values[holder[0]] != "盐田区"
    # A correct one: 石厦碉楼巷 (福田区, 福保街道) lies in Futian and is counted.
    right = shapely.Point(114.045495, 22.523562)
    holder = np.flatnonzero(shapely.contains(geometries, right))
    assert layer["district_name"].values[holder[0]] == "福田区"
    assert int(hotspots.values[holder[0]]) >= 1
    assert 0 < hotspots.attrs["points_rejected_geocode"] < 206
    assert int(hotspots.sum()) <= 206 - hotspots.attrs["points_rejected_geocode"]


def test_region_is_cached_and_rebuilt_when_an_input_changes(
    shenzhen_settings,
    shenzhen_region,
    cache_dir: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    again = load_region(shenzhen_settings.region, shenzhen_settings.communities, cache_dir)
    xr.testing.assert_identical(again.communities, shenzhen_region.communities)
    assert (again.weights.matrix != shenzhen_region.weights.matrix).nnz == 0
    # a copy of the hotspot file with one row less gives another cache key
    points = shenzhen_settings.communities.waterlogging_points
    lines = points.path.read_text(encoding="utf-8").splitlines()
    shorter = tmp_path / "points.csv"
    shorter.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    changed = shenzhen_settings.communities.model_copy(
        update={"waterlogging_points": points.model_copy(update={"path": shorter})}
    )
    assert region_cache_key(shenzhen_settings.region, changed) != region_cache_key(
        shenzhen_settings.region, shenzhen_settings.communities
    )


def test_user_polygons_work_like_the_default_layer(shenzhen_settings, data_root: Path) -> None:  # type: ignore[no-untyped-def]
    # The district polygons, supplied as a user community layer: nine communities whose
    # area-weighted weights cover the grid and whose DEM attributes come out too.
    communities = CommunityLayerConfig.model_validate(
        {
            "kind": "geojson",
            "layer": {
                "path": data_root / "boundaries/shenzhen_districts_datav_wgs84.geojson",
                "crs": "WGS84",
                "source": "DataV districts as a test community layer",
            },
            "id_property": "adcode",
            "name_property": "name",
            "dem": shenzhen_settings.communities.dem,
        }
    )
    region = load_region(shenzhen_settings.region, communities, None)
    layer = region.communities
    assert layer.sizes["community"] == 9
    assert np.allclose(region.weights.matrix.sum(axis=1), 1.0)
    # each district is its own best-overlapping district
    assert (layer["district_code"].values == layer["community_id"].values).all()
    assert np.isfinite(layer["elevation_mean"].values).all()
    # Futian is lower on average than Yantian, whose district is mostly hills
    by_name = dict(zip(layer["community_name"].values, layer["elevation_mean"].values, strict=True))
    assert by_name["福田区"] < by_name["盐田区"]
