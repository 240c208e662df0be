"""Nowcast core: motion, extrapolation, ensemble and blending on real KNMI radar frames.

Data: KNMI 5-minute radar accumulations of 2010-08-26 (SOURCES.md §7.1), converted to rain
rate (mm/h = mm per 5 min × 12). The storm moves about 7 px (km) per 5 min to the east.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import ndimage

from hazard_models.errors import ModelError
from hazard_models.rainstorm.blending import blend_with_nwp, nowcast_weight
from hazard_models.rainstorm.ensemble import (
    _member,
    _support,
    ensemble_nowcast,
    exceedance_probability,
    extrapolation_nowcast,
    persistence_nowcast,
)
from hazard_models.rainstorm.extrapolation import (
    backward_trajectory,
    extrapolate,
    extrapolate_array,
    sample,
)
from hazard_models.rainstorm.motion import available_motions, estimate_motion, get_motion
from ingest.readers import read_source

ISSUE = np.datetime64("2010-08-26T03:00")
FIVE = np.timedelta64(5, "m")


@pytest.fixture(scope="module")
def rate(data_root: Path) -> xr.DataArray:
    """Rain rate (mm/h), 02:00-04:55 UTC."""
    radar = read_source(
        "knmi-hdf5",
        data_root / "radar/knmi_20100826",
        {"pattern": "RAD_NL25_RAP_5min_201008260[234]*.h5"},
        "knmi",
    )
    return (radar["pr"] * 12.0).assign_attrs(units="mm/h")


@pytest.fixture(scope="module")
def frames(rate: xr.DataArray) -> xr.DataArray:
    """The three frames up to the issue time."""
    return rate.sel(time=slice(ISSUE - 2 * FIVE, ISSUE))


@pytest.fixture(scope="module")
def motion(frames: xr.DataArray) -> xr.DataArray:
    return estimate_motion(frames)


def _shifted(frame: xr.DataArray, shifts: list[tuple[int, int]], gaps: list[int]) -> xr.DataArray:
    """``frame`` rolled by (dx, dy) pixels, one frame per shift, at 5-min steps × gaps."""
    values = [np.roll(frame.values, (dy, dx), axis=(0, 1)) for dx, dy in shifts]
    times = ISSUE + FIVE * np.array(gaps)
    stack = xr.DataArray(np.stack(values), dims=("time", "y", "x"), coords={"time": times})
    return stack.assign_attrs(units="mm/h")


def _csi(forecast: np.ndarray, observed: np.ndarray, threshold: float = 1.0) -> float:
    both = np.isfinite(forecast) & np.isfinite(observed)
    yes, seen = (forecast >= threshold) & both, (observed >= threshold) & both
    hits = (yes & seen).sum()
    return float(hits / (hits + (yes & ~seen).sum() + (~yes & seen).sum()))


def _close_to(motion: xr.DataArray, frame: xr.DataArray, dx: float, dy: float) -> float:
    """Share of rainy pixels whose motion is within 0.5 px of (dx, dy)."""
    rain = frame.values >= 1.0
    error = np.hypot(motion.sel(component="x").values - dx, motion.sel(component="y").values - dy)
    return float((error[rain] <= 0.5).mean())


def test_registry_lists_methods_on_unknown_name() -> None:
    assert available_motions() == ["lucas-kanade", "tvl1"]
    with pytest.raises(ValueError, match=r"\['lucas-kanade', 'tvl1'\]"):
        get_motion("vet")


@pytest.mark.parametrize("method", ["lucas-kanade", "tvl1"])
def test_motion_recovers_a_known_shift(frames: xr.DataArray, method: str) -> None:
    frame = frames.isel(time=-1)
    motion = estimate_motion(_shifted(frame, [(0, 0), (3, -2)], [0, 1]), method)
    assert motion.dims == ("component", "y", "x")
    assert list(motion["component"].values) == ["x", "y"]
    assert motion.attrs["interval"] == "300 s" and motion.attrs["motion_quality"] == "ok"
    assert _close_to(motion, frame, 3, -2) > 0.99


def test_missing_frame_scales_the_pair_by_its_gap(frames: xr.DataArray) -> None:
    frame = frames.isel(time=-1)
    # 02:05 missing: the second pair spans two intervals and moved twice as far.
    stack = _shifted(frame, [(0, 0), (3, -2), (9, -6)], [0, 1, 3])
    motion = estimate_motion(stack)
    assert motion.attrs["pairs_used"] == 2
    assert _close_to(motion, frame, 3, -2) > 0.99


def test_repeated_and_all_nan_frames_are_skipped_and_counted(frames: xr.DataArray) -> None:
    frame = frames.isel(time=-1)
    stack = _shifted(frame, [(0, 0), (0, 0), (3, -2), (6, -4), (9, -6)], [0, 0, 1, 2, 3])
    stack[3] = np.nan
    motion = estimate_motion(stack, interval=pd.Timedelta("5 min"))
    assert motion.attrs["frames_repeated"] == 1
    assert motion.attrs["frames_all_nan"] == 1
    assert motion.attrs["pairs_used"] == 2
    assert _close_to(motion, frame, 3, -2) > 0.99


def test_downsampled_motion_recovers_the_shift_and_agrees_with_full_resolution(
    frames: xr.DataArray, motion: xr.DataArray
) -> None:
    frame = frames.isel(time=-1)
    coarse = estimate_motion(_shifted(frame, [(0, 0), (4, -2)], [0, 1]), downsample=2)
    assert coarse.shape == (2, *frame.shape)
    assert _close_to(coarse, frame, 4, -2) > 0.95
    # On the real storm (about 7 px per interval) the 2-px block flow stays within a
    # fraction of a pixel of the full-resolution flow where it rains.
    real = estimate_motion(frames, downsample=2)
    rain = frame.values >= 1.0
    difference = np.hypot(*(real.values - motion.values))[rain]
    assert np.median(difference) < 0.5
    with pytest.raises(ModelError, match="downsample=0"):
        estimate_motion(frames, downsample=0)


def test_a_pair_seen_again_is_not_computed_again(
    frames: xr.DataArray, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hazard_models.rainstorm import motion as motion_module

    calls: list[tuple[int, ...]] = []
    method = motion_module._MOTIONS["lucas-kanade"]

    def counting(reference: np.ndarray, moving: np.ndarray, **options: object) -> np.ndarray:
        calls.append(reference.shape)
        return method(reference, moving, **options)

    monkeypatch.setitem(motion_module._MOTIONS, "lucas-kanade", counting)
    monkeypatch.setattr(motion_module, "_pair_cache", type(motion_module._pair_cache)())
    crop = frames.isel(y=slice(250, 378), x=slice(200, 328))
    first = estimate_motion(crop)
    assert len(calls) == 2
    # The next cycle: one new frame, one pair seen before.
    following = xr.concat(
        [
            crop.isel(time=[1, 2]),
            crop.isel(time=[0]).assign_coords(time=[crop["time"].values[-1] + FIVE]),
        ],
        "time",
    )
    estimate_motion(following)
    assert len(calls) == 3
    np.testing.assert_array_equal(estimate_motion(crop).values, first.values)
    assert len(calls) == 3


def test_no_rain_gives_zero_motion_flagged(frames: xr.DataArray) -> None:
    dry = frames.where(frames.isnull(), 0.0)
    motion = estimate_motion(dry)
    assert motion.attrs["motion_quality"] == "no_rain"
    assert float(abs(motion).max()) == 0.0
    nowcast = extrapolation_nowcast(dry, motion, 2)
    inside = dry.isel(time=-1).notnull().values
    assert float(nowcast.isel(lead_time=1).values[inside].max()) == 0.0


def test_too_few_frames_or_wrong_units_raise_with_advice(frames: xr.DataArray) -> None:
    lone = frames.copy()
    lone[:2] = np.nan
    with pytest.raises(ModelError, match="at least two frames with data"):
        estimate_motion(lone)
    with pytest.raises(ModelError, match="multiply by 12"):
        estimate_motion(frames.assign_attrs(units="mm"))


def test_uniform_advection_equals_roll_away_from_edges(frames: xr.DataArray) -> None:
    field = frames.isel(time=-1)
    uniform = xr.DataArray(
        np.stack([np.full(field.shape, 3.0), np.full(field.shape, -2.0)]),
        dims=("component", "y", "x"),
        attrs={"interval": "300 s"},
    )
    nowcast = extrapolate(field, uniform, 4)
    assert nowcast.dims == ("lead_time", "y", "x")
    assert list(nowcast["lead_time"].values) == list(np.arange(1, 5) * FIVE)
    expected = np.roll(field.values, (-8, 12), axis=(0, 1))
    np.testing.assert_array_equal(nowcast.values[3, 20:-20, 20:-20], expected[20:-20, 20:-20])
    # What comes from beyond the grid is unknown, not dry.
    assert np.isnan(nowcast.values[3, :, :12]).all()
    assert np.isnan(nowcast.values[3, -8:, :]).all()


def test_mass_is_conserved_when_nothing_leaves(frames: xr.DataArray, motion: xr.DataArray) -> None:
    field = np.zeros(frames.shape[1:], dtype=np.float32)
    field[200:560, 150:450] = np.nan_to_num(frames.values[-1, 200:560, 150:450])
    total = field.sum()
    uniform = np.stack([np.full(field.shape, 2.5), np.full(field.shape, -1.5)])
    moved = extrapolate_array(field, uniform, 12)
    np.testing.assert_allclose(np.nansum(moved[[5, 11]], axis=(1, 2)) / total, 1.0, atol=1e-5)
    # Real (divergent) motion, max 8.6 px per step: the rain stays inside for 60 min.
    # Measured: 1.012 of the initial total at 30 min, 0.955 at 60 min.
    moved = extrapolate_array(field, motion.values, 12)
    ratio = np.nansum(moved[[5, 11]], axis=(1, 2)) / total
    np.testing.assert_allclose(ratio, [1.012, 0.955], atol=0.01)


def test_extrapolation_beats_persistence_at_30_and_60_min(
    rate: xr.DataArray, frames: xr.DataArray, motion: xr.DataArray
) -> None:
    nowcast = extrapolation_nowcast(frames, motion, 12)
    persistence = persistence_nowcast(frames.isel(time=-1), 12, interval="5 min")
    assert nowcast["reference_time"].values == ISSUE
    for lead in (6, 12):
        observed = rate.sel(time=ISSUE + lead * FIVE).values
        assert nowcast["valid_time"].values[lead - 1] == ISSUE + lead * FIVE
        extrapolated = _csi(nowcast.values[lead - 1], observed)
        persisted = _csi(persistence.values[lead - 1], observed)
        # Measured: 0.42 vs 0.19 at 30 min, 0.31 vs 0.11 at 60 min.
        assert extrapolated > persisted + 0.15, (lead, extrapolated, persisted)


def test_chunked_extrapolation_equals_in_memory(frames: xr.DataArray, motion: xr.DataArray) -> None:
    eager = extrapolate(frames, motion, 3)
    lazy = extrapolate(frames.chunk({"time": 1}), motion, 3)
    assert lazy.chunks is not None
    assert eager.dims == ("time", "lead_time", "y", "x")
    xr.testing.assert_identical(lazy.compute(), eager)


@pytest.fixture(scope="module")
def small(frames: xr.DataArray) -> xr.DataArray:
    """A 256 × 256 crop in the rain, to keep the ensemble tests quick."""
    return frames.isel(y=slice(250, 506), x=slice(200, 456))


def test_ensemble_is_seeded_lazy_and_scheduler_independent(small: xr.DataArray) -> None:
    motion = estimate_motion(small)
    ensemble = ensemble_nowcast(small, motion, n_members=20, n_steps=3, seed=7)
    assert ensemble.dims == ("member", "lead_time", "y", "x")
    assert ensemble.chunks is not None and len(ensemble.chunks[0]) == 20
    with dask.config.set(scheduler="threads", num_workers=2):
        threaded = ensemble.values
    with dask.config.set(scheduler="synchronous"):
        again = ensemble_nowcast(small.chunk({"time": 1}), motion, 20, 3, seed=7).values
    np.testing.assert_array_equal(threaded, again)
    other = ensemble_nowcast(small, motion, 20, 3, seed=8).values
    assert not np.array_equal(np.nan_to_num(other), np.nan_to_num(threaded))
    last = np.nan_to_num(threaded[:, -1].reshape(20, -1))
    assert len({row.tobytes() for row in last}) == 20  # every member differs


def test_unperturbed_ensemble_is_the_extrapolation(small: xr.DataArray) -> None:
    motion = estimate_motion(small)
    ensemble = ensemble_nowcast(small, motion, 20, 3, growth_decay=0.0, perturb_motion=False)
    deterministic = extrapolation_nowcast(small, motion, 3)
    for member in (0, 19):
        np.testing.assert_array_equal(ensemble.values[member], deterministic.values)


def _dense_member(
    field: np.ndarray,
    points: np.ndarray,
    offsets: np.ndarray,
    seed: int,
    member: int,
    sigma: float,
    length: float,
) -> np.ndarray:
    """The member as the module docstring states it, on every cell: the whole noise
    field upsampled and scaled by its own standard deviation, the whole perturbed
    field sampled at every departure point."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, member, 1]))
    shape = field.shape
    coarse = [int(np.ceil((n - 1) / length)) + 2 for n in shape]
    row, column = (np.arange(n) / length for n in shape)
    log_factor = np.zeros(shape)
    out = []
    for k in range(points.shape[0]):
        smooth = ndimage.gaussian_filter(rng.standard_normal(coarse), 1.0, mode="wrap")
        smooth = smooth.astype(np.float32).astype(np.float64)
        grid = np.meshgrid(row, column, indexing="ij")
        noise = ndimage.map_coordinates(smooth, grid, order=1, prefilter=False)
        log_factor += sigma * noise / noise.std()
        source = field * np.exp(log_factor - 0.5 * (k + 1) * sigma**2)
        out.append(sample(source, points[k] - offsets[k, :, None, None]))
    return np.stack(out)


