"""The event report page, rendered in headless Chromium.

Inputs are real: the observed-rainfall model on the KNMI radar composites of 2010-08-26
(SOURCES.md 7.1) over the KNMI demo region, four hourly cycles. The 1-h rain of that
morning stays below the demo's HKO thresholds (30 mm and up), so the test runs the model
with a test-only scheme of 1/2/4/5 mm in 1 h that the event does reach, and the tables
are derived from those cycles: observed onsets are the first cycle at each level, a
warning runs while a community's level holds, and skill is that of persistence (the
level at one cycle as forecast of the next). Reliability is passed empty to exercise the
"no data" path; a second page has no data at all, as for a typhoon without truth.

The browser is Debian's Chromium (``/usr/bin/chromium``), never a downloaded one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from yujing.report import write_report

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ISSUE_TIMES = [datetime(2010, 8, 26, hour, tzinfo=UTC) for hour in (4, 5, 6, 7)]
RANKS = {"blue": 1, "yellow": 2, "orange": 3, "red": 4}
TRUTH = "KNMI radar 1-h rain at the next cycle (persistence)"


@pytest.fixture(scope="module")
def knmi_cycles(data_root: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The KNMI demo's observed-rainfall model at four cycles, with a test-only scheme."""
    from hazard_models.config import SignalScheme
    from hazard_models.region import load_region
    from yujing.pipeline import run_cycle
    from yujing.settings import load_settings

    settings = load_settings(REPO / "configs" / "knmi-demo.yaml", data_root=data_root)
    scheme = SignalScheme.model_validate(
        {
            "hazard": "rainstorm",
            "source": "test only: far below any warning criterion, reached on 2010-08-26",
            "levels": [
                {"name": name, "rank": rank, "criteria": [{"window": "1 h", "threshold": mm}]}
                for (name, rank), mm in zip(
                    RANKS.items(), ("1 mm", "2 mm", "4 mm", "5 mm"), strict=True
                )
            ],
        }
    )
    hazard = settings.hazards["rainstorm"].model_copy(update={"scheme": "test-low"})
    settings = settings.model_copy(
        update={
            "hazards": {"rainstorm": hazard},
            "signal_schemes": {**settings.signal_schemes, "test-low": scheme},
        }
    )
    region = load_region(settings.region, settings.communities, cache_dir)
    output = tmp_path_factory.mktemp("cycles")
    results = []
    for issue_time in ISSUE_TIMES:
        cycle = run_cycle(settings, issue_time, output_dir=output, region=region)
        assert not cycle.failures, cycle.failures
        results.append(cycle.results["rainstorm"])
    return settings, region, results


def _levels(results: list[xr.Dataset]) -> xr.DataArray:
    stacked = xr.concat(
        [r["risk_level"].isel(lead_time=0).reset_coords(drop=True) for r in results], dim="time"
    )
    issued = [np.datetime64(t.replace(tzinfo=None), "ns") for t in ISSUE_TIMES]
    return stacked.assign_coords(time=issued).transpose("time", "community")


