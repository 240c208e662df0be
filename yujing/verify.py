"""Score a replay: warnings against what was observed later, per hazard and level.

``yujing verify EVENT`` reads what ``yujing replay EVENT`` wrote (the per-cycle results,
``warnings.csv``, ``replay.json``) and writes, beside them:

- ``skill.csv`` and ``verification.json``: per hazard and level, hits, misses, false alarms,
  POD, FAR, CSI, frequency bias and the lead-time distribution (median, 10th and 90th
  percentile, share at least 60 min), with the provenance of every number;
- ``lead_times.csv``: every observed event, when it began and when a warning first
  covered it;
- ``reliability.csv``: the forecast probabilities against what happened;
- ``agency.csv`` (where the event names an agency's own warnings, ``verify.<hazard>.agency``):
  our warning periods paired with the agency's, with our issue time minus theirs; its
  hits, misses and false alarms are rows of ``skill.csv`` "against" the agency;
- ``report.html`` with its figures (:mod:`yujing.report`).

Definitions (``DESIGN.md``): an *observed event* is a community reaching a level in the
truth (the event's ``verify.<hazard>.truth`` hazard, an observed model) after not being at
it in the previous cycle; its onset is the truth's ``onset_time`` (when the criterion was
first met in the data). A community is *covered* at level L from a cycle whose warnings in
force (``warnings.csv``) include it at L or higher until the next cycle. Lead time, hits,
misses and false alarms follow :func:`hazard_models.verification.warning_lead_times`
(an event warned up to ``verify.<hazard>.late_window``, default one hour, late is a hit
with negative lead time; an event never warned a miss, counted as 0 min in the
distribution). No score uses what a model saw at
its issue time: the truth of a cycle comes from data up to that cycle, the reliability
pairs a probability issued at T with the truth at later cycles (up to T plus the lead-time
look-ahead), and only windows that lie inside the replay are scored.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from alerting.lifecycle import LifecyclePolicy
from hazard_models.region import load_region
from hazard_models.verification import (
    ContingencyTable,
    lead_time_summary,
    warning_lead_times,
)
from hazard_models.verification.probabilistic import reliability_table
from ingest.storage import write_bytes_atomic
from yujing.errors import ConfigError
from yujing.replay import EventConfig
from yujing.settings import Settings
from yujing.verify_agency import AGENCY_COLUMNS, compare_with_agency

__all__ = ["HazardResults", "Verification", "load_results", "reliability_pairs", "verify"]

SKILL_COLUMNS = [
    "hazard",
    "level",
    "hits",
    "misses",
    "false_alarms",
    "correct_negatives",
    "pod",
    "far",
    "csi",
    "bias",
    "events",
    "lead_median_min",
    "lead_p10_min",
    "lead_p90_min",
    "share_ge_60",
    "agency_median_min",
    "truth",
]


@dataclass
class HazardResults:
    """One hazard's per-cycle results of a replay, stacked on ``time`` (the issue times)."""

    name: str
    levels: list[str]
    ranks: list[int]
    results: xr.Dataset


@dataclass
class Verification:
    """Everything ``yujing verify`` computed for one replay."""

    skill: pd.DataFrame
    lead_times: pd.DataFrame
    reliability: pd.DataFrame
    observed: pd.DataFrame
    warnings: pd.DataFrame
    provenance: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    report: Path | None = None
    agency: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Our warning periods paired with the agency's (``agency.csv``), where it has any."""


def load_results(folder: Path, settings: Settings, hazard: str) -> HazardResults | None:
    """Read the replay's results of ``hazard`` (``<region>/<hazard>/*.nc``), or None."""
    files = sorted((folder / settings.region.code / hazard).glob("*.nc"))
    if not files:
        return None
    parts = []
    for path in files:
        with xr.open_dataset(path) as ds:
            issue = np.datetime64(pd.Timestamp(ds.attrs["issue_time"]).tz_convert(None), "ns")
            keep = ["hazard_level", "risk_level", "probability", "onset_time"]
            parts.append(ds[keep].load().expand_dims(time=[issue]))
    # A no-storm cycle has fewer lead times than a forecast: the gaps are NaN.
    stacked = xr.concat(parts, dim="time", coords="minimal", compat="override", join="outer")
    levels = [str(v) for v in stacked["level"].values]
    ranks = [int(v) for v in stacked["level_rank"].values]
    return HazardResults(hazard, levels, ranks, stacked)


