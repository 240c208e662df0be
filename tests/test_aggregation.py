"""Grid → community weights: hand-checkable cases, NaN handling, dask, stations."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import shapely
import xarray as xr

from hazard_models.aggregation import (
    AggregationWeights,
    all_station_weights,
    nearest_station_weights,
    overlap_weights,
)
from hazard_models.config import GridSpec
from hazard_models.errors import RegionError
from hazard_models.grid import AnalysisGrid

# A 2 x 2 grid of 1-km cells in a projected CRS (UTM 50N, which covers Shenzhen).
UTM = AnalysisGrid(
    GridSpec(
        crs="EPSG:32650",
        x_origin=0,
        y_origin=0,
        dx=1000,
        dy=1000,
        nx=2,
        ny=2,
        source="hand-made test grid",
    )
)


def test_half_covered_cell_gets_half_the_weight_of_a_full_one() -> None:
    # Polygon covers cell (0,0) fully and the left half of cell (0,1): weights 2/3 and 1/3.
    polygon = shapely.box(0, 0, 1500, 1000)
    weights = overlap_weights(UTM, np.array([polygon]))
    dense = weights.matrix.toarray()[0]
    assert dense == pytest.approx([2 / 3, 1 / 3, 0, 0])
    field = xr.DataArray([[3.0, 6.0], [100.0, 100.0]], dims=("y", "x"))
    # area-weighted mean by hand: (1.0 km2 * 3 + 0.5 km2 * 6) / 1.5 km2 = 4
    assert float(weights.apply(field)[0]) == pytest.approx(4.0)
    assert float(weights.apply(field, "max")[0]) == pytest.approx(6.0)


def test_missing_cells_are_left_out_and_reported_as_coverage() -> None:
    weights = overlap_weights(UTM, np.array([shapely.box(0, 0, 1500, 1000)]))
    field = xr.DataArray([[np.nan, 6.0], [1.0, 1.0]], dims=("y", "x"))
    assert float(weights.apply(field)[0]) == pytest.approx(6.0)
    assert float(weights.coverage(field)[0]) == pytest.approx(1 / 3)
    all_missing = xr.DataArray(np.full((2, 2), np.nan), dims=("y", "x"))
    assert np.isnan(float(weights.apply(all_missing)[0]))
    assert np.isnan(float(weights.apply(all_missing, "max")[0]))


def test_geographic_cells_are_weighted_by_true_area() -> None:
    # Two 1-degree cells centred at 0.5 N and 60.5 N: a polygon over both weighs each by the
    # cosine of its latitude (a cell at 60 N has about half the area of one at the equator).
    grid = AnalysisGrid(
        GridSpec(x_origin=0, y_origin=0, dx=1, dy=1, nx=1, ny=61, source="hand-made test grid")
    )
    polygon = shapely.union(shapely.box(0, 0, 1, 1), shapely.box(0, 60, 1, 61))
    dense = overlap_weights(grid, np.array([polygon])).matrix.toarray()[0]
    c0, c1 = np.cos(np.radians(0.5)), np.cos(np.radians(60.5))
    assert dense[0] == pytest.approx(c0 / (c0 + c1))
    assert dense[60] == pytest.approx(c1 / (c0 + c1))
    assert dense[1:60].sum() == 0


def test_polygon_outside_the_grid_is_an_error() -> None:
    with pytest.raises(RegionError, match="overlap no cell"):
        overlap_weights(UTM, np.array([shapely.box(5000, 5000, 6000, 6000)]))


def test_weights_on_a_chunked_field_equal_the_in_memory_result(tmp_path: Path) -> None:
    polygons = np.array([shapely.box(0, 0, 1500, 1000), shapely.box(200, 200, 2000, 2000)])
    weights = overlap_weights(UTM, polygons)
    rng = np.random.default_rng(0)
    values = rng.gamma(0.5, 4.0, size=(10, 2, 2))
    values[3, 0, 1] = np.nan
    field = xr.DataArray(values, dims=("time", "y", "x"))
    chunked = xr.DataArray(da.from_array(values, chunks=(3, 1, 1)), dims=("time", "y", "x"))
    for statistic in ("mean", "max"):
        expected = weights.apply(field, statistic)
        lazy = weights.apply(chunked, statistic)
        assert lazy.chunks is not None
        xr.testing.assert_allclose(lazy.compute(), expected)
    stored = AggregationWeights.load(weights.save(tmp_path / "w.npz"))
    assert (stored.matrix != weights.matrix).nnz == 0
    assert stored.source_dims == ("y", "x")


def test_shenzhen_weights_rows_sum_to_one(shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    sums = shenzhen_region.weights.matrix.sum(axis=1)
    assert np.allclose(sums, 1.0)
    assert shenzhen_region.weights.matrix.shape == (
        shenzhen_region.communities.sizes["community"],
        92 * 46,
    )


def test_station_weights_pick_the_nearest_station_within_radius() -> None:
    # HKO headquarters (22.3019 N, 114.1742 E) and King's Park (22.3119 N, 114.1728 E)
    weights, distance = nearest_station_weights(
        np.array([114.1742, 114.1728, 114.06]),
        np.array([22.3020, 22.3118, 22.55]),
        np.array([114.1742, 114.1728]),
        np.array([22.3019, 22.3119]),
        radius_km=5.0,
    )
    assert weights.matrix.toarray().tolist() == [[1, 0], [0, 1], [0, 0]]
    assert distance[0] < 0.05 and np.isnan(distance[2])


def test_all_station_weights_give_the_highest_and_the_mean_reading() -> None:
    # HKO district rainfall, 29 July 2025, hour ending 09:00 HKT (SOURCES.md 4.1b): the
    # highest gauges of Eastern, Kwun Tong and Wan Chai districts were 94, 75 and 61 mm.
    rain = xr.DataArray([[94.0], [75.0], [61.0]], dims=("station", "time"))
    weights = all_station_weights(n_community=2, n_station=3)
    highest = weights.apply(rain, "max").isel(time=0)
    assert highest.dims == ("community",) and highest.values.tolist() == [94.0, 94.0]
    mean = weights.apply(rain, "mean").isel(time=0).values
    assert mean == pytest.approx([(94 + 75 + 61) / 3] * 2)
    with pytest.raises(RegionError, match="no stations"):
        all_station_weights(1, 0)


def test_restricted_weights_equal_the_field_missing_elsewhere(knmi_crop) -> None:  # type: ignore[no-untyped-def]
    # Real radar rainfall (KNMI, 26 Aug 2010), and overlapping polygons on the same grid
    # so that a cell counts towards two communities.
    crop, region = knmi_crop
    field = crop["pr"].isel(time=slice(40, 44)).fillna(0.0)
    x0, y0 = 250_000, -4_000_000
    polygons = np.array(
        [
            shapely.box(x0 + 1_500, y0 - 30_500, x0 + 42_000, y0 - 2_000),
            shapely.box(x0 + 20_000, y0 - 61_000, x0 + 80_500, y0 - 9_500),
        ]
    )
    for weights in (region.weights, overlap_weights(region.grid, polygons)):
        values = field.values.reshape(4, -1)
        cells = np.flatnonzero(values[-1] > 0.05)  # where it rained in the last frame
        assert 0 < cells.size < values.shape[1]
        outside = field.where((field.isel(time=-1) > 0.05).values)
        for statistic in ("mean", "max"):
            expected = weights.apply(outside, statistic).values
            got = weights.restricted(cells).aggregate(values[:, cells], statistic)
            np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
            assert np.isfinite(got).any()
    # Blocks without a rainy cell have no known cell left: NaN, as for the masked field.
    assert np.isnan(region.weights.restricted(cells).aggregate(values[:, cells], "max")).any()
    # No known cell at all (a forecast that starts from a frame without data): every
    # community is unknown, for both statistics, as for an all-NaN field.
    none = np.array([], dtype=int)
    for statistic in ("mean", "max"):
        expected = region.weights.apply(field.where(False), statistic).values
        got = region.weights.restricted(none).aggregate(values[:, none], statistic)
        assert got.shape == (4, region.weights.n_community) and np.isnan(got).all()
        np.testing.assert_array_equal(got, expected)
