"""Risk per community: hazard level combined with vulnerability (and exposure) into 0-4.

Levels 0-4 read ``none, blue, yellow, orange, red``. A community is of ``high`` vulnerability
when any configured indicator (e.g. ``low_lying_fraction > 0.5``, ``waterlogging_hotspots >
0``) exceeds its value; the risk matrix of the configuration (``risk.matrix[class][hazard
level]``), in the spirit of the impact-based warning matrices of WMO-No. 1150 (2015),
then gives the risk level. Indicators apply only to the hazards listed in
``risk.applies_to``; for other hazards risk equals the hazard level. A missing indicator
value (NaN) never raises vulnerability: it is counted as unknown and reported.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hazard_models.config import RiskConfig
from hazard_models.errors import ModelError

__all__ = ["RISK_COLOURS", "assess_risk", "vulnerability_class"]

#: Names of risk levels 0-4.
RISK_COLOURS: tuple[str, ...] = ("none", "blue", "yellow", "orange", "red")
_CLASSES = ("normal", "high")


def vulnerability_class(communities: xr.Dataset, risk: RiskConfig) -> xr.DataArray:
    """0 (normal) or 1 (high) per community from the configured indicators."""
    high = np.zeros(communities.sizes["community"], dtype=bool)
    unknown = np.zeros_like(high)
    for indicator in risk.vulnerability:
        if indicator.attribute not in communities:
            raise ModelError(
                f"risk indicator {indicator.attribute!r} is not an attribute of the community "
                f"layer (it has {sorted(map(str, communities.data_vars))}); configure the data "
                "that provides it or remove the indicator"
            )
        values = np.asarray(communities[indicator.attribute].values, dtype=float)
        high |= values > indicator.high_above
        unknown |= np.isnan(values)
    rule = " or ".join(f"{i.attribute} > {i.high_above:g}" for i in risk.vulnerability)
    return xr.DataArray(
        high.astype(np.int8),
        dims="community",
        attrs={
            "long_name": "vulnerability class",
            "flag_values": np.array([0, 1], dtype=np.int8),
            "flag_meanings": " ".join(_CLASSES),
            "rule": rule or "none configured",
            "communities_with_unknown_indicator": int(unknown.sum()),
        },
    )


def assess_risk(
    result: xr.Dataset, communities: xr.Dataset, risk: RiskConfig | None, hazard: str
) -> xr.Dataset:
    """Add ``vulnerability_class`` and ``risk_level`` to a hazard result."""
    level = result["hazard_level"]
    if risk is None or hazard not in risk.applies_to:
        vulnerability = xr.zeros_like(communities["lon"], dtype=np.int8).drop_vars(
            list(communities["lon"].coords)
        )
        vulnerability.attrs = {
            "long_name": "vulnerability class",
            "rule": "not applied",
            "flag_values": np.array([0, 1], dtype=np.int8),
            "flag_meanings": " ".join(_CLASSES),
        }
        matrix = np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
    else:
        vulnerability = vulnerability_class(communities, risk)
        matrix = np.array([risk.matrix["normal"], risk.matrix["high"]])
    risk_level = xr.apply_ufunc(
        lambda lv, vc: matrix[vc, lv],
        level,
        vulnerability,
        dask="parallelized",
        output_dtypes=[np.int8],
    ).astype(np.int8)
    risk_level.attrs = {
        "long_name": "risk level",
        "flag_values": np.arange(5, dtype=np.int8),
        "flag_meanings": " ".join(RISK_COLOURS),
        "source": risk.source if risk is not None else "risk equals hazard level",
    }
    return result.assign(vulnerability_class=vulnerability, risk_level=risk_level)
