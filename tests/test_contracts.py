"""Data contracts: real datasets pass, broken copies fail naming the variable and the fix."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ingest.contracts import (
    accumulation_interval,
    assert_no_lookahead,
    utc_instant,
    validate_community_layer,
    validate_gridded_field,
    validate_hazard_result,
    validate_station_obs,
    validate_tc_track,
)
from ingest.errors import ContractError, LookAheadError
from ingest.readers import read_source

NASA = "obs/shenzhen_2023_0907/nasa_power_prectotcorr_20230907_20230909_utc.json"


@pytest.fixture(scope="module")
def power(data_root: Path) -> xr.Dataset:
    return read_source(
        "nasa-power-hourly", data_root / NASA, {"station_id": "P", "station_name": "POWER"}, "power"
    )


def test_naive_times_are_refused() -> None:
    assert utc_instant("2023-09-08T11:00+08:00") == datetime(2023, 9, 8, 3, tzinfo=UTC)
    with pytest.raises(ContractError, match="has no timezone; add 'Z'"):
        utc_instant("2023-09-08T11:00")


def test_station_contract_names_the_broken_variable(power: xr.Dataset) -> None:
    validate_station_obs(power)
    assert accumulation_interval(power).total_seconds() == 3600
    with pytest.raises(ContractError, match=r"'pr' has units 'in', the contract says 'mm'"):
        validate_station_obs(power.assign(pr=power["pr"].assign_attrs(units="in")))
    with pytest.raises(ContractError, match=r"'pr_flag' is missing; add a QC flag"):
        validate_station_obs(power.drop_vars("pr_flag"))
    with pytest.raises(ContractError, match=r"'pr' holds only missing values"):
        validate_station_obs(power.assign(pr=power["pr"] * np.nan))
    no_interval = power.assign(pr=power["pr"].assign_attrs(cell_methods="time: sum"))
    with pytest.raises(ContractError, match="without an accumulation interval"):
        validate_station_obs(no_interval)
    three_hours = power["pr"].assign_attrs(cell_methods="time: sum (interval: 3 hours)")
    assert accumulation_interval(power.assign(pr=three_hours)).total_seconds() == 3 * 3600


def test_gridded_contract(data_root: Path) -> None:
    radar = read_source(
        "knmi-hdf5",
        data_root / "radar/knmi_20100826",
        {"pattern": "RAD_NL25_RAP_5min_20100826000*.h5"},
        "knmi",
    )
    validate_gridded_field(radar)
    with pytest.raises(ContractError, match="'crs' is missing and there are no lat/lon"):
        validate_gridded_field(radar.drop_attrs(deep=False))
    with pytest.raises(ContractError, match="'y' dimension is missing"):
        validate_gridded_field(radar.rename({"y": "row"}))


def test_lookahead_guard(power: xr.Dataset) -> None:
    with pytest.raises(LookAheadError, match="after the issue time"):
        assert_no_lookahead(power, datetime(2023, 9, 8, 3, tzinfo=UTC))
    assert_no_lookahead(
        power.sel(time=slice(None, "2023-09-08T03:00")), datetime(2023, 9, 8, 3, tzinfo=UTC)
    )


def test_community_and_hazard_contracts(shenzhen_region) -> None:  # type: ignore[no-untyped-def]
    layer = shenzhen_region.communities
    validate_community_layer(layer)
    no_source = layer.assign(area=layer["area"].assign_attrs(source=None))
    del no_source["area"].attrs["source"]
    with pytest.raises(ContractError, match="'area' has no 'source'"):
        validate_community_layer(no_source)
    duplicated = layer.assign_coords(
        community_id=("community", ["same"] * layer.sizes["community"])
    )
    with pytest.raises(ContractError, match="'community_id' has duplicates"):
        validate_community_layer(duplicated)
    with pytest.raises(ContractError, match="'community' dimension is missing"):
        validate_hazard_result(xr.Dataset())


def test_tc_track_contract_on_jma_mangkhut(data_root: Path) -> None:
    # Fixes of Mangkhut (JMA 1822) from the derived JMA track table (SOURCES.md 1.5);
    # JMA winds are 10-min means in knots (1 kt = 0.514444 m/s), pressure in hPa.
    import pandas as pd

    table = pd.read_csv(data_root / "tc/jma_tracks_within600km_shenzhen_2000_2025.csv")
    fixes = table[table["jma_id"] == 1822]
    assert len(fixes) > 20
    track = xr.Dataset(
        {
            "lat": ("time", fixes["lat"].to_numpy(float), {"units": "degrees_north"}),
            "lon": ("time", fixes["lon"].to_numpy(float), {"units": "degrees_east"}),
            "psl_min": ("time", fixes["pres_hpa"].to_numpy(float), {"units": "hPa"}),
            "vmax": (
                "time",
                fixes["vmax_kt"].to_numpy(float) * 0.514444,
                {"units": "m s-1", "averaging_period": "10 min"},
            ),
            "rmw": ("time", np.full(len(fixes), np.nan), {"units": "km"}),
        },
        coords={"time": pd.to_datetime(fixes["time_utc"]).dt.tz_localize(None).to_numpy()},
        attrs={"agency": "JMA", "is_forecast": 0},
    )
    validate_tc_track(track)
    no_period = track["vmax"].copy()
    no_period.attrs = {"units": "m s-1"}
    with pytest.raises(ContractError, match="'vmax' has no 'averaging_period'"):
        validate_tc_track(track.assign(vmax=no_period))
    with pytest.raises(ContractError, match="'psl_min' has units 'Pa'"):
        validate_tc_track(track.assign(psl_min=track["psl_min"].assign_attrs(units="Pa")))
    with pytest.raises(ContractError, match="'agency' attribute is missing"):
        validate_tc_track(track.drop_attrs(deep=False).assign_attrs(is_forecast=0))