def observed_onsets(truth: HazardResults) -> pd.DataFrame:
    """Every observed event of the truth: a community reaching a level anew.

    Columns ``community``, ``level``, ``rank``, ``onset`` (UTC).
    """
    level_now = truth.results["hazard_level"].isel(lead_time=0).values  # time, community
    onsets = truth.results["onset_time"].values  # time, community, level
    times = truth.results["time"].values
    communities = truth.results["community_id"].values.astype(str)
    rows = []
    for k, (name, rank) in enumerate(zip(truth.levels, truth.ranks, strict=True)):
        met = level_now >= rank
        rising = met & ~np.vstack([np.zeros_like(met[:1]), met[:-1]])
        for t, c in zip(*np.nonzero(rising), strict=True):
            onset = onsets[t, c, k]
            rows.append(
                {
                    "community": communities[c],
                    "level": name,
                    "rank": rank,
                    "onset": pd.Timestamp(times[t] if np.isnat(onset) else onset, tz="UTC"),
                }
            )
    frame = pd.DataFrame(rows, columns=["community", "level", "rank", "onset"])
    # No event at all still gives aware times (an empty column would be untyped).
    return frame.astype({"onset": "datetime64[ns, UTC]"})


def warning_periods(warnings: pd.DataFrame, hazard: str, every: timedelta) -> pd.DataFrame:
    """Per community, the periods it was covered: from each cycle it was in a warning in
    force to the next cycle. Columns ``area`` (community), ``level``, ``start``, ``end``."""
    rows = warnings[warnings["hazard"] == hazard]
    split = rows.assign(area=rows["communities"].fillna("").str.split()).explode("area")
    split = split[split["area"].notna() & (split["area"] != "")].reset_index(drop=True)
    start = pd.to_datetime(split["cycle"], utc=True)
    end = start + pd.Timedelta(every)
    return pd.DataFrame(
        {"area": split["area"], "level": split["level"], "start": start, "end": end}
    )


