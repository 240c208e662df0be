"""Hong Kong, July 2025: our rainstorm signals from district rainfall against HKO's.

Run: ``.venv/bin/python benchmarks/hk_july2025.py`` prints the report (Markdown);
``--write docs/hk_july2025.md`` also writes it there. Every number comes from the real
files of ``../shared/data`` (``YUJING_DATA_ROOT`` overrides): SOURCES.md §3.1, §4.1, §4.1b.
Not a timing benchmark; it lives here with the other scripts that print result tables.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

import ingest.readers.hko_district_hourly as district_hourly
from hazard_models.rainstorm import hk_signals
from ingest.readers import read_source
from ingest.readers.hko_warnings import read_hko_warnings

REPO = Path(__file__).resolve().parents[1]
HOURLY = Path("obs/hko/hko_district_hourly_rainfall_202507.csv")
WARNINGS = Path("warnings/hko_rainstorm_warnings_1998_2025jul.csv")
DAILY = Path("obs/hko/daily_HKO_RF_ALL.csv")
# Hong Kong Observatory Headquarters (HKO list of weather stations), as in tests/test_readers.py.
DAILY_OPTIONS: dict[str, Any] = {
    "station_id": "HKO",
    "station_name": "Hong Kong Observatory Headquarters",
    "lat": 22.3019,
    "lon": 114.1742,
    "elevation": "32 m",
    "station_source": "HKO list of weather stations (Hong Kong Observatory Headquarters)",
}
HKT = "Asia/Hong_Kong"
VARIANTS = (
    ("maximum over districts (default)", hk_signals.SignalOptions()),
    ("maximum, cleared after 2 quiet hours", hk_signals.SignalOptions(clear_after_hours=2)),
    ("at least 3 districts", hk_signals.SignalOptions(min_districts=3)),
)


def _data_root() -> Path:
    configured = os.environ.get("YUJING_DATA_ROOT")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def _hkt(value: pd.Timestamp) -> str:
    return "—" if pd.isna(value) else f"{value.tz_convert(HKT):%d %b %H:%M}"


def _number(value: float, digits: int = 2) -> str:
    return "—" if pd.isna(value) else f"{value:.{digits}f}"


def _scores_table(scores: list[hk_signals.LevelScores]) -> list[str]:
    lines = [
        "| level | ours | HKO's | hits | misses | false alarms | POD | FAR | CSI "
        "| median decision − issue (min) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        lines.append(
            f"| {s.level} | {s.ours} | {s.theirs} | {s.hits} | {s.misses} | {s.false_alarms} "
            f"| {_number(s.pod)} | {_number(s.far)} | {_number(s.csi)} "
            f"| {_number(s.median_delay_min, 0)} |"
        )
    return lines


def _events_table(
    ds: xr.Dataset, warnings: pd.DataFrame, options: hk_signals.SignalOptions
) -> list[str]:
    hourly = hk_signals.hourly_levels(ds, options)
    start, end = hk_signals.data_coverage(ds)
    lines = [
        "| level | HKO issue – cancel (HKT) | file lines | matched | our decision (HKT) "
        "| decision − issue (min) |",
        "|---|---|---|---|---|---|",
    ]
    for level, _ in options.levels:
        ours = hk_signals.our_periods(hourly, level, options)
        theirs = hk_signals.observatory_periods(warnings, level, options, start, end)
        for m in hk_signals.match_periods(ours, theirs).itertuples():
            lines.append(
                f"| {level} | {_hkt(m.start)} – {_hkt(m.end)} | {m.lines} "
                f"| {'yes' if m.matched else 'no'} | {_hkt(m.our_start)} "
                f"| {_number(m.decision_minus_issue_min, 0)} |"
            )
    lines += [
        "",
        "Our periods (default criterion), with the evidence that started them:",
        "",
        "| level | evidence window start (HKT) | decision (HKT) | cleared (HKT) | peak (mm/h) "
        "| matches an HKO period |",
        "|---|---|---|---|---|---|",
    ]
    for level, _ in options.levels:
        ours = hk_signals.our_periods(hourly, level, options)
        theirs = hk_signals.observatory_periods(warnings, level, options, start, end)
        for p in ours.itertuples():
            hit = ((theirs["start"] < p.end) & (p.evidence_start < theirs["end"])).any()
            lines.append(
                f"| {level} | {_hkt(p.evidence_start)} | {_hkt(p.start)} | {_hkt(p.end)} "
                f"| {p.peak_mm:g} | {'yes' if hit else 'no (false alarm)'} |"
            )
    return lines


def _climatology(warnings: pd.DataFrame, daily: xr.Dataset) -> list[str]:
    counts = hk_signals.signal_counts(warnings)
    july = counts[[c for c in counts if c.endswith("_july")]]
    lines = [
        "Signals issued (rows of the history, each issuance counted once; an Amber → Red → "
        "Amber sequence counts two Ambers and one Red):",
        "",
        "| level | July 2025 | mean July 1998–2024 | max July 1998–2024 (year) "
        "| rank of July 2025 among 28 Julys | 2025 to 31 Jul | mean year 1998–2024 |",
        "|---|---|---|---|---|---|---|",
    ]
    past = counts.loc[1998:2024]
    for level in ("amber", "red", "black"):
        col = f"{level}_july"
        value = int(july.loc[2025, col])
        rank = 1 + int((july[col] > value).sum())
        ties = int((july[col] == value).sum()) - 1
        top = int(past[col].max())
        top_years = ", ".join(str(y) for y in past.index[past[col] == top])
        lines.append(
            f"| {level} | {value} | {past[col].mean():.1f} | {top} ({top_years}) "
            f"| {rank}{f' (tied with {ties} other Julys)' if ties else ''} "
            f"| {int(counts.loc[2025, f'{level}_year'])} | {past[f'{level}_year'].mean():.1f} |"
        )
    clim = hk_signals.july_rainfall_climatology(daily, 2025)
    lines += [
        "",
        "July rainfall at the HKO Headquarters (`daily_HKO_RF_ALL.csv`, reader "
        "`hko-daily-rainfall`):",
        "",
        "| July 2025 total | 1991–2020 mean | median | min – max | Julys 1991–2020 below 2025 "
        "| rank in 1991–2020 + 2025 | reference Julys with missing/incomplete days |",
        "|---|---|---|---|---|---|---|",
        f"| {clim['total_mm']:.1f} mm | {clim['reference_mean_mm']:.1f} mm "
        f"| {clim['reference_median_mm']:.1f} mm "
        f"| {clim['reference_min_mm']:.1f} – {clim['reference_max_mm']:.1f} mm "
        f"| {clim['percentile']:.0f} % | {int(clim['rank_in_reference'])} of "
        f"{int(clim['reference_years']) + 1} | {int(clim['incomplete_reference_julys'])} |",
    ]
    return lines


def report(root: Path) -> str:
    """Build the Markdown report from the files under ``root``."""
    ds = read_source("hko-district-hourly", root / HOURLY, {}, "hko-district-hourly")
    warnings = read_hko_warnings(root / WARNINGS, "hko-warnings")
    daily = read_source("hko-daily-rainfall", root / DAILY, DAILY_OPTIONS, "hko-daily")
    start, end = hk_signals.data_coverage(ds)
    default = VARIANTS[0][1]
    out = [
        "# Hong Kong, July 2025: rainstorm signals from district rainfall vs HKO's",
        "",
        "Generated by `benchmarks/hk_july2025.py` from the real files (SOURCES.md §3.1, "
        "§4.1, §4.1b); do not edit by hand, rerun "
        "`.venv/bin/python benchmarks/hk_july2025.py --write docs/hk_july2025.md`.",
        "",
        "## What was compared",
        "",
        "* **Ours**: the Hong Kong scheme (Amber > 30, Red > 50, Black > 70 mm in one hour) "
        "run by `hazard_models.rainstorm.hk_signals` on HKO's past-hour rainfall per "
        "district (reader `hko-district-hourly`), with each hour decided at the time its "
        "poll arrived (`available_at`), never at the end of the rainfall window.",
        "* **HKO's**: the Rainstorm Warning Signals issued, from the history file (reader "
        '`hko-warnings`), each level as "that level or higher" (touching rows merged).',
        f"* Period: the data's coverage, {_hkt(start)} – {_hkt(end)} HKT "
        f"({ds.sizes['time']} hourly windows, missing: {ds.attrs['missing_hours']}; "
        f"rejected rows: {ds.attrs['rejected_rows']}).",
        f"* HKO rows with a problem (left out): "
        f"{int((warnings['problem'] != '').sum())}; unparseable rows: "
        f"{len(warnings.attrs['rejected_rows'])}.",
        "* Matching: a period of ours, from the start of the rainfall window that started it "
        "to the decision that cleared it, matches an HKO period (issue to cancel) when they "
        "overlap. Hits and misses count HKO periods, false alarms count our periods; "
        "POD = hits/(hits+misses), FAR = false alarms/our periods, "
        "CSI = hits/(hits+misses+false alarms). Decision − issue is our first matching "
        "decision time minus HKO's issue time (positive: we were later).",
        "",
        "## Scores",
        "",
    ]
    for title, options in VARIANTS:
        scores = hk_signals.compare_levels(ds, warnings, options)
        out += [f"### Criterion: {title}", "", *_scores_table(scores), ""]
    out += [
        "## Event by event (default criterion)",
        "",
        *_events_table(ds, warnings, default),
        "",
        "## Climatology",
        "",
        *_climatology(warnings, daily),
        "",
        DISCUSSION,
    ]
    return "\n".join(out) + "\n"


DISCUSSION = """## Discussion

