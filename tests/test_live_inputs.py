"""A live cycle keeps the good files beside a bad one and never warns on a flagged report.

Real data: the KNMI radar composites of 26 August 2010 (SOURCES.md §7.1), one of them
truncated as a download cut short; the Hong Kong Observatory's district rainfall polls of
July 2025 (``obs/hko/hko_district_hourly_rainfall_202507.csv``), one amount replaced by an
impossible one (999 mm in an hour: the world record is 305 mm) as a faulty gauge sends.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import yujing.pipeline
from ingest.store import PartitionStore
from yujing.ingest import ingest_source
from yujing.pipeline import load_input, run_cycle
from yujing.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
KNMI_FRAMES = "radar/knmi_20100826"
CUT = "RAD_NL25_RAP_5min_201008260550.h5"  # inside the last hour before 06:00
HKO_POLLS = "obs/hko/hko_district_hourly_rainfall_202507.csv"
# Line 129 of the poll file: HKO's 14:01 HKT poll, the hour ending 13:00 HKT (05:00 UTC).
GOOD_ROW = "20250701-1401,2025-07-01 13:00:00,Wan Chai,1,4"
FAULTY_ROW = "20250701-1401,2025-07-01 13:00:00,Wan Chai,1,999"


def _radar_folder(data_root: Path, folder: Path) -> Path:
    """The 92 frames (links), the one at 05:50 truncated to its first kilobyte."""
    folder.mkdir()
    for frame in sorted((data_root / KNMI_FRAMES).glob("*.h5")):
        if frame.name == CUT:
            (folder / CUT).write_bytes(frame.read_bytes()[:1024])
        else:
            (folder / frame.name).symlink_to(frame)
    return folder


def _knmi(deployed_config: Any, folder: Path, hazards: list[str]) -> Settings:
    def edit(document: dict[str, Any]) -> None:
        document["sources"]["knmi_radar"]["path"] = str(folder)
        document["hazards"] = {k: v for k, v in document["hazards"].items() if k in hazards}

    return load_settings(deployed_config("knmi-demo.yaml", edit))


def test_a_truncated_radar_frame_costs_its_five_minutes_not_the_cycle(
    deployed_config: Any, data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _radar_folder(data_root, tmp_path / "frames")
    settings = _knmi(deployed_config, folder, ["rainstorm", "rainstorm_nowcast"])
    reads: Counter[str] = Counter()
    real_load_input = yujing.pipeline.load_input

    def counting(settings: Settings, name: str, *args: Any) -> Any:
        reads[name] += 1
        return real_load_input(settings, name, *args)

    monkeypatch.setattr(yujing.pipeline, "load_input", counting)
    issue = datetime(2010, 8, 26, 6, 0, tzinfo=UTC)
    done = run_cycle(settings, issue, output_dir=tmp_path / "out")

    assert done.failures == {} and sorted(done.paths) == ["rainstorm", "rainstorm_nowcast"]
    assert reads == Counter({"knmi_radar": 1})  # two hazards, one read of the radar
    for hazard in ("rainstorm", "rainstorm_nowcast"):
        (note,) = [n for n in done.notes[hazard] if "rejected_files" in n]
        assert note.startswith(f"knmi_radar: rejected_files: {CUT}: is not a readable HDF5")
    # The missing five minutes are missing, not dry: the hour's coverage is 11 of 12 frames
    # wherever the radar sees, and the hour's rain is that of the other eleven.
    coverage = done.results["rainstorm"]["accumulation_coverage"].sel(window="1 h")
    assert float(coverage.max()) == pytest.approx(11 / 12)
    assert done.results["rainstorm_nowcast"].attrs["issue_time"] == "2010-08-26T06:00:00Z"


def test_the_ingest_stores_the_good_frames_and_takes_the_bad_one_when_it_is_whole(
    deployed_config: Any, data_root: Path, tmp_path: Path
) -> None:
    folder = _radar_folder(data_root, tmp_path / "frames")
    settings = _knmi(deployed_config, folder, ["rainstorm", "rainstorm_nowcast"])
    store = PartitionStore(tmp_path / "store")
    as_of = datetime(2010, 8, 26, 6, 0, tzinfo=UTC)
    report = ingest_source(settings, "knmi_radar", store, as_of=as_of)
    (note,) = [n for n in report.notes if n.startswith("rejected_files")]
    assert CUT in note and "download the file again" in note
    stored = {p.reference_time for p in store.partitions("knmi_radar")}
    assert len(stored) == 72 and datetime(2010, 8, 26, 5, 50, tzinfo=UTC) not in stored
    # The download completes: the next cycle stores the frame, and nothing else changes.
    (folder / CUT).unlink()
    shutil.copyfile(data_root / KNMI_FRAMES / CUT, folder / CUT)
    again = ingest_source(settings, "knmi_radar", store, as_of=as_of)
    assert (again.written, again.replaced, again.unchanged) == (1, 0, 72)
    assert not [n for n in again.notes if n.startswith("rejected_files")]


def _hko(deployed_config: Any, polls: Path) -> Settings:
    def edit(document: dict[str, Any]) -> None:
        document["sources"]["hko_district_rain"]["path"] = str(polls)
        for layer in (document["region"]["outline"], document["communities"]["layer"]):
            layer["path"] = str(REPO / "configs" / layer["path"])  # the copy is elsewhere

    return load_settings(deployed_config("hongkong.yaml", edit))


@pytest.fixture
def faulty_polls(data_root: Path, tmp_path: Path) -> Path:
    text = (data_root / HKO_POLLS).read_text("utf-8")
    assert text.count(GOOD_ROW + "\n") == 1
    polls = tmp_path / "polls.csv"
    polls.write_text(text.replace(GOOD_ROW + "\n", FAULTY_ROW + "\n"), "utf-8")
    return polls


def test_an_impossible_gauge_reading_raises_no_warning_in_the_live_cycle(
    deployed_config: Any, data_root: Path, faulty_polls: Path, tmp_path: Path
) -> None:
    issue = datetime(2025, 7, 1, 6, 6, tzinfo=UTC)  # the 06:01 UTC poll is in
    faulty = _hko(deployed_config, faulty_polls)
    read = load_input(faulty, "hko_district_rain", issue)
    flags = read["pr_qc"].sel(time=np.datetime64("2025-07-01T05:00", "ns"))
    flagged = read["station_id"].values[(flags.values & 1) == 1]  # range_fail
    assert flagged.tolist() == ["district:Wan Chai"]

    done = run_cycle(faulty, issue, output_dir=tmp_path / "faulty")
    clean = run_cycle(
        _hko(deployed_config, data_root / HKO_POLLS), issue, output_dir=tmp_path / "clean"
    )
    assert done.failures == {} == clean.failures
    result, expected = done.results["rainstorm"], clean.results["rainstorm"]
    # In the true poll the hour's wettest gauge had 4 mm (Wan Chai itself): no signal. The
    # 999 mm unchecked would be a black rainstorm; QC flags it and the model leaves it out.
    assert int(expected["hazard_level"].max()) == 0
    assert int(result["hazard_level"].max()) == 0
    (note,) = [n for n in done.notes["rainstorm"] if n.startswith("left out")]
    assert note.startswith("left out: pr of input 'pr': 1 of ")
    assert note.endswith("reports failed QC")
    # (Both note the month file's one rejected row, line 349: the file is read whole.)
    assert not [n for n in clean.notes["rainstorm"] if n.startswith("left out")]
