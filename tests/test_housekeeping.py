"""Retention: ``yujing prune`` deletes what is past its retention and nothing else.

Real data: the KNMI radar composites of 26 August 2010 (SOURCES.md §7.1) ingested into the
store and run through the observed-rainfall model; HKO current-weather answers re-encoded
from HKO's July 2025 district rainfall (``tests/fixtures/hko``), landed by polling the local
replay server.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.store import PartitionStore
from yujing.cli import main
from yujing.housekeeping import prune
from yujing.ingest import ingest_source
from yujing.pipeline import run_cycle
from yujing.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
EVENT_END = datetime(2010, 8, 26, 7, 35, tzinfo=UTC)


def _knmi(deployed_config: Any) -> Any:
    def retention(document: dict[str, Any]) -> None:
        document["sources"]["knmi_radar"]["retention"] = "2 d"
        document["output"]["retention"] = "3 h"
        document["hazards"] = {"rainstorm": document["hazards"]["rainstorm"]}
        document.pop("alerting")

    return load_settings(deployed_config("knmi-demo.yaml", retention))


def test_partitions_and_results_past_retention_go_the_newest_stays(
    deployed_config: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _knmi(deployed_config)
    store = PartitionStore(settings.store_directory)
    ingest_source(settings, "knmi_radar", store)  # all 92 frames, 00:00 ... 07:35
    for hour in (1, 3, 5, 7):
        run_cycle(settings, datetime(2010, 8, 26, hour, tzinfo=UTC))
    results = settings.output_directory / "NL-KNMI" / "rainstorm"
    assert len(list(results.iterdir())) == 8  # .nc and .txt per issue
    (results / "notes.md").write_text("a forecaster's file, not the pipeline's\n")

    # An hour after the event, dry: no frame is two days old; the results issued 01:00,
    # 03:00 and 05:00 (.nc and .txt) are more than 3 h older than 08:35.
    dry = prune(settings, EVENT_END + timedelta(hours=1), dry_run=True)
    assert [(line.kind, line.files) for line in dry.lines] == [
        ("partitions", 0),
        ("results", 6),
    ]
    assert len(store.partitions("knmi_radar")) == 92 and len(list(results.iterdir())) == 9

    # Two days and an hour after the event: every frame is past the radar's retention but
    # the newest complete one; every result but the newest issue's.
    now = EVENT_END + timedelta(days=2, hours=1)
    command = ["prune", "--config", str(settings.config_path), "--now", now.isoformat()]
    assert main(command) == 0
    left = store.partitions("knmi_radar")
    assert [p.reference_time for p in left] == [EVENT_END]
    assert sorted(p.name for p in (store.root / "knmi_radar").rglob("*.nc")) == [
        "knmi_radar_20100826T073500Z.nc"
    ]
    assert sorted(p.name for p in results.iterdir()) == [
        "20100826T0700Z.nc",
        "20100826T0700Z.txt",
        "notes.md",
    ]
    printed = capsys.readouterr().out
    assert "deleted: 97 files" in printed  # 91 partitions, 6 result files
    assert store.latest_complete("knmi_radar", now) == left[0]


def test_a_crash_between_catalogue_and_files_leaves_files_the_next_prune_removes(
    deployed_config: Any,
) -> None:
    settings = _knmi(deployed_config)
    store = PartitionStore(settings.store_directory)
    ingest_source(settings, "knmi_radar", store, as_of=datetime(2010, 8, 26, 0, 30, tzinfo=UTC))
    paths = [p.path for p in store.partitions("knmi_radar")]
    assert len(paths) == 7
    # The catalogue forgot the first three (as after a crash before the unlink).
    with sqlite3.connect(store.root / "catalogue.sqlite") as catalogue:
        catalogue.execute("DELETE FROM partition WHERE reference_time < '2010-08-26T00:15:00Z'")
    deleted = store.prune("knmi_radar", datetime(2010, 8, 26, 0, 20, tzinfo=UTC))
    assert deleted == paths[:4]  # three orphans by their names, 00:15 by its row
    assert [p.exists() for p in paths] == [False] * 4 + [True] * 3


def test_landed_snapshots_past_retention_go_the_newest_of_each_endpoint_stays(
    deployed_config: Any,
) -> None:
    def retention(document: dict[str, Any]) -> None:
        source = document["sources"]["hko_current_weather"]
        source["retention"] = "4 h"  # at least history + latency (3 h 2 min)
        source["history"] = "2 h"
        options = source["options"]
        options["station_metadata"] = str(REPO / "configs" / options["station_metadata"])

    config = deployed_config("shenzhen.yaml", retention)
    replay = REPO / "tests" / "fixtures" / "hko" / "replay"
    for hour in range(8):
        poll = datetime(2025, 7, 28, 23, 5, tzinfo=UTC) + timedelta(hours=hour)
        command = ["ingest", "--config", str(config), "--source", "hko_current_weather",
                   "--replay-root", str(replay), "--as-of", poll.isoformat()]  # fmt: skip
        assert main(command) == 0
    settings = load_settings(config)
    landing = settings.source_path("hko_current_weather")
    assert len(list(landing.rglob("*.json"))) == 8
    report = prune(settings, datetime(2025, 7, 29, 6, 30, tzinfo=UTC))
    lines = {(line.kind, line.name): line.files for line in report.lines}
    # Received before 02:30: the polls of 23:05 ... 02:05 (four); and the partitions of the
    # hours before 02:30 (each answer holds the hour before its poll).
    assert lines[("snapshots", "hko_current_weather")] == 4
    assert sorted(p.name[:15] for p in landing.rglob("*.json")) == [
        "20250729T030500",
        "20250729T040500",
        "20250729T050500",
        "20250729T060500",
    ]
    kept = [
        p.reference_time
        for p in PartitionStore(settings.store_directory).partitions("hko_current_weather")
    ]
    assert min(kept) >= datetime(2025, 7, 29, 2, 30, tzinfo=UTC)
    assert lines[("partitions", "hko_current_weather")] > 0


def test_without_a_retention_nothing_is_touched(deployed_config: Any) -> None:
    def keep_all(document: dict[str, Any]) -> None:
        document["sources"]["knmi_radar"].pop("retention", None)
        document["output"].pop("retention", None)

    settings = load_settings(deployed_config("knmi-demo.yaml", keep_all))
    store = PartitionStore(settings.store_directory)
    ingest_source(settings, "knmi_radar", store, as_of=datetime(2010, 8, 26, 1, tzinfo=UTC))
    report = prune(settings, datetime(2030, 1, 1, tzinfo=UTC))
    assert report.lines == [] and len(store.partitions("knmi_radar")) == 13
