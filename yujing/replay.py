"""Replay a real event as if live: one cycle per issue time, only what was known then.

An event is a YAML file in ``configs/events/``::

    name: mangkhut-2018
    title: Typhoon Mangkhut (1822) over Shenzhen
    settings: ../shenzhen.yaml          # the deployment configuration it runs on
    hazards:                            # which hazards, with per-event overrides
      typhoon: {inputs: {track: jma_mangkhut}}
    start: 2018-09-14T01:00Z            # first and last issue time (UTC)
    end: 2018-09-17T07:00Z
    every: 6 h

Each cycle is :func:`yujing.pipeline.run_cycle` at that issue time, which reads every input
through :func:`~yujing.pipeline.load_input` (the source's latency applied) and whose models
refuse data after the issue time (:func:`ingest.contracts.assert_no_lookahead`); a best
track becomes a forecast through the baseline forecaster trained on earlier seasons only.
Results go to ``<output>/<event>/<region code>/<hazard>/<stamp>.nc`` and one row per cycle
and hazard to ``<output>/<event>/summary.csv`` (written atomically).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from hazard_models import get_model
from hazard_models.config import Duration, Frozen
from hazard_models.region import load_region
from ingest.contracts import utc_instant
from ingest.errors import ContractError, LookAheadError
from ingest.storage import write_bytes_atomic
from yujing.errors import ConfigError
from yujing.pipeline import Loader, as_delivered, read_configured, run_cycle
from yujing.replay_alerting import HazardAlerting, ReplayAlerting
from yujing.settings import Settings, WarningConfig, load_settings
from yujing.warn import alerting_setups

__all__ = [
    "EventAlerting",
    "EventConfig",
    "EventHazard",
    "EventVerify",
    "ReplayResult",
    "SourceCache",
    "cycle_summary",
    "event_settings",
    "load_event",
    "replay",
]


class EventHazard(Frozen):
    """Per-event changes to a configured hazard: its inputs, scheme or options."""

    inputs: dict[str, str] = Field(default_factory=dict)
    scheme: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class EventAlerting(WarningConfig):
    """How a replay warns: which hazards, with which lifecycle, to whom.

    A replay has no duty forecaster: ``policy.confirm_levels`` must stay empty (every
    level is issued automatically), and the capture subscriber receives what the
    dispatcher delivers (:mod:`yujing.replay_alerting`). It uses its own SQLite store,
    never the deployment's ``alerting.database``.
    """

    sender: str = "yujing@replay.invalid"
    capture_rules: list[dict[str, Any]] = Field(default_factory=list)
    """Rules of the capture subscriber (as in a subscription request)."""

    @model_validator(mode="after")
    def _automatic(self) -> EventAlerting:
        for name, policy in self.policy.items():
            if policy.confirm_levels:
                raise ValueError(
                    f"policy.{name}.confirm_levels: a replay has no forecaster to confirm; "
                    "leave it empty"
                )
        return self


class EventVerify(Frozen):
    """What a hazard's warnings are verified against."""

    truth: str | None = None
    """A hazard of the event whose results are the observation (an observed model on
    data the warning model did not see at issue time), or none."""
    late_window: Duration = timedelta(hours=1)
    """How long after an observed onset a first warning still counts as a (late) hit,
    with negative lead time; later, the event is a miss and the warning a false alarm."""
    agency: str | None = None
    """A source of the settings holding an agency's own warnings of this hazard (reader
    ``hko-warnings``): its signal periods are compared with ours, level by level (hits,
    misses, false alarms, our issue time minus theirs)."""
    note: str = ""
    """Why there is no truth, or what it is; shown in the report."""
    unscored: dict[str, str] = Field(default_factory=dict)
    """Levels the truth cannot judge, each with the reason: listed as unscored, with no
    events, hits or false alarms counted for them."""


