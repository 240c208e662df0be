"""The ingest step end to end: configured sources → (HTTP) → reader → QC → store → catalogue.

Real data only: the KNMI radar frames (SOURCES.md §7.1), the NASA POWER series (§4.2) and
the HKO current-weather answers re-encoded from HKO's July 2025 district rainfall
(``tests/fixtures/hko``, §4.1b), served by the local replay server and fetched with
``requests`` over 127.0.0.1, as the embedded demo does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import xarray as xr
import yaml

from ingest.store import PartitionStore
from yujing.cli import main
from yujing.errors import ConfigError
from yujing.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
HKO_REPLAY = REPO / "tests" / "fixtures" / "hko" / "replay"


def test_knmi_ingest_as_of_writes_only_what_existed(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    common = ["--config", str(REPO / "configs/knmi-demo.yaml"), "--data-root", str(data_root)]
    status = main(["ingest", *common, "--store", str(store), "--as-of", "2010-08-26T01:00Z"])
    assert status == 0
    # Frames are labelled 00:00, 00:05 ... : 13 of them up to 01:00, 79 still to come, of
    # which the 77 named after 01:10 (the names' tolerance) are not even opened.
    found = PartitionStore(store).partitions("knmi_radar")
    assert len(found) == 13
    assert found[-1].reference_time == datetime(2010, 8, 26, 1, tzinfo=UTC)
    printed = capsys.readouterr().out
    assert "knmi_radar: 77 files named outside the window left unread" in printed
    status = main(
        ["catalogue", *common, "--store", str(store), "--source", "knmi_radar",
         "--as-of", "2010-08-26T00:36+00:00"]
    )  # fmt: skip
    assert status == 0
    # The 00:30 frame is available from 00:35 (the demo's 5-minute latency).
    assert "reference time 2010-08-26T00:30:00Z" in capsys.readouterr().out


def test_hko_feed_through_the_replay_server_is_idempotent(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    command = [
        "ingest",
        "--config", str(REPO / "configs/shenzhen.yaml"),
        "--data-root", str(data_root),
        "--store", str(store),
        "--source", "hko_current_weather",
        "--replay-root", str(HKO_REPLAY),
    ]  # fmt: skip
    assert main([*command, "--as-of", "2025-07-29T03:30Z"]) == 0
    assert main([*command, "--as-of", "2025-07-29T06:30Z"]) == 0
    first = {p.path: p.sha256 for p in PartitionStore(store).partitions("hko_current_weather")}
    assert main([*command, "--as-of", "2025-07-29T06:30Z"]) == 0
    printed = capsys.readouterr().out
    assert "HTTP 200" in printed
    again = {p.path: p.sha256 for p in PartitionStore(store).partitions("hko_current_weather")}
    assert again == first and len(first) == 2
    # The answer polled 11:02 HKT (03:02Z) holds the hour ending 10:00 HKT = 02:00Z.
    stamps = sorted(
        p.reference_time for p in PartitionStore(store).partitions("hko_current_weather")
    )
    assert stamps == [datetime(2025, 7, 29, 2, tzinfo=UTC), datetime(2025, 7, 29, 5, tzinfo=UTC)]
    landed = sorted(p.name for p in (store / "_raw").rglob("*.json"))
    assert len(landed) == 2  # the third poll found the same content: nothing new landed
    partition = PartitionStore(store).latest_complete(
        "hko_current_weather", datetime(2025, 7, 29, 6, 30, tzinfo=UTC)
    )
    assert partition is not None
    with xr.open_dataset(partition.path) as stored:
        assert "pr_qc" in stored and "pr_flag" in stored
        assert stored.attrs["source"] == "source 'hko_current_weather' read by 'hko-regional'"
        assert "receive_time_last" not in stored.attrs


def test_hko_first_hour_values_are_hko_s(data_root: Path, tmp_path: Path) -> None:
    # HKO's own numbers: Wan Chai 47-61 mm in the hour to 10:00 HKT, the row
    # "20250729-1102,2025-07-29 10:00:00,Wan Chai,47,61" of the shared CSV (SOURCES.md §4.1b).
    store = tmp_path / "store"
    main(
        ["ingest", "--config", str(REPO / "configs/shenzhen.yaml"), "--data-root",
         str(data_root), "--store", str(store), "--source", "hko_current_weather",
         "--replay-root", str(HKO_REPLAY), "--as-of", "2025-07-29T03:30Z"]
    )  # fmt: skip
    (partition,) = PartitionStore(store).partitions("hko_current_weather")
    with xr.open_dataset(partition.path) as stored:
        wan_chai = stored.where(stored["station_id"] == "district:Wan Chai", drop=True)
        assert float(wan_chai["pr"].values.item()) == 61.0
        assert float(wan_chai["pr_district_min"].values.item()) == 47.0


def _write_config(tmp_path: Path, data_root: Path, sources: dict[str, object]) -> Path:
    document = yaml.safe_load((REPO / "configs/knmi-demo.yaml").read_text("utf-8"))
    document["data_root"] = str(data_root)
    document["sources"] = sources
    document["hazards"] = {}
    document.pop("alerting")  # it names a hazard; this copy has none
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(document), "utf-8")
    return path


def test_source_settings_are_checked(data_root: Path, tmp_path: Path) -> None:
    radar = str(data_root / "radar/knmi_20100826")
    both = {
        "reader": "knmi-hdf5",
        "path": radar,
        "fetch": {"base_url": "https://example.org", "endpoints": ["/a"]},
    }
    with pytest.raises(ConfigError, match=r"either 'path'.*or 'fetch'"):
        load_settings(_write_config(tmp_path, data_root, {"radar": both}))
    bad_url = {
        "reader": "hko-regional",
        "fetch": {"base_url": "ftp://example.org", "endpoints": ["/a"]},
        "options": {"station_metadata": None},
    }
    with pytest.raises(ConfigError, match=r"sources.hko.fetch.base_url"):
        load_settings(_write_config(tmp_path, data_root, {"hko": bad_url}))
    no_unit = {"reader": "knmi-hdf5", "path": radar, "latency": 5}
    with pytest.raises(ConfigError, match=r"sources.radar.latency"):
        load_settings(_write_config(tmp_path, data_root, {"radar": no_unit}))
    missing = {
        "reader": "station-table",
        "path": radar,
        "options": {
            "station_id": "s",
            "time": "t",
            "stations": "no/such/stations.csv",
            "variables": {"pr": {"column": "RH", "units": "0.1 mm", "interval": "1 h"}},
        },
    }
    with pytest.raises(ConfigError, match=r"stations.csv does not exist"):
        load_settings(_write_config(tmp_path, data_root, {"aws": missing}))


def test_a_forecast_bulletin_is_one_partition_at_its_reference_time(
    data_root: Path, tmp_path: Path
) -> None:
    # CMA's real WTPQ20 BABJ bulletin for Yinxing (2422), 2024-11-07 12 UTC
    # (tests/fixtures/tc/README.md): 2-min winds, forecast to +120 h.
    bulletin = {
        "reader": "tc-bulletin",
        "path": str(REPO / "tests/fixtures/tc/cma_wtpq20_babj_yinxing_2024110712.txt"),
        "options": {"issue_month": "2024-11"},
        "latency": "1 h",
    }
    settings = load_settings(_write_config(tmp_path, data_root, {"cma_bulletin": bulletin}))
    store = PartitionStore(tmp_path / "store")
    from yujing.ingest import ingest_source

    report = ingest_source(settings, "cma_bulletin", store)
    assert (len(report.results), report.written) == (1, 1)
    (partition,) = store.partitions("cma_bulletin")
    assert partition.reference_time == datetime(2024, 11, 7, 12, tzinfo=UTC)
    assert store.latest_complete("cma_bulletin", datetime(2024, 11, 7, 12, 59, tzinfo=UTC)) is None
    assert store.latest_complete("cma_bulletin", datetime(2024, 11, 7, 13, tzinfo=UTC))
    with xr.open_dataset(partition.path) as stored:
        assert stored["vmax"].attrs["averaging_period"] == "2 min"
        assert stored.sizes["reference_time"] == 1 and stored.sizes["time"] > 1


def test_a_cycle_from_the_store_equals_one_from_the_sources(
    data_root: Path, tmp_path: Path, cache_dir: Path
) -> None:
    # KNMI radar, 2010-08-26 04:00Z, with the configured 5-minute delivery delay: both paths
    # must see the frames up to 03:55 and nothing later, and give the same hazard result.
    from hazard_models.region import load_region
    from yujing.ingest import ingest_source
    from yujing.pipeline import load_input, run_cycle

    settings = load_settings(REPO / "configs/knmi-demo.yaml", data_root=data_root)
    settings = settings.model_copy(update={"hazards": {"rainstorm": settings.hazards["rainstorm"]}})
    issue = datetime(2010, 8, 26, 4, tzinfo=UTC)
    store = PartitionStore(tmp_path / "store")
    ingest_source(settings, "knmi_radar", store, as_of=issue)
    for source_store in (None, store):
        seen = load_input(settings, "knmi_radar", issue, source_store)
        assert str(seen["time"].values[-1]) == "2010-08-26T03:55:00.000000000"
    region = load_region(settings.region, settings.communities, cache_dir)
    direct = run_cycle(settings, issue, output_dir=tmp_path / "a", region=region)
    stored = run_cycle(settings, issue, output_dir=tmp_path / "b", region=region, store=store)
    a, b = direct.results["rainstorm"], stored.results["rainstorm"]
    # The 04:00 frame is not delivered yet: the model evaluates at the latest one, 03:55.
    assert a.attrs["evaluation_time"] == b.attrs["evaluation_time"] == "2010-08-26T03:55:00Z"
    xr.testing.assert_equal(a.drop_attrs(), b.drop_attrs())
