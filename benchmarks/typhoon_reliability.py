"""Are the typhoon model's probabilities reliable? Every storm of 2015-2025 near Shenzhen.

Run: ``.venv/bin/python benchmarks/typhoon_reliability.py --write docs/typhoon_reliability.md``
(about an hour on 2 cores with the deployed 50 members; ``--members 20`` is quicker,
``--storms 1822 2309`` replays only those). Prints the report; ``--write`` also writes it,
atomically.

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
reference). White and blue are not scored (the reasons are in the event files).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from hazard_models.verification.probabilistic import (
    brier_score,
    brier_skill_score,
    reliability_table,
)
from ingest.storage import write_bytes_atomic
from yujing.replay import EventHazard, event_settings, load_event, replay
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


def replay_storm(row: pd.Series, members: int, output: Path, pooled: Pooled) -> None:
    """Replay one storm and add its pairs to ``pooled``."""
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
    started = time.perf_counter()
    result = replay(event, settings, output=output / storm)
    seconds = time.perf_counter() - started
    record: dict[str, object] = {
        "storm": f"{row['name'].title()} {storm}",
        "season": int(row["season"]),
        "closest km": float(row["closest_approach_km"]),
        "cycles": result.cycles,
        "seconds": round(seconds, 1),
        "failures": failure_summary(result.failures),
    }
    forecast = load_results(result.folder, settings, "typhoon")
    if forecast is not None:
        named = str(forecast.results.attrs.get("storm", ""))
        if storm not in named and named:
            raise RuntimeError(f"replayed {named!r}, not storm {storm}")
    truth = load_results(result.folder, settings, "typhoon_analysis")
    if forecast is None or truth is None:
        record["pairs"] = 0
        pooled.storms.append(record)
        return
    scheme = settings.scheme_of("typhoon")
    windows = {level.name: max(c.window for c in level.criteria) for level in scheme.levels}
    pairs = reliability_pairs(forecast, truth, timedelta(hours=1), windows)
    n_community = forecast.results.sizes["community"]
    record["pairs"] = sum(len(p) for level, (p, _) in pairs.items() if level in SCORED)
    for level, (p, o) in pairs.items():
        if level not in SCORED:
            continue
        tags = {"storm": storm, "season": int(row["season"])}
        pooled.community.setdefault(level, []).append(pd.DataFrame({"p": p, "o": o, **tags}))
        city_p = p.reshape(-1, n_community).max(axis=1)
        city_o = o.reshape(-1, n_community).max(axis=1)
        pooled.city.setdefault(level, []).append(pd.DataFrame({"p": city_p, "o": city_o, **tags}))
        record[f"observed {level}"] = int(city_o.sum())
    pooled.storms.append(record)


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
    """Brier per level: all seasons, 2015-2020 and 2021-2025."""
    rows = []
    for level in SCORED:
        if level not in pairs:
            continue
        frame = pd.concat(pairs[level], ignore_index=True)
        for label, part in (
            ("2015-2025", frame),
            ("2015-2020", frame[frame["season"] <= 2020]),
            ("2021-2025", frame[frame["season"] >= 2021]),
        ):
            if len(part):
                rows.append({"level": level, "seasons": label, **brier(part)})
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


def report(pooled: Pooled, members: int, seconds: float) -> str:
    """The Markdown report."""
    doc = (__doc__ or "").split("\n\n", 2)[2].strip()
    cycles = sum(int(str(s["cycles"])) for s in pooled.storms)
    lines = [
        "# Reliability of the typhoon probabilities, 2015-2025",
        "",
        "Generated by `.venv/bin/python benchmarks/typhoon_reliability.py --write "
        f"docs/typhoon_reliability.md` on {datetime.now(UTC):%Y-%m-%d} "
        f"({platform.machine()}, {os.cpu_count()} CPUs), {members} members: "
        f"{len(pooled.storms)} storms, {cycles} cycles in {seconds / 60:.0f} min.",
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    _, settings = load_event("saola-2023")
    chosen = storms(settings.data_root, args.storms)
    pooled = Pooled()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        output = args.output or Path(scratch)
        for _, row in chosen.iterrows():
            replay_storm(row, args.members, output, pooled)
            print(pooled.storms[-1], flush=True)
    text = report(pooled, args.members, time.perf_counter() - started)
    print(text)
    if args.write:
        write_bytes_atomic(args.write, text.encode("utf-8"))


if __name__ == "__main__":
    main()
