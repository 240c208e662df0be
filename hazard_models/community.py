"""The community layer: the units warnings are issued for, with static attributes.

Shared data hold district polygons and official sub-district (街道) codes but no sub-district
or community polygons, so the default layer is the analysis-grid cells inside the city
outline (``kind: grid_cells``), each clipped to the outline and tagged with the district it
overlaps most. A user-supplied GeoJSON of community polygons (``kind: geojson``) goes
through the same steps. Sub-district codes come only from a layer that carries them: no
rule in the bundled data assigns a cell to a 街道 honestly, so the default layer leaves
``subdistrict_code`` empty.

Static attributes from real data: mean/min elevation, low-lying share, the share in closed
depressions (:mod:`hazard_models.terrain`) and DEM coverage from the DEM (pixels whose
centre lies in the community), and the number of official
waterlogging points whose third-party geocode falls inside the community *and* within
``max_offset`` of the district the official list names (geocodes that fail that check are
not counted; the layer's attributes report how many). Exposure/vulnerability attributes no
bundled data supports are configuration inputs (``attributes:``) that state their source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import xarray as xr
from pyproj import CRS, Transformer

from hazard_models.aggregation import AggregationWeights, overlap_weights
from hazard_models.config import CommunityLayerConfig, DemConfig, HotspotConfig, RegionConfig
from hazard_models.errors import RegionError
from hazard_models.geometry import Feature, read_polygon_layer, transform_geometries
from hazard_models.grid import AnalysisGrid, geodesic_area_km2
from hazard_models.terrain import depression_labels, fill_depressions
from ingest.contracts import validate_community_layer

__all__ = ["District", "build_community_layer", "load_districts"]

_NEAREST_DISTRICT_LIMIT_KM = 5.0


@dataclass(frozen=True)
class District:
    """A district polygon (WGS84) with its official code and name."""

    code: str
    name: str
    geometry: shapely.Geometry


def load_districts(region: RegionConfig) -> list[District]:
    """Read the district layer and check its codes against the official code list."""
    config = region.districts
    if config is None:
        return []
    features = read_polygon_layer(config.path, config.crs)
    official: dict[str, str] | None = None
    if config.codes_csv is not None:
        table = pd.read_csv(config.codes_csv, dtype=str)
        official = dict(zip(table["code"], table["name"], strict=True))
    districts = []
    for feature in features:
        code = str(feature.properties.get(config.code_property, "")).strip()
        name = str(feature.properties.get(config.name_property, "")).strip()
        if not code:
            raise RegionError(
                f"{config.path.name} feature {feature.index}: property "
                f"{config.code_property!r} is missing; set districts.code_property"
            )
        if official is not None and code not in official:
            raise RegionError(
                f"{config.path.name} feature {feature.index} ({name}): code {code} is not in "
                f"{config.codes_csv}; use the official GB/T 2260 code"
            )
        districts.append(
            District(
                code=code, name=official[code] if official else name, geometry=feature.geometry
            )
        )
    return districts


def _grid_communities(
    grid: AnalysisGrid, config: CommunityLayerConfig, outline_grid_crs: shapely.Geometry | None
) -> tuple[np.ndarray, list[str], list[str]]:
    """Blocks of grid cells inside the outline: geometries (grid CRS), ids, names."""
    spec, block = grid.spec, config.block_size
    rows, cols = np.meshgrid(
        np.arange(0, spec.ny, block), np.arange(0, spec.nx, block), indexing="ij"
    )
    x0 = spec.x_origin + spec.dx * cols
    x1 = spec.x_origin + spec.dx * np.minimum(cols + block, spec.nx)
    y0 = spec.y_origin + spec.dy * rows
    y1 = spec.y_origin + spec.dy * np.minimum(rows + block, spec.ny)
    boxes = shapely.box(
        x0.ravel(), np.minimum(y0, y1).ravel(), x1.ravel(), np.maximum(y0, y1).ravel()
    )
    row_index, col_index = rows.ravel(), cols.ravel()
    if outline_grid_crs is not None:
        shapely.prepare(outline_grid_crs)
        touching = shapely.intersects(outline_grid_crs, boxes)
        clipped = np.empty(boxes.size, dtype=object)
        clipped[:] = None
        clipped[touching] = shapely.intersection(boxes[touching], outline_grid_crs)
        inside = np.zeros(boxes.size)
        inside[touching] = shapely.area(clipped[touching]) / shapely.area(boxes[touching])
        keep = inside >= config.min_inside_fraction
        geometries = clipped[keep]
        row_index, col_index = row_index[keep], col_index[keep]
    else:
        geometries = boxes
    cell_ids = row_index * spec.nx + col_index
    pairs = list(zip(row_index, col_index, strict=True))
    if block == 1:
        ids = [f"cell-{cell}" for cell in cell_ids]
        names = [f"grid cell X={c} Y={r}" for r, c in pairs]
    else:
        ids = [f"block-{r // block}-{c // block}" for r, c in pairs]
        names = [f"{block}x{block} block at X={c} Y={r}" for r, c in pairs]
    return np.asarray(geometries), ids, names


def _assign_districts(
    geometries: np.ndarray, districts: Sequence[District]
) -> tuple[list[str], list[str], np.ndarray]:
    """District of largest overlap; nearest within 5 km for coastal slivers outside all."""
    n = geometries.size
    if not districts:
        return [""] * n, [""] * n, np.full(n, -1, dtype=np.int8)
    shapes = np.array([d.geometry for d in districts])
    overlap = np.zeros((n, len(districts)))
    tree = shapely.STRtree(shapes)
    index, district = tree.query(geometries, predicate="intersects")
    overlap[index, district] = shapely.area(
        shapely.intersection(geometries[index], shapes[district])
    )
    best = overlap.argmax(axis=1)
    method = np.where(overlap.max(axis=1) > 0, 0, 1).astype(np.int8)
    for i in np.flatnonzero(method == 1):
        distances = shapely.distance(geometries[i], shapes) * 111.0
        best[i] = int(distances.argmin())
        if distances[best[i]] > _NEAREST_DISTRICT_LIMIT_KM:
            method[i] = -1
    codes = [districts[b].code if m >= 0 else "" for b, m in zip(best, method, strict=True)]
    names = [districts[b].name if m >= 0 else "" for b, m in zip(best, method, strict=True)]
    return codes, names, method


def _dem_attributes(geometries: np.ndarray, dem: DemConfig) -> dict[str, xr.DataArray]:
    import rasterio
    from rasterio.features import rasterize
    from scipy import ndimage

    with rasterio.open(dem.path) as source:
        if source.crs is None or not CRS.from_user_input(source.crs.to_wkt()).equals(
            CRS.from_epsg(4326), ignore_axis_order=True
        ):
            raise RegionError(f"{dem.path}: DEM CRS is {source.crs}; reproject it to EPSG:4326")
        elevation = source.read(1, masked=True).astype(float).filled(np.nan)
        labels = rasterize(
            ((g, i + 1) for i, g in enumerate(geometries)),
            out_shape=elevation.shape,
            transform=source.transform,
            fill=0,
            dtype="int32",
        )
    n = geometries.size
    valid = np.isfinite(elevation)
    pixels = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    valid_labels = labels[valid]
    counted = np.bincount(valid_labels, minlength=n + 1)[1:]
    total = np.bincount(valid_labels, weights=elevation[valid], minlength=n + 1)[1:]
    low = np.bincount(
        valid_labels, weights=elevation[valid] <= dem.low_lying_threshold, minlength=n + 1
    )[1:]
    outlet = ~valid
    hollows, _ = depression_labels(
        elevation, fill_depressions(elevation, outlet), dem.depression_min_cells
    )
    in_hollow = np.bincount(valid_labels, weights=hollows[valid] > 0, minlength=n + 1)[1:]
    minimum = np.asarray(
        ndimage.minimum(
            np.where(valid, elevation, np.inf),
            labels=np.where(valid, labels, 0),
            index=np.arange(1, n + 1),
        ),
        dtype=float,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        has = counted > 0
        mean = np.where(has, total / counted, np.nan)
        low_share = np.where(has, low / counted, np.nan)
        hollow_share = np.where(has, in_hollow / counted, np.nan)
        coverage = np.where(pixels > 0, counted / pixels, 0.0)
    minimum = np.where(has, minimum, np.nan)
    source = f"{dem.source} ({dem.path.name}); pixels whose centre lies in the community"
    threshold = f"{dem.low_lying_threshold:g} m"
    return {
        "elevation_mean": xr.DataArray(
            mean, dims="community", attrs={"units": "m", "source": source}
        ),
        "elevation_min": xr.DataArray(
            minimum, dims="community", attrs={"units": "m", "source": source}
        ),
        "low_lying_fraction": xr.DataArray(
            low_share,
            dims="community",
            attrs={
                "units": "1",
                "source": source,
                "long_name": f"share of DEM pixels at or below {threshold}",
                "threshold": threshold,
                "threshold_source": dem.low_lying_source,
            },
        ),
        "depression_fraction": xr.DataArray(
            hollow_share,
            dims="community",
            attrs={
                "units": "1",
                "source": source,
                "long_name": "share of DEM pixels in a closed depression",
                "comment": (
                    "cells a priority-flood fill raises, in groups of at least "
                    f"{dem.depression_min_cells} pixels (hazard_models.terrain)"
                ),
            },
        ),
        "dem_coverage": xr.DataArray(
            coverage,
            dims="community",
            attrs={"units": "1", "source": source, "long_name": "share of pixels with DEM data"},
        ),
    }


def _hotspot_counts(
    geometries: np.ndarray, districts: Sequence[District], config: HotspotConfig
) -> xr.DataArray:
    table = pd.read_csv(config.path, dtype={config.district_column: str})
    for column in (config.lat_column, config.lon_column, config.district_column):
        if column not in table.columns:
            raise RegionError(
                f"{config.path}: column {column!r} is missing (columns: {list(table.columns)}); "
                "set waterlogging_points.*_column"
            )
    lat = pd.to_numeric(table[config.lat_column], errors="coerce").to_numpy()
    lon = pd.to_numeric(table[config.lon_column], errors="coerce").to_numpy()
    points = shapely.points(np.where(np.isfinite(lon), lon, 0), np.where(np.isfinite(lat), lat, 0))
    centre = shapely.centroid(shapely.union_all(geometries))
    zone = int((centre.x + 180) // 6) + 1
    to_metres = Transformer.from_crs(4326, CRS.from_epsg(32600 + zone), always_xy=True)
    points_metres = transform_geometries(points, to_metres)
    district_metres = {d.name: transform_geometries(d.geometry, to_metres) for d in districts}
    accepted = np.zeros(len(table), dtype=bool)
    for row, name in enumerate(table[config.district_column]):
        name = str(name).strip()
        district = district_metres.get(config.district_aliases.get(name, name))
        if district is None or not (np.isfinite(lat[row]) and np.isfinite(lon[row])):
            continue
        accepted[row] = shapely.distance(points_metres[row], district) <= config.max_offset
    tree = shapely.STRtree(geometries)
    point_index, community_index = tree.query(points[accepted], predicate="intersects")
    _, first = np.unique(point_index, return_index=True)
    counts = np.bincount(community_index[first], minlength=geometries.size)
    return xr.DataArray(
        counts.astype(np.int32),
        dims="community",
        attrs={
            "units": "1",
            "long_name": "official waterlogging points in the community",
            "source": f"{config.source} ({config.path.name})",
            "points_listed": len(table),
            "points_rejected_geocode": int((~accepted).sum()),
            "points_counted": int(first.size),
            "rule": f"geocode inside the community and within {config.max_offset:g} m of the "
            "district the official list names",
        },
    )


def build_community_layer(
    region: RegionConfig, config: CommunityLayerConfig, grid: AnalysisGrid
) -> tuple[xr.Dataset, AggregationWeights]:
    """Build the community layer and its grid → community weights.

    Returns
    -------
    communities
        Dataset following the community-layer contract (:mod:`ingest.contracts`).
    weights
        Sparse overlap weights from the analysis grid to the communities.
    """
    to_grid = grid.from_wgs84()
    districts = load_districts(region)
    if config.kind == "geojson":
        assert config.layer is not None
        features = read_polygon_layer(config.layer.path, config.layer.crs)
        geometries_wgs84 = np.array([f.geometry for f in features])
        ids = _feature_property(features, config.id_property, config.layer.path.name)
        names = _feature_property(features, config.name_property, config.layer.path.name)
        geometries_grid = (
            geometries_wgs84
            if grid.is_geographic
            else transform_geometries(geometries_wgs84, to_grid)
        )
    else:
        outline = None
        if region.outline is not None:
            outline_features = read_polygon_layer(region.outline.path, region.outline.crs)
            outline = shapely.union_all([f.geometry for f in outline_features])
            if not grid.is_geographic:
                outline = transform_geometries(outline, to_grid)
        geometries_grid, ids, names = _grid_communities(grid, config, outline)
        geometries_wgs84 = (
            geometries_grid
            if grid.is_geographic
            else transform_geometries(geometries_grid, grid.to_wgs84())
        )
    if geometries_grid.size == 0:
        raise RegionError(
            f"region {region.name}: no community lies inside the outline; check the grid "
            "origin/spacing and the outline's CRS"
        )
    weights = overlap_weights(grid, geometries_grid)
    district_codes, district_names, method = _assign_districts(geometries_wgs84, districts)
    if config.kind == "geojson" and config.district_property:
        assert config.layer is not None
        district_codes = _feature_property(
            features, config.district_property, config.layer.path.name
        )
    subdistricts = [""] * geometries_wgs84.size
    if config.kind == "geojson" and config.subdistrict_property:
        assert config.layer is not None
        subdistricts = _feature_property(
            features, config.subdistrict_property, config.layer.path.name
        )
    centroids = shapely.centroid(geometries_wgs84)
    geometry_source = (
        f"{config.layer.source} ({config.layer.path.name})"
        if config.layer is not None
        else f"analysis grid: {grid.spec.source}"
    )
    data: dict[str, xr.DataArray] = {
        "geometry_wkt": xr.DataArray(
            shapely.to_wkt(geometries_wgs84, rounding_precision=6),
            dims="community",
            attrs={"crs": "EPSG:4326"},
        ),
        "lon": xr.DataArray(
            shapely.get_x(centroids),
            dims="community",
            attrs={"units": "degrees_east", "source": "centroid of geometry"},
        ),
        "lat": xr.DataArray(
            shapely.get_y(centroids),
            dims="community",
            attrs={"units": "degrees_north", "source": "centroid of geometry"},
        ),
        "area": xr.DataArray(
            geodesic_area_km2(geometries_wgs84),
            dims="community",
            attrs={"units": "km2", "source": "geodesic area of geometry"},
        ),
        "district_assignment": xr.DataArray(
            method,
            dims="community",
            attrs={
                "units": "1",
                "source": "overlap with the district layer",
                "flag_values": np.array([-1, 0, 1], dtype=np.int8),
                "flag_meanings": "none largest_overlap nearest_within_5km",
            },
        ),
    }
    if config.dem is not None:
        data.update(_dem_attributes(geometries_wgs84, config.dem))
    if config.waterlogging_points is not None:
        data["waterlogging_hotspots"] = _hotspot_counts(
            geometries_wgs84, districts, config.waterlogging_points
        )
    for name, attribute in config.attributes.items():
        values = [attribute.by_district.get(code, np.nan) for code in district_codes]
        data[name] = xr.DataArray(
            np.asarray(values, dtype=float),
            dims="community",
            attrs={"units": attribute.units, "source": attribute.source},
        )
    layer = xr.Dataset(
        data,
        coords={
            "community_id": ("community", np.asarray(ids, dtype=str)),
            "community_name": ("community", np.asarray(names, dtype=str)),
            "district_code": ("community", np.asarray(district_codes, dtype=str)),
            "district_name": ("community", np.asarray(district_names, dtype=str)),
            "subdistrict_code": ("community", np.asarray(subdistricts, dtype=str)),
        },
        attrs={
            "title": f"community layer of {region.name}",
            "kind": config.kind,
            "geometry_source": geometry_source,
            "subdistrict_rule": (
                "from the layer's property " + config.subdistrict_property
                if config.subdistrict_property
                else "none: no sub-district polygons exist in the data; left empty"
            ),
        },
    )
    return validate_community_layer(layer), weights


def _feature_property(features: Sequence[Feature], name: str, file: str) -> list[str]:
    values = []
    for feature in features:
        value = feature.properties.get(name)
        if value is None or str(value).strip() == "":
            raise RegionError(
                f"{file} feature {feature.index}: property {name!r} is missing; add it or set "
                "the matching *_property key of 'communities'"
            )
        values.append(str(value).strip())
    return values