def test_ensemble_member_equals_the_dense_computation(frames: xr.DataArray) -> None:
    # The whole 765 x 700 image: rain, dry land and the NaN beyond the radars' range,
    # which the ensemble settles once for all members instead of interpolating.
    field = frames.isel(time=-1).values
    motion = estimate_motion(frames)
    points = backward_trajectory(motion.values, 6)
    offsets = np.cumsum(np.tile([[2.6, -1.7]], (6, 1)), axis=0)  # a steady drift, cells
    for member in (0, 3):
        expected = _dense_member(field, points, offsets, 11, member, 0.3, 16.0)
        support = _support(field, points, np.ceil(np.abs(offsets).max(axis=1)))
        got = _member(points, support, offsets, 11, member, 0.3, 16.0)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, equal_nan=True)
        assert (got[-1] > 1.0).sum() > 5_000  # a real storm, not an empty comparison
    assert np.isnan(support[0]).mean() > 0.5  # most of the image is settled as NaN


def test_exceedance_probability(small: xr.DataArray) -> None:
    motion = estimate_motion(small)
    ensemble = ensemble_nowcast(small, motion, 20, 3, seed=0)
    probability = exceedance_probability(ensemble, [1.0, 10.0])
    assert probability.dims == ("threshold", "lead_time", "y", "x")
    values = probability.values
    finite = values[np.isfinite(values)]
    assert finite.min() >= 0.0 and finite.max() <= 1.0
    assert 0.0 < finite.mean() < 1.0
    assert (values[1] <= values[0] + 1e-7)[np.isfinite(values[1])].all()
    # NaN only where every member is NaN (beyond the radar image).
    np.testing.assert_array_equal(np.isnan(values[0]), ensemble.isnull().all("member").values)


