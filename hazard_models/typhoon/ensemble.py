"""An ensemble of storms around one deterministic forecast track.

Forecast tracks are wrong in known ways: the position error grows with lead time, more along
the track (the storm is faster or slower than forecast) than across it, and intensity and
size are uncertain from the start. :func:`perturb_parameters` turns the storm parameters of
one forecast (:mod:`hazard_models.typhoon.track`) into ``members`` storms:

* **position**: at lead ``t`` the centre moves by ``z_a σ_a(t)`` along the forecast motion
  and ``z_c σ_c(t)`` across it (to the right of the motion for ``z_c > 0``); the motion of
  each member is recomputed from its own positions;
* **intensity**: the central pressure changes by ``z_p σ_p(t)`` (hPa), the pressure deficit
  kept ≥ 0, and the maximum wind scales with the square root of the deficit (cyclostrophic
  balance);
* **size**: the radius of maximum wind and the outer radius (the 30-kt radius the profile
  passes through) are multiplied by ``exp(z_s σ_s(t))``. The size of the analysis is the
  agency's; what grows with lead time is the error of keeping it (the baseline forecaster
  persists it).

Each member draws its ``z`` once from N(0, 1) (numpy ``default_rng(seed)``): errors are fully
correlated in lead time, so a member keeps a smooth track whose offset grows as ``σ(t)``
(linear between the configured leads, constant past the last). Member 0 is the unperturbed
forecast. The standard deviations are configuration with their source named
(:class:`TrackErrors`); the defaults are the baseline forecaster's own out-of-sample errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from pydantic import Field, model_validator

from hazard_models.config import Duration, Frozen
from hazard_models.typhoon.track import translation_velocity

__all__ = ["TrackErrors", "perturb_parameters"]

_KM_PER_DEGREE = 6371.0 * np.pi / 180.0


class TrackErrors(Frozen):
    """Standard deviations of the forecast errors per lead time, with their source."""

    leads: list[Duration] = Field(min_length=1, description="lead times, increasing")
    along_track: list[float] = Field(description="km, one per lead")
    cross_track: list[float] = Field(description="km, one per lead")
    pressure: list[float] = Field(description="hPa, one per lead")
    size: list[float] | None = Field(
        default=None,
        description="SD of ln(size factor), one per lead; none: the size is not perturbed",
    )
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _one_per_lead(self) -> TrackErrors:
        n = len(self.leads)
        for name in ("along_track", "cross_track", "pressure", "size"):
            values = getattr(self, name)
            if values is None:
                continue
            if len(values) != n:
                raise ValueError(f"{name} has {len(values)} values for {n} leads; give one each")
            if any(v < 0 for v in values):
                raise ValueError(f"{name} has a negative standard deviation")
        if any(b <= a for a, b in zip(self.leads, self.leads[1:], strict=False)):
            raise ValueError("leads must increase")
        return self

    def at(self, leads: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(σ_along km, σ_cross km, σ_pressure hPa, σ_size ln)`` at ``leads`` (hours),
        interpolated linearly from 0 at lead 0 (where not configured) and constant past the
        last lead."""
        hours = np.array([lead.total_seconds() / 3600.0 for lead in self.leads])
        size = self.size if self.size is not None else [0.0] * len(self.leads)
        result = []
        for values in (self.along_track, self.cross_track, self.pressure, size):
            x, y = hours, np.asarray(values, dtype=float)
            if x[0] > 0.0:
                x, y = np.concatenate([[0.0], x]), np.concatenate([[0.0], y])
            result.append(np.interp(leads, x, y))
        return result[0], result[1], result[2], result[3]


