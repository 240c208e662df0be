"""Axisymmetric parametric wind profiles of a tropical cyclone, as pure numpy kernels.

Every kernel takes the distance from the centre ``r`` in km (any shape) and storm parameters
that broadcast against it, and returns a wind speed in m s-1. Units inside the kernels are
fixed and stated: central pressure deficit ``delta_p`` in hPa, radius of maximum wind
``rmax`` in km, latitude ``lat`` in degrees north, speeds in m s-1, pressure tendency in
hPa h-1. The kernels call ``np.asarray`` on their inputs: they are meant for numpy blocks
(``xr.apply_ufunc(..., dask="parallelized")``), never for a lazy array directly.

What level a profile describes
    ``holland1980`` and ``willoughby2006`` give the *gradient-level* wind: reduce it with
    :func:`~hazard_models.typhoon.structure.gradient_to_surface` (default 0.9, a 1-min
    surface wind over the sea) and then convert its averaging period with
    :mod:`hazard_models.typhoon.wind_conversion`.
    ``holland2008`` and ``holland2010`` use Holland's surface parameter ``b_s``, fitted to
    best-track 1-min surface winds: their output already is a 10-m 1-min wind. Each
    registered :class:`WindProfile` states its ``level`` so a caller never has to guess.

Constants (all configurable per call)
    air density 1.15 kg m-3 (Holland 1980), ambient pressure 1010 hPa, Earth's rotation
    7.292e-5 s-1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "AIR_DENSITY",
    "AMBIENT_PRESSURE_HPA",
    "EARTH_ANGULAR_VELOCITY",
    "SURFACE_REDUCTION_FACTOR",
    "StormState",
    "WindProfile",
    "available_profiles",
    "coriolis_parameter",
    "get_profile",
    "holland1980",
    "holland2008",
    "holland2008_b",
    "holland2010",
    "holland_b_from_vmax",
    "willoughby2006",
    "willoughby2006_parameters",
]

AIR_DENSITY = 1.15
"""Air density (kg m-3) in the boundary layer of a tropical cyclone, after Holland (1980)."""

AMBIENT_PRESSURE_HPA = 1010.0
"""Pressure of the environment (hPa) when no outermost closed isobar is known."""

EARTH_ANGULAR_VELOCITY = 7.292e-5
"""Angular velocity of the Earth (s-1)."""

SURFACE_REDUCTION_FACTOR = 0.9
"""Gradient-level to 10-m wind over the sea: the "90 % rule" of Franklin et al. (2003)."""

_HPA_TO_PA = 100.0
_KM_TO_M = 1000.0
_HOLLAND_B_RANGE = (1.0, 2.5)

Array = npt.NDArray[np.float64]


def coriolis_parameter(lat: npt.ArrayLike) -> Array:
    """Coriolis parameter magnitude ``f = 2 Ω sin|φ|`` (s-1) at latitude ``lat`` (degrees)."""
    return np.asarray(
        2.0 * EARTH_ANGULAR_VELOCITY * np.sin(np.radians(np.abs(np.asarray(lat, dtype=float))))
    )


def holland_b_from_vmax(
    vmax: npt.ArrayLike, delta_p: npt.ArrayLike, air_density: float = AIR_DENSITY
) -> Array:
    """Holland's shape parameter B from the maximum gradient wind and the pressure deficit.

    Parameters
    ----------
    vmax
        Maximum gradient-level wind (m s-1).
    delta_p
        Ambient minus central pressure (hPa).
    air_density
        kg m-3.

    Returns
    -------
    B, clipped to Holland's physically reasonable range [1, 2.5].

    Notes
    -----
    Holland (1980) eq. (6), the cyclostrophic maximum ``V_m = sqrt(B Δp / (ρ e))``, solved
    for B: ``B = ρ e V_m² / Δp`` with Δp in Pa.

    References
    ----------
    Holland, G. J., 1980: An analytic model of the wind and pressure profiles in hurricanes.
    Mon. Wea. Rev., 108, 1212-1218.
    """
    vmax = np.asarray(vmax, dtype=float)
    delta_pa = np.asarray(delta_p, dtype=float) * _HPA_TO_PA
    with np.errstate(divide="ignore", invalid="ignore"):
        b = air_density * np.e * vmax**2 / delta_pa
    return np.asarray(np.clip(b, *_HOLLAND_B_RANGE))


def holland2008_b(
    delta_p: npt.ArrayLike,
    lat: npt.ArrayLike,
    translation_speed: npt.ArrayLike = 0.0,
    pressure_tendency: npt.ArrayLike = 0.0,
) -> Array:
    """Holland's (2008) surface shape parameter ``b_s`` from pressure, latitude and motion.

    Parameters
    ----------
    delta_p
        Ambient minus central pressure (hPa).
    lat
        Latitude of the centre (degrees).
    translation_speed
        Speed of the storm's motion (m s-1).
    pressure_tendency
        Change of the central pressure (hPa h-1; negative while deepening).

    Returns
    -------
    b_s, clipped to [1, 2.5] as in CLIMADA's implementation.

    Notes
    -----
    Holland (2008) eq. (11) in its full form (not a simplified one)::

        b_s = -4.4e-5 Δp² + 0.01 Δp + 0.03 ∂p_c/∂t - 0.014 |φ| + 0.15 v_t^x + 1.0
        x   = 0.6 (1 - Δp / 215)

    The regression was fitted to best-track central pressures and 1-min surface winds
    (mostly North Atlantic).

    References
    ----------
    Holland, G., 2008: A revised hurricane pressure-wind model. Mon. Wea. Rev., 136,
    3432-3445, doi:10.1175/2008MWR2395.1.
    """
    dp = np.asarray(delta_p, dtype=float)
    x = 0.6 * (1.0 - dp / 215.0)
    b_s = (
        -4.4e-5 * dp**2
        + 0.01 * dp
        + 0.03 * np.asarray(pressure_tendency, dtype=float)
        - 0.014 * np.abs(np.asarray(lat, dtype=float))
        + 0.15 * np.asarray(translation_speed, dtype=float) ** x
        + 1.0
    )
    return np.asarray(np.clip(b_s, *_HOLLAND_B_RANGE))


def _holland_gradient(
    r: Array, delta_p: Array, rmax: Array, lat: Array, b: Array, rho: float
) -> Array:
    """Holland (1980) eq. (4): gradient wind with the Coriolis term."""
    half_rf = 0.5 * r * _KM_TO_M * coriolis_parameter(lat)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        scaled = (rmax / r) ** b
        cyclostrophic = b / rho * delta_p * _HPA_TO_PA * scaled * np.exp(-scaled)
        wind = np.sqrt(cyclostrophic + half_rf**2) - half_rf
    return np.asarray(np.where(r > 0.0, wind, 0.0))


def holland1980(
    r: npt.ArrayLike,
    delta_p: npt.ArrayLike,
    rmax: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    b: npt.ArrayLike | None = None,
    vmax: npt.ArrayLike | None = None,
    air_density: float = AIR_DENSITY,
) -> Array:
    """Holland (1980) gradient-wind profile.

    Parameters
    ----------
    r
        Distance from the centre (km).
    delta_p
        Ambient minus central pressure (hPa).
    rmax
        Radius of maximum wind (km).
    lat
        Latitude of the centre (degrees), for the Coriolis term.
    b
        Shape parameter B. When not given it is computed from ``vmax`` with
        :func:`holland_b_from_vmax`; one of the two is required.
    vmax
        Maximum gradient-level wind (m s-1), used only to compute B.
    air_density
        kg m-3.

    Returns
    -------
    Gradient-level wind speed (m s-1); 0 at the centre.

    Notes
    -----
    Holland (1980) eq. (4)::

        V(r) = sqrt( B/ρ (R_m/r)^B Δp exp(-(R_m/r)^B) + (r f / 2)² ) - r f / 2

    with Δp in Pa, r in m and f the Coriolis parameter. Without the Coriolis term the
    maximum is ``sqrt(B Δp / (ρ e))`` at ``r = R_m``.

    References
    ----------
    Holland, G. J., 1980: An analytic model of the wind and pressure profiles in hurricanes.
    Mon. Wea. Rev., 108, 1212-1218.
    """
    if b is None:
        if vmax is None:
            raise ValueError("holland1980 needs the shape parameter b or the gradient vmax")
        b = holland_b_from_vmax(vmax, delta_p, air_density)
    return _holland_gradient(
        np.asarray(r, dtype=float),
        np.asarray(delta_p, dtype=float),
        np.asarray(rmax, dtype=float),
        np.asarray(lat, dtype=float),
        np.asarray(b, dtype=float),
        air_density,
    )


def holland2008(
    r: npt.ArrayLike,
    delta_p: npt.ArrayLike,
    rmax: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    translation_speed: npt.ArrayLike = 0.0,
    pressure_tendency: npt.ArrayLike = 0.0,
    air_density: float = AIR_DENSITY,
) -> Array:
    """Holland (1980) profile shape with Holland's (2008) surface parameter ``b_s``.

    Parameters are those of :func:`holland2008_b` and :func:`holland1980`.

    Returns
    -------
    10-m 1-min wind speed (m s-1): ``b_s`` is fitted to surface winds, so no gradient-to-
    surface reduction is applied to this profile.

    Notes
    -----
    ``V(r)`` of :func:`holland1980` (Coriolis term kept) with ``B = b_s`` from Holland
    (2008) eq. (11), as CLIMADA's ``H08`` model does. The pressure-wind relation needs no
    observed maximum wind.

    References
    ----------
    Holland, G., 2008: A revised hurricane pressure-wind model. Mon. Wea. Rev., 136,
    3432-3445.
    """
    b_s = holland2008_b(delta_p, lat, translation_speed, pressure_tendency)
    return holland1980(r, delta_p, rmax, lat, b=b_s, air_density=air_density)


def holland2010(
    r: npt.ArrayLike,
    delta_p: npt.ArrayLike,
    rmax: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    translation_speed: npt.ArrayLike = 0.0,
    pressure_tendency: npt.ArrayLike = 0.0,
    outer_wind: npt.ArrayLike = 17.0,
    outer_radius: npt.ArrayLike = 300.0,
    outer_decay: float = 0.5,
    air_density: float = AIR_DENSITY,
) -> Array:
    """Holland, Belanger & Fritz (2010) surface wind profile with a variable exponent x.

    Parameters
    ----------
    r, delta_p, rmax, lat, translation_speed, pressure_tendency, air_density
        As for :func:`holland2008`.
    outer_wind, outer_radius
        One peripheral observation: wind ``v_n`` (m s-1) at radius ``r_n`` (km) that the
        profile must pass through. The defaults, 17 m s-1 at 300 km, are CLIMADA's
        stand-in when no outer observation exists.
    outer_decay
        Beyond ``r_n`` the wind decays at least as fast as ``v_n (r_n / r)^outer_decay``.

    Returns
    -------
    10-m 1-min wind speed (m s-1).

    Notes
    -----
    Holland et al. (2010) eqs. (7) and (10)::

        v_ms = sqrt( b_s Δp / (ρ e) )
        V(r) = v_ms [ (R_m/r)^b_s exp(1 - (R_m/r)^b_s) ]^x
        x    = 0.5                                         r <= R_m
        x    = 0.5 + (r - R_m) (x_n - 0.5) / (r_n - R_m)   R_m < r <= r_n

    with ``x_n`` chosen so that ``V(r_n) = v_n``::

        x_n = ln(v_n / v_ms) / ln[ (R_m/r_n)^b_s exp(1 - (R_m/r_n)^b_s) ]

    Choices of ours, stated: beyond ``r_n`` x stays at ``x_n`` (the paper fits only out to
    the observation; extrapolating the ramp would drive x to 0 or below and the wind back
    up), but the wind is capped by ``v_n (r_n/r)^0.5``, the outer decay ``V r^0.5 = const``
    of the modified Rankine vortex (Riehl 1963): a small ``x_n`` would otherwise decay as
    slowly as ``r^(-b x_n)`` and carry gales 1000 km from a weak storm. When the observation
    cannot be met (``v_n >= v_ms`` or ``r_n <= R_m``) x stays 0.5, i.e. the Holland (2008)
    cyclostrophic shape. ``V(R_m) = v_ms`` exactly. With a small
    ``x_n`` the profile can rise slightly just inside ``r_n``: that is the model's form.

    References
    ----------
    Holland, G. J., J. I. Belanger, and A. Fritz, 2010: A revised model for radial profiles
    of hurricane winds. Mon. Wea. Rev., 138, 4393-4401, doi:10.1175/2010MWR3317.1.
    Riehl, H., 1963: Some relations between wind and thermal structure of steady state
    hurricanes. J. Atmos. Sci., 20, 276-287.
    """
    r = np.asarray(r, dtype=float)
    rmax = np.asarray(rmax, dtype=float)
    dp = np.asarray(delta_p, dtype=float)
    v_n = np.asarray(outer_wind, dtype=float)
    r_n = np.asarray(outer_radius, dtype=float)
    b_s = holland2008_b(dp, lat, translation_speed, pressure_tendency)
    v_ms = np.sqrt(b_s * dp * _HPA_TO_PA / (air_density * np.e))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        outer_scaled = (rmax / r_n) ** b_s
        x_n = np.log(v_n / v_ms) / np.log(outer_scaled * np.exp(1.0 - outer_scaled))
        feasible = (v_n < v_ms) & (r_n > rmax) & np.isfinite(x_n) & (x_n > 0.0)
        x_n = np.where(feasible, x_n, 0.5)
        ramp = np.clip((r - rmax) / (r_n - rmax), 0.0, 1.0)
        x = 0.5 + np.where(feasible, ramp * (x_n - 0.5), 0.0)
        scaled = (rmax / r) ** b_s
        shape = scaled * np.exp(1.0 - scaled)
        wind = v_ms * shape**x
        tail = v_n * (r_n / r) ** outer_decay
        wind = np.where(feasible & (r > r_n), np.minimum(wind, tail), wind)
    return np.asarray(np.where(r > 0.0, wind, 0.0))


def willoughby2006_parameters(
    vmax: npt.ArrayLike, rmax: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[Array, Array, Array]:
    """Willoughby et al. (2006) regression for the profile's n, X1 (km) and A.

    Notes
    -----
    Willoughby, Darling & Rahn (2006) eqs. (10a-c), with V_max in m s-1, R_max in km and
    φ the latitude in degrees::

        X1 = 287.6 - 1.942 V_max + 7.799 ln R_max + 1.819 |φ|
        n  = 2.1340 + 0.0077 V_max - 0.4522 ln R_max - 0.0038 |φ|
        A  = 0.5913 + 0.0029 V_max - 0.1361 ln R_max - 0.0042 |φ|,   A >= 0

    References
    ----------
    Willoughby, H. E., R. W. R. Darling, and M. E. Rahn, 2006: Parametric representation of
    the primary hurricane vortex. Part II: A new family of sectionally continuous profiles.
    Mon. Wea. Rev., 134, 1102-1120.
    """
    v = np.asarray(vmax, dtype=float)
    log_r = np.log(np.asarray(rmax, dtype=float))
    phi = np.abs(np.asarray(lat, dtype=float))
    x1 = 287.6 - 1.942 * v + 7.799 * log_r + 1.819 * phi
    n = 2.1340 + 0.0077 * v - 0.4522 * log_r - 0.0038 * phi
    a = np.maximum(0.5913 + 0.0029 * v - 0.1361 * log_r - 0.0042 * phi, 0.0)
    return np.asarray(n), np.asarray(x1), np.asarray(a)


def _willoughby_ramp(xi: Array) -> Array:
    """Willoughby et al. (2006) eq. (3): the polynomial blending weight w(ξ) on [0, 1]."""
    xi = np.clip(xi, 0.0, 1.0)
    return np.asarray(126 * xi**5 - 420 * xi**6 + 540 * xi**7 - 315 * xi**8 + 70 * xi**9)


def _solve_ramp(target: Array, iterations: int = 60) -> Array:
    """ξ with w(ξ) = target, by bisection (w rises monotonically from 0 to 1)."""
    low = np.zeros_like(target)
    high = np.ones_like(target)
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        below = _willoughby_ramp(middle) < target
        low = np.where(below, middle, low)
        high = np.where(below, high, middle)
    return np.asarray(0.5 * (low + high))


def willoughby2006(
    r: npt.ArrayLike,
    vmax: npt.ArrayLike,
    rmax: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    x2: float = 25.0,
) -> Array:
    """Willoughby, Darling & Rahn (2006) dual-exponential profile with a polynomial blend.

    Parameters
    ----------
    r
        Distance from the centre (km).
    vmax
        Maximum gradient-level (flight-level) wind (m s-1).
    rmax
        Radius of maximum wind (km).
    lat
        Latitude of the centre (degrees).
    x2
        The fast e-folding length (km); 25 km in the paper.

    Returns
    -------
    Gradient-level wind speed (m s-1).

    Notes
    -----
    Willoughby et al. (2006) eqs. (1a-c), (3), (4)::

        V_i(r) = V_max (r / R_max)^n
        V_o(r) = V_max [ (1 - A) exp(-(r - R_max)/X1) + A exp(-(r - R_max)/X2) ]
        V(r)   = V_i                         r <= R1
        V(r)   = V_i (1 - w) + V_o w         R1 < r < R2,  w = w((r - R1)/(R2 - R1))
        V(r)   = V_o                         r >= R2
        w(ξ)   = 126ξ⁵ - 420ξ⁶ + 540ξ⁷ - 315ξ⁸ + 70ξ⁹

    The blending zone is 25 km wide (15 km when R_max <= 20 km) and placed so that the
    maximum falls at R_max. Since ``V_i = V_o = V_max`` there, ``dV/dr = 0`` at R_max gives
    ``w(ξ_m) = n / (n + R_max ((1-A)/X1 + A/X2))`` (for A = 0 the paper's
    ``n X1 / (n X1 + R_max)``), and ``R1 = R_max - ξ_m (R2 - R1)``. Then
    ``V(R_max) = V_max`` is the maximum. n, X1 and A come from
    :func:`willoughby2006_parameters`.

    References
    ----------
    Willoughby, H. E., R. W. R. Darling, and M. E. Rahn, 2006: Parametric representation of
    the primary hurricane vortex. Part II. Mon. Wea. Rev., 134, 1102-1120.
    """
    r = np.asarray(r, dtype=float)
    v = np.asarray(vmax, dtype=float)
    rm = np.asarray(rmax, dtype=float)
    n, x1, a = willoughby2006_parameters(v, rm, lat)
    decay = (1.0 - a) / x1 + a / x2
    xi_max = _solve_ramp(np.asarray(n / (n + rm * decay)))
    width = np.where(rm > 20.0, 25.0, 15.0)
    r1 = rm - xi_max * width
    inner = v * (np.clip(r, 0.0, None) / rm) ** n
    outer = v * ((1.0 - a) * np.exp(-(r - rm) / x1) + a * np.exp(-(r - rm) / x2))
    weight = _willoughby_ramp((r - r1) / width)
    return np.asarray(inner * (1.0 - weight) + outer * weight)


@dataclass(frozen=True)
class StormState:
    """What a profile may need about the storm at one fix (arrays broadcast together).

    ``delta_p`` hPa, ``rmax`` km, ``lat`` degrees, ``vmax`` the maximum *gradient-level*
    wind in m s-1 (NaN when unknown), ``translation_speed`` m s-1, ``pressure_tendency``
    hPa h-1; ``outer_wind`` (1-min m s-1) at ``outer_radius`` (km) is Holland (2010)'s outer
    point (``None``: the profile's default; NaN: none, the Holland 2008 shape).
    """

    delta_p: Any
    rmax: Any
    lat: Any
    vmax: Any = np.nan
    translation_speed: Any = 0.0
    pressure_tendency: Any = 0.0
    outer_wind: Any = None
    outer_radius: Any = None


ProfileFunction = Callable[[Array, StormState], Array]


@dataclass(frozen=True)
class WindProfile:
    """A registered profile: ``name``, what its output is (``level``) and its kernel."""

    name: str
    level: Literal["gradient", "surface 1 min"]
    function: ProfileFunction

    def __call__(self, r: npt.ArrayLike, storm: StormState) -> Array:
        """Wind speed (m s-1) at distances ``r`` (km) for ``storm``."""
        return self.function(np.asarray(r, dtype=float), storm)


def _h80(r: Array, storm: StormState) -> Array:
    return holland1980(r, storm.delta_p, storm.rmax, storm.lat, vmax=storm.vmax)


def _h08(r: Array, storm: StormState) -> Array:
    return holland2008(
        r,
        storm.delta_p,
        storm.rmax,
        storm.lat,
        translation_speed=storm.translation_speed,
        pressure_tendency=storm.pressure_tendency,
    )


def _h10(r: Array, storm: StormState) -> Array:
    outer = {}
    if storm.outer_wind is not None and storm.outer_radius is not None:
        outer = {"outer_wind": storm.outer_wind, "outer_radius": storm.outer_radius}
    return holland2010(
        r,
        storm.delta_p,
        storm.rmax,
        storm.lat,
        translation_speed=storm.translation_speed,
        pressure_tendency=storm.pressure_tendency,
        **outer,
    )


def _w06(r: Array, storm: StormState) -> Array:
    return willoughby2006(r, storm.vmax, storm.rmax, storm.lat)


_PROFILES: dict[str, WindProfile] = {
    profile.name: profile
    for profile in (
        WindProfile("holland1980", "gradient", _h80),
        WindProfile("holland2008", "surface 1 min", _h08),
        WindProfile("holland2010", "surface 1 min", _h10),
        WindProfile("willoughby2006", "gradient", _w06),
    )
}


def available_profiles() -> list[str]:
    """Names of the registered wind profiles, sorted."""
    return sorted(_PROFILES)


def get_profile(name: str) -> WindProfile:
    """The wind profile called ``name``.

    Raises
    ------
    ValueError
        If no profile has that name; the message lists the available ones.
    """
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown wind profile {name!r}; choose one of {available_profiles()}"
        ) from None
