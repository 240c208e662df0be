"""A live ingest reads only its window and stores what a whole read would have stored.

Real data: the KNMI radar composites of 26 August 2010 (SOURCES.md §7.1) and ERA5 hourly
2 m temperature over south-east England, March 2019 (``nwp/era5-2mt-2019-03-uk.grib``, the
only real temperature series in the shared data), cut into one CSV file per hour at 60
grid points as a city's station network would deliver it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from ingest.errors import SourceError
from ingest.store import PartitionStore
from yujing.errors import ConfigError
from yujing.ingest import ingest_source, read_window
from yujing.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
KNMI_FRAMES = "radar/knmi_20100826"


def _knmi(deployed_config: Any, edit: Any = None) -> Settings:
    return load_settings(deployed_config("knmi-demo.yaml", edit))


def _hashes(store: PartitionStore, source: str) -> dict[datetime, str]:
    return {p.reference_time: p.sha256 for p in store.partitions(source)}


def test_the_radar_ingest_reads_only_its_window_and_stores_the_same_bytes(
    deployed_config: Any, tmp_path: Path
) -> None:
    settings = _knmi(deployed_config)
    as_of = datetime(2010, 8, 26, 1, tzinfo=UTC)
    windowed = PartitionStore(tmp_path / "windowed")
    report = ingest_source(settings, "knmi_radar", windowed, as_of=as_of)
    # 92 frames named 00:00 ... 07:35; the window with its 10-minute name tolerance ends at
    # 01:10: 15 files read (00:00 ... 01:10), the 77 later ones never opened, and the two
    # frames after 01:00 read but left for later.
    assert report.notes == ["77 files named outside the window left unread"]
    assert (report.written, report.not_yet_available, report.before_window) == (13, 2, 0)
    whole = PartitionStore(tmp_path / "whole")
    ingest_source(settings, "knmi_radar", whole)  # no as-of: every file, every frame
    assert len(_hashes(whole, "knmi_radar")) == 92
    expected = {t: h for t, h in _hashes(whole, "knmi_radar").items() if t <= as_of}
    assert _hashes(windowed, "knmi_radar") == expected


def test_the_radar_ingest_leaves_frames_before_the_history_and_stray_names(
    deployed_config: Any, data_root: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for frame in sorted((data_root / KNMI_FRAMES).glob("*.h5")):
        (folder / frame.name).symlink_to(frame)
    # A "latest" link, as radar systems keep one: it matches the glob, not the name time.
    (folder / "RAD_NL25_RAP_5min_latest.h5").symlink_to(
        data_root / KNMI_FRAMES / "RAD_NL25_RAP_5min_201008260735.h5"
    )

    def short_history(document: dict[str, Any]) -> None:
        document["sources"]["knmi_radar"]["path"] = str(folder)
        document["sources"]["knmi_radar"]["history"] = "30 min"

    settings = _knmi(deployed_config, short_history)
    store = PartitionStore(tmp_path / "store")
    report = ingest_source(
        settings, "knmi_radar", store, as_of=datetime(2010, 8, 26, 4, 0, tzinfo=UTC)
    )
    # Read: names in (03:20, 04:10]; stored: frames in (03:30, 04:00].
    assert report.notes == [
        "82 files named outside the window left unread",
        "1 files not named in time left unread: RAD_NL25_RAP_5min_latest.h5",
    ]
    assert (report.written, report.before_window, report.not_yet_available) == (6, 2, 2)
    stored = [p.reference_time for p in store.partitions("knmi_radar")]
    assert stored[0] == datetime(2010, 8, 26, 3, 35, tzinfo=UTC) and len(stored) == 6


def test_a_folder_with_nothing_in_the_window_names_the_window_and_the_fix(
    deployed_config: Any, tmp_path: Path
) -> None:
    settings = _knmi(deployed_config)
    with pytest.raises(SourceError) as raised:
        ingest_source(
            settings,
            "knmi_radar",
            PartitionStore(tmp_path / "store"),
            as_of=datetime(2010, 8, 28, 12, tzinfo=UTC),
        )
    message = str(raised.value)
    assert "knmi_radar" in message and "2010-08-27T12:00Z .. 2010-08-28T12:00Z" in message
    assert "92 named outside it" in message and "files.time" in message


def test_landed_snapshots_are_chosen_by_their_receive_time(
    deployed_config: Any, tmp_path: Path
) -> None:
    from yujing.cli import main

    def stations(document: dict[str, Any]) -> None:
        options = document["sources"]["hko_current_weather"]["options"]
        options["station_metadata"] = str(REPO / "configs" / options["station_metadata"])

    config = deployed_config("shenzhen.yaml", stations)
    store = tmp_path / "store"
    replay = REPO / "tests" / "fixtures" / "hko" / "replay"
    for hour in range(8):  # the polls of 07:05 ... 14:05 HKT land 8 distinct answers
        poll = datetime(2025, 7, 28, 23, 5, tzinfo=UTC) + timedelta(hours=hour)
        command = ["ingest", "--config", str(config), "--source", "hko_current_weather",
                   "--replay-root", str(replay), "--as-of", poll.isoformat()]  # fmt: skip
        assert main(command) == 0
    landed = sorted((store / "_raw").rglob("*.json"))
    assert len(landed) == 8
    settings = load_settings(config)
    dataset, notes = read_window(
        settings,
        "hko_current_weather",
        datetime(2025, 7, 29, 4, 30, tzinfo=UTC),
        datetime(2025, 7, 29, 6, 30, tzinfo=UTC),
        store,
    )
    # Received 04:05, 05:05 and 06:05 fall in (04:30 - 1 h, 06:30 + 1 h]; the five polled
    # before are not read.
    assert notes == ["5 files named outside the window left unread"]
    assert dataset.attrs["snapshots_read"] == 3


# --------------------------------------------------------------------- station QC window


@pytest.fixture(scope="module")
def era5_network(data_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ERA5 2 m temperature at 60 grid points, one CSV per hour for 17-20 March 2019 (96
    files): grid points 350-409 of the domain, nine of which stay within 0.1 degC
    for 12 hours and more on 19-20 March (the persistence check flags them)."""
    grib = data_root / "nwp" / "era5-2mt-2019-03-uk.grib"
    with xr.open_dataset(grib, engine="cfgrib", backend_kwargs={"indexpath": ""}) as era5:
        t2m = era5["t2m"].sel(time=slice("2019-03-17", "2019-03-20")).load()
    points = t2m.stack(point=("latitude", "longitude")).isel(point=slice(350, 410))
    folder = tmp_path_factory.mktemp("network")
    for index, when in enumerate(pd.DatetimeIndex(points["time"].values)):
        pd.DataFrame(
            {
                "station": [f"ERA5-{i:02d}" for i in range(60)],
                "obs_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "lat": points["latitude"].values,
                "lon": points["longitude"].values,
                "elev_m": 0.0,
                "t2m_K": np.round(points.isel(time=index).values, 2),
            }
        ).to_csv(folder / f"aws_{when:%Y%m%dT%H%M}Z.csv", index=False)
    return folder