class EventConfig(Frozen):
    """A replayable event."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    settings: Path
    hazards: dict[str, EventHazard] = Field(min_length=1)
    start: datetime
    end: datetime
    every: Duration = timedelta(hours=6)
    notes: str = ""
    alerting: EventAlerting | None = None
    verify: dict[str, EventVerify] = Field(default_factory=dict)
    short_start: datetime | None = None
    short_end: datetime | None = None
    """First and last issue time of the shortened replay CI runs (``--short``); the
    event's own start and end where not given."""

    @field_validator("start", "end", "short_start", "short_end", mode="before")
    @classmethod
    def _aware(cls, value: Any) -> datetime | None:
        if value is None:
            return None
        try:
            return utc_instant(value, "time")
        except (ValueError, ContractError) as err:
            raise ValueError(str(err)) from None

    @model_validator(mode="after")
    def _ordered(self) -> EventConfig:
        if self.end < self.start:
            raise ValueError(f"end {self.end:%Y-%m-%dT%H:%MZ} is before start")
        if self.every <= timedelta(0):
            raise ValueError("every must be positive")
        for bound in (self.short_start, self.short_end):
            if bound is not None and not self.start <= bound <= self.end:
                raise ValueError("short_start and short_end must lie between start and end")
        hazards = set(self.hazards)
        named = [*(self.alerting.hazards if self.alerting else []), *self.verify]
        named += [v.truth for v in self.verify.values() if v.truth]
        unknown = sorted(set(named) - hazards)
        if unknown:
            raise ValueError(f"alerting/verify name {unknown}, not hazards of this event")
        if self.alerting is not None:
            for name in self.alerting.hazards:
                self.alerting.check_renewal(name, self.every, None, "the replay's cycles: every")
        return self

    def issue_times(self, short: bool = False) -> list[datetime]:
        """Every issue time from ``start`` to ``end`` inclusive (with ``short``, from
        ``short_start`` to ``short_end`` where given)."""
        start = (self.short_start if short else None) or self.start
        end = (self.short_end if short else None) or self.end
        times, moment = [], start
        while moment <= end:
            times.append(moment)
            moment += self.every
        return times


def load_event(
    path: Path | str, data_root: Path | str | None = None
) -> tuple[EventConfig, Settings]:
    """The event of ``path`` and its deployment settings restricted to the event's hazards.

    ``path`` may be a file or the name of a file in ``configs/events/``.

    Raises
    ------
    ConfigError
        Naming the file and key, for an unreadable event, an unknown hazard or source.
    """
    path = Path(path)
    if not path.exists() and path.suffix == "":
        path = Path(__file__).resolve().parents[1] / "configs" / "events" / f"{path}.yaml"
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(path, [("(file)", f"cannot read the event: {err}")]) from None
    if not isinstance(document, dict):
        raise ConfigError(path, [("(file)", "an event file is a mapping of keys")])
    try:
        event = EventConfig.model_validate(document)
    except ValidationError as err:
        raise ConfigError(
            path, [(".".join(map(str, e["loc"])) or "(file)", e["msg"]) for e in err.errors()]
        ) from None
    settings_path = event.settings if event.settings.is_absolute() else path.parent / event.settings
    settings = load_settings(settings_path, data_root=data_root)
    settings, problems = event_settings(event, settings)
    if problems:
        raise ConfigError(path, problems)
    return event, settings


