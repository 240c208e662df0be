"""Storm structure around the radial profile: radius of maximum wind from the pressure,
reduction from the gradient level to the surface, and the asymmetry from the storm's motion.

Pure numpy like :mod:`.profiles` (same units: hPa, km, degrees, m s-1).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hazard_models.typhoon.profiles import AMBIENT_PRESSURE_HPA, SURFACE_REDUCTION_FACTOR, Array

__all__ = ["gradient_to_surface", "radius_of_maximum_wind", "translation_asymmetry"]


def radius_of_maximum_wind(
    psl_min: npt.ArrayLike,
    lat: npt.ArrayLike,
    ambient_pressure: float = AMBIENT_PRESSURE_HPA,
) -> Array:
    """Radius of maximum wind (km) estimated from the central pressure, when a track lacks it.

    Parameters
    ----------
    psl_min
        Central pressure (hPa).
    lat
        Latitude of the centre (degrees).
    ambient_pressure
        Pressure of the environment (hPa).

    Notes
    -----
    Vickery & Wadhera (2008) eq. (11), their fit to all Atlantic hurricanes (σ of ln R_max
    0.448)::

        ln R_max = 3.015 - 6.291e-5 Δp² + 0.0337 |φ|

    with Δp in hPa (their ambient pressure was 1013 hPa) and R_max in km. A deficit below 0
    is treated as 0.

    References
    ----------
    Vickery, P. J., and D. Wadhera, 2008: Statistical models of Holland pressure profile
    parameter and radius to maximum winds of hurricanes from flight-level pressure and
    H*Wind data. J. Appl. Meteor. Climatol., 47, 2497-2517.
    """
    dp = np.clip(ambient_pressure - np.asarray(psl_min, dtype=float), 0.0, None)
    phi = np.abs(np.asarray(lat, dtype=float))
    return np.asarray(np.exp(3.015 - 6.291e-5 * dp**2 + 0.0337 * phi))


def gradient_to_surface(wind: npt.ArrayLike, factor: float = SURFACE_REDUCTION_FACTOR) -> Array:
    """10-m wind from a gradient-level wind by a constant reduction factor.

    Notes
    -----
    ``V_10 = K V_g``. The default K = 0.9 is the "90 % rule" of Franklin et al. (2003) for
    the eyewall over the sea (surface wind ≈ 0.9 × the 700-hPa flight-level wind), the value
    CLIMADA uses; its result is read as a 1-min sustained wind. Over land K is smaller
    (about 0.7): pass it explicitly.

    References
    ----------
    Franklin, J. L., M. L. Black, and K. Valde, 2003: GPS dropwindsonde wind profiles in
    hurricanes and their operational implications. Wea. Forecasting, 18, 32-44.
    """
    if not 0.0 < factor <= 1.0:
        raise ValueError(f"surface reduction factor {factor} is outside (0, 1]")
    return np.asarray(np.asarray(wind, dtype=float) * factor)


def translation_asymmetry(
    wind_speed: npt.ArrayLike,
    azimuth: npt.ArrayLike,
    translation_u: npt.ArrayLike,
    translation_v: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    fraction: float = 0.55,
    rotation: float = 20.0,
) -> Array:
    """Wind speed of the symmetric vortex plus a share of the storm's motion.

    Parameters
    ----------
    wind_speed
        Axisymmetric (tangential) wind speed at the point (m s-1).
    azimuth
        Bearing from the storm centre to the point (degrees clockwise from north).
    translation_u, translation_v
        Eastward and northward components of the storm's motion (m s-1).
    lat
        Latitude of the centre: the vortex turns counter-clockwise north of the equator.
    fraction, rotation
        Share of the motion added, and the angle (degrees) by which it is turned
        cyclonically; Lin & Chavas (2012) fitted 0.55 and 20°.

    Returns
    -------
    Speed of the vector sum (m s-1), strongest to the right of the motion in the northern
    hemisphere.

    Notes
    -----
    ``V = | V_sym t̂ + α R(θ) v_t |`` with t̂ the cyclonic tangential unit vector at the
    point, ``v_t`` the translation vector and ``R(θ)`` a cyclonic rotation by θ.

    References
    ----------
    Lin, N., and D. Chavas, 2012: On hurricane parametric wind and applications in storm
    surge modeling. J. Geophys. Res., 117, D09120, doi:10.1029/2011JD017126.
    """
    sense = np.where(np.asarray(lat, dtype=float) >= 0.0, 1.0, -1.0)
    bearing = np.radians(np.asarray(azimuth, dtype=float))
    speed = np.asarray(wind_speed, dtype=float)
    # Position unit vector (east, north) = (sin az, cos az); its cyclonic normal.
    tangent_u = -np.cos(bearing) * sense
    tangent_v = np.sin(bearing) * sense
    angle = np.radians(rotation) * sense
    u_t = np.asarray(translation_u, dtype=float)
    v_t = np.asarray(translation_v, dtype=float)
    background_u = fraction * (u_t * np.cos(angle) - v_t * np.sin(angle))
    background_v = fraction * (u_t * np.sin(angle) + v_t * np.cos(angle))
    return np.asarray(np.hypot(speed * tangent_u + background_u, speed * tangent_v + background_v))
