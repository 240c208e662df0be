"""Which terrain measure of the Shenzhen DEM points to the city's official waterlogging points?

Data: the SRTM GL1 DEM (``dem/shenzhen_srtmgl1_30m.tif``), the 206 official waterlogging
points of 2019 and the 148 road-ponding monitoring stations with third-party geocodes
(``waterlogging/*_geocoded_thirdparty.csv``; SOURCES.md 5, 6.1), the default community
layer of ``configs/shenzhen.yaml`` (1-km cells).

Scores are ROC AUC (0.5: no better than chance):

- *communities*: the 1-km communities holding a listed point (the ``waterlogging_hotspots``
  attribute) against the others, ranked by each static attribute;
- *points*: the listed points (and, separately, the monitoring stations) against 20,000
  random points inside the city outline (seed 0), ranked by the terrain at the point;
- *fill-spill pond*: the experiment behind the decision not to ship a ponding-depth model.
  Every grid cell gets the same 20 mm of rain beyond the drains; each cell's excess runs to
  the depression its watershed basin drains to (skimage watershed from the depressions
  and the outlets), fills it as one pool up to its spill level, and the pond's mean depth
  (volume / flooded area) is the score.

Run: ``.venv/bin/python benchmarks/waterlogging_terrain.py [--write PATH]``; results in
``docs/waterlogging_terrain.md``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import shapely
from _report import REPO, report_main
from rasterio.transform import rowcol
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from hazard_models.geometry import read_polygon_layer
from hazard_models.region import load_region
from hazard_models.terrain import depression_labels, fill_depressions
from yujing.settings import load_settings

RANDOM_POINTS = 20_000
NEIGHBOURHOOD = 11  # pixels a side, about 330 m
POND_EXCESS_MM = 20.0
POND_DEPTH_M = 0.15  # GB 51222-2017: ponding on a road deeper than 15 cm is waterlogging


def _auc(labels: np.ndarray, scores: np.ndarray) -> str:
    known = np.isfinite(scores)
    return f"{roc_auc_score(labels[known], scores[known]):.3f}"


def _pond_depth(
    elevation: np.ndarray, filled: np.ndarray, hollows: np.ndarray, count: int, outlet: np.ndarray
) -> np.ndarray:
    """Per pixel: the mean depth of the pond its depression holds under uniform excess."""
    from skimage.segmentation import watershed

    markers = hollows.copy()
    border = outlet.copy()
    border[[0, -1], :] = border[:, [0, -1]] = True
    markers[border & (markers == 0)] = count + 1
    surface = np.where(outlet, np.nanmin(elevation) - 1, elevation)
    basin = watershed(surface, markers=markers, connectivity=1)
    # pixel areas vary little over 0.4 degrees of latitude: one area at the centre
    area = (6371008.8 * np.radians(1 / 3600)) ** 2 * np.cos(np.radians(22.65))
    inflow = np.bincount(basin.ravel(), minlength=count + 2)[1 : count + 1] * area
    volume = inflow * POND_EXCESS_MM / 1000
    inside = hollows > 0
    label, z = hollows[inside] - 1, elevation[inside]
    order = np.lexsort((z, label))
    label, z = label[order], z[order]
    counts = np.bincount(label, minlength=count)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    below = np.arange(z.size) - np.repeat(start, counts) + 1  # cells at or below each knot
    moment = np.cumsum(z) - np.repeat(np.concatenate([[0], np.cumsum(z)])[start], counts)
    stored_at = (z * below - moment) * area  # volume when the water reaches each knot
    spill = np.asarray(ndimage.maximum(filled, labels=hollows, index=np.arange(1, count + 1)))
    capacity = (spill * counts - np.bincount(label, weights=z, minlength=count)) * area
    held = np.minimum(volume, capacity)
    key = label + 0.5 * stored_at / capacity[label]
    knot = np.searchsorted(key, np.arange(count) + 0.5 * held / capacity, side="right") - 1
    flooded = np.maximum(below[knot], 1) * area
    depth = held / flooded
    return np.concatenate([[0.0], depth])[hollows]


def report(data_root: Path) -> str:
    """Score the terrain measures and return the Markdown report."""
    settings = load_settings(REPO / "configs" / "shenzhen.yaml", data_root=data_root)
    start = time.perf_counter()
    region = load_region(settings.region, settings.communities, None)
    build_seconds = time.perf_counter() - start
    layer = region.communities
    listed = layer["waterlogging_hotspots"].values > 0
    community_rows = [
        ("share of pixels in a closed depression", layer["depression_fraction"].values),
        ("share of low-lying pixels (<= 10 m)", layer["low_lying_fraction"].values),
        ("minus mean elevation", -layer["elevation_mean"].values),
        ("minus lowest elevation", -layer["elevation_min"].values),
    ]

    with rasterio.open(data_root / "dem/shenzhen_srtmgl1_30m.tif") as source:
        elevation = source.read(1, masked=True).astype(float).filled(np.nan)
        transform = source.transform
    outlet = ~np.isfinite(elevation)
    start = time.perf_counter()
    filled = fill_depressions(elevation, outlet)
    fill_seconds = time.perf_counter() - start
    hollows, count = depression_labels(elevation, filled, min_cells=2)
    in_hollow = (hollows > 0).astype(float)
    pond = _pond_depth(elevation, filled, hollows, count, outlet)
    pond_by_community = np.zeros(layer.sizes["community"])
    for index, geometry in enumerate(shapely.from_wkt(layer["geometry_wkt"].values)):
        x0, y0, x1, y1 = geometry.bounds
        r0, c0 = rowcol(transform, x0, y1)
        r1, c1 = rowcol(transform, x1, y0)
        window = pond[max(r0, 0) : r1 + 1, max(c0, 0) : c1 + 1]
        pond_by_community[index] = window.max() if window.size else 0.0
    community_rows.append(
        (
            f"deepest fill-spill pond in its bounding box, {POND_EXCESS_MM:g} mm excess",
            pond_by_community,
        )
    )

    assert settings.region.outline is not None
    outline = read_polygon_layer(settings.region.outline.path, settings.region.outline.crs)
    city = shapely.union_all([feature.geometry for feature in outline])
    rng = np.random.default_rng(0)
    x0, y0, x1, y1 = city.bounds
    lon, lat = rng.uniform(x0, x1, RANDOM_POINTS), rng.uniform(y0, y1, RANDOM_POINTS)
    keep = shapely.contains_xy(city, lon, lat)
    lon, lat = lon[keep], lat[keep]

    def at(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        rows, cols = rowcol(transform, x, y)
        rows = np.clip(np.asarray(rows), 0, grid.shape[0] - 1)
        cols = np.clip(np.asarray(cols), 0, grid.shape[1] - 1)
        return grid[rows, cols]

    grids = [
        ("minus elevation at the point", -np.nan_to_num(elevation, nan=0.0)),
        ("in a closed depression", in_hollow),
        (
            f"share in closed depressions within {NEIGHBOURHOOD} px",
            ndimage.uniform_filter(in_hollow, NEIGHBOURHOOD),
        ),
        (
            f"deepest fill-spill pond within {NEIGHBOURHOOD} px",
            ndimage.maximum_filter(pond, NEIGHBOURHOOD),
        ),
    ]
    folder = data_root / "waterlogging"
    sets = {
        "official points 2019": pd.read_csv(
            folder / "sz_waterlogging_points_2019_geocoded_thirdparty.csv"
        ),
        "ponding stations": pd.read_csv(
            folder / "sz_ponding_monitor_stations_geocoded_thirdparty.csv"
        ),
    }
    point_rows = []
    for name, grid in grids:
        scores = []
        for points in sets.values():
            mine = at(grid, points["lon"].to_numpy(), points["lat"].to_numpy())
            others = at(grid, lon, lat)
            labels = np.r_[np.ones(mine.size), np.zeros(others.size)]
            scores.append(_auc(labels, np.r_[mine, others]))
        point_rows.append((name, *scores))

    deep = pond_by_community >= POND_DEPTH_M
    lines = [
        f"Terrain and Shenzhen's official waterlogging points: {layer.sizes['community']} "
        f"communities, {int(listed.sum())} holding a listed point; {count} closed depressions "
        "of at least 2 pixels in the DEM",
        "",
        "| community attribute | ROC AUC, communities with a listed point |",
        "|---|---|",
        *(f"| {name} | {_auc(listed, values)} |" for name, values in community_rows),
        "",
        f"| at the point (vs {lon.size} random points in the city) | " + " | ".join(sets) + " |",
        "|---|---|---|",
        *(f"| {name} | {a} | {b} |" for name, a, b in point_rows),
        "",
        f"fill-spill ponds with {POND_EXCESS_MM:g} mm excess everywhere: "
        f"{deep.mean():.0%} of communities reach {POND_DEPTH_M:g} m, "
        f"median community pond {np.median(pond_by_community[pond_by_community > 0]):.2f} m",
        "",
        f"region build with DEM attributes {build_seconds:.1f} s; "
        f"fill of the {elevation.shape[0]} x {elevation.shape[1]} DEM {fill_seconds:.1f} s",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    report_main(__doc__, report)