def event_settings(
    event: EventConfig, settings: Settings
) -> tuple[Settings, list[tuple[str, str]]]:
    """``settings`` restricted to the event's hazards, with the event's inputs, scheme and
    options applied, and without the deployment's alerting (a replay warns through its own
    store, ``event.alerting``, never the deployment's); and the problems found, as
    ``(key, message)`` pairs naming the event's keys (none: the settings are usable)."""
    settings_name = settings.config_path.name
    hazards, problems = {}, []
    for name, change in event.hazards.items():
        if name not in settings.hazards:
            known = sorted(settings.hazards)
            problems.append((f"hazards.{name}", f"not a hazard of {settings_name}: {known}"))
            continue
        configured = settings.hazards[name]
        for input_name, source in change.inputs.items():
            if source not in settings.sources:
                known = sorted(settings.sources)
                where = f"hazards.{name}.inputs.{input_name}"
                problems.append((where, f"{source!r} is not a source of {settings_name}: {known}"))
        if change.scheme is not None and change.scheme not in settings.signal_schemes:
            known = sorted(settings.signal_schemes)
            problems.append((f"hazards.{name}.scheme", f"{change.scheme!r} is not one of {known}"))
        options = {**configured.options, **change.options}
        try:
            get_model(configured.model).Options.model_validate(options)
        except ValidationError as err:
            for e in err.errors():
                key = f"hazards.{name}.options.{'.'.join(map(str, e['loc']))}"
                problems.append((key, str(e["msg"])))
        hazards[name] = configured.model_copy(
            update={
                "inputs": {**configured.inputs, **change.inputs},
                "scheme": change.scheme or configured.scheme,
                "options": options,
            }
        )
    for name, check in event.verify.items():
        if check.agency is not None and check.agency not in settings.sources:
            known = sorted(settings.sources)
            problems.append(
                (f"verify.{name}.agency", f"{check.agency!r} is not a source of {known}")
            )
        if name in hazards and hazards[name].scheme in settings.signal_schemes:
            levels = [level.name for level in settings.signal_schemes[hazards[name].scheme].levels]
            strange = sorted(set(check.unscored) - set(levels))
            if strange:
                where = f"verify.{name}.unscored"
                problems.append((where, f"{strange} are not levels of {levels}"))
    return settings.model_copy(update={"hazards": hazards, "alerting": None}), problems


def _level_names(result: xr.Dataset) -> list[str]:
    return [str(name) for name in result["level"].values]


def cycle_summary(hazard: str, result: xr.Dataset) -> dict[str, Any]:
    """One row of the replay table: what a duty forecaster would read off a cycle.

    The highest level warranted anywhere at lead 0 and its earliest expected onset
    (``onset``), how many communities are at each level, the largest probability of each
    level, the earliest expected onset of each level, and for a typhoon the storm position
    at the forecast's base time.
    """
    names = _level_names(result)
    at_issue = result.isel(lead_time=0)
    if "signal" in result:
        signal = at_issue["signal"].values
        highest = int(signal.max())
        row: dict[str, Any] = {"signal": ["none", *names][highest]}
        for k, name in enumerate(names, start=1):
            row[f"communities {name}"] = int((signal >= k).sum())
    else:
        level = at_issue["hazard_level"].values
        ranks = list(result["level_rank"].values)
        row = {"signal": names[ranks.index(level.max())] if level.max() in ranks else "none"}
    for name in names:
        row[f"max P({name})"] = round(float(at_issue["probability"].sel(level=name).max()), 3)
    for name in names:
        onset = result["onset_time"].sel(level=name).values
        onset = onset[~np.isnat(onset)]
        row[f"onset {name}"] = (
            pd.Timestamp(onset.min()).strftime("%Y-%m-%dT%H:%MZ") if onset.size else ""
        )
    if row["signal"] in names:
        row["onset"] = row[f"onset {row['signal']}"]
    if "track_lat" in result and result.sizes.get("track_time", 0):
        row["storm lat"] = round(float(result["track_lat"][0]), 2)
        row["storm lon"] = round(float(result["track_lon"][0]), 2)
        row["storm psl hPa"] = round(float(result["track_psl_min"][0]), 1)
    if result.attrs.get("no_storm"):
        row["note"] = str(result.attrs["no_storm"])
    return {"hazard": hazard, **row}