def _motion_unit_vectors(parameters: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector (east, north) of the forecast motion per step; the mean motion where the
    storm is (nearly) stationary, north if the whole track is."""
    u = np.asarray(parameters["translation_u"].values, dtype=float)
    v = np.asarray(parameters["translation_v"].values, dtype=float)
    speed = np.hypot(u, v)
    mean_u, mean_v = float(np.mean(u)), float(np.mean(v))
    mean_speed = np.hypot(mean_u, mean_v)
    fallback = (mean_u / mean_speed, mean_v / mean_speed) if mean_speed > 0.1 else (0.0, 1.0)
    moving = speed > 0.1
    east = np.where(moving, u / np.where(moving, speed, 1.0), fallback[0])
    north = np.where(moving, v / np.where(moving, speed, 1.0), fallback[1])
    return east, north


def perturb_parameters(
    parameters: xr.Dataset,
    reference_time: Any,
    errors: TrackErrors,
    members: int,
    seed: int = 0,
) -> xr.Dataset:
    """``members`` perturbed copies of the storm ``parameters`` (dim ``member`` first).

    Parameters
    ----------
    parameters
        Storm parameters on ``time`` (a forecast, usually interpolated hourly).
    reference_time
        The forecast's base time: lead ``t = time - reference_time``; steps before it keep
        zero error.
    errors
        Error standard deviations.
    members
        Ensemble size (member 0 is the unperturbed forecast).
    seed
        Seed of the random draws: the same seed gives the same ensemble.
    """
    if members < 1:
        raise ValueError(f"members must be at least 1, got {members}")
    times = np.asarray(parameters["time"].values, dtype="datetime64[ns]")
    leads = np.clip(
        (times - np.asarray(reference_time, dtype="datetime64[ns]")) / np.timedelta64(1, "h"),
        0.0,
        None,
    )
    sd_along, sd_cross, sd_pressure, sd_size = errors.at(leads)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((members, 4))
    z[0] = 0.0
    z_along, z_cross, z_pressure, z_size = (z[:, k : k + 1] for k in range(4))
    east_unit, north_unit = _motion_unit_vectors(parameters)
    # Right of the motion in the northern hemisphere: (north, -east) rotated by -90°.
    along = z_along * sd_along
    cross = z_cross * sd_cross
    east_km = along * east_unit + cross * north_unit
    north_km = along * north_unit - cross * east_unit
    lat0 = np.asarray(parameters["lat"].values, dtype=float)
    lon0 = np.asarray(parameters["lon"].values, dtype=float)
    lat = np.clip(lat0 + north_km / _KM_PER_DEGREE, -89.0, 89.0)
    lon = lon0 + east_km / (_KM_PER_DEGREE * np.cos(np.radians(lat)))
    delta_p0 = np.asarray(parameters["delta_p"].values, dtype=float)
    delta_p = np.clip(delta_p0 - z_pressure * sd_pressure, 0.0, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(delta_p0 > 0.0, np.sqrt(delta_p / delta_p0), 0.0)
    size = np.exp(z_size * sd_size)
    if times.size > 1:
        u, v = translation_velocity(times, lat, lon)
    else:
        u = np.broadcast_to(parameters["translation_u"].values, lat.shape)
        v = np.broadcast_to(parameters["translation_v"].values, lat.shape)
    values = {
        "lat": lat,
        "lon": lon,
        "delta_p": delta_p,
        "rmax": parameters["rmax"].values * size,
        "vmax": parameters["vmax"].values * ratio,
        "outer_wind": np.broadcast_to(parameters["outer_wind"].values, lat.shape),
        "outer_radius": parameters["outer_radius"].values * size,
        "translation_u": u,
        "translation_v": v,
        "pressure_tendency": np.broadcast_to(parameters["pressure_tendency"].values, lat.shape),
    }
    return xr.Dataset(
        {
            name: (("member", "time"), np.array(value, dtype=float), parameters[name].attrs)
            for name, value in values.items()
        },
        coords={"member": np.arange(members), "time": times},
        attrs={
            **parameters.attrs,
            "ensemble": (
                f"{members} members (member 0 unperturbed), seed {seed}; errors: {errors.source}"
            ),
        },
    )
