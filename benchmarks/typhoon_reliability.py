"""Are the typhoon model's probabilities reliable? Every storm of 2015-2025 near Shenzhen.

Run: ``.venv/bin/python benchmarks/typhoon_reliability.py --write docs/typhoon_reliability.md``
(about 30 min on 2 cores with the deployed 50 members; ``--members 20`` is quicker,
``--storms 1822 2309`` replays only those; ``--output DIR`` keeps the replays and
``--rescore DIR`` scores kept replays again without replaying). Prints the report;
``--write`` also writes it, atomically.

Storms: every JMA storm of the 2015-2025 seasons whose best track came within 300 km of
Futian (``tc/jma_storms_within600km_shenzhen_2000_2025_summary.csv``, SOURCES.md §1.5),
read from the raw JMA files it names (§1.2, §1.3). Each is replayed like
``configs/events/saola-2023.yaml`` — the fixes known at each issue time (one hour after
their time), the CLIPER baseline trained on earlier seasons, the deployed ensemble and wind
model, Shenzhen's signal levels — every 6 hours from 48 h before the closest approach to
12 h after it. The truth is ``typhoon-analysis``, the same wind field on the best-track
fixes (no observed winds are bundled): the scores say how much the probabilities can be
trusted given the track forecast, not how good the wind model is.

Each pair is one community at one issue time: the probability of a level within its
criteria's window (yellow 24 h, orange 12 h, red 6 h) against whether the analysis met the
level there at a later cycle inside that window (``yujing.verify.reliability_pairs``, as
``yujing verify`` scores a replay). Communities of one storm are strongly correlated, so
the city-wide view (largest probability over the city against "any community met it",
one pair per cycle) is shown too. The Brier skill score is against the sample's own base
rate (a climatological forecast that knew the base rate of these storms: a generous
reference). The same pairs, warned where the probability reaches the model's
``warn_probability`` (as the signal is), give POD, FAR and CSI. White and blue are not
scored (the reasons are in the event files).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from typhoon_cliper import SHENZHEN, great_circle_km

from hazard_models.typhoon.model import TyphoonOptions
from hazard_models.verification.categorical import contingency_table
from hazard_models.verification.probabilistic import (
    brier_score,
    brier_skill_score,
    reliability_table,
)
from ingest.readers.jma_besttrack import read_jma_best_tracks
from ingest.storage import write_bytes_atomic
from yujing.replay import EventConfig, EventHazard, event_settings, load_event, replay
from yujing.settings import Settings
from yujing.verify import load_results, reliability_pairs

SCORED = ("yellow", "orange", "red")
SUMMARY = "jma_storms_within600km_shenzhen_2000_2025_summary.csv"
MAX_DISTANCE_KM = 300.0
BEFORE, AFTER, EVERY = timedelta(hours=48), timedelta(hours=12), timedelta(hours=6)


@dataclass
class Pooled:
    """Pairs per level, with the storm and season of each (community and city-wide)."""

    community: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    city: dict[str, list[pd.DataFrame]] = field(default_factory=dict)
    storms: list[dict[str, object]] = field(default_factory=list)
    tracks: list[pd.DataFrame] = field(default_factory=list)


def storms(data_root: Path, only: list[str] | None) -> pd.DataFrame:
    """The storms to replay, closest first within each season."""
    summary = pd.read_csv(
        data_root / "tc" / "jma_storms_within600km_shenzhen_2000_2025_summary.csv"
    )
    summary["jma_id"] = summary["jma_id"].astype(str).str.zfill(4)
    chosen = summary[
        (summary["season"] >= 2015) & (summary["closest_approach_km"] <= MAX_DISTANCE_KM)
    ]
    if only:
        chosen = summary[summary["jma_id"].isin(only)]
    return chosen.sort_values(["season", "jma_id"]).reset_index(drop=True)


def _issue_times(closest: datetime) -> tuple[datetime, datetime]:
    """First and last issue time: fixes at 00/06/12/18 UTC are known an hour later."""
    start = closest - BEFORE
    start = start.replace(hour=start.hour - start.hour % 6, minute=0, second=0) + timedelta(hours=1)
    return start, closest + AFTER


def _storm_event(row: pd.Series, members: int) -> tuple[EventConfig, Settings]:
    """The replay of one storm: the Saola event with this storm's JMA track."""
    template, settings = load_event("saola-2023")
    storm = str(row["jma_id"])
    source_name = f"jma_{storm}"
    source = settings.sources["jma_saola"].model_copy(
        update={
            "path": settings.data_root / "tc" / str(row["source_file"]),
            "options": {**settings.sources["jma_saola"].options, "storm": storm},
        }
    )
    settings = settings.model_copy(update={"sources": {**settings.sources, source_name: source}})
    closest = pd.Timestamp(row["closest_fix_utc"]).to_pydatetime().astimezone(UTC)
    start, end = _issue_times(closest)
    event = template.model_copy(
        update={
            "name": f"tc-{storm}",
            "title": f"{row['name']} ({storm})",
            "hazards": {
                "typhoon": EventHazard(inputs={"track": source_name}, options={"members": members}),
                "typhoon_analysis": EventHazard(inputs={"track": source_name}),
            },
            "start": start,
            "end": end,
            "short_start": None,
            "short_end": None,
            "alerting": None,
        }
    )
    settings, problems = event_settings(event, settings)
    if problems:
        raise RuntimeError(f"storm {storm}: {problems}")
    return event, settings