def _network_settings(deployed_config: Any, folder: Path) -> Settings:
    def network(document: dict[str, Any]) -> None:
        document["sources"]["aws"] = {
            "reader": "station-table",
            "path": str(folder),
            "history": "12 h",
            "options": {
                "pattern": "aws_*.csv",
                "station_id": "station",
                "time": "obs_time",
                "lat": "lat",
                "lon": "lon",
                "elevation": "elev_m",
                "variables": {"tas": {"column": "t2m_K", "units": "K"}},
            },
            "files": {"time": "aws_%Y%m%dT%H%MZ.csv", "tolerance": "1 min"},
        }

    return load_settings(deployed_config("knmi-demo.yaml", network))


def test_a_windowed_station_ingest_gives_the_qc_flags_of_the_whole_series(
    deployed_config: Any, era5_network: Path, tmp_path: Path
) -> None:
    settings = _network_settings(deployed_config, era5_network)
    whole = PartitionStore(tmp_path / "whole")
    ingest_source(settings, "aws", whole)  # all 96 hours, QC'd as one series
    as_of = datetime(2019, 3, 20, 12, tzinfo=UTC)
    windowed = PartitionStore(tmp_path / "windowed")
    report = ingest_source(settings, "aws", windowed, as_of=as_of)
    # Read: the 12-h history and the QC's 13-h look-back (a 12-h persistence window and a
    # 1-h step); stored: the 12 hours of the history only.
    assert report.notes[0] == "70 files named outside the window left unread"
    assert "persistence_fail=0" not in report.notes[1]
    assert (report.written, report.before_window) == (12, 14)
    expected = {
        t: h for t, h in _hashes(whole, "aws").items() if as_of - timedelta(hours=12) < t <= as_of
    }
    assert _hashes(windowed, "aws") == expected
    # The window holds stuck-sensor flags: a whole read is needed to see most of them, so
    # without the look-back these partitions would differ.
    stuck = 0
    for partition in windowed.partitions("aws"):
        with xr.open_dataset(partition.path) as stored:
            qc = stored["tas_qc"]
            meanings = str(qc.attrs["flag_meanings"]).split()
            mask = int(qc.attrs["flag_masks"][meanings.index("persistence_fail")])
            stuck += int((qc.values.astype(int) & mask).astype(bool).sum())
    assert stuck > 0


# ----------------------------------------------------------------------------- settings


def _config_error(deployed_config: Any, edit: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(deployed_config("knmi-demo.yaml", edit))
    return str(raised.value)


def test_files_and_retention_settings_are_checked(deployed_config: Any) -> None:
    def on_one_file(document: dict[str, Any]) -> None:
        document["sources"]["hko_rain"] = {
            "reader": "hko-district-hourly",
            "path": "{data_root}/obs/hko/hko_district_hourly_rainfall_202507.csv",
            "files": {"time": "hko_%Y.csv"},
        }

    assert "reads one file, not a folder of them; remove 'files'" in _config_error(
        deployed_config, on_one_file
    )

    def no_year(document: dict[str, Any]) -> None:
        document["sources"]["knmi_radar"]["files"] = {"time": "RAD_%H%M.h5"}

    assert "has no year" in _config_error(deployed_config, no_year)

    def short_retention(document: dict[str, Any]) -> None:
        document["sources"]["knmi_radar"]["retention"] = "12 h"

    message = _config_error(deployed_config, short_retention)
    assert "sources.knmi_radar" in message and "shorter than history + latency" in message
