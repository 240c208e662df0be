"""Replay and verification end to end: every bundled event, the look-ahead guard, scoring.

Real data only: the KNMI radar frames of 26 August 2010 (SOURCES.md 7.1), the JMA best
tracks of Mangkhut and Saola (1.2, 1.3), the NASA POWER hourly rainfall of the
7-8 September 2023 Shenzhen rainstorm (4.2), and HKO's polled district rainfall of July
2025 (4.1b) with HKO's own rainstorm signals (3.1). Each event runs its shortened window
(``short_start``/``short_end`` in ``configs/events/*.yaml``), as CI does; the full
replays are ``benchmarks/knmi_replay.py`` and the README's main command.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hazard_models.region import load_region
from hazard_models.verification import warning_lead_times
from ingest.errors import LookAheadError
from yujing.cli import main
from yujing.pipeline import run_cycle
from yujing.replay import SourceCache, load_event, replay
from yujing.settings import Settings
from yujing.verify import load_results, observed_onsets, warning_periods

EVENTS = sorted(
    p.stem for p in (Path(__file__).resolve().parents[1] / "configs/events").glob("*.yaml")
)


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Path:
    """Every bundled event replayed (shortened) and verified through the CLI."""
    output = tmp_path_factory.mktemp("replays")
    for name in EVENTS:
        status = main(
            ["replay", name, "--short", "--output", str(output), "--data-root", str(data_root)]
        )
        assert status == 0, name
    return output


@pytest.mark.parametrize("name", EVENTS)
def test_every_event_replays_verifies_and_delivers(replays: Path, name: str) -> None:
    folder = replays / name
    record = json.loads((folder / "replay.json").read_text("utf-8"))
    assert record["shortened"] and record["failures"] == {}
    # Every message queued reached the capture subscriber exactly once.
    with sqlite3.connect(folder / "alerts.db") as db:
        queued = db.execute("select count(*) from deliveries").fetchone()[0]
        states = dict(db.execute("select status, count(*) from deliveries group by status"))
    lines = (folder / "deliveries.jsonl").read_text("utf-8").splitlines()
    keys = [json.loads(line)["idempotency_key"] for line in lines]
    assert states == ({"sent": queued} if queued else {})
    assert len(keys) == len(set(keys)) == queued == record["deliveries"]["received"]
    skill = pd.read_csv(folder / "skill.csv")
    document = json.loads((folder / "verification.json").read_text("utf-8"))
    assert len(document["skill"]) == len(skill) > 0
    assert document["provenance"]["model_versions"] == record["models"]
    page = (folder / "report.html").read_text("utf-8")
    for image in __import__("re").findall(r'src="([^"]+\.png)"', page):
        assert (folder / image).stat().st_size > 1000, image


@pytest.mark.parametrize("hazard", ["rainstorm_nowcast", "waterlogging_nowcast"])
def test_knmi_warnings_are_scored_against_later_observations(replays: Path, hazard: str) -> None:
    skill = pd.read_csv(replays / "knmi-2010" / "skill.csv")
    yellow = skill[skill["hazard"] == hazard].set_index("level").loc["yellow"]
    assert yellow["hits"] + yellow["misses"] > 0, "the short KNMI window has observed events"
    assert yellow["pod"] == pytest.approx(yellow["hits"] / (yellow["hits"] + yellow["misses"]))
    hits, misses, false_alarms = yellow["hits"], yellow["misses"], yellow["false_alarms"]
    assert yellow["csi"] == pytest.approx(hits / (hits + misses + false_alarms))
    assert yellow["bias"] == pytest.approx((hits + false_alarms) / (hits + misses))
    leads = pd.read_csv(replays / "knmi-2010" / "lead_times.csv", parse_dates=["observed_onset"])
    first_cycle = pd.Timestamp("2010-08-26T00:10Z")
    assert (leads["observed_onset"] > first_cycle).all(), "events under way at the start are out"


def test_heat_outlook_is_scored_against_the_analyses(replays: Path) -> None:
    folder = replays / "era5-uk-2019-03"
    skill = pd.read_csv(folder / "skill.csv").set_index("level")
    assert (skill["truth"].str.startswith("heatwave_demo_analysis")).all()
    leads = pd.read_csv(folder / "lead_times.csv", parse_dates=["observed_onset", "first_warned"])
    for level in ("yellow", "orange"):
        row, events = skill.loc[level], leads[leads["level"] == level]
        assert row["hits"] + row["misses"] == len(events) > 0
        warned = events.dropna(subset=["first_warned"])
        assert row["hits"] == len(warned)
        # Lead time as DESIGN.md defines it: observed onset minus first warning, in minutes.
        expected = (warned["observed_onset"] - warned["first_warned"]).dt.total_seconds() / 60
        assert np.allclose(warned["lead_minutes"], expected.clip(lower=0))


def test_shenzhen_2023_is_unscored_with_its_reason(replays: Path) -> None:
    skill = pd.read_csv(replays / "shenzhen-2023-09" / "skill.csv")
    assert skill["hits"].isna().all() and (skill["truth"] == "none: unscored").all()
    notes = json.loads((replays / "shenzhen-2023-09" / "verification.json").read_text("utf-8"))
    assert any("Unscored" in note for note in notes["notes"])


@pytest.mark.parametrize("name", ["mangkhut-2018", "saola-2023"])
def test_typhoons_are_scored_against_the_best_track_analysis(replays: Path, name: str) -> None:
    skill = pd.read_csv(replays / name / "skill.csv").set_index("level")
    assert list(skill.index) == ["white", "blue", "yellow", "orange", "red"]
    # White and blue are listed as unscored, their reason in the notes; the rest counted.
    assert skill.loc[["white", "blue"], "hits"].isna().all()
    assert (skill.loc[["white", "blue"], "truth"] == "unscored: see the notes").all()
    scored = skill.loc[["yellow", "orange", "red"]]
    assert scored["truth"].str.startswith("typhoon_analysis (typhoon-analysis").all()
    assert (scored["hits"] >= 0).all() and (scored["false_alarms"] >= 0).all()
    notes = json.loads((replays / name / "verification.json").read_text("utf-8"))["notes"]
    assert any(note.startswith("typhoon blue: unscored") for note in notes)
    leads = pd.read_csv(replays / name / "lead_times.csv")
    assert set(leads["level"]) <= {"yellow", "orange", "red"}
    # The model's probability is of a level within its criteria's windows (red: 6 h), so
    # the short replay's two cycles, 6 h apart, give red forecast-outcome pairs; the
    # longer windows (orange 12 h, yellow 24 h) do not fit inside it.
    reliable = pd.read_csv(replays / name / "reliability.csv")
    assert set(reliable["level"]) == {"red"}
    first = sorted((replays / name).rglob("typhoon/*.nc"))[0]
    with xr.open_dataset(first) as result:
        assert reliable["count"].sum() == result.sizes["community"]  # one issue time


def _hk_first_polls(data_root: Path) -> dict[str, pd.Timestamp]:
    """Straight from the CSV (SOURCES.md 4.1b): per level, the first poll on the morning of
    29 July 2025 (HKT) listing a district whose highest gauge exceeded the threshold."""
    polls = pd.read_csv(data_root / "obs/hko/hko_district_hourly_rainfall_202507.csv")
    polls["poll"] = pd.to_datetime(polls["snapshot"], format="%Y%m%d-%H%M")
    morning = polls[(polls["poll"] >= "2025-07-29 07:00") & (polls["poll"] <= "2025-07-29 13:05")]
    first = {}
    for level, threshold in (("amber", 30), ("red", 50), ("black", 70)):
        above = morning[morning["rain_hi_mm"] > threshold]
        first[level] = above["poll"].min().tz_localize("Asia/Hong_Kong").tz_convert("UTC")
    return first


def test_hong_kong_replay_against_hkos_own_signals(replays: Path, data_root: Path) -> None:
    folder = replays / "hk-2025-07"
    # HKO's signals on 29 July 2025 (SOURCES.md 3.1, HKT): Amber 08:05, Red 08:40,
    # Black 09:10. Our cycles run at five past each hour, so our first warning of a level
    # is the first cycle after the first poll showing more than its threshold.
    theirs = {
        "amber": "2025-07-29 00:05Z",
        "red": "2025-07-29 00:40Z",
        "black": "2025-07-29 01:10Z",
    }
    agency = pd.read_csv(folder / "agency.csv", parse_dates=["their_start", "our_start"])
    agency = agency.set_index("level")
    for level, poll in _hk_first_polls(data_root).items():
        ours = (poll - pd.Timedelta("5 min")).ceil("h") + pd.Timedelta("5 min")
        assert agency.loc[level, "their_start"] == pd.Timestamp(theirs[level])
        assert agency.loc[level, "our_start"] == ours
        expected = (ours - pd.Timestamp(theirs[level])).total_seconds() / 60
        assert agency.loc[level, "difference_min"] == pytest.approx(expected)
    skill = pd.read_csv(folder / "skill.csv")
    against = skill[skill["truth"].str.startswith("agency: hko_warnings")].set_index("level")
    assert list(against.index) == ["amber", "red", "black"]
    assert (against["hits"] == 1).all() and (against["misses"] == 0).all()
    assert against["agency_median_min"].tolist() == agency["difference_min"].tolist()
    # Against the observations themselves the warning trails the rain by one poll: the
    # hour ending 09:00 HKT (01:00Z) was published at 10:01 and warned at 10:05 HKT.
    leads = pd.read_csv(folder / "lead_times.csv")
    assert leads["lead_minutes"].tolist() == [-65.0, -65.0, -65.0]
    page = (folder / "report.html").read_text("utf-8")
    assert 'id="agency"' in page and page.count('data-outcome="hit"') == 3
    assert "own warnings on their own row, coloured by rank" in page
    assert agency["rank"].tolist() == [2, 3, 4]


def test_hourly_polls_are_used_from_their_poll_time_only(data_root: Path) -> None:
    _, settings = load_event("hk-2025-07", data_root=data_root)
    cache = SourceCache(settings)
    # The hour ending 09:00 HKT on 29 July was polled at 10:01 HKT (02:01Z).
    before = cache("hko_district_rain", datetime(2025, 7, 29, 2, 0, tzinfo=UTC))
    after = cache("hko_district_rain", datetime(2025, 7, 29, 2, 5, tzinfo=UTC))
    assert pd.Timestamp(before["time"].values.max()) == pd.Timestamp("2025-07-29T00:00")
    assert pd.Timestamp(after["time"].values.max()) == pd.Timestamp("2025-07-29T01:00")
    assert float(after["pr"].sel(time="2025-07-29T01:00").max()) > 70


def _knmi(data_root: Path, hazards: tuple[str, ...] = ("rainstorm",)) -> tuple:
    event, settings = load_event("knmi-2010", data_root=data_root)
    settings = settings.model_copy(
        update={"hazards": {k: v for k, v in settings.hazards.items() if k in hazards}}
    )
    moment = datetime(2010, 8, 26, 4, 0, tzinfo=UTC)
    event = event.model_copy(
        update={
            "hazards": {k: v for k, v in event.hazards.items() if k in hazards},
            "start": moment,
            "end": moment,
            "short_start": None,
            "short_end": None,
            "alerting": None,
            "verify": {},
        }
    )
    return event, settings, moment


def test_source_cache_gives_only_what_had_arrived(data_root: Path) -> None:
    _, settings, moment = _knmi(data_root)
    radar = SourceCache(settings)("knmi_radar", moment)
    # 5-minute latency: the frame labelled 03:55 arrived at 04:00, the 04:00 frame had not.
    assert pd.Timestamp(radar["time"].values.max()) == pd.Timestamp("2010-08-26T03:55")


def _leaking(settings: Settings) -> SourceCache:
    """A loader that hands the model the whole event, future frames included."""
    cache = SourceCache(settings)
    return lambda name, issue_time: cache(name, issue_time + timedelta(hours=1))  # type: ignore[return-value]


def test_a_model_handed_future_data_refuses_it(data_root: Path, tmp_path: Path) -> None:
    _, settings, moment = _knmi(data_root)
    region = load_region(settings.region, settings.communities, settings.cache_directory)
    cycle = run_cycle(settings, moment, tmp_path, region=region, loader=_leaking(settings))
    assert isinstance(cycle.errors["rainstorm"], LookAheadError)
    assert "after the issue time" in cycle.failures["rainstorm"]
    assert not list(tmp_path.rglob("*.nc")), "nothing is written from future data"


def test_a_replay_stops_on_future_data(data_root: Path, tmp_path: Path) -> None:
    event, settings, _ = _knmi(data_root)
    with pytest.raises(LookAheadError, match="after the issue time"):
        replay(event, settings, output=tmp_path, loader=_leaking(settings))
    # The honest loader gives the same cycle without complaint.
    done = replay(event, settings, output=tmp_path)
    assert done.failures == {} and done.cycles == 1


def test_scoring_controls_on_the_knmi_truth(replays: Path, data_root: Path) -> None:
    """Warn every community from the first cycle: no misses; warn nobody: no hits."""
    event, settings = load_event("knmi-2010", data_root=data_root)
    truth = load_results(replays / "knmi-2010", settings, "rainstorm")
    assert truth is not None
    onsets = observed_onsets(truth).rename(columns={"community": "area"})
    first = pd.Timestamp(truth.results["time"].values[0], tz="UTC")
    onsets = onsets[onsets["onset"] > first]
    assert len(onsets) > 0
    cycles = pd.to_datetime(truth.results["time"].values, utc=True)
    everyone = " ".join(truth.results["community_id"].values.astype(str))
    blanket = pd.DataFrame(
        {"cycle": cycles, "hazard": "h", "level": "red", "communities": everyone}
    )
    periods = warning_periods(blanket, "h", event.every)
    table = warning_lead_times(periods, onsets, truth.levels)
    events = table[table["outcome"] != "false_alarm"]
    assert (events["outcome"] == "hit").all()
    expected = (events["onset"] - first).dt.total_seconds()
    assert np.allclose(events["lead_time"].dt.total_seconds(), expected)
    none = warning_lead_times(periods.iloc[:0], onsets, truth.levels)
    assert (none["outcome"] == "miss").all() and len(none) == len(onsets)
    # A replay that never warned of the hazard at all: every event a miss, no error.
    unwarned = warning_periods(blanket.assign(hazard="other"), "h", event.every)
    missed = warning_lead_times(unwarned, onsets, truth.levels)
    assert (missed["outcome"] == "miss").all() and len(missed) == len(onsets)


def test_results_with_different_lead_times_stack_with_gaps(
    replays: Path, data_root: Path, tmp_path: Path
) -> None:
    """A no-storm cycle has one lead time, a forecast 72: stacked, the gaps are NaN."""
    _, settings = load_event("mangkhut-2018", data_root=data_root)
    source = replays / "mangkhut-2018" / settings.region.code / "typhoon"
    first, second = sorted(source.glob("*.nc"))[:2]
    target = tmp_path / settings.region.code / "typhoon"
    target.mkdir(parents=True)
    shutil.copy(second, target / second.name)
    with xr.open_dataset(first) as ds:
        ds.isel(lead_time=[0]).load().to_netcdf(target / first.name)
    results = load_results(tmp_path, settings, "typhoon")  # warnings are errors here
    assert results is not None
    stacked = results.results
    n_leads = stacked.sizes["lead_time"]
    assert n_leads > 1
    short = stacked["probability"].isel(time=0)
    assert short.isel(lead_time=0).notnull().all()
    assert short.isel(lead_time=slice(1, None)).isnull().all()
    assert stacked["probability"].isel(time=1).notnull().all()


def test_results_stack_per_cycle(replays: Path, data_root: Path) -> None:
    _, settings = load_event("knmi-2010", data_root=data_root)
    results = load_results(replays / "knmi-2010", settings, "rainstorm_nowcast")
    assert results is not None
    assert isinstance(results.results, xr.Dataset)
    assert results.results.sizes["time"] == 8 and results.levels == ["yellow", "orange", "red"]
