"""Blending of a radar nowcast with NWP precipitation by a lead-time-dependent weight.

The blended rate is ``w(t) N + (1 - w(t)) M`` with ``N`` the nowcast, ``M`` the NWP
forecast and ``w`` the weight of the nowcast, 1 at short leads and falling with lead time
``t`` as the extrapolation loses skill — the approach of Nimrod (Golding 1998), which
blends the extrapolation with the mesoscale model by lead-time weights; STEPS (Bowler et
al. 2006) and pysteps' ``blending.steps`` (Imhoff et al. 2023) refine it with weights per
spatial scale from the measured skill, which is not done here. Two shapes of ``w``:

``"linear"``
    1 up to ``ramp_start``, 0 from ``skill_horizon`` on, linear in between.
``"exponential"``
    1 up to ``ramp_start``, then ``exp(-(t - ramp_start) / (skill_horizon - ramp_start))``.

Degrading gracefully: where ``M`` is missing (no NWP at all, a lead it does not cover, or
NaN cells) the nowcast is returned unchanged there; where ``N`` is NaN (outside the radar
image) ``M`` is used. Without any NWP the nowcast is returned with attribute
``blending = "nwp missing"``. A grid that differs is an error, not a silent fallback.

References
----------
Golding, B. W., 1998: Nimrod: a system for generating automated very short range forecasts.
Meteorol. Appl., 5, 1-16.
Bowler, N. E., C. E. Pierce and A. W. Seed, 2006: STEPS. Q. J. R. Meteorol. Soc., 132,
2127-2155.
Imhoff, R. O. et al., 2023: Scale-dependent blending of ensemble rainfall nowcasts and
numerical weather prediction in the open-source pysteps library. Q. J. R. Meteorol. Soc.,
149, 1335-1364.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models.errors import ModelError

__all__ = ["available_weightings", "blend_with_nwp", "nowcast_weight"]

_SHAPES = ("exponential", "linear")


def available_weightings() -> list[str]:
    """Names of the weight shapes, sorted."""
    return list(_SHAPES)


def nowcast_weight(
    lead_time: xr.DataArray,
    skill_horizon: str | pd.Timedelta = "2 h",
    ramp_start: str | pd.Timedelta = "30 min",
    weighting: str = "linear",
) -> xr.DataArray:
    """Weight ``w(t)`` (0-1) of the nowcast at each ``lead_time`` (timedelta)."""
    if weighting not in _SHAPES:
        raise ValueError(f"unknown weighting {weighting!r}; choose one of {available_weightings()}")
    start = pd.Timedelta(ramp_start).total_seconds()
    horizon = pd.Timedelta(skill_horizon).total_seconds()
    if horizon <= start:
        raise ModelError(
            f"skill_horizon {skill_horizon} is not after ramp_start {ramp_start}; "
            "set the horizon later than the start of the ramp"
        )
    seconds = lead_time.astype("timedelta64[ns]").astype(np.int64) / 1e9
    past = (seconds - start).clip(min=0.0)
    if weighting == "linear":
        weight = 1.0 - (past / (horizon - start)).clip(max=1.0)
    else:
        weight = xr.apply_ufunc(np.exp, -past / (horizon - start))
    return weight.rename("nowcast_weight").assign_attrs(units="1", weighting=weighting)


def blend_with_nwp(
    nowcast: xr.DataArray,
    nwp: xr.DataArray | None,
    skill_horizon: str | pd.Timedelta = "2 h",
    ramp_start: str | pd.Timedelta = "30 min",
    weighting: str = "linear",
) -> xr.DataArray:
    """Nowcast blended with NWP by a weight falling with lead time (lazy if inputs are).

    Parameters
    ----------
    nowcast
        Rain rate on ``(…, lead_time, y, x)`` (e.g. with ``member``), mm/h.
    nwp
        Rain rate on ``(lead_time, y, x)`` on the same grid, mm/h, or None if not available.
        Leads the nowcast has but the NWP lacks are treated as missing.
    skill_horizon, ramp_start, weighting
        Shape of the weight, see :func:`nowcast_weight`.

    Returns
    -------
    xr.DataArray
        Same dims, coords and attrs as ``nowcast``; attribute ``blending`` says what was done.
    """
    if nwp is None or nwp.size == 0:
        return nowcast.copy().assign_attrs(blending="nwp missing")
    for name in ("y", "x"):
        if nwp.sizes.get(name) != nowcast.sizes.get(name) or (
            name in nwp.coords
            and name in nowcast.coords
            and not np.allclose(nwp[name].values, nowcast[name].values)
        ):
            raise ModelError(
                f"NWP grid differs from the nowcast grid along {name!r}; regrid the NWP "
                "to the radar grid before blending"
            )
    nwp = nwp.reindex(lead_time=nowcast["lead_time"]) if "lead_time" in nwp.dims else nwp
    nwp = nwp.drop_vars([c for c in nwp.coords if c not in nwp.dims])
    nwp = nwp.assign_coords({d: nowcast[d] for d in ("y", "x") if d in nowcast.coords})
    weight = nowcast_weight(nowcast["lead_time"], skill_horizon, ramp_start, weighting)
    mixed = weight * nowcast + (1.0 - weight) * nwp
    blended = mixed.where(nwp.notnull(), nowcast).where(nowcast.notnull(), nwp)
    blended = blended.astype(nowcast.dtype).transpose(*nowcast.dims)
    blended = blended.assign_coords({c: nowcast[c] for c in nowcast.coords})
    return blended.assign_attrs(
        nowcast.attrs,
        blending=f"{weighting} weight from {ramp_start} to {skill_horizon}",
    )