def test_blending_weights_by_construction(rate: xr.DataArray, frames: xr.DataArray) -> None:
    # No real NWP precipitation is available: the later radar frames stand in for it.
    nowcast = extrapolation_nowcast(frames, frames.isel(time=-1).pipe(estimate_motion_of), 12)
    stand_in = rate.sel(time=slice(ISSUE + FIVE, ISSUE + 12 * FIVE))
    nwp = stand_in.rename(time="lead_time").assign_coords(lead_time=nowcast["lead_time"].values)
    blended = blend_with_nwp(nowcast, nwp, skill_horizon="45 min", ramp_start="15 min")
    weight = nowcast_weight(nowcast["lead_time"], "45 min", "15 min")
    assert weight.values[[2, 5, 8]].tolist() == [1.0, 0.5, 0.0]  # 15, 30, 45 min
    both = nowcast.notnull() & nwp.notnull()
    for index, share in ((2, 1.0), (5, 0.5), (8, 0.0)):
        expected = share * nowcast[index] + (1 - share) * nwp[index]
        np.testing.assert_allclose(
            blended[index].values[both[index].values],
            expected.values[both[index].values],
            rtol=1e-6,
        )
    # Missing NWP cells keep the nowcast; missing radar cells take the NWP.
    only_nowcast = (nowcast.notnull() & nwp.isnull()).values
    np.testing.assert_array_equal(blended.values[only_nowcast], nowcast.values[only_nowcast])
    exponential = nowcast_weight(nowcast["lead_time"], "45 min", "15 min", "exponential")
    np.testing.assert_allclose(exponential.values[8], np.exp(-1.0))


