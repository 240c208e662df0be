"""The partition store, on real KNMI radar frames (SOURCES.md §7.1).

Checks the promises of :mod:`ingest.store`: the same input gives the same bytes, a write
never leaves a half-written file, and "latest complete data as of T" never answers with data
that arrived after T.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from ingest.errors import LookAheadError
from ingest.readers import read_source
from ingest.store import PartitionStore, StoreError

FRAMES = "RAD_NL25_RAP_5min_20100826040*.h5"  # 04:00 and 04:05 UTC
LATENCY = timedelta(minutes=3)


def at(hour: int, minute: int) -> datetime:
    return datetime(2010, 8, 26, hour, minute, tzinfo=UTC)


@pytest.fixture(scope="module")
def radar(data_root: Path) -> xr.Dataset:
    return read_source("knmi-hdf5", data_root / "radar/knmi_20100826", {"pattern": FRAMES}, "k")


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.nc"))
    }


def test_reingest_gives_byte_identical_partitions(radar: xr.Dataset, tmp_path: Path) -> None:
    store = PartitionStore(tmp_path / "a")
    first = store.write_steps("knmi_radar", radar, "time", latency=LATENCY)
    assert [r.action for r in first] == ["written", "written"]
    stamps = {r.partition.path: os.stat(r.partition.path).st_mtime_ns for r in first}
    again = store.write_steps("knmi_radar", radar, "time", latency=LATENCY)
    assert [r.action for r in again] == ["unchanged", "unchanged"]
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps  # files not even touched
    other = PartitionStore(tmp_path / "b")
    other.write_steps("knmi_radar", radar, "time", latency=LATENCY)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert list((tmp_path / "a").rglob("*.tmp")) == []


def test_partitions_read_back_exactly(radar: xr.Dataset, tmp_path: Path) -> None:
    store = PartitionStore(tmp_path)
    store.write_steps("knmi_radar", radar, "time", latency=LATENCY)
    back = store.open_range("knmi_radar", "time", start=at(3, 0), end=at(4, 5), as_of=at(4, 8))
    np.testing.assert_array_equal(back["pr"].values, radar["pr"].values)
    np.testing.assert_array_equal(back["pr_flag"].values, radar["pr_flag"].values)
    assert back["pr"].attrs["cell_methods"] == radar["pr"].attrs["cell_methods"]
    assert back.attrs["crs"] == radar.attrs["crs"]


def test_latest_complete_respects_arrival_and_completeness(
    radar: xr.Dataset, tmp_path: Path
) -> None:
    store = PartitionStore(tmp_path)
    # The 04:05 frame counts as incomplete here (a rule the caller supplies).
    store.write_steps(
        "knmi_radar",
        radar,
        "time",
        latency=LATENCY,
        is_complete=lambda step: bool(step["time"].values[0] < np.datetime64("2010-08-26T04:05")),
    )
    assert store.latest_complete("knmi_radar", at(4, 2)) is None  # 04:00 arrives at 04:03
    found = store.latest_complete("knmi_radar", at(4, 3))
    assert found is not None and found.reference_time == at(4, 0)
    later = store.latest_complete("knmi_radar", at(5, 0))
    assert later is not None and later.reference_time == at(4, 0)  # 04:05 is incomplete
    everything = store.partitions("knmi_radar", as_of=at(5, 0))
    assert [p.complete for p in everything] == [True, False]
    with pytest.raises(LookAheadError, match="as of 2010-08-26T04:03:00Z"):
        store.open_range("knmi_radar", "time", start=at(3, 0), end=at(4, 5), as_of=at(4, 3))
    with pytest.raises(StoreError, match=r"no partition in .* run the ingest"):
        store.open_range("knmi_radar", "time", start=at(3, 0), end=at(4, 2), as_of=at(4, 2))


def test_new_data_for_a_key_replace_it_atomically(radar: xr.Dataset, tmp_path: Path) -> None:
    store = PartitionStore(tmp_path)
    frame = radar.isel(time=slice(0, 1))
    store.write("knmi_radar", frame, at(4, 0), complete=False)
    # A late re-delivery of the frame with one more pixel present.
    filled = frame.copy(deep=True)
    missing = np.argwhere(np.isnan(filled["pr"].values[0]))[0]
    filled["pr"].values[0, missing[0], missing[1]] = 0.0
    result = store.write("knmi_radar", filled, at(4, 0), complete=True)
    assert result.action == "replaced"
    assert store.latest_complete("knmi_radar", at(4, 0)) == result.partition
    broken = filled.assign_attrs(history={"not": "encodable"})  # netCDF cannot store a dict
    before = result.partition.path.read_bytes()
    with pytest.raises(TypeError):
        store.write("knmi_radar", broken, at(4, 0))
    assert result.partition.path.read_bytes() == before
    assert sorted(p.name for p in result.partition.path.parent.iterdir()) == [
        "knmi_radar_20100826T040000Z.nc"
    ]


def test_catalogue_is_rebuilt_from_the_files(radar: xr.Dataset, tmp_path: Path) -> None:
    store = PartitionStore(tmp_path)
    store.write_steps("knmi_radar", radar, "time", latency=LATENCY)
    before = store.partitions("knmi_radar")
    (tmp_path / "catalogue.sqlite").unlink()
    assert store.rebuild_catalogue() == 2
    assert store.partitions("knmi_radar") == before


def test_bad_keys_are_refused(radar: xr.Dataset, tmp_path: Path) -> None:
    store = PartitionStore(tmp_path)
    with pytest.raises(StoreError, match="cannot name a store folder"):
        store.write("../radar", radar, at(4, 0))
    with pytest.raises(StoreError, match="before the reference time"):
        store.write("knmi_radar", radar, at(4, 0), available_at=at(3, 59))
    jittered = radar.assign_coords(time=radar["time"] + np.timedelta64(250, "ms"))
    with pytest.raises(StoreError, match="sub-second times"):
        store.write("knmi_radar", jittered, at(4, 0))
