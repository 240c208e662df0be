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

from collections.abc import Callable
from dataclasses import dataclass
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
from ingest.errors import ContractError
from ingest.storage import write_bytes_atomic
from yujing.errors import ConfigError
from yujing.pipeline import run_cycle
from yujing.settings import Settings, load_settings

__all__ = ["EventConfig", "EventHazard", "ReplayResult", "cycle_summary", "load_event", "replay"]


class EventHazard(Frozen):
    """Per-event changes to a configured hazard: its inputs, scheme or options."""

    inputs: dict[str, str] = Field(default_factory=dict)
    scheme: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


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

    @field_validator("start", "end", mode="before")
    @classmethod
    def _aware(cls, value: Any) -> datetime:
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
        return self

    def issue_times(self) -> list[datetime]:
        """Every issue time from ``start`` to ``end`` inclusive."""
        times, moment = [], self.start
        while moment <= self.end:
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
    hazards, problems = {}, []
    for name, change in event.hazards.items():
        if name not in settings.hazards:
            known = sorted(settings.hazards)
            problems.append((f"hazards.{name}", f"not a hazard of {settings_path.name}: {known}"))
            continue
        configured = settings.hazards[name]
        for input_name, source in change.inputs.items():
            if source not in settings.sources:
                known = sorted(settings.sources)
                where = f"hazards.{name}.inputs.{input_name}"
                problems.append(
                    (where, f"{source!r} is not a source of {settings_path.name}: {known}")
                )
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
    if problems:
        raise ConfigError(path, problems)
    return event, settings.model_copy(update={"hazards": hazards})


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


@dataclass
class ReplayResult:
    """What a replay produced: the per-cycle table, where it went, and any failures."""

    event: EventConfig
    summary: pd.DataFrame
    folder: Path
    failures: dict[str, str]


def replay(
    event: EventConfig,
    settings: Settings,
    output: Path | None = None,
    progress: Callable[[datetime], None] | None = None,
) -> ReplayResult:
    """Run every cycle of ``event`` and write the results and ``summary.csv``.

    A failed hazard at one cycle is recorded (``failures``, keyed ``"<stamp> <hazard>"``) and
    the replay goes on, as the live system would.
    """
    folder = (output or settings.output_directory / "replay") / event.name
    region = load_region(settings.region, settings.communities, settings.cache_directory)
    rows: list[dict[str, Any]] = []
    failures: dict[str, str] = {}
    for issue_time in event.issue_times():
        cycle = run_cycle(settings, issue_time, output_dir=folder, region=region)
        stamp = issue_time.strftime("%Y-%m-%dT%H:%MZ")
        for hazard, problem in cycle.failures.items():
            failures[f"{stamp} {hazard}"] = problem
            rows.append({"issue_time": stamp, "hazard": hazard, "signal": "FAILED"})
        for hazard, result in cycle.results.items():
            rows.append({"issue_time": stamp, **cycle_summary(hazard, result)})
        if progress is not None:
            progress(issue_time)
    summary = pd.DataFrame(rows).fillna("")
    write_bytes_atomic(folder / "summary.csv", summary.to_csv(index=False).encode())
    return ReplayResult(event=event, summary=summary, folder=folder, failures=failures)