def estimate_motion_of(frame: xr.DataArray) -> xr.DataArray:
    """Zero motion on the grid of ``frame`` (blending needs any nowcast, not a good one)."""
    return xr.DataArray(
        np.zeros((2, *frame.shape), dtype=np.float32),
        dims=("component", "y", "x"),
        attrs={"interval": "300 s"},
    )


def test_blending_degrades_gracefully(frames: xr.DataArray, small: xr.DataArray) -> None:
    nowcast = persistence_nowcast(small.isel(time=-1), 6, interval="5 min")
    unchanged = blend_with_nwp(nowcast, None)
    assert unchanged.attrs["blending"] == "nwp missing"
    xr.testing.assert_equal(unchanged, nowcast)
    # NWP covering only the first 2 leads: later leads are the nowcast.
    nwp = (nowcast.isel(lead_time=slice(0, 2)) * 0 + 5.0).drop_vars(
        ["reference_time", "valid_time"]
    )
    blended = blend_with_nwp(nowcast, nwp, skill_horizon="10 min", ramp_start="0 min")
    xr.testing.assert_equal(
        blended.isel(lead_time=slice(2, None)), nowcast.isel(lead_time=slice(2, None))
    )
    inside = nowcast.isel(lead_time=1).notnull().values
    assert (blended.isel(lead_time=1).values[inside] == 5.0).all()
    with pytest.raises(ModelError, match="regrid"):
        blend_with_nwp(nowcast, frames.isel(time=slice(0, 2)).rename(time="lead_time"))
