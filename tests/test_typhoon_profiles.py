"""Parametric typhoon wind profiles and averaging-period conversion.

Expected values are worked by hand from the published equations (the arithmetic is in the
comments; e = 2.718282, f = 2 × 7.292e-5 × sin φ, ρ = 1.15 kg m-3, Δp in Pa inside the
Holland equations). Conversion factors are those of WMO/TD-No. 1555 Table 1.1 (Harper,
Kepert & Ginger 2010), the row named in each test.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from hazard_models.typhoon import profiles, wind_conversion
from hazard_models.typhoon.profiles import (
    StormState,
    available_profiles,
    get_profile,
    holland1980,
    holland2008,
    holland2008_b,
    holland2010,
    holland_b_from_vmax,
    willoughby2006,
    willoughby2006_parameters,
)
from hazard_models.typhoon.structure import (
    gradient_to_surface,
    radius_of_maximum_wind,
    translation_asymmetry,
)
from hazard_models.typhoon.wind_conversion import (
    conversion_factor,
    convert_averaging_period,
    convert_dataarray,
    gust_factor,
)

# A mature typhoon: Δp 50 hPa, R_max 30 km at 20° N, 45 m s-1 maximum gradient wind.
STORM = StormState(delta_p=50.0, rmax=30.0, lat=20.0, vmax=45.0)


# --- Holland (1980) ---------------------------------------------------------------------


def test_holland1980_value_by_hand() -> None:
    # Holland 1980 eq. (4), B = 1.5, Δp = 50 hPa, R_m = 30 km, r = 60 km, φ = 20°:
    # (R_m/r)^B = 0.5^1.5 = 0.353553; exp(-0.353553) = 0.702189
    # B/ρ Δp (R_m/r)^B exp(.) = 1.5/1.15 × 5000 × 0.353553 × 0.702189 = 1619.094
    # f = 1.4584e-4 × sin 20° = 4.98803e-5; r f / 2 = 60000 × 4.98803e-5 / 2 = 1.496407
    # V = sqrt(1619.094 + 1.496407²) - 1.496407 = 38.7694 m s-1
    assert holland1980(60.0, 50.0, 30.0, 20.0, b=1.5) == pytest.approx(38.7694, abs=1e-3)


def test_holland1980_cyclostrophic_maximum() -> None:
    # Without Coriolis (φ = 0) the maximum is sqrt(B Δp / (ρ e)) at R_m:
    # sqrt(1.5 × 5000 / (1.15 × 2.718282)) = sqrt(2399.21) = 48.9818 m s-1
    r = np.linspace(1.0, 300.0, 2991)
    wind = holland1980(r, 50.0, 30.0, 0.0, b=1.5)
    assert r[np.argmax(wind)] == pytest.approx(30.0)
    assert wind.max() == pytest.approx(48.9818, abs=1e-3)


def test_holland_b_from_vmax_and_vmax_recovered() -> None:
    # B = ρ e V_m² / Δp = 1.15 × 2.718282 × 45² / 5000 = 1.26604
    assert holland_b_from_vmax(45.0, 50.0) == pytest.approx(1.26604, abs=1e-5)
    # and with that B the profile (no Coriolis) peaks at V_m at R_m
    assert holland1980(30.0, 50.0, 30.0, 0.0, vmax=45.0) == pytest.approx(45.0, rel=1e-9)


def test_holland_b_is_clipped_to_holland_range() -> None:
    # B outside [1, 2.5] is not physical (Holland 1980 §3): 10 m s-1 on 50 hPa gives 0.06
    assert holland_b_from_vmax(10.0, 50.0) == 1.0
    assert holland_b_from_vmax(90.0, 20.0) == 2.5


def test_holland1980_needs_b_or_vmax() -> None:
    with pytest.raises(ValueError, match="needs the shape parameter b or the gradient vmax"):
        holland1980(50.0, 50.0, 30.0, 20.0)


# --- Holland (2008) ---------------------------------------------------------------------


def test_holland2008_b_value_by_hand() -> None:
    # Holland 2008 eq. (11), Δp 50 hPa, ∂p/∂t = -1 hPa/h, φ 20°, v_t 5 m s-1:
    # x = 0.6 (1 - 50/215) = 0.460465; 5^x = 2.098221
    # b_s = -4.4e-5 × 2500 + 0.01 × 50 + 0.03 × (-1) - 0.014 × 20 + 0.15 × 2.098221 + 1
    #     = -0.11 + 0.5 - 0.03 - 0.28 + 0.314733 + 1 = 1.394733
    assert holland2008_b(50.0, 20.0, 5.0, -1.0) == pytest.approx(1.394733, abs=1e-6)


def test_holland2008_is_holland1980_with_b_s() -> None:
    r = np.array([10.0, 30.0, 80.0, 250.0])
    b_s = holland2008_b(50.0, 20.0)  # = -0.11 + 0.5 - 0.28 + 1 = 1.11
    assert b_s == pytest.approx(1.11)
    np.testing.assert_allclose(
        holland2008(r, 50.0, 30.0, 20.0), holland1980(r, 50.0, 30.0, 20.0, b=1.11)
    )


# --- Holland et al. (2010) --------------------------------------------------------------


def test_holland2010_values_by_hand() -> None:
    # b_s = 1.11 (above); v_ms = sqrt(1.11 × 5000 / (1.15 e)) = 42.13571 m s-1
    # outer point 17 m s-1 at 300 km: (30/300)^1.11 = 0.0776247;
    #   g_n = 0.0776247 × exp(1 - 0.0776247) = 0.1952462
    #   x_n = ln(17 / 42.13571) / ln(0.1952462) = 0.555669
    # r = 165 km (half-way): x = 0.5 + 0.5 × 0.055669 = 0.527835
    #   (30/165)^1.11 = 0.1507292; g = 0.1507292 × exp(0.8492708) = 0.3523961
    #   V = 42.13571 × 0.3523961^0.527835 = 24.2973 m s-1
    r = np.array([30.0, 165.0, 300.0])
    wind = holland2010(r, 50.0, 30.0, 20.0)
    np.testing.assert_allclose(wind, [42.13571, 24.2973, 17.0], atol=1e-3)


def test_holland2010_outer_constraint_is_met() -> None:
    # V(r_n) = v_n for any feasible outer observation (Holland et al. 2010 eq. 10)
    wind = holland2010(np.array([150.0, 220.0]), 60.0, 25.0, 22.0, outer_wind=[20.0, 15.4],
                       outer_radius=[150.0, 220.0])  # fmt: skip
    np.testing.assert_allclose(wind, [20.0, 15.4], rtol=1e-9)


def test_holland2010_tail_beyond_the_outer_point() -> None:
    # Beyond r_n the wind is min(profile, v_n (r_n / r)^0.5). A weak, wide storm (Δp 20 hPa,
    # R_max 40 km, 15.4 m s-1 at 250 km) has a small x_n: the cap binds, and at 1000 km the
    # wind is 15.4 × (250/1000)^0.5 = 7.7 m s-1.
    weak = holland2010(np.array([250.0, 1000.0]), 20.0, 40.0, 22.0, outer_wind=15.4,
                       outer_radius=250.0)  # fmt: skip
    np.testing.assert_allclose(weak, [15.4, 7.7], rtol=1e-9)
    # A strong, compact storm decays faster than the cap: its own profile is kept.
    r = np.array([220.0, 440.0, 880.0])
    strong = holland2010(r, 60.0, 25.0, 22.0, outer_wind=15.4, outer_radius=220.0)
    assert strong[0] == pytest.approx(15.4)
    assert (strong[1:] < 15.4 * np.sqrt(220.0 / r[1:]) - 1.0).all()


def test_holland2010_infeasible_outer_point_keeps_holland2008_shape() -> None:
    # 8 hPa cannot give 17 m s-1 anywhere (v_ms < 17): x stays 0.5, the cyclostrophic form
    r = np.array([20.0, 100.0, 400.0])
    b_s = holland2008_b(8.0, 20.0)
    v_ms = np.sqrt(b_s * 800.0 / (1.15 * np.e))
    scaled = (30.0 / r) ** b_s
    np.testing.assert_allclose(
        holland2010(r, 8.0, 30.0, 20.0), v_ms * np.sqrt(scaled * np.exp(1 - scaled))
    )


# --- Willoughby et al. (2006) -----------------------------------------------------------


def test_willoughby2006_parameters_by_hand() -> None:
    # eqs. (10a-c) with V_max 45 m s-1, R_max 30 km (ln 30 = 3.401197), φ 20°:
    # X1 = 287.6 - 87.39 + 26.52594 + 36.38 = 263.11594
    # n  = 2.1340 + 0.3465 - 1.538021 - 0.076 = 0.866479
    # A  = 0.5913 + 0.1305 - 0.462903 - 0.084 = 0.174897
    n, x1, a = willoughby2006_parameters(45.0, 30.0, 20.0)
    assert (n, x1, a) == pytest.approx((0.866479, 263.11594, 0.174897), abs=1e-5)


def test_willoughby2006_values_by_hand() -> None:
    # inner (r = 5 km < R1): 45 × (5/30)^0.866479 = 9.52711 m s-1
    # outer (r = 100 km > R2): 45 × [0.825103 × exp(-70/263.11594) + 0.174897 × exp(-70/25)]
    #     = 45 × [0.825103 × 0.766427 + 0.174897 × 0.060810] = 28.9350 m s-1
    wind = willoughby2006(np.array([5.0, 100.0]), 45.0, 30.0, 20.0)
    np.testing.assert_allclose(wind, [9.52711, 28.9350], atol=1e-3)


@pytest.mark.parametrize(("vmax", "rmax"), [(45.0, 30.0), (60.0, 15.0), (25.0, 60.0)])
def test_willoughby2006_peaks_at_rmax(vmax: float, rmax: float) -> None:
    r = np.linspace(1.0, 400.0, 3991)
    wind = willoughby2006(r, vmax, rmax, 20.0)
    assert r[np.argmax(wind)] == pytest.approx(rmax)
    assert wind.max() == pytest.approx(vmax, rel=1e-9)


# --- properties shared by the profiles --------------------------------------------------


@pytest.mark.parametrize("name", ["holland1980", "holland2008", "holland2010", "willoughby2006"])
@pytest.mark.parametrize("storm", [STORM, StormState(delta_p=25.0, rmax=50.0, lat=15.0, vmax=30.0)])
def test_profile_rises_to_rmax_and_falls_outside(name: str, storm: StormState) -> None:
    r = np.linspace(0.5, 1500.0, 14996)
    wind = get_profile(name)(r, storm)
    peak = int(np.argmax(wind))
    # the Coriolis term of the Holland gradient wind moves the peak slightly inward
    assert abs(r[peak] - storm.rmax) <= 0.06 * storm.rmax
    # near the centre the Holland forms underflow to exactly 0, hence >= inside
    assert np.all(np.diff(wind[: peak + 1]) >= 0)
    assert np.all(np.diff(wind[peak:]) < 0)


@pytest.mark.parametrize("name", ["holland1980", "holland2008", "holland2010", "willoughby2006"])
def test_profile_vanishes_far_out_and_at_centre(name: str) -> None:
    wind = get_profile(name)(np.array([0.0, 1.0e5]), STORM)
    assert wind[0] == 0.0
    assert wind[1] < 0.5


def test_profiles_broadcast_over_storm_arrays() -> None:
    # vectorised: three storms (rows) × five radii equals three scalar calls
    r = np.array([5.0, 30.0, 60.0, 150.0, 400.0])
    rmax = np.array([[20.0], [30.0], [45.0]])
    vmax = np.array([[50.0], [45.0], [35.0]])
    for name in available_profiles():
        together = get_profile(name)(r, StormState(delta_p=40.0, rmax=rmax, lat=20.0, vmax=vmax))
        one_by_one = [
            get_profile(name)(r, StormState(delta_p=40.0, rmax=rm, lat=20.0, vmax=vm))
            for rm, vm in zip(rmax[:, 0], vmax[:, 0], strict=True)
        ]
        np.testing.assert_allclose(together, np.stack(one_by_one), rtol=1e-12)


@pytest.mark.parametrize("name", ["holland1980", "holland2008", "holland2010", "willoughby2006"])
def test_profiles_chunked_equals_in_memory(name: str) -> None:
    profile = get_profile(name)
    radius = xr.DataArray(np.linspace(0.0, 800.0, 400).reshape(20, 20), dims=("y", "x"))
    chunked = radius.chunk({"y": 7, "x": 9})
    lazy = xr.apply_ufunc(
        profile, chunked, kwargs={"storm": STORM}, dask="parallelized", output_dtypes=[float]
    )
    assert isinstance(lazy.data, da.Array)
    eager = xr.apply_ufunc(profile, radius, kwargs={"storm": STORM})
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-12)


def test_registry_lists_and_refuses() -> None:
    assert available_profiles() == ["holland1980", "holland2008", "holland2010", "willoughby2006"]
    assert get_profile("holland2008").level == "surface 1 min"
    assert get_profile("willoughby2006").level == "gradient"
    with pytest.raises(ValueError, match=r"unknown wind profile 'rankine'; choose one of \["):
        get_profile("rankine")


# --- radius of maximum wind, surface reduction, asymmetry -------------------------------


def test_radius_of_maximum_wind_vickery_wadhera() -> None:
    # Vickery & Wadhera 2008 eq. (11): Δp = 1010 - 960 = 50 hPa, φ = 20°
    # ln R = 3.015 - 6.291e-5 × 2500 + 0.0337 × 20 = 3.531725 -> R = 34.1829 km
    assert radius_of_maximum_wind(960.0, 20.0) == pytest.approx(34.1829, abs=1e-4)
    # with VW08's own 1013 hPa: Δp = 53 -> ln R = 3.015 - 0.176714 + 0.674 = 3.512286
    assert radius_of_maximum_wind(960.0, 20.0, ambient_pressure=1013.0) == pytest.approx(
        33.5249, abs=1e-4
    )


def test_gradient_to_surface() -> None:
    # Franklin et al. 2003 "90 % rule": 40 m s-1 at gradient level -> 36 m s-1 at 10 m
    assert gradient_to_surface(40.0) == pytest.approx(36.0)
    assert gradient_to_surface(40.0, factor=0.7) == pytest.approx(28.0)
    with pytest.raises(ValueError, match="outside"):
        gradient_to_surface(40.0, factor=1.2)


def test_translation_asymmetry() -> None:
    # storm moving north at 10 m s-1, vortex 30 m s-1; without rotation 0.55 × 10 is added
    # on the right (east) and removed on the left (west) in the northern hemisphere
    east_west = translation_asymmetry(30.0, [90.0, 270.0], 0.0, 10.0, 20.0, rotation=0.0)
    np.testing.assert_allclose(east_west, [35.5, 24.5])
    # Lin & Chavas (2012): 0.55 × motion turned 20° cyclonically: at the east point
    # (-5.5 sin 20°, 30 + 5.5 cos 20°) = (-1.88111, 35.16831) -> 35.21858 m s-1
    assert translation_asymmetry(30.0, 90.0, 0.0, 10.0, 20.0) == pytest.approx(35.21858)
    # southern hemisphere: the strong side is the left (west) of the motion
    south = translation_asymmetry(30.0, [90.0, 270.0], 0.0, 10.0, -20.0)
    np.testing.assert_allclose(south, [24.90284, 35.21858], atol=1e-5)


# --- averaging periods (WMO/TD-No. 1555, Table 1.1) -------------------------------------


def test_one_minute_to_ten_minutes_at_sea_is_093() -> None:
    # at-sea row, T_o = 3600 s: G(600 s) / G(60 s) = 1.03 / 1.11 = 0.92793 -> the 0.93
    # WMO/TD-No. 1555 recommends for 1-min to 10-min at sea
    assert conversion_factor("1 min", "10 min") == pytest.approx(1.03 / 1.11)
    assert round(conversion_factor("1 min", "10 min"), 2) == 0.93


@pytest.mark.parametrize(
    ("exposure", "one_to_ten", "two_to_ten"),
    [
        # Table 1.1 rows, T_o = 3600 s: G(600)/G(60) and G(600)/G(120)
        ("in-land", 1.13 / 1.28, 1.13 / 1.24),
        ("off-land", 1.08 / 1.22, 1.08 / 1.19),
        ("off-sea", 1.05 / 1.16, 1.05 / 1.13),
        ("at-sea", 1.03 / 1.11, 1.03 / 1.09),
    ],
)
def test_conversion_table_rows(exposure: str, one_to_ten: float, two_to_ten: float) -> None:
    assert conversion_factor("1 min", "10 min", exposure) == pytest.approx(one_to_ten)
    assert conversion_factor("2 min", "10 min", exposure) == pytest.approx(two_to_ten)
    assert conversion_factor("10 min", "1 min", exposure) == pytest.approx(1.0 / one_to_ten)
    # a round trip through 2 min changes nothing
    there = conversion_factor("1 min", "2 min", exposure)
    assert there * conversion_factor("2 min", "1 min", exposure) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("exposure", "ten_minute", "one_minute"),
    # Table 1.1, gust duration 3 s, reference periods 600 s and 60 s
    [("in-land", 1.66, 1.49), ("off-land", 1.52, 1.36), ("off-sea", 1.38, 1.23),
     ("at-sea", 1.23, 1.11)],
)  # fmt: skip
def test_gust_factors(exposure: str, ten_minute: float, one_minute: float) -> None:
    assert gust_factor("10 min", exposure) == ten_minute
    assert gust_factor("1 min", exposure) == one_minute


def test_unknown_period_or_exposure_is_refused() -> None:
    with pytest.raises(ValueError, match=r"source averaging period '5 min' is not one of"):
        conversion_factor("5 min", "10 min")
    with pytest.raises(ValueError, match=r"unknown exposure 'urban'; choose one of"):
        conversion_factor("1 min", "10 min", "urban")
    with pytest.raises(ValueError, match=r"mean averaging period '3 s'"):
        gust_factor("3 s")


def test_convert_array_and_dataarray() -> None:
    # JMA 10-min vmax 40 m s-1 -> 1 min at sea: 40 × 1.11 / 1.03 = 43.1068 m s-1
    np.testing.assert_allclose(
        convert_averaging_period([40.0, 20.0], "10 min", "1 min"), [43.1068, 21.5534], atol=1e-4
    )
    vmax = xr.DataArray(
        [40.0, 20.0, np.nan], dims="time", name="vmax",
        attrs={"units": "m s-1", "averaging_period": "10 min"},
    )  # fmt: skip
    lazy = convert_dataarray(vmax.chunk({"time": 2}), "1 min")
    assert isinstance(lazy.data, da.Array)
    assert lazy.attrs["averaging_period"] == "1 min"
    assert lazy.attrs["units"] == "m s-1"
    xr.testing.assert_allclose(lazy.compute(), convert_dataarray(vmax, "1 min"))
    np.testing.assert_allclose(lazy.values, [43.1068, 21.5534, np.nan], atol=1e-4)
    with pytest.raises(ValueError, match="has no 'averaging_period' attribute"):
        convert_dataarray(vmax.drop_attrs(), "1 min")


def test_module_exports_are_sorted() -> None:
    for module in (profiles, wind_conversion):
        assert list(module.__all__) == sorted(module.__all__)
