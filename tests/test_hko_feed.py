"""The HKO station feed end to end: replay server → requests → raw folder → reader → merge.

Data: HKO's real past-hour district rainfall of 29 Jul 2025 (SOURCES.md §4.1b) re-encoded
as ``rhrread`` answers, and answers recorded by other projects (tests/fixtures/hko/README.md).
The server runs on 127.0.0.1 with an ephemeral port; nothing leaves the machine.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import xarray as xr
from pydantic import ValidationError

from ingest.contracts import validate_station_obs
from ingest.errors import ContractError, SourceError
from ingest.http import FetchError, FetchOptions, HttpFetcher, land_snapshot
from ingest.merge import merge_station_reports, with_receipt
from ingest.readers import hko_regional
from ingest.readers.hko_regional import HkoRegionalOptions, HkoRegionalReader
from ingest.replay_server import Fault, ReplayServer, snapshot_folder

FIXTURES = Path(__file__).parent / "fixtures" / "hko"
RECORDED = FIXTURES / "recorded"
RHRREAD = "/weatherAPI/opendata/weather.php?dataType=rhrread&lang=en"
HOURLY = "/weatherAPI/opendata/hourlyRainfall.php?lang=en"
WIND = "/weatherAPI/hko_data/regional-weather/latest_10min_wind.csv"
# Real values, obs/hko/hko_district_hourly_rainfall_202507.csv, poll 20250729-1001 HKT:
# "2025-07-29 09:00:00,Eastern District,62,94" and "Wan Chai,47,61".
EASTERN, WAN_CHAI = "district:Eastern District", "district:Wan Chai"
NINE_HKT = np.datetime64("2025-07-29T01:00", "ns")


def no_sleep(seconds: float) -> None:
    """Retries in these tests do not wait (the backoff itself is tested in test_http.py)."""


def zero() -> float:
    return 0.0


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def read(folder: Path, metadata: Path | None = None) -> xr.Dataset:
    return HkoRegionalReader().read(folder, HkoRegionalOptions(station_metadata=metadata), "hko")


def value(ds: xr.Dataset, name: str, station: str, time: Any) -> float:
    index = list(ds["station_id"].values).index(station)
    return float(ds[name].isel(station=index).sel(time=np.datetime64(time, "ns")).item())


def flag(ds: xr.Dataset, name: str, station: str, time: Any) -> str:
    meanings = ds[f"{name}_flag"].attrs["flag_meanings"].split()
    index = list(ds["station_id"].values).index(station)
    code = int(ds[f"{name}_flag"].isel(station=index).sel(time=np.datetime64(time, "ns")).item())
    return str(meanings[code])


@pytest.fixture
def replay_root(tmp_path: Path) -> Path:
    """The committed rhrread replay plus the recorded hourlyRainfall answer."""
    root = tmp_path / "replay"
    shutil.copytree(FIXTURES / "replay", root)
    hourly = snapshot_folder(root, HOURLY)
    hourly.mkdir(parents=True)
    shutil.copy(RECORDED / "hourly_rainfall_hko_rust_20220901.json", hourly / "20220901T0002Z.json")
    return root


def land(folder: Path, name: str, document: Any) -> Path:
    """Write a snapshot under a landed name (receive time + a hash-like key)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    text = document if isinstance(document, str) else json.dumps(document)
    path.write_text(text, encoding="utf-8")
    return path


def recorded_rhrread() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (RECORDED / "rhrread_home_assistant_20230819.json").read_text()
    )
    return document


GOOD_NAME = "20230819T090230Z_00000000000000aa.json"  # received 17:02:30 HKT, as recorded


# --------------------------------------------------------------------------- provenance