def _tables(
    levels: xr.DataArray, communities: xr.Dataset, evaluated: pd.DatetimeIndex
) -> dict[str, pd.DataFrame]:
    """Warnings, observed onsets, lead times and persistence skill from the cycles."""
    issued = pd.to_datetime(levels["time"].values).tz_localize(UTC)
    values = levels.values
    ids = communities["community_id"].values
    names = communities["community_name"].values
    warnings, observed, lead_times = [], [], []
    for position in np.flatnonzero((values > 0).any(axis=0)):
        series = values[:, position]
        for cycle in range(len(series)):
            rank = int(series[cycle])
            if rank and (cycle == 0 or series[cycle - 1] != rank):
                later = [k for k in range(cycle + 1, len(series)) if series[k] != rank]
                warnings.append(
                    {
                        "hazard": "rainstorm",
                        "area": ids[position],
                        "area_name": names[position],
                        "level": list(RANKS)[rank - 1],
                        "rank": rank,
                        "issued": issued[cycle],
                        "ended": issued[later[0]] if later else pd.NaT,
                        "communities": 1,
                        "lead_minutes": np.nan,
                    }
                )
        for level, rank in RANKS.items():
            reached = np.flatnonzero(series >= rank)
            if len(reached) == 0:
                continue
            onset = evaluated[reached[0]]
            observed.append(
                {
                    "hazard": "rainstorm",
                    "community": ids[position],
                    "level": level,
                    "rank": rank,
                    "onset": onset,
                }
            )
            # the first warning of this level is issued at the cycle that observed it
            first = issued[reached[0]]
            lead = (onset - first).total_seconds() / 60
            lead_times.append(
                {
                    "hazard": "rainstorm",
                    "level": level,
                    "community": ids[position],
                    "observed_onset": onset,
                    "first_warned": first,
                    "lead_minutes": lead,
                }
            )
    skill = []
    leads = pd.DataFrame(lead_times)
    for level, rank in RANKS.items():
        forecast, truth = values[:-1] >= rank, values[1:] >= rank
        hits, misses = int((forecast & truth).sum()), int((~forecast & truth).sum())
        false_alarms = int((forecast & ~truth).sum())
        level_leads = leads.loc[leads["level"] == level, "lead_minutes"].dropna()
        skill.append(
            {
                "hazard": "rainstorm",
                "level": level,
                "hits": hits,
                "misses": misses,
                "false_alarms": false_alarms,
                "correct_negatives": int((~forecast & ~truth).sum()),
                "pod": hits / (hits + misses) if hits + misses else np.nan,
                "far": false_alarms / (hits + false_alarms) if hits + false_alarms else np.nan,
                "csi": hits / (hits + misses + false_alarms)
                if hits + misses + false_alarms
                else np.nan,
                "bias": (hits + false_alarms) / (hits + misses) if hits + misses else np.nan,
                "events": hits + misses,
                "lead_median_min": level_leads.median(),
                "lead_p10_min": level_leads.quantile(0.1),
                "lead_p90_min": level_leads.quantile(0.9),
                "share_ge_60": (level_leads >= 60).mean() if len(level_leads) else np.nan,
                "agency_median_min": np.nan,
                "truth": TRUTH,
            }
        )
    return {
        "warnings": pd.DataFrame(warnings),
        "observed": pd.DataFrame(observed),
        "lead_times": leads,
        "skill": pd.DataFrame(skill),
    }