class SourceCache:
    """Each source read once per replay; each cycle gets what had arrived by its time.

    ``cache(name, issue_time)`` is the source cut at ``issue_time`` minus the source's
    ``latency`` and, for station observations, quality-controlled on that cut
    (:func:`~yujing.pipeline.as_delivered`), exactly what
    :func:`~yujing.pipeline.load_input` gives a live cycle, without reading the files
    again. The models check the cut again (:func:`ingest.contracts.assert_no_lookahead`).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._read: dict[str, xr.Dataset] = {}

    def __call__(self, name: str, issue_time: datetime) -> xr.Dataset:
        if name not in self._read:
            self._read[name] = read_configured(self._settings, name)
        return as_delivered(self._settings, name, self._read[name], issue_time)


@dataclass
class ReplayResult:
    """What a replay produced: the per-cycle table, where it went, and any failures."""

    event: EventConfig
    summary: pd.DataFrame
    folder: Path
    failures: dict[str, str]
    deliveries: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cycles: int = 0


def _alerting(
    event: EventConfig, settings: Settings, folder: Path, communities: xr.Dataset
) -> ReplayAlerting | None:
    if event.alerting is None:
        return None
    setups = alerting_setups(event.alerting, settings, communities, "yujing replay")
    hazards = {
        name: HazardAlerting(setup, settings.scheme_of(name).hazard)
        for name, setup in setups.items()
    }
    return ReplayAlerting(folder, hazards, event.alerting.capture_rules, communities)


def replay(
    event: EventConfig,
    settings: Settings,
    output: Path | None = None,
    progress: Callable[[datetime], None] | None = None,
    *,
    short: bool = False,
    loader: Loader | None = None,
) -> ReplayResult:
    """Run every cycle of ``event``: hazards, then alerting; write results and tables.

    Per cycle: :func:`~yujing.pipeline.run_cycle` with each source cut at the issue time
    (``loader``, by default a :class:`SourceCache`), then for each warning hazard the
    alerting cycle and the dispatcher (:mod:`yujing.replay_alerting`). A hazard whose
    input is bad at one cycle is recorded (``failures``, keyed ``"<stamp> <hazard>"``)
    and the replay goes on, as the live system would; data from after the issue time
    (:class:`~ingest.errors.LookAheadError`) stops the replay, since every score after it
    would be void. Writes ``summary.csv``, ``replay.json`` (provenance, timings) and, with
    alerting, ``alerts.db``, ``warnings.csv`` and ``deliveries.jsonl``.
    """
    started = time.perf_counter()
    folder = (output or settings.output_directory / "replay") / event.name
    region = load_region(settings.region, settings.communities, settings.cache_directory)
    loader = loader or SourceCache(settings)
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    models: dict[str, str] = {}
    issue_times = event.issue_times(short)
    alerting = _alerting(event, settings, folder, region.communities)
    deliveries: dict[str, int] = {}
    try:
        for issue_time in issue_times:
            cycle = run_cycle(settings, issue_time, output_dir=folder, region=region, loader=loader)
            for error in cycle.errors.values():
                if isinstance(error, LookAheadError):
                    raise error
            stamp = issue_time.strftime("%Y-%m-%dT%H:%MZ")
            for hazard, problem in cycle.failures.items():
                failures[f"{stamp} {hazard}"] = problem
                rows.append({"issue_time": stamp, "hazard": hazard, "signal": "FAILED"})
            for hazard, result in cycle.results.items():
                rows.append({"issue_time": stamp, **cycle_summary(hazard, result)})
                models[hazard] = f"{result.attrs.get('model')} {result.attrs.get('model_version')}"
                if alerting is not None and hazard in alerting.hazards:
                    alerting.cycle(hazard, result, issue_time)
            if progress is not None:
                progress(issue_time)
        if alerting is not None:
            deliveries = alerting.finish()
    finally:
        if alerting is not None:
            alerting.close()
    seconds = time.perf_counter() - started
    table = pd.DataFrame(rows)
    summary = table.astype(object).where(table.notna(), "")
    write_bytes_atomic(folder / "summary.csv", summary.to_csv(index=False).encode())
    record = {
        "event": event.name,
        "title": event.title,
        "settings": str(settings.config_path),
        "first_cycle": issue_times[0].isoformat(),
        "last_cycle": issue_times[-1].isoformat(),
        "every": str(event.every),
        "cycles": len(issue_times),
        "shortened": short and (event.short_start or event.short_end) is not None,
        "sources": {
            name: f"{settings.sources[name].reader}: {settings.source_path(name)}"
            for name in sorted({s for h in settings.hazards.values() for s in h.inputs.values()})
        },
        "models": models,
        "failures": failures,
        "deliveries": deliveries,
        "seconds": round(seconds, 2),
    }
    write_bytes_atomic(folder / "replay.json", json.dumps(record, indent=1).encode())
    return ReplayResult(
        event=event,
        summary=summary,
        folder=folder,
        failures=failures,
        deliveries=deliveries,
        seconds=seconds,
        cycles=len(issue_times),
    )