def replay_storm(row: pd.Series, members: int, output: Path, pooled: Pooled) -> None:
    """Replay one storm and add its pairs to ``pooled``."""
    event, settings = _storm_event(row, members)
    result = replay(event, settings, output=output / str(row["jma_id"]))
    score_storm(row, result.folder, settings, pooled)


def score_storm(row: pd.Series, folder: Path, settings: Settings, pooled: Pooled) -> None:
    """Add the pairs of one replayed storm (``folder`` as ``yujing replay`` wrote it)."""
    storm = str(row["jma_id"])
    run = json.loads((folder / "replay.json").read_text(encoding="utf-8"))
    record: dict[str, object] = {
        "storm": f"{row['name'].title()} {storm}",
        "season": int(row["season"]),
        "closest km": float(row["closest_approach_km"]),
        "cycles": int(run["cycles"]),
        "seconds": round(float(run["seconds"]), 1),
        "failures": failure_summary(run["failures"]),
    }
    forecast = load_results(folder, settings, "typhoon")
    if forecast is not None:
        named = str(forecast.results.attrs.get("storm", ""))
        if storm not in named and named:
            raise RuntimeError(f"replayed {named!r}, not storm {storm}")
    truth = load_results(folder, settings, "typhoon_analysis")
    if forecast is None or truth is None:
        record["pairs"] = 0
        pooled.storms.append(record)
        return
    scheme = settings.scheme_of("typhoon")
    windows = {level.name: max(c.window for c in level.criteria) for level in scheme.levels}
    pairs = reliability_pairs(forecast, truth, timedelta(hours=1), windows)
    n_community = forecast.results.sizes["community"]
    times = forecast.results["time"].values
    latency = settings.sources[f"jma_{storm}"].latency
    first_known = pd.Timestamp(row["first_fix_utc"]).tz_convert(None) + latency
    record["pairs"] = sum(len(p) for level, (p, _) in pairs.items() if level in SCORED)
    for level, (p, o) in pairs.items():
        if level not in SCORED:
            continue
        cycles = times[: p.size // n_community]
        tags = {"storm": storm, "season": int(row["season"])}
        formed = cycles >= np.datetime64(first_known)
        pooled.community.setdefault(level, []).append(
            pd.DataFrame({"p": p, "o": o, "formed": np.repeat(formed, n_community), **tags})
        )
        city_p = p.reshape(-1, n_community).max(axis=1)
        city_o = o.reshape(-1, n_community).max(axis=1)
        pooled.city.setdefault(level, []).append(
            pd.DataFrame(
                {
                    "p": city_p,
                    "o": city_o,
                    "formed": formed,
                    "time": cycles,
                    **tags,
                }
            )
        )
        record[f"observed {level}"] = int(city_o.sum())
    pooled.storms.append(record)
    pooled.tracks.append(_track_misses(storm, folder, settings, windows))


@lru_cache(maxsize=4)
def _best_tracks(path: Path) -> dict[str, xr.Dataset]:
    """Every storm of one JMA file, parsed once for all the storms it holds."""
    return read_jma_best_tracks(path)


def _track_misses(
    storm: str, folder: Path, settings: Settings, windows: dict[str, timedelta]
) -> pd.DataFrame:
    """Per forecast cycle: the closest approach to Futian within the yellow window of the
    forecast track (member 0) and of the best track, km (NaN where the cycle had none)."""
    source = settings.sources[f"jma_{storm}"]
    best = _best_tracks(Path(source.path))[storm]
    best_hours = (best["time"].values - best["time"].values[0]) / np.timedelta64(1, "h")
    window = windows.get("yellow", timedelta(hours=24)) / timedelta(hours=1)
    rows = []
    for path in sorted((folder / settings.region.code / "typhoon").glob("*.nc")):
        with xr.open_dataset(path) as result:
            issue = np.datetime64(pd.Timestamp(result.attrs["issue_time"]).tz_convert(None), "ns")
            times = result["track_time"].values if "track_time" in result else np.array([])
            lat = result["track_lat"].values if times.size else times
            lon = result["track_lon"].values if times.size else times
        hours = (issue - best["time"].values[0]) / np.timedelta64(1, "h") + np.arange(window + 1)
        inside = hours <= best_hours[-1]
        actual = great_circle_km(
            np.interp(hours, best_hours, best["lat"].values),
            np.interp(hours, best_hours, best["lon"].values),
            *SHENZHEN,
        )
        forecast = np.nan
        if times.size:
            track_hours = (times - best["time"].values[0]) / np.timedelta64(1, "h")
            forecast = float(
                great_circle_km(
                    np.interp(hours, track_hours, lat),
                    np.interp(hours, track_hours, lon),
                    *SHENZHEN,
                ).min()
            )
        rows.append(
            {
                "storm": storm,
                "time": issue,
                "forecast km": forecast,
                "actual km": float(actual[inside].min()) if inside.any() else np.nan,
            }
        )
    return pd.DataFrame(rows)


def miss_anatomy(pooled: Pooled) -> str:
    """Why city-wide yellow was missed: cycles given under 10 % that saw yellow."""
    if "yellow" not in pooled.city or not pooled.tracks:
        return "No yellow pairs."
    city = pd.concat(pooled.city["yellow"], ignore_index=True)
    tracks = pd.concat(pooled.tracks, ignore_index=True)
    city = city.merge(tracks, on=["storm", "time"], how="left")
    missed = city[(city["p"] < 0.1) & (city["o"] == 1)]
    formed = missed[missed["formed"]]
    hit = city[(city["p"] >= 0.5) & (city["o"] == 1) & city["formed"]]
    excess = formed["forecast km"] - formed["actual km"]
    excess_hit = hit["forecast km"] - hit["actual km"]
    return "\n".join(
        [
            f"Of the {len(city)} scored cycles, {int((city['o'] == 1).sum())} saw yellow "
            f"somewhere in the city within 24 h; {len(missed)} of those were given under 10 %:",
            "",
            f"- {len(missed) - len(formed)} were issued before the storm's first JMA fix "
            "was known (no track, no forecast: genesis is not forecast by a track model);",
            f"- {len(formed)} had a track. Their forecast track's closest approach to Futian "
            "within the 24 h was farther than the real storm's by a median of "
            f"{excess.median():.0f} km (10th-90th percentile {excess.quantile(0.1):.0f} to "
            f"{excess.quantile(0.9):.0f} km); for the {len(hit)} cycles that saw yellow and "
            f"were given at least 50 % the median was {excess_hit.median():.0f} km. The "
            "yellow misses are misses of the baseline track forecast (CLIPER's 24 h "
            "position error exceeds 340 km one time in ten, docs/typhoon_cliper.md), not of "
            "the wind model: a better forecast track is what would move them.",
        ]
    )


def brier(frame: pd.DataFrame) -> dict[str, float]:
    """Brier score, base rate and skill against the base rate (Wilks 2011, 8.4.2)."""
    p, o = frame["p"].to_numpy(), frame["o"].to_numpy()
    return {
        "pairs": len(frame),
        "base rate": round(float(o.mean()), 3),
        "mean p": round(float(p.mean()), 3),
        "Brier": round(float(brier_score(p, o)), 4),
        "BSS vs base rate": round(float(brier_skill_score(p, o)), 3),
    }


def score_table(pairs: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """Brier per level: all seasons, 2015-2020, 2021-2025, and the issue times at which
    the storm's first fix was known."""
    rows = []
    for level in SCORED:
        if level not in pairs:
            continue
        frame = pd.concat(pairs[level], ignore_index=True)
        for label, part in (
            ("2015-2025", frame),
            ("2015-2020", frame[frame["season"] <= 2020]),
            ("2021-2025", frame[frame["season"] >= 2021]),
            ("2015-2025, storm formed", frame[frame["formed"]]),
        ):
            if len(part):
                rows.append({"level": level, "seasons": label, **brier(part)})
    return pd.DataFrame(rows)


def categorical(pairs: dict[str, list[pd.DataFrame]], threshold: float) -> pd.DataFrame:
    """Per level, the pairs as yes/no warnings: warned where the probability reaches the
    model's ``warn_probability`` (what sets ``hazard_level`` and so the signal)."""
    rows = []
    for level in SCORED:
        if level not in pairs:
            continue
        frame = pd.concat(pairs[level], ignore_index=True)
        warned, met = frame["p"].to_numpy() >= threshold, frame["o"].to_numpy() > 0.5
        table = contingency_table(warned, met)
        rows.append(
            {
                "level": level,
                "hits": int(table.hits),
                "misses": int(table.misses),
                "false alarms": int(table.false_alarms),
                "POD": round(float(table.pod), 3),
                "FAR": round(float(table.far), 3),
                "CSI": round(float(table.csi), 3),
                "bias": round(float(table.frequency_bias), 2),
            }
        )
    return pd.DataFrame(rows)


def reliability(pairs: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """Reliability per level in bins of 0.1 (empty bins left out)."""
    frames = []
    for level in SCORED:
        if level not in pairs:
            continue
        frame = pd.concat(pairs[level], ignore_index=True)
        table = reliability_table(frame["p"].to_numpy(), frame["o"].to_numpy(), bins=10)
        frames.append(table[table["count"] > 0].assign(level=level))
    if not frames:
        return pd.DataFrame()
    columns = ["level", "bin_lower", "bin_upper", "forecast_mean", "observed_frequency", "count"]
    return pd.concat(frames, ignore_index=True)[columns]


def failure_summary(failures: dict[str, str]) -> str:
    """Failed cycles by reason: the innermost message up to its first ';' (the fix hint)."""
    by_reason: dict[str, list[str]] = {}
    for cycle, message in failures.items():
        reason = message.rsplit("failed: ", 1)[-1].split("; ")[0]
        by_reason.setdefault(reason, []).append(cycle.split()[0])
    return (
        "; ".join(f"{', '.join(cycles)}: {reason}" for reason, cycles in by_reason.items())
        or "none"
    )


def report(
    pooled: Pooled, members: int, seconds: float, warn: float, rescored: bool = False
) -> str:
    """The Markdown report."""
    doc = (__doc__ or "").split("\n\n", 2)[2].strip()
    cycles = sum(int(str(s["cycles"])) for s in pooled.storms)
    lines = [
        "# Reliability of the typhoon probabilities, 2015-2025",
        "",
        "Generated by `.venv/bin/python benchmarks/typhoon_reliability.py --write "
        f"docs/typhoon_reliability.md` on {datetime.now(UTC):%Y-%m-%d} "
        f"({platform.machine()}, {os.cpu_count()} CPUs), {members} members: "
        f"{len(pooled.storms)} storms, {cycles} cycles in {seconds / 60:.0f} min"
        + (
            " (the replays' own time; scored again from them with `--rescore`)."
            if rescored
            else "."
        ),
        "",
        doc,
        "",
        "## Storms",
        "",
        pd.DataFrame(pooled.storms).fillna(0).to_markdown(index=False),
        "",
        "## Brier scores, communities",
        "",
        score_table(pooled.community).to_markdown(index=False),
        "",
        "## Brier scores, city-wide (one pair per cycle)",
        "",
        score_table(pooled.city).to_markdown(index=False),
        "",
        f"## Warned or not: the pairs at the warning probability ({warn:g})",
        "",
        "A pair is warned where the probability reaches `warn_probability`, as the "
        "signal is; hits, misses and false alarms per community and issue time, then "
        "city-wide (one per cycle).",
        "",
        categorical(pooled.community, warn).to_markdown(index=False),
        "",
        categorical(pooled.city, warn).to_markdown(index=False),
        "",
        "## Yellow misses, city-wide",
        "",
        miss_anatomy(pooled),
        "",
        "## Reliability, communities",
        "",
        reliability(pooled.community).to_markdown(index=False, floatfmt=".2f"),
        "",
        "## Reliability, city-wide",
        "",
        reliability(pooled.city).to_markdown(index=False, floatfmt=".2f"),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--storms", nargs="*", help="JMA ids (default: all within 300 km)")
    parser.add_argument("--output", type=Path, help="keep the replays here")
    parser.add_argument("--write", type=Path, help="write the report here")
    parser.add_argument(
        "--rescore",
        type=Path,
        help="score the replays an earlier run kept with --output here, without replaying",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    _, settings = load_event("saola-2023")
    chosen = storms(settings.data_root, args.storms)
    pooled = Pooled()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output or Path(scratch)
        for _, row in chosen.iterrows():
            if args.rescore:
                storm = str(row["jma_id"])
                _, storm_settings = _storm_event(row, args.members)
                score_storm(row, args.rescore / storm / f"tc-{storm}", storm_settings, pooled)
            else:
                replay_storm(row, args.members, output, pooled)
            print(pooled.storms[-1], flush=True)
    seconds = time.perf_counter() - started
    if args.rescore:  # the replays' own time, as recorded
        seconds = sum(float(str(s["seconds"])) for s in pooled.storms)
    options = TyphoonOptions.model_validate(settings.hazards["typhoon"].options)
    text = report(
        pooled, args.members, seconds, options.warn_probability, rescored=args.rescore is not None
    )
    print(text)
    if args.write:
        write_bytes_atomic(args.write, text.encode("utf-8"))


if __name__ == "__main__":
    main()