**District maxima are not "Hong Kong generally".** HKO issues its signals for heavy rain
that has fallen or is expected *over Hong Kong generally* and is likely to continue; the
bulletin we read gives, per district, only the range across its gauges. The default
criterion applies the thresholds to the *highest gauge in any district*, the reading a duty
forecaster sees first. It detects every HKO Amber and Black period, but one gauge at 71 mm
is not a territory-wide Black rainstorm: most of our Black periods are false alarms, HKO
having judged those hours Red or Amber. Asking for three districts at once cuts the false
alarms but misses half the Red periods. Neither is HKO's criterion; an areal estimate
(radar QPE over the territory, or the share of gauges above the threshold) would be the
honest input, and HKO's forecasters also use the expected evolution, which observations of
the past hour cannot show.

**The hourly polling sets the lead time, and it is negative.** Each number we decide on
covers the hour before its window end and reached us 61–62 minutes after that end, because
the feed was polled once an hour just after the bulletin of the previous hour. So we decide
at best about one hour after the rain began, and usually about 1–2 hours after HKO's issue:
HKO's forecasters work from real-time gauge and radar data and their nowcasts. The one
case where we were earlier (Amber on 20 July) is an Amber of ours that started with a
34 mm hour at one district well before HKO's Amber. A yujing deployment has to take the
5-minute gauge data or radar nowcasts to reach the 60-minute lead time DESIGN.md asks
for; this check shows how far an hourly observation-only scheme is from it.

**What this comparison can show**: whether the rain HKO warned for was visible in the
district data (every Amber and Black episode was; one Red period, 10 July 09:36–10:40 HKT,
was not above 50 mm in any district's past hour: 40 and 46 mm), how late an observation-only
decision comes, and how sensitive the false alarms are to the areal criterion.

**What it cannot show**: skill of a forecast (this is a reconstruction from observations),
anything statistically firm (one month, 8 Amber, 6 Red and 1 Black periods), or the value
of HKO's warnings for the public. Matching by overlap with the evidence window is lenient
(a long period of ours can match several of HKO's); the event counting, including periods
that began at the very start or end of the month, is this module's simple scheme and will be
replaced by `hazard_models.verification`. The bulletin's values are whole millimetres, so
"> 30 mm" is 31 mm or more.
"""


def main() -> None:
    """Print the report; with ``--write PATH`` also write it there."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="also write the Markdown report here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    assert district_hourly.HkoDistrictHourlyReader.name == "hko-district-hourly"
    text = report(_data_root())
    print(text)
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