def reliability_pairs(
    forecast: HazardResults,
    truth: HazardResults,
    look_ahead: timedelta,
    windows: Mapping[str, timedelta] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Probability of each level within ``look_ahead`` and what the truth at later cycles
    found, per level: ``{level: (probabilities, outcomes 0/1)}``, one pair per community
    and issue time.

    The forecast probability of a level for a community at issue time T is the largest
    per-lead probability up to ``look_ahead`` (a lower bound of the probability of
    meeting it at any time in the window); the outcome is whether the truth has the
    community at that level or higher at any cycle in (T, T + window], the window being
    ``look_ahead``, or the level's own ``windows[level]`` where the model's probability is
    already of meeting the level within its criteria's windows (the typhoon model: "gust
    Beaufort 8 within 24 h"). Only issue times whose whole window lies inside the replay
    are used; a level without any is left out.
    """
    probability = forecast.results["probability"]
    leads = probability["lead_time"] <= np.timedelta64(look_ahead)
    probability = probability.where(leads, drop=True).max("lead_time")
    truth_level = truth.results["hazard_level"].isel(lead_time=0)
    truth_times = truth_level["time"].values
    end = truth_times.max() if truth_times.size else None
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for level, rank in zip(forecast.levels, forecast.ranks, strict=True):
        window = np.timedelta64(max(look_ahead, (windows or {}).get(level, look_ahead)))
        pairs_p, pairs_o = [], []
        for time in probability["time"].values:
            if end is None or time + window > end:
                continue
            later = (truth_times > time) & (truth_times <= time + window)
            if not later.any():
                continue
            happened = (truth_level.values[later] >= rank).any(axis=0)
            pairs_p.append(probability.sel(time=time, level=level).values)
            pairs_o.append(happened.astype(float))
        if pairs_p:
            pairs[level] = (np.concatenate(pairs_p), np.concatenate(pairs_o))
    return pairs


def reliability(
    forecast: HazardResults,
    truth: HazardResults,
    look_ahead: timedelta,
    windows: Mapping[str, timedelta] | None = None,
) -> pd.DataFrame:
    """:func:`reliability_pairs` as a reliability table per level (bins of 0.1)."""
    frames = [
        reliability_table(p, o, bins=10).assign(hazard=forecast.name, level=level)
        for level, (p, o) in reliability_pairs(forecast, truth, look_ahead, windows).items()
    ]
    columns = ["hazard", "level", "bin_lower", "bin_upper", "forecast_mean"]
    columns += ["observed_frequency", "count"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


def _agency_rows(
    hazard: str, paired: pd.DataFrame, levels: Sequence[str], label: str
) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        at = paired[paired["level"] == level]
        hits = int((at["their_start"].notna() & at["our_start"].notna()).sum())
        misses = int((at["their_start"].notna() & at["our_start"].isna()).sum())
        false_alarms = int((at["their_start"].isna() & at["our_start"].notna()).sum())
        differences = at["difference_min"].dropna()
        # Correct negatives do not exist for event matching; no score used here needs them.
        table = ContingencyTable(hits, misses, false_alarms, correct_negatives=0)
        rows.append(
            _skill_row(
                hazard,
                level,
                label,
                hits=hits,
                misses=misses,
                false_alarms=false_alarms,
                pod=table.pod,
                far=table.far,
                csi=table.csi,
                bias=table.frequency_bias,
                events=hits + misses,
                agency_median_min=float(differences.median()) if len(differences) else np.nan,
            )
        )
    return rows


def _skill_row(hazard: str, level: str, truth: str, **scores: Any) -> dict[str, Any]:
    """A row of ``skill.csv``: the given scores, NaN for the rest."""
    return {**dict.fromkeys(SKILL_COLUMNS, np.nan), "hazard": hazard, "level": level} | {
        "truth": truth,
        **scores,
    }


def _skill_rows(
    hazard: str, table: pd.DataFrame, levels: Sequence[str], truth: str
) -> list[dict[str, Any]]:
    summary = lead_time_summary(table) if not table.empty else None
    rows = []
    for level in levels:
        if summary is None or level not in summary.index:
            counts = {"hits": 0, "misses": 0, "false_alarms": 0, "events": 0}
            rows.append(_skill_row(hazard, level, truth, **counts))
            continue
        s = summary.loc[level].to_dict()
        hits, misses, false_alarms = int(s["hits"]), int(s["misses"]), int(s["false_alarms"])
        rows.append(
            _skill_row(
                hazard,
                level,
                truth,
                hits=hits,
                misses=misses,
                false_alarms=false_alarms,
                pod=s["pod"],
                far=s["far"],
                csi=s["csi"],
                bias=ContingencyTable(hits, misses, false_alarms, 0).frequency_bias,
                events=hits + misses,
                lead_median_min=s["median_lead_time_min"],
                lead_p10_min=s["p10_lead_time_min"],
                lead_p90_min=s["p90_lead_time_min"],
                share_ge_60=s["share_lead_time_at_least_target"],
            )
        )
    return rows


def _git_revision() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return "unknown"
    return done.stdout.strip() or "unknown"


def _json_ready(frame: pd.DataFrame) -> list[dict[str, Any]]:
    text = frame.to_json(orient="records", date_format="iso", date_unit="s")
    return list(json.loads(text))


def verify(
    event: EventConfig, settings: Settings, folder: Path, *, report: bool = True
) -> Verification:
    """Score the replay of ``event`` in ``folder`` and write the tables and the report."""
    record_path = folder / "replay.json"
    if not record_path.exists():
        raise ConfigError(
            record_path, [("(file)", f"no replay here; run `yujing replay {event.name}` first")]
        )
    record = json.loads(record_path.read_text("utf-8"))
    warnings_path = folder / "warnings.csv"
    warnings = (
        pd.read_csv(warnings_path, dtype={"area": str, "communities": str})
        if warnings_path.exists() and warnings_path.stat().st_size
        else pd.DataFrame(columns=["cycle", "hazard", "communities"])
    )
    results = {name: load_results(folder, settings, name) for name in event.hazards}
    notes = [event.notes] if event.notes else []
    skill_rows: list[dict[str, Any]] = []
    lead_frames, reliability_frames, observed_frames = [], [], []
    agency_frames: list[pd.DataFrame] = []
    for hazard, check in event.verify.items():
        forecast = results.get(hazard)
        truth = results.get(check.truth) if check.truth else None
        if check.note:
            notes.append(f"{hazard}: {check.note}")
        if forecast is None:
            notes.append(f"{hazard}: no results in {folder} (every cycle failed?)")
            continue
        if check.agency is not None:
            cycles = list(pd.to_datetime(forecast.results["time"].values, utc=True))
            table, label, agency_notes = compare_with_agency(
                settings,
                check.agency,
                warnings,
                hazard,
                forecast.levels,
                forecast.ranks,
                cycles,
                event.every,
            )
            agency_frames.append(table)
            skill_rows += _agency_rows(hazard, table, forecast.levels, label)
            notes += [f"{hazard} vs {check.agency}: {n}" for n in agency_notes]
        if truth is None:
            if check.agency is None:
                skill_rows += [
                    _skill_row(hazard, level, "none: unscored") for level in forecast.levels
                ]
            continue
        if truth.levels != forecast.levels:
            raise ConfigError(
                settings.config_path,
                [(f"hazards.{check.truth}.scheme", "the truth must use the forecast's levels")],
            )
        scored = [level for level in forecast.levels if level not in check.unscored]
        onsets = observed_onsets(truth)
        # An event under way when the replay began could not have been warned in it.
        first_cycle = pd.Timestamp(truth.results["time"].values[0], tz="UTC")
        onsets = onsets[(onsets["onset"] > first_cycle) & onsets["level"].isin(scored)]
        observed_frames.append(onsets.assign(hazard=hazard))
        periods = warning_periods(warnings, hazard, event.every)
        table = warning_lead_times(
            periods,
            onsets.rename(columns={"community": "area"}),
            forecast.levels,
            late_window=check.late_window,
        )
        # Every level is matched (a higher warning covers a lower event); the unscored
        # levels' rows are dropped afterwards.
        table = table[table["level"].isin(scored)]
        truth_label = f"{check.truth} ({record['models'].get(check.truth, '?')})"
        by_level = {row["level"]: row for row in _skill_rows(hazard, table, scored, truth_label)}
        for level, reason in check.unscored.items():
            by_level[level] = _skill_row(hazard, level, "unscored: see the notes")
            notes.append(f"{hazard} {level}: unscored, {reason}")
        skill_rows += [by_level[level] for level in forecast.levels]
        events = table[table["outcome"] != "false_alarm"]
        lead_frames.append(
            pd.DataFrame(
                {
                    "hazard": hazard,
                    "level": events["level"],
                    "community": events["area"],
                    "observed_onset": events["onset"],
                    "first_warned": events["first_warned"],
                    "lead_minutes": np.where(
                        events["outcome"] == "hit",
                        events["lead_time"].dt.total_seconds() / 60.0,
                        np.nan,
                    ),
                }
            )
        )
        policy = event.alerting.policy_of(hazard) if event.alerting else LifecyclePolicy()
        windows = None
        if forecast.results.attrs.get("probability_window") == "criteria":
            scheme = settings.scheme_of(hazard)
            windows = {lv.name: max(c.window for c in lv.criteria) for lv in scheme.levels}
        reliable = reliability(forecast, truth, policy.look_ahead, windows)
        if not reliable.empty:
            reliable = reliable[reliable["level"].isin(scored)]
        reliability_frames.append(reliable)
    skill = pd.DataFrame(skill_rows, columns=SKILL_COLUMNS)
    lead_times = _concat(
        lead_frames,
        ["hazard", "level", "community", "observed_onset", "first_warned", "lead_minutes"],
    )
    reliable = _concat(reliability_frames, [])
    agency = _concat(agency_frames, AGENCY_COLUMNS)
    observed = _concat(observed_frames, ["hazard", "community", "level", "rank", "onset"])
    provenance = {
        "event": f"{event.name}: {event.title}",
        "time_span": f"{record['first_cycle']} .. {record['last_cycle']} every {record['every']}"
        f" ({record['cycles']} cycles{', shortened' if record.get('shortened') else ''})",
        "settings": record["settings"],
        "data_sources": record["sources"],
        "model_versions": record["models"],
        "deliveries": record.get("deliveries", {}),
        "git_revision": _git_revision(),
        "definitions": "yujing/verify.py module docstring; DESIGN.md 'Lead time'",
    }
    write_bytes_atomic(folder / "skill.csv", skill.to_csv(index=False).encode())
    write_bytes_atomic(folder / "lead_times.csv", lead_times.to_csv(index=False).encode())
    write_bytes_atomic(folder / "reliability.csv", reliable.to_csv(index=False).encode())
    if not agency.empty:
        write_bytes_atomic(folder / "agency.csv", agency.to_csv(index=False).encode())
    document = {
        "provenance": provenance,
        "notes": notes,
        "skill": _json_ready(skill),
        "lead_times": _json_ready(lead_times),
        "reliability": _json_ready(reliable),
        "agency": _json_ready(agency),
    }
    write_bytes_atomic(
        folder / "verification.json", json.dumps(document, indent=1, ensure_ascii=False).encode()
    )
    outcome = Verification(
        skill,
        lead_times,
        reliable,
        observed,
        _timeline(warnings, event),
        provenance,
        notes,
        agency=agency,
    )
    if report:
        outcome.report = _write_report(event, settings, folder, outcome, results)
    return outcome


def _concat(frames: Sequence[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _timeline(warnings: pd.DataFrame, event: EventConfig) -> pd.DataFrame:
    """One row per warning (area and issue time): when it was in force, at which level."""
    columns = ["hazard", "area", "area_name", "level", "rank", "issued", "ended"]
    columns += ["communities", "lead_minutes"]
    if warnings.empty:
        return pd.DataFrame(columns=columns)
    frame = warnings.assign(
        cycle=pd.to_datetime(warnings["cycle"], utc=True),
        issued=pd.to_datetime(warnings["issued"], utc=True),
        onset=pd.to_datetime(warnings["onset"], utc=True),
    )
    last_cycle = frame["cycle"].max()
    rows = []
    for (hazard, area, issued), group in frame.groupby(["hazard", "area", "issued"], sort=True):
        group = group.sort_values("cycle")
        # Each level spell within the warning is its own bar.
        spell = (group["level"] != group["level"].shift()).cumsum()
        for _, part in group.groupby(spell):
            first, last = part.iloc[0], part.iloc[-1]
            ended = last["cycle"] + pd.Timedelta(event.every)
            onset = first["onset"]
            rows.append(
                {
                    "hazard": hazard,
                    "area": area,
                    "area_name": first["area_name"],
                    "level": first["level"],
                    "rank": int(part["rank"].iloc[0]),
                    "issued": first["cycle"],
                    "ended": pd.NaT if last["cycle"] == last_cycle else ended,
                    "communities": len(str(first["communities"]).split()),
                    "lead_minutes": (onset - issued).total_seconds() / 60
                    if pd.notna(onset)
                    else np.nan,
                }
            )
    return pd.DataFrame(rows, columns=columns)


def _write_report(
    event: EventConfig,
    settings: Settings,
    folder: Path,
    outcome: Verification,
    results: Mapping[str, HazardResults | None],
) -> Path:
    from yujing.report import write_report

    region = load_region(settings.region, settings.communities, settings.cache_directory)
    levels: dict[str, xr.DataArray] = {}
    for name, found in results.items():
        if found is None:
            continue
        risk = found.results["risk_level"]
        if found.results.sizes["lead_time"] > 1:
            label, risk = f"{name}: highest risk level forecast", risk.max("lead_time")
        else:
            label, risk = f"{name}: risk level at the issue time", risk.isel(lead_time=0)
        extra = [c for c in risk.coords if c != "time"]
        levels[label] = risk.drop_vars(extra).transpose("time", "community")
    return write_report(
        folder,
        title=event.title,
        provenance=outcome.provenance,
        communities=region.communities,
        levels=levels,
        warnings=outcome.warnings,
        observed=outcome.observed,
        lead_times=outcome.lead_times,
        skill=outcome.skill,
        reliability=outcome.reliability,
        notes=outcome.notes,
        agency=outcome.agency,
    )