def _render(page_path: Path, screenshot: Path | None = None) -> tuple[Any, list[str]]:
    """Open ``page_path`` in Chromium; return the loaded page state and the problems seen."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y "
            "chromium` (as root; CI's .ci/run does this). Do not run `playwright install`."
        )
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on(
            "console",
            lambda message: (
                problems.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith("file://")
                else problems.append(f"request off the page's folder: {request.url}")
            ),
        )
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        state = page.evaluate(
            """() => ({
                images: [...document.images].map(i => [i.getAttribute("src"), i.naturalWidth]),
                skill: [...document.querySelectorAll("#skill tbody tr")].map(
                    r => [r.dataset.hazard, r.dataset.level, [...r.cells].map(c => c.textContent)]),
                none: [...document.querySelectorAll("p.none")].map(p => p.textContent),
                sliders: document.querySelectorAll(".slider").length,
            })"""
        )
        if state["sliders"]:
            slider = page.locator(".slider").first
            image = slider.locator("img")
            before = image.get_attribute("src")
            slider.locator("input[type=range]").fill(str(len(ISSUE_TIMES) - 1))
            page.wait_for_function(
                "() => { const i = document.querySelector('.slider img');"
                " return i.complete && i.naturalWidth > 0; }"
            )
            state["slider"] = {
                "before": before,
                "after": image.get_attribute("src"),
                "width": image.evaluate("i => i.naturalWidth"),
                "label": slider.locator("output").text_content(),
            }
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return state, problems


def test_report_renders_in_chromium(knmi_cycles, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, region, results = knmi_cycles
    levels = _levels(results)
    assert int(levels.max()) == 4, "the test scheme should reach red somewhere"
    # onset: the model's evaluation time (its last radar frame) at the first cycle at a level
    evaluated = pd.DatetimeIndex([r["time"].values for r in results]).tz_localize(UTC)
    tables = _tables(levels, region.communities, evaluated)
    reliability = pd.DataFrame(
        columns=[
            "hazard",
            "level",
            "bin_lower",
            "bin_upper",
            "forecast_mean",
            "observed_frequency",
            "count",
        ]
    )
    provenance = {
        "event": "KNMI rain 2010-08-26 <test>",
        "time_span": "2010-08-26 04:00 to 07:00 UTC, hourly",
        "data_sources": {"knmi_radar": str(settings.source_path("knmi_radar"))},
        "model_versions": {
            "rainstorm": f"{results[0].attrs['model']} {results[0].attrs['model_version']}"
        },
        "created_by": "tests/test_report.py",
        "git_revision": "test",
    }
    page = write_report(
        tmp_path / "event",
        title="Rain over the Netherlands, 2010-08-26 & test",
        provenance=provenance,
        communities=region.communities,
        levels={"rainstorm": levels},
        reliability=reliability,
        notes=["Test-only thresholds of 1/2/4/5 mm in 1 h; not a warning criterion."],
        **tables,
    )
    assert page == tmp_path / "event" / "report.html"
    text = page.read_text("utf-8")
    assert "&lt;test&gt;" in text and "<test>" not in text, "provenance must be escaped"
    assert "https://" not in text and "http://" not in text

    state, problems = _render(page, tmp_path / "report.png")

    assert problems == []
    assert state["images"], "the page should show figures"
    for source, width in state["images"]:
        assert width > 0, f"{source} did not load"
        assert (page.parent / source).exists()
    assert [(h, level) for h, level, _ in state["skill"]] == [
        ("rainstorm", level) for level in RANKS
    ]
    expected = tables["skill"].set_index("level")
    for _, level, cells in state["skill"]:
        assert cells[2] == str(expected.loc[level, "hits"])
        assert cells[-1] == TRUTH
        assert cells[15] == "–", "agency comparison is NaN and shown as a dash"
    assert state["none"] == ["No rainstorm probability forecasts were verified."]
    slider = state["slider"]
    assert slider["after"] != slider["before"] and slider["width"] > 0
    assert slider["label"] == "2010-08-26 07:00 UTC"


ONE_COMMUNITY = xr.Dataset(
    {
        "community_id": ("community", ["a"]),
        "geometry_wkt": ("community", ["POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))"]),
        "lon": ("community", [0.5]),
        "lat": ("community", [0.5]),
        "district_name": ("community", [""]),
    }
)


def test_report_without_data_says_so(tmp_path: Path) -> None:
    empty = pd.DataFrame(columns=["hazard", "level"])
    page = write_report(
        tmp_path,
        title="Typhoon without observed truth",
        provenance={"event": "no data"},
        communities=ONE_COMMUNITY,
        levels={},
        warnings=empty,
        observed=empty,
        lead_times=empty,
        skill=empty,
        reliability=empty,
    )
    state, problems = _render(page)

    assert problems == []
    assert state["images"] == [] and state["sliders"] == 0
    assert state["none"] == [
        "No skill scores: nothing was verified for this event (no observed truth).",
        "No community risk levels were produced.",
        "No warnings were issued and no onsets were observed.",
        "No lead times: no observed events.",
        "No probability forecasts were verified.",
    ]
    assert not (tmp_path / "figures").exists()


def test_report_with_observations_only(tmp_path: Path) -> None:
    """No warning issued but an onset observed: the timeline shows the onset, every
    observed event is counted as missed and no histogram is drawn; a figure left by an
    earlier report in the folder is removed."""
    onset = pd.Timestamp("2010-08-26 05:55", tz="UTC")
    stale = tmp_path / "figures" / "risk_rainstorm_099.png"
    stale.parent.mkdir()
    stale.write_bytes(b"an earlier report's slider frame")
    page = write_report(
        tmp_path,
        title="Missed event",
        provenance={"event": "observations only"},
        communities=ONE_COMMUNITY,
        levels={
            "rainstorm": xr.DataArray(
                [[0], [0]],
                dims=("time", "community"),
                coords={"time": pd.to_datetime(["2010-08-26 05:00", "2010-08-26 06:00"])},
            )
        },
        warnings=pd.DataFrame(),
        observed=pd.DataFrame(
            {
                "hazard": ["rainstorm"],
                "community": ["a"],
                "level": ["blue"],
                "rank": [1],
                "onset": [onset],
            }
        ),
        lead_times=pd.DataFrame(
            {
                "hazard": ["rainstorm"],
                "level": ["blue"],
                "community": ["a"],
                "observed_onset": [onset],
                "first_warned": [pd.NaT],
                "lead_minutes": [np.nan],
            }
        ),
        skill=pd.DataFrame(),
        reliability=pd.DataFrame(),
    )
    text = page.read_text("utf-8")
    assert (tmp_path / "figures" / "timeline_rainstorm.png").stat().st_size > 0
    assert "0 warnings in 0 areas" in text and "1 observed onsets" in text
    assert "No rainstorm lead times: 1 observed events, 1 of them missed." in text
    assert not (tmp_path / "figures" / "lead_times_rainstorm.png").exists()
    assert not stale.exists()
