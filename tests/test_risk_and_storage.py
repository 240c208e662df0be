"""Risk matrix on the real community layer, and atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from hazard_models.config import RiskConfig
from hazard_models.errors import ModelError
from hazard_models.risk import assess_risk
from ingest.storage import write_bytes_atomic, write_netcdf_atomic


def test_vulnerable_communities_are_raised_one_level(shenzhen_settings, shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    layer = shenzhen_region.communities
    n = layer.sizes["community"]
    levels = np.tile(np.arange(5, dtype=np.int8), n // 5 + 1)[:n]
    result = xr.Dataset({"hazard_level": (("community", "lead_time"), levels[:, None])})
    risked = assess_risk(result, layer, shenzhen_settings.risk, "rainstorm")
    vulnerable = (
        (layer["low_lying_fraction"].values > 0.5)
        | (layer["waterlogging_hotspots"].values > 0)
        | (layer["depression_fraction"].values > 0.25)
    )
    assert vulnerable.any() and (~vulnerable).any()
    expected = np.where(vulnerable, np.array([0, 2, 3, 4, 4])[levels], levels)
    assert (risked["risk_level"].values[:, 0] == expected).all()
    # other hazards ignore the rainstorm vulnerability indicators
    other = assess_risk(result, layer, shenzhen_settings.risk, "heatwave")
    assert (other["risk_level"].values[:, 0] == levels).all()


def test_missing_indicator_attribute_is_an_error(shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    risk = RiskConfig.model_validate(
        {
            "source": "test",
            "applies_to": ["rainstorm"],
            "vulnerability": [{"attribute": "elderly_share", "high_above": 0.2, "source": "none"}],
        }
    )
    result = xr.Dataset(
        {
            "hazard_level": (
                ("community", "lead_time"),
                np.zeros((shenzhen_region.communities.sizes["community"], 1), dtype=np.int8),
            )
        }
    )
    with pytest.raises(ModelError, match="'elderly_share' is not an attribute"):
        assess_risk(result, shenzhen_region.communities, risk, "rainstorm")


def test_risk_matrix_must_be_monotonic() -> None:
    with pytest.raises(ValueError, match="must start at 0 and not decrease"):
        RiskConfig.model_validate({"source": "test", "matrix": {"normal": [0, 2, 1, 3, 4]}})


def test_failed_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "result.nc"
    good = xr.Dataset({"pr": ("time", np.array([1.0, 2.0]))})
    write_netcdf_atomic(good, target)
    before = target.read_bytes()
    unwritable = xr.Dataset({"pr": ("time", np.array([object(), object()], dtype=object))})
    with pytest.raises(Exception):  # noqa: B017 - any failure of the writer
        write_netcdf_atomic(unwritable, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.nc"]
    write_bytes_atomic(tmp_path / "a.txt", b"x")
    assert (tmp_path / "a.txt").read_bytes() == b"x"
