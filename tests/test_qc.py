"""Quality control of station observations, on real series with planted faults.

Data (no invented series)
    There is no real hourly station network in ``../shared/data``, so the network tests use
    *virtual stations* built from real gridded data (``tests/fixtures/qc/virtual_stations``):

    * temperature: ERA5 2 m temperature, hourly, March 2019 (SOURCES.md §8), sampled at
      50 grid points on a 0.5° × 1° lattice over 51.0-55.5 N, 4 W-0 E, K → degC;
    * rainfall: KNMI radar 5-minute accumulations of 2010-08-26 (SOURCES.md §7.1), summed
      to seven hours at 54 pixels on a 50-km lattice, positions from the file's ``crs``;
    * single stations: the NASA POWER hourly series (SOURCES.md §4.2) and the HKO daily
      rainfall 1884-2026 (SOURCES.md §4.1), read by their readers.

Planted faults
    Each is a real value transformed the way real feeds go wrong: one report in degF, one
    in kelvin, a logger repeating its last value for 18 hours, a whole station in degF, a
    gauge reporting 0.1-mm counts as mm, an undecoded ``-999`` fill value, a daily total
    keyed in 0.1 mm. Tests assert that exactly the planted reports change flags.

False-alarm rates measured on the untouched real series (asserted below)
    ERA5 temperature (37,200 reports, buddy radius 100 km): 0 range, step, spike and
    persistence flags; 25 buddy failures (0.067 %), at coastal points whose neighbours are
    inland. KNMI rainfall (378 reports): 0. NASA POWER (72 hours): 0. HKO daily (49,307
    days): 15 persistence flags (0.03 %), five runs of three equal small totals (0.1 or
    0.4 mm), which a climatologist would look at; nothing else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fixtures.qc.virtual_stations import era5_uk_stations, knmi_gauges, knmi_hourly
from pydantic import ValidationError

from ingest.errors import ContractError
from ingest.qc import (
    QC_FLAG_MASKS,
    QC_FLAG_MEANINGS,
    BuddyCheck,
    PersistenceCheck,
    QcConfig,
    VariableQc,
    quality_control,
    usable_observations,
)
from ingest.readers import read_source

RANGE, STEP, SPIKE, PERSISTENCE, BUDDY, NOT_CHECKED = QC_FLAG_MASKS
FAILS = RANGE | STEP | SPIKE | PERSISTENCE | BUDDY

# The lattice spacing is 55-65 km, so the default 25-km buddy radius would find nobody.
ERA5_CONFIG = QcConfig(
    variables={
        "tas": QcConfig()
        .variables["tas"]
        .model_copy(
            update={
                "buddy": BuddyCheck(
                    radius="100 km", min_buddies=3, threshold=4.0, min_spread="1 degC"
                )
            }
        )
    }
)
# Rain: a 7-hour event cannot show a 12-hour stuck gauge; 3 hours here.
KNMI_CONFIG = QcConfig(
    variables={
        "pr": VariableQc(
            valid_min="0 mm",
            max_by_interval={"1 h": "305 mm"},
            persistence=PersistenceCheck(window="3 h", tolerance="0 mm", exempt_at_or_below="0 mm"),
            buddy=BuddyCheck(radius="75 km", min_buddies=3, threshold=4.0, min_spread="1 mm"),
        )
    }
)
HKO_CSV = Path("obs/hko/daily_HKO_RF_ALL.csv")
POWER_JSON = Path("obs/shenzhen_2023_0907/nasa_power_prectotcorr_20230907_20230909_utc.json")
HKO_OPTIONS = {
    "station_id": "HKO",
    "station_name": "Hong Kong Observatory Headquarters",
    "lat": 22.3019,
    "lon": 114.1742,
    "elevation": "32 m",
    "station_source": "HKO list of weather stations",
}

# Planted faults in the ERA5 network (station index: lattice row * 5 + column).
DEGF_REPORT = (17, 300)  # 52.5 N 2 W, hour 300: one report in degF
KELVIN_REPORT = (23, 400)  # 53.0 N 1 W, hour 400: one report in kelvin
STUCK_STATION, STUCK_START, STUCK_HOURS = 12, 100, 18  # 52.0 N 2 W: logger repeats
DEGF_STATION = 27  # 53.5 N 2 W: the whole month in degF


def bits(flags: xr.DataArray, mask: int) -> np.ndarray:
    """Boolean array: where ``mask`` is set."""
    return (np.asarray(flags.values) & mask) != 0


@pytest.fixture(scope="module")
def era5(data_root: Path) -> xr.Dataset:
    return era5_uk_stations(data_root)


@pytest.fixture(scope="module")
def era5_clean(era5: xr.Dataset) -> xr.Dataset:
    return quality_control(era5, ERA5_CONFIG)


@pytest.fixture(scope="module")
def era5_faulty(era5: xr.Dataset) -> xr.Dataset:
    values = era5["tas"].values.copy()
    station, hour = DEGF_REPORT
    values[station, hour] = values[station, hour] * 9 / 5 + 32
    station, hour = KELVIN_REPORT
    values[station, hour] = values[station, hour] + 273.15
    stuck = slice(STUCK_START, STUCK_START + STUCK_HOURS + 1)
    values[STUCK_STATION, stuck] = values[STUCK_STATION, STUCK_START]
    values[DEGF_STATION] = values[DEGF_STATION] * 9 / 5 + 32
    return era5.assign(tas=(era5["tas"].dims, values, era5["tas"].attrs))


def test_era5_clean_series_false_alarm_rate(era5_clean: xr.Dataset) -> None:
    flags = era5_clean["tas_qc"]
    assert flags.size == 37_200
    for mask in (RANGE, STEP, SPIKE, PERSISTENCE):
        assert not bits(flags, mask).any()
    # Measured: 25 of 37,200 (0.067 %), at coastal points; bound at 0.1 %.
    assert bits(flags, BUDDY).sum() / flags.size <= 0.001
    assert era5_clean.attrs["qc_summary"].startswith("tas: range_fail=0, step_fail=0")


def test_era5_planted_faults_are_flagged_and_nothing_else(
    era5_clean: xr.Dataset, era5_faulty: xr.Dataset
) -> None:
    result = quality_control(era5_faulty, ERA5_CONFIG)
    flags = result["tas_qc"]
    # One report in degF: a spike, a step from the previous hour and a buddy failure; the
    # return to normal in the next hour is not a step.
    station, hour = DEGF_REPORT
    assert int(flags[station, hour]) == SPIKE | STEP | BUDDY
    assert int(flags[station, hour + 1]) == 0
    # One report in kelvin: impossible, so outside the time tests; buddies see it too.
    station, hour = KELVIN_REPORT
    assert int(flags[station, hour]) == RANGE | BUDDY
    assert int(flags[station, hour - 1]) == int(flags[station, hour + 1]) == 0
    # A logger repeating its value for 18 hours: exactly those 19 reports persist.
    persistence = np.flatnonzero(bits(flags, PERSISTENCE)[STUCK_STATION])
    assert persistence.tolist() == list(range(STUCK_START, STUCK_START + STUCK_HOURS + 1))
    assert bits(flags, PERSISTENCE).sum() == STUCK_HOURS + 1
    # A station in degF all month fails the buddy check almost always.
    assert bits(flags, BUDDY)[DEGF_STATION].mean() >= 0.95
    # Everything else keeps the flags of the untouched data, but for one report: at hour
    # 603 the buddies of station 26 (53.5 N 3 W) split into a ~2.3 degC and a ~7 degC group
    # (a coast); the degF station leaves its pool, the median moves and 26 passes.
    changed = np.asarray(flags.values) != np.asarray(era5_clean["tas_qc"].values)
    changed[DEGF_STATION] = False
    changed[DEGF_REPORT] = changed[KELVIN_REPORT] = False
    changed[STUCK_STATION, STUCK_START : STUCK_START + STUCK_HOURS + 2] = False
    assert np.argwhere(changed).tolist() == [[26, 603]]
    assert int(era5_clean["tas_qc"][26, 603]) == BUDDY


def test_values_and_reader_flags_are_bit_identical(era5_faulty: xr.Dataset) -> None:
    before = era5_faulty.copy(deep=True)
    result = quality_control(era5_faulty, ERA5_CONFIG)
    for name in before.data_vars:
        assert result[name].dtype == before[name].dtype
        assert np.array_equal(result[name].values, before[name].values, equal_nan=True)
    xr.testing.assert_identical(era5_faulty, before)  # the input is not mutated either
    assert set(result.data_vars) == {"tas", "tas_flag", "tas_qc"}


def test_qc_variable_follows_cf_flags(era5_clean: xr.Dataset) -> None:
    flags = era5_clean["tas_qc"]
    assert flags.dtype == np.uint8
    assert flags.dims == era5_clean["tas"].dims
    assert list(flags.attrs["flag_masks"]) == [1, 2, 4, 8, 16, 32]
    assert flags.attrs["flag_meanings"].split() == list(QC_FLAG_MEANINGS)
    assert flags.attrs["flag_meanings"] == (
        "range_fail step_fail spike_fail persistence_fail buddy_fail buddy_not_checked"
    )
    assert era5_clean["tas"].attrs["ancillary_variables"] == "tas_flag tas_qc"
    assert "range [-80, 60] degC" in flags.attrs["qc_thresholds"]
    again = quality_control(era5_clean, ERA5_CONFIG)
    assert again["tas"].attrs["ancillary_variables"] == "tas_flag tas_qc"


def test_chunked_input_gives_the_in_memory_result(era5_faulty: xr.Dataset) -> None:
    in_memory = quality_control(era5_faulty, ERA5_CONFIG)
    chunked = quality_control(era5_faulty.chunk({"station": 10, "time": 200}), ERA5_CONFIG)
    assert chunked["tas_qc"].chunks is not None
    xr.testing.assert_identical(chunked["tas_qc"].compute(), in_memory["tas_qc"])
    assert chunked.attrs["qc_summary"] == in_memory.attrs["qc_summary"]


def test_isolated_station_is_not_checked_not_failed(era5: xr.Dataset) -> None:
    lonely = era5.isel(station=[0, 24, 49])  # corners and centre, > 100 km apart
    flags = quality_control(lonely, ERA5_CONFIG)["tas_qc"]
    assert bits(flags, NOT_CHECKED).all()
    assert not bits(flags, BUDDY).any()


def test_usable_observations_drop_failures_keep_unchecked(era5_faulty: xr.Dataset) -> None:
    result = quality_control(era5_faulty, ERA5_CONFIG)
    usable = usable_observations(result, "tas").values
    fails = (result["tas_qc"].values & FAILS) != 0
    assert np.array_equal(usable, ~fails)
    lonely = quality_control(era5_faulty.isel(station=[0, 49]), ERA5_CONFIG)
    assert usable_observations(lonely, "tas").values.all()  # only buddy_not_checked


# --------------------------------------------------------------------------- rainfall


@pytest.fixture(scope="module")
def gauges(data_root: Path) -> xr.Dataset:
    obs, _, _ = knmi_gauges(knmi_hourly(data_root))
    return obs


def test_knmi_rain_clean_and_planted_faults(gauges: xr.Dataset) -> None:
    clean = quality_control(gauges, KNMI_CONFIG)["pr_qc"]
    assert not bits(clean, FAILS).any()  # measured: no false alarm in 378 reports
    values = gauges["pr"].values.copy()
    wettest = int(np.argmax(values.sum(axis=1)))
    values[wettest] = values[wettest] * 10  # 0.1-mm counts reported as mm
    first_wet = int(np.flatnonzero(values[5] > 0)[0])
    values[5, first_wet:] = values[5, first_wet]  # stuck at its first wet hour's amount
    faulty = gauges.assign(pr=(gauges["pr"].dims, values, gauges["pr"].attrs))
    flags = quality_control(faulty, KNMI_CONFIG)["pr_qc"]
    # Planted 6.3, 2.0, 1.4, 1.7, 13.9, 9.4, 36.5 mm against neighbour medians below 1.5 mm:
    # caught where it exceeds the median by more than 4 x the 1-mm spread floor.
    assert bits(flags, BUDDY)[wettest].tolist() == [True, False, False, False, True, True, True]
    assert np.flatnonzero(bits(flags, PERSISTENCE)[5]).tolist() == list(
        range(first_wet, values.shape[1])
    )
    others = np.ones(values.shape[0], dtype=bool)
    others[[wettest, 5]] = False
    assert not bits(flags, FAILS)[others].any()


def test_power_series_clean_then_fill_value_and_stuck(data_root: Path) -> None:
    power = read_source(
        "nasa-power-hourly", data_root / POWER_JSON, {"station_id": "P", "station_name": "S"}, "p"
    )
    assert not quality_control(power)["pr_qc"].values.any()  # measured: 0 of 72
    values = power["pr"].values.copy()
    values[0, 10] = -999.0  # the API's fill value, not decoded by a careless reader
    values[0, 40:53] = values[0, 40]  # 13 equal hours: a stuck non-zero rate (12 h span)
    faulty = power.assign(pr=(power["pr"].dims, values, power["pr"].attrs))
    flags = quality_control(faulty)["pr_qc"].values[0]
    assert np.flatnonzero(flags).tolist() == [10, *range(40, 53)]
    assert flags[10] == RANGE
    assert set(flags[40:53].tolist()) == {PERSISTENCE}


def test_hko_daily_false_alarms_and_a_total_in_tenths(data_root: Path) -> None:
    hko = read_source("hko-daily-rainfall", data_root / HKO_CSV, HKO_OPTIONS, "hko")
    flags = quality_control(hko)["pr_qc"].values[0]
    # Measured: five runs of three equal small totals, 15 of 49,307 days.
    assert bits(xr.DataArray(flags), PERSISTENCE).sum() == 15
    assert set(flags[flags != 0].tolist()) == {PERSISTENCE}
    # 2023-09-08: 425.0 mm (the Haikui remnant); keyed in 0.1 mm it exceeds the 24-h record.
    day = int(np.flatnonzero(hko["time"].values == np.datetime64("2023-09-08T16:00"))[0])
    values = hko["pr"].values.copy()
    values[0, day] = values[0, day] * 10
    faulty = hko.assign(pr=(hko["pr"].dims, values, hko["pr"].attrs))
    faulty_flags = quality_control(faulty)["pr_qc"].values[0]
    assert faulty_flags[day] == RANGE
    assert np.flatnonzero(faulty_flags != flags).tolist() == [day]


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"tas": {"valid_min": "-80", "valid_max": "60 degC"}}, "write it like '-80 degC'"),
        ({"tas": {"valid_min": "-80 mm", "valid_max": "60 degC"}}, "cannot be converted"),
        ({"rain": {"valid_min": "0 mm", "valid_max": "1 mm"}}, "not a CF variable"),
        ({"tas": {"valid_min": "-80 degC", "valid_max": "60 degC", "step": "-5 degC"}}, "neg"),
        ({"tas": {"valid_min": "60 degC", "valid_max": "-80 degC"}}, "not above valid_min"),
        ({"pr": {"valid_min": "0 mm", "valid_max": "1 mm", "max_by_interval": {}}}, "exactly"),
        ({"tas": {"valid_min": "0 degC", "valid_max": "1 degC", "step_per": "1 mm"}}, "1 mm"),
        ({"tas": {"valid_min": "0 degC", "valid_max": "1 degC", "colour": "red"}}, "colour"),
    ],
    ids=["bare", "dimension", "name", "negative", "order", "both-max", "per", "unknown-key"],
)
def test_config_errors_name_the_key_and_the_fix(settings: dict, expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        QcConfig.model_validate({"variables": settings})


def test_config_is_frozen_and_converts_units() -> None:
    config = QcConfig()
    with pytest.raises(ValidationError):
        config.variables = {}  # type: ignore[misc]
    tas = VariableQc(valid_min="-112 degF", valid_max="140 degF", step="9 degF", spike="5.4 K")
    limits = QcConfig(variables={"tas": tas}).limits("tas", None)
    assert (limits.valid_min, limits.valid_max) == pytest.approx((-80.0, 60.0))
    assert (limits.step, limits.spike) == pytest.approx((5.0, 5.4))  # differences


def test_rain_maximum_follows_the_interval(gauges: xr.Dataset) -> None:
    config = QcConfig()
    from datetime import timedelta

    # WMO extremes archive: 305 mm in 1 h; 1825 mm in 24 h (defaults of QcConfig).
    assert config.limits("pr", timedelta(minutes=5)).valid_max == 305.0
    assert config.limits("pr", timedelta(hours=1)).valid_max == 305.0
    assert config.limits("pr", timedelta(days=1)).valid_max == 1825.0
    weekly = gauges.copy(deep=True)
    weekly["pr"].attrs["cell_methods"] = "time: sum (interval: 7 day)"
    with pytest.raises(ContractError, match="no entry covers the data's interval"):
        quality_control(weekly)


def test_reader_flag_without_good_is_refused(gauges: xr.Dataset) -> None:
    odd = gauges.copy(deep=True)
    odd["pr_flag"].attrs["flag_meanings"] = "ok missing"
    with pytest.raises(ContractError, match="without 'good'"):
        quality_control(odd, KNMI_CONFIG)
    with pytest.raises(ContractError, match="has no QC settings"):
        quality_control(gauges, ERA5_CONFIG, variables=["pr"])


def test_stations_without_a_position_are_not_buddy_checked(tmp_path: Path) -> None:
    # A real HKO current-weather answer (tests/fixtures/hko/README.md): 27 temperature
    # stations, of which only the Observatory Headquarters has a published position here.
    fixtures = Path(__file__).parent / "fixtures" / "hko"
    feed = tmp_path / "feed"
    feed.mkdir()
    answer = fixtures / "recorded" / "rhrread_home_assistant_20230819.json"
    (feed / "20230819T0902Z.json").write_bytes(answer.read_bytes())
    obs = read_source("hko-regional", feed, {"station_metadata": fixtures / "stations.csv"}, "hko")
    reported = np.isfinite(obs["tas"].values)
    checked = quality_control(obs, variables=["tas"])
    flags = checked["tas_qc"].values[reported]
    assert reported.sum() == 27
    assert ((flags & NOT_CHECKED) > 0).sum() == 27
    assert not (flags & FAILS).any()