def test_rhrread_fixtures_are_reproduced_from_the_real_district_rainfall(data_root: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_rhrread", FIXTURES / "make_rhrread_fixtures.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    answers = module.rhrread_answers(data_root)
    on_disk = {
        str(path.relative_to(FIXTURES / "replay")): path.read_bytes()
        for path in (FIXTURES / "replay").rglob("*.json")
    }
    assert answers == on_disk and len(answers) == 8


# --------------------------------------------------------------------------- end to end


def test_replay_through_requests_lands_and_reads_one_dataset(
    replay_root: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    first_poll = utc("2025-07-29T07:05+08:00")
    with ReplayServer(replay_root, first_poll) as server:
        fetcher = HttpFetcher(
            "hko", FetchOptions(), state_dir=tmp_path / "state", sleep=no_sleep, random=zero
        )
        landed: list[Path] = []
        for hour in range(8):
            server.set_clock(first_poll + timedelta(hours=hour))
            for endpoint, folder in ((RHRREAD, "rhrread"), (HOURLY, "hourly")):
                result = fetcher.fetch(server.url + endpoint)
                landed.append(land_snapshot(result, raw / folder))
        again = fetcher.fetch(server.url + RHRREAD)  # nothing new at the same clock
    assert again.not_modified and again.status == 304
    assert land_snapshot(again, raw / "rhrread") == landed[-2]
    assert len(list((raw / "rhrread").iterdir())) == 8  # one file per distinct answer
    assert len(list((raw / "hourly").iterdir())) == 1  # unchanged answers landed once
    ds = read(raw, FIXTURES / "stations.csv")
    validate_station_obs(ds)
    assert value(ds, "pr", EASTERN, NINE_HKT) == 94.0
    assert value(ds, "pr_district_min", EASTERN, NINE_HKT) == 62.0
    assert value(ds, "pr", WAN_CHAI, NINE_HKT) == 61.0
    assert value(ds, "pr", "RF001", "2022-09-01T00:00") == 0.0
    assert flag(ds, "pr", "N12", "2022-09-01T00:00") == "maintenance"
    assert np.isnan(value(ds, "pr", "N12", "2022-09-01T00:00"))
    assert ds["pr"].attrs["cell_methods"] == "time: sum (interval: 1 hour)"
    assert ds.attrs["rejected_snapshots"] == "none" and ds.attrs["snapshots_read"] == 9
    assert ds.sizes["station"] == 18 + 2


def test_the_server_never_serves_a_snapshot_after_its_clock(replay_root: Path) -> None:
    folder = snapshot_folder(replay_root, RHRREAD)
    stamps = sorted(
        datetime.strptime(p.stem, "%Y%m%dT%H%MZ").replace(tzinfo=UTC) for p in folder.iterdir()
    )
    clocks = [stamps[0] - timedelta(minutes=1), *stamps, stamps[3] + timedelta(minutes=59)]
    with ReplayServer(replay_root, clocks[0]) as server:
        for clock in clocks:
            server.set_clock(clock)
            answer = requests.get(server.url + RHRREAD, timeout=5)
            if clock < stamps[0]:
                assert answer.status_code == 404
                continue
            assert answer.status_code == 200
            served = utc(answer.json()["updateTime"])
            assert served <= clock
            assert served == max(s for s in stamps if s <= clock)
            assert answer.headers["ETag"].startswith('"')
        with pytest.raises(ContractError, match="no timezone"):
            server.set_clock(datetime(2025, 7, 29, 6))  # naive: refused, never guessed


def test_server_faults_exercise_retries_timeouts_and_empty_bodies(replay_root: Path) -> None:
    clock = utc("2025-07-29T10:30+08:00")
    path = RHRREAD.split("?")[0]
    with ReplayServer(replay_root, clock) as server:
        fetcher = HttpFetcher("hko", FetchOptions(max_retries=2), sleep=no_sleep, random=zero)
        server.add_fault(path, Fault("status", times=2, status=500))
        assert fetcher.fetch(server.url + RHRREAD).attempts == 3
        server.add_fault(path, Fault("status", times=3, status=503, retry_after="1"))
        with pytest.raises(FetchError, match="HTTP 503") as caught:
            fetcher.fetch(server.url + RHRREAD)
        assert caught.value.location == server.url + RHRREAD
        server.add_fault(path, Fault("empty", times=3))
        with pytest.raises(FetchError, match="empty body"):
            fetcher.fetch(server.url + RHRREAD)
        quick = HttpFetcher(
            "hko", FetchOptions(read_timeout="0.2 s", max_retries=0), sleep=no_sleep, random=zero
        )
        server.add_fault(path, Fault("delay", delay_seconds=1.0))
        with pytest.raises(FetchError, match="timed out"):
            quick.fetch(server.url + RHRREAD)


# --------------------------------------------------------------------------- reader


def test_recorded_rhrread_gives_temperature_humidity_and_district_rainfall(tmp_path: Path) -> None:
    land(tmp_path, GOOD_NAME, recorded_rhrread())
    ds = read(tmp_path, FIXTURES / "stations.csv")
    # Home Assistant's recorded answer: HKO 29 C and 74 % at 17:00 HKT = 09:00Z.
    assert value(ds, "tas", "Hong Kong Observatory", "2023-08-19T09:00") == 29.0
    assert value(ds, "hurs", "Hong Kong Observatory", "2023-08-19T09:00") == 74.0
    assert value(ds, "tas", "Happy Valley", "2023-08-19T09:00") == 32.0
    assert value(ds, "pr", "district:Sha Tin", "2023-08-19T08:45") == 0.0
    assert flag(ds, "hurs", "King's Park", "2023-08-19T09:00") == "not_reported"
    hko = list(ds["station_id"].values).index("Hong Kong Observatory")
    assert ds["lat"].values[hko] == 22.3019 and ds["elevation"].values[hko] == 32.0
    assert np.isnan(ds["lat"].values[0])
    assert "King's Park" in ds.attrs["stations_without_coordinates"]
    assert ds["tas"].attrs["units"] == "degC" and ds["hurs"].attrs["units"] == "%"


def test_regional_csvs_convert_km_per_hour_and_keep_averaging_period(tmp_path: Path) -> None:
    shutil.copy(
        RECORDED / "latest_10min_wind_api_guide.csv",
        tmp_path / "20260714T063500Z_00000000000000c1.csv",
    )
    shutil.copy(
        RECORDED / "latest_1min_temperature_api_guide.csv",
        tmp_path / "20260716T080500Z_00000000000000c2.csv",
    )
    ds = read(tmp_path)
    # Central Pier, 14:30 HKT: 10-min mean 10 km/h, gust 30 km/h.
    assert value(ds, "sfcWind", "Central Pier", "2026-07-14T06:30") == pytest.approx(10 / 3.6)
    assert value(ds, "wsgsmax", "Central Pier", "2026-07-14T06:30") == pytest.approx(30 / 3.6)
    assert ds["sfcWind"].attrs["averaging_period"] == "10 min"
    assert ds["wsgsmax"].attrs["units"] == "m s-1"
    assert value(ds, "tas", "Chek Lap Kok", "2026-07-16T08:00") == 27.3
    assert flag(ds, "tas", "Cheung Chau", "2026-07-16T08:00") == "missing"


def bad_rhrread(case: str) -> dict[str, Any]:
    document = recorded_rhrread()
    if case == "missing field":
        del document["rainfall"]["endTime"]
    elif case == "changed unit":
        document["temperature"]["data"][1]["unit"] = "F"
    elif case == "naive time":
        document["humidity"]["recordTime"] = "2023-08-19T17:00:00"
    elif case == "future time":
        document["temperature"]["recordTime"] = "2023-08-19T18:30:00+08:00"
    return document


@pytest.mark.parametrize(
    ("case", "field", "fix"),
    [
        ("missing field", "'rainfall.endTime' is missing", "complete answer"),
        ("changed unit", "'temperature.data[1]'.unit is 'F', expected 'C'", "changed the unit"),
        ("naive time", "'humidity.recordTime' = '2023-08-19T17:00:00' has no UTC offset", "+08:00"),
        ("future time", "'temperature.recordTime' = '2023-08-19T18:30:00+08:00' is after", "clock"),
    ],
)
def test_a_bad_snapshot_is_rejected_by_name_and_the_others_still_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, case: str, field: str, fix: str
) -> None:
    land(tmp_path / "rhrread", GOOD_NAME, recorded_rhrread())
    bad = land(tmp_path / "rhrread", "20230819T100230Z_00000000000000bb.json", bad_rhrread(case))
    with caplog.at_level(logging.WARNING, logger="ingest.readers.hko_regional"):
        ds = read(tmp_path)
    assert ds.attrs["snapshots_read"] == 1
    assert bad.name in ds.attrs["rejected_snapshots"] and field in ds.attrs["rejected_snapshots"]
    assert value(ds, "tas", "Hong Kong Observatory", "2023-08-19T09:00") == 29.0
    assert any(bad.name in record.getMessage() for record in caplog.records)
    alone = tmp_path / "alone"
    land(alone, bad.name, bad_rhrread(case))
    with pytest.raises(SourceError) as caught:
        read(alone)
    assert caught.value.location == str(alone / bad.name)
    assert field in caught.value.problem and fix in caught.value.fix


def test_a_changed_csv_unit_and_stray_files_are_reported(tmp_path: Path) -> None:
    text = (RECORDED / "latest_1min_temperature_api_guide.csv").read_text()
    land(tmp_path, "20260716T080500Z_00000000000000c2.csv", text)
    land(
        tmp_path,
        "20260716T081500Z_00000000000000c3.csv",
        text.replace("degree Celsius", "degree Fahrenheit"),
    )
    land(tmp_path, "notes.json", "{}")
    (tmp_path / ".state").mkdir()
    land(tmp_path / ".state", "state.json", "{}")  # dot-folders (fetch state) are not snapshots
    ds = read(tmp_path)
    rejected = ds.attrs["rejected_snapshots"]
    assert "column 'Air Temperature(degree Fahrenheit)'" in rejected
    assert "notes.json: not named" in rejected and "state.json" not in rejected


def test_options_require_the_station_file_to_be_stated(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="station_metadata"):
        HkoRegionalOptions.model_validate({})
    with pytest.raises(ValidationError, match="not an offset"):
        HkoRegionalOptions(station_metadata=None, csv_utc_offset="HKT")
    with pytest.raises(ValidationError, match="<number> <unit>"):
        HkoRegionalOptions(station_metadata=None, future_tolerance="5")
    land(tmp_path, GOOD_NAME, recorded_rhrread())
    with pytest.raises(SourceError, match="station metadata file not found"):
        read(tmp_path, tmp_path / "nowhere.csv")
    assert hko_regional.HkoRegionalReader.name == "hko-regional"


# --------------------------------------------------------------------------- merge


def snapshot_reports() -> list[xr.Dataset]:
    """One report per committed rhrread snapshot, with its receipt (name time, hash)."""
    reports = []
    for path in sorted((FIXTURES / "replay").rglob("*.json")):
        report = hko_regional._report(
            hko_regional._Parser(
                hko_regional._Snapshot(
                    path,
                    datetime.strptime(path.stem, "%Y%m%dT%H%MZ").replace(tzinfo=UTC),
                    path.stem,
                    "json",
                ),
                "hko",
                csv_utc_offset="+08:00",
                future_tolerance="2 min",
            ).parse(),
            hko_regional._Snapshot(
                path,
                datetime.strptime(path.stem, "%Y%m%dT%H%MZ").replace(tzinfo=UTC),
                path.stem,
                "json",
            ),
            "hko",
        )
        reports.append(report)
    return reports


def test_merge_is_the_same_whatever_the_input_order() -> None:
    reports = snapshot_reports()
    expected = merge_station_reports(reports)
    rng = np.random.default_rng(20250729)
    for _ in range(5):
        shuffled = [reports[i] for i in rng.permutation(len(reports))]
        xr.testing.assert_identical(merge_station_reports(shuffled), expected)
    assert value(expected, "pr", EASTERN, NINE_HKT) == 94.0
    assert expected.attrs["merge_conflicts"] == 0 and expected.attrs["merged_reports"] == 8


def test_merge_prefers_the_latest_good_report_and_counts_conflicts() -> None:
    reports = snapshot_reports()
    nine = next(r for r in reports if NINE_HKT in r["time"].values)
    receipt = datetime.fromisoformat(nine.attrs["receive_time"])
    # A late re-issue of the 09:00 HKT hour: Eastern District revised, Wan Chai missing.
    late = nine.copy(deep=True)
    eastern = list(late["station_id"].values).index(EASTERN)
    wan_chai = list(late["station_id"].values).index(WAN_CHAI)
    late["pr"][eastern, 0] = 95.0
    late["pr"][wan_chai, 0] = np.nan
    late["pr_flag"][wan_chai, 0] = 1  # missing
    late = with_receipt(late, receipt + timedelta(hours=1), "late-reissue")
    duplicate = with_receipt(nine.copy(), receipt, nine.attrs["content_hash"])
    for order in itertools.permutations([late, duplicate, *reports[:2]]):
        merged = merge_station_reports([nine, *order])
        assert value(merged, "pr", EASTERN, NINE_HKT) == 95.0  # latest good report wins
        assert value(merged, "pr", WAN_CHAI, NINE_HKT) == 61.0  # a later gap hides nothing
        assert flag(merged, "pr", WAN_CHAI, NINE_HKT) == "good"
        assert merged["pr"].attrs["merge_conflicts"] == 1
        assert merged.attrs["merge_duplicate_reports"] == 1
        assert merged.attrs["receive_time_last"] == "2025-07-29T03:01:00Z"


def test_merge_breaks_receive_time_ties_by_content_hash() -> None:
    nine = next(r for r in snapshot_reports() if NINE_HKT in r["time"].values)
    receipt = datetime.fromisoformat(nine.attrs["receive_time"])
    eastern = list(nine["station_id"].values).index(EASTERN)
    low, high = nine.copy(deep=True), nine.copy(deep=True)
    low["pr"][eastern, 0], high["pr"][eastern, 0] = 90.0, 99.0
    a, b = with_receipt(low, receipt, "aaaa"), with_receipt(high, receipt, "bbbb")
    for pair in ([a, b], [b, a]):
        assert value(merge_station_reports(pair), "pr", EASTERN, NINE_HKT) == 99.0


def test_merge_fills_uncovered_cells_as_not_reported_and_refuses_bad_input() -> None:
    reports = snapshot_reports()
    merged = merge_station_reports(reports[:2])
    assert merged.sizes["time"] == 2
    with pytest.raises(ContractError, match="receive_time"):
        merge_station_reports([reports[0].drop_attrs()])
    with pytest.raises(ContractError, match="is empty"):
        merge_station_reports([])
    other = reports[1].copy()
    other["pr_flag"].attrs["flag_meanings"] = "good bad"
    other["pr_flag"].attrs["flag_values"] = np.array([0, 1], dtype=np.int8)
    with pytest.raises(ContractError, match="different flag"):
        merge_station_reports([reports[0], other])
    partial = reports[0].isel(station=slice(0, 3))
    merged = merge_station_reports([partial, reports[1]])
    fourth = str(reports[1]["station_id"].values[3])
    first_time = reports[0]["time"].values[0]
    assert flag(merged, "pr", fourth, first_time) == "not_reported"
    assert np.isnan(value(merged, "pr", fourth, first_time))
