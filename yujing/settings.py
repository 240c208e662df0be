"""Settings: one YAML file in ``configs/`` parsed into frozen, validated objects.

``load_settings(path)`` is the only place configuration is read; the result is passed into
everything else. Relative paths are relative to the configuration file, and
``{data_root}`` stands for the shared data folder: the ``YUJING_DATA_ROOT`` environment
variable if set, else the file's ``data_root`` key. Every problem is reported with the
file, the dotted key and the fix (:class:`~yujing.errors.ConfigError`).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, model_validator

from alerting.health import HealthReport, assess_store
from alerting.lifecycle import LifecyclePolicy
from alerting.outbox.store import AlertStore
from hazard_models import get_model
from hazard_models.config import (
    CYCLE_INTERVALS,
    CYCLES,
    CommunityLayerConfig,
    Duration,
    ExistingPath,
    Frozen,
    HazardConfig,
    RegionConfig,
    RiskConfig,
    SignalScheme,
    resolve_option_paths,
)
from ingest.http import FetchOptions
from ingest.qc import QcConfig
from ingest.readers import get_reader, is_folder_reader
from yujing.compute import ComputeConfig
from yujing.errors import ConfigError

__all__ = [
    "AlertingConfig",
    "FetchConfig",
    "FileNames",
    "OutputConfig",
    "Settings",
    "SourceConfig",
    "WarningConfig",
    "WatchdogConfig",
    "load_settings",
]


_Options = TypeVar("_Options", bound=BaseModel)


def _check_options(options: type[_Options], values: dict[str, Any], owner: str) -> _Options:
    """Validate a reader's or model's options, re-raising with the option's key named."""
    try:
        return options.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(
            f"options.{'.'.join(map(str, e['loc']))}: "
            + (
                "unknown option; allowed: " + ", ".join(sorted(options.model_fields))
                if e["type"] == "extra_forbidden"
                else str(e["msg"]).removeprefix("Value error, ")
            )
            for e in err.errors()
        )
        raise ValueError(f"{owner}: {problems}") from None


class FetchConfig(Frozen):
    """Where an HTTP source is fetched from: a base URL and the endpoints polled each cycle.

    ``options`` are :class:`ingest.http.FetchOptions` (timeouts, retries, rate limit).
    Snapshots land in ``landing`` (default ``<store>/_raw/<source name>``), which is what
    the source's reader reads.
    """

    base_url: str = Field(pattern=r"^https?://[^/]+")
    endpoints: list[str] = Field(min_length=1)
    options: FetchOptions = Field(default_factory=FetchOptions)
    landing: Path | None = None


class FileNames(Frozen):
    """How the files of a source folder are named, so that a cycle reads only its window.

    ``time`` is a ``strftime`` pattern of whole file names, in UTC (e.g.
    ``RAD_NL25_RAP_5min_%Y%m%d%H%M.h5``); ``tolerance`` how far that time may lie from the
    times of the data in the file (:mod:`ingest.selection`).
    """

    time: str = Field(min_length=2)
    tolerance: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _has_a_time(self) -> FileNames:
        if not any(code in self.time for code in ("%Y", "%y", "%s")):
            raise ValueError(
                f"time: {self.time!r} has no year; write the whole name with its time, "
                "e.g. 'RAD_NL25_RAP_5min_%Y%m%d%H%M.h5'"
            )
        return self


class SourceConfig(Frozen):
    """A data source: the registered reader that reads it, where, and the reader's options.

    ``latency`` is how long after its time label a step of this source becomes available
    (radar a few minutes, NWP hours): the store's catalogue answers "as of T" with it.
    ``history`` is how far back a cycle reads the source from the store.
    ``min_valid_fraction`` is the share of good values (stations reporting, pixels present)
    a step needs to count as complete. ``qc`` holds quality-control thresholds for station
    sources (defaults: :class:`ingest.qc.config.QcConfig`).
    """

    reader: str
    path: ExistingPath | None = None
    fetch: FetchConfig | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    latency: Duration = timedelta(0)
    history: Duration = timedelta(hours=24)
    min_valid_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    qc: QcConfig = Field(default_factory=QcConfig)
    files: FileNames | None = None
    retention: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _option_paths(cls, data: Any, info: ValidationInfo) -> Any:
        """Resolve the reader's path options like every other path of the file."""
        return resolve_option_paths(data, "reader", lambda name: get_reader(name).Options, info)

    @model_validator(mode="after")
    def _reader_and_options(self) -> SourceConfig:
        if (self.path is None) == (self.fetch is None):
            raise ValueError(
                "give either 'path' (a local file or folder) or 'fetch' (an HTTP source)"
            )
        reader = get_reader(self.reader)
        _check_options(reader.Options, self.options, f"reader {self.reader!r}")
        if self.files is not None and (self.fetch is not None or not is_folder_reader(reader)):
            raise ValueError(
                f"files: reader {self.reader!r} reads one file, not a folder of them; remove "
                "'files'"
                if self.fetch is None
                else "files: an HTTP source's snapshots are named by their receive time "
                "already; remove 'files'"
            )
        if self.retention is not None and self.retention < self.history + self.latency:
            raise ValueError(
                f"retention: {self.retention} is shorter than history + latency "
                f"({self.history + self.latency}): a cycle would look for pruned data; keep "
                "at least that long"
            )
        return self

    @property
    def contract(self) -> str:
        """The data contract its reader delivers (``station observations`` ...)."""
        return get_reader(self.reader).contract

    def read_window(self) -> timedelta:
        """How far before a cycle's time its ingest reads (``history``, plus the QC's
        look-back for station sources); the files' name tolerance comes on top."""
        if self.contract == "station observations":
            return self.history + self.qc.lookback()
        return self.history


class OutputConfig(Frozen):
    """Where results and caches go (relative to the configuration file)."""

    directory: Path = Path("../out")
    cache_directory: Path = Path("../.cache/yujing")
    store_directory: Path = Path("../out/store")
    retention: Duration | None = None
    """How long hazard results (``<directory>/<region>/<hazard>/``) are kept
    (``yujing prune``); unset keeps them all."""


class WarningConfig(Frozen):
    """Which hazards warn, with which lifecycle, as which CAP sender (live or replayed)."""

    hazards: list[str] = Field(min_length=1)
    """Configured hazards whose results become warnings."""
    policy: dict[str, LifecyclePolicy] = Field(default_factory=dict)
    """Per hazard; the defaults of :class:`~alerting.lifecycle.LifecyclePolicy` otherwise."""
    sender: str
    """CAP sender, e.g. ``yujing@440300.example``."""
    sender_code: str = Field(pattern=r"^[0-9]{14}$")
    """CAP identifier prefix (GB/T 35965.1: admin code + agency code, 14 digits)."""

    def policy_of(self, hazard: str) -> LifecyclePolicy:
        """The lifecycle of ``hazard``: its configured policy, else the defaults."""
        return self.policy.get(hazard, LifecyclePolicy())

    def check_renewal(
        self, hazard: str, every: timedelta, paged_after: timedelta | None, where: str
    ) -> None:
        """Refuse a policy under which a warning of ``hazard``, its cycle running
        ``every`` (``where`` says which), could lapse unrenewed or unseen
        (:meth:`~alerting.lifecycle.LifecyclePolicy.lapse_risks`)."""
        risks = self.policy_of(hazard).lapse_risks(every, paged_after)
        if risks:
            raise ValueError(
                "; ".join(f"alerting.policy.{hazard}.{risk}" for risk in risks) + f" ({where})"
            )


class WatchdogConfig(Frozen):
    """When the warning service counts as failing or degraded (:mod:`alerting.health`)."""

    cycle_max_age: dict[str, Duration] = Field(
        default_factory=lambda: {"nowcast": timedelta(minutes=20), "daily": timedelta(hours=26)}
    )
    """Per scheduled cycle (``nowcast``: every 6 min; ``daily``: the heat outlook): how old
    the newest recorded warning cycle of a hazard may be (default three missed nowcast
    cycles and a bit, and a day and two hours)."""
    delivery_max_lag: Duration = timedelta(minutes=10)
    """How late the earliest due delivery may be before the dispatcher counts as stopped."""
    dead_letter_window: Duration = timedelta(hours=24)
    """Dead letters of deliveries created this recently degrade the status."""
    review_max_wait: Duration = timedelta(minutes=15)
    """How long a proposal kept for confirmation may wait for a forecaster."""
    dispatcher_silence: Duration | None = timedelta(minutes=2)
    """How long no dispatcher may poll the outbox (``yujing dispatch --until forever``
    beats every 30 s); null for none (a deployment that dispatches from a scheduler)."""

    def assess(
        self, alerts: AlertStore, now: datetime, cycle_max_age: Mapping[str, timedelta]
    ) -> HealthReport:
        """The warning service's health on ``alerts`` at ``now`` with these limits, each
        warning hazard's newest cycle held to ``cycle_max_age`` (by the store's hazard key;
        :func:`yujing.warn.cycle_max_ages`)."""
        return assess_store(
            alerts,
            now,
            max_age=cycle_max_age,
            delivery_max_lag=self.delivery_max_lag,
            dead_letter_window=self.dead_letter_window,
            review_max_wait=self.review_max_wait,
            dispatcher_silence=self.dispatcher_silence,
        )

    @model_validator(mode="after")
    def _known_cycles(self) -> WatchdogConfig:
        unknown = sorted(set(self.cycle_max_age) - set(CYCLES))
        if unknown:
            raise ValueError(
                f"cycle_max_age names {unknown}, which are not scheduled cycles; use {list(CYCLES)}"
            )
        return self


class AlertingConfig(WarningConfig):
    """How a deployment warns live (``yujing run --alert``, the warning-cycle DAG)."""

    sender_name: str = "yujing"
    database: str = "sqlite:///{output}/alerts.db"
    """SQLAlchemy URL of the alert and subscription store, e.g.
    ``postgresql+psycopg://yujing@db/yujing``; ``{output}`` stands for the output folder.
    Its schema is created or migrated with ``yujing alerts upgrade``."""
    watchdog: WatchdogConfig = Field(default_factory=WatchdogConfig)
    """When ``/health`` and ``yujing alerts status`` report failing."""


class Settings(Frozen):
    """The whole configuration of one deployment (region)."""

    config_path: Path
    data_root: Path
    region: RegionConfig
    communities: CommunityLayerConfig
    sources: dict[str, SourceConfig]
    signal_schemes: dict[str, SignalScheme]
    hazards: dict[str, HazardConfig]
    risk: RiskConfig
    output: OutputConfig = Field(default_factory=OutputConfig)
    alerting: AlertingConfig | None = None
    compute: ComputeConfig = Field(default_factory=ComputeConfig)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        if self.alerting is not None:
            for name in [*self.alerting.hazards, *self.alerting.policy]:
                if name not in self.hazards:
                    raise ValueError(
                        f"alerting: {name!r} is not a configured hazard; use one of "
                        f"{sorted(self.hazards)}"
                    )
            warned = [
                self.signal_schemes[self.hazards[name].scheme].hazard
                for name in self.alerting.hazards
                if self.hazards[name].scheme in self.signal_schemes
            ]
            twice = sorted({hazard for hazard in warned if warned.count(hazard) > 1})
            if twice:
                raise ValueError(
                    f"alerting.hazards: more than one warns on {twice} (the alert store keeps "
                    "one set of warnings per hazard); keep one of them"
                )
            for name, policy in self.alerting.policy.items():
                scheme = self.signal_schemes.get(self.hazards[name].scheme)
                levels = [level.name for level in scheme.levels] if scheme else []
                unknown = sorted(set(policy.confirm_levels) - set(levels))
                if scheme and unknown:
                    raise ValueError(
                        f"alerting.policy.{name}.confirm_levels: {unknown} are not levels of "
                        f"scheme {self.hazards[name].scheme!r}: {levels}"
                    )
            for name in self.alerting.hazards:
                kind = self.hazards[name].cycle
                self.alerting.check_renewal(
                    name,
                    CYCLE_INTERVALS[kind],
                    self.alerting.watchdog.cycle_max_age.get(kind),
                    f"{name} runs in the {kind} cycle",
                )
        for name, hazard in self.hazards.items():
            if hazard.scheme not in self.signal_schemes:
                raise ValueError(
                    f"hazards.{name}.scheme: {hazard.scheme!r} is not a signal scheme; "
                    f"use one of {sorted(self.signal_schemes)}"
                )
            model = get_model(hazard.model)
            scheme = self.signal_schemes[hazard.scheme]
            if scheme.hazard != model.hazard:
                raise ValueError(
                    f"hazards.{name}: model {hazard.model!r} is for {model.hazard!r} but scheme "
                    f"{hazard.scheme!r} is for {scheme.hazard!r}"
                )
            options = _check_options(
                model.Options, hazard.options, f"hazards.{name}: model {hazard.model!r}"
            )
            problems = options.scheme_problems(scheme)
            if problems:
                raise ValueError(f"hazards.{name}.options." + "; ".join(problems))
            for input_name, source in hazard.inputs.items():
                if input_name not in model.inputs:
                    raise ValueError(
                        f"hazards.{name}.inputs: model {hazard.model!r} has no input "
                        f"{input_name!r}; its inputs are {sorted(model.inputs)}"
                    )
                if source not in self.sources:
                    raise ValueError(
                        f"hazards.{name}.inputs.{input_name}: {source!r} is not a source; use "
                        f"one of {sorted(self.sources)}"
                    )
        return self

    def resolve(self, path: Path) -> Path:
        """A path from the configuration, made absolute relative to the configuration file."""
        return path if path.is_absolute() else (self.config_path.parent / path).resolve()

    @property
    def output_directory(self) -> Path:
        """Absolute folder for results."""
        return self.resolve(self.output.directory)

    def source_path(self, name: str, store_root: Path | None = None) -> Path:
        """What the reader of source ``name`` reads: its path, or its fetch landing folder
        (default ``<store>/_raw/<name>``, the store being ``store_root`` if given)."""
        source = self.sources[name]
        if source.path is not None:
            return source.path
        assert source.fetch is not None
        if source.fetch.landing is not None:
            return self.resolve(source.fetch.landing)
        return (store_root or self.store_directory) / "_raw" / name

    def hazards_in(self, cycle: str | None) -> dict[str, HazardConfig]:
        """The configured hazards of the scheduled ``cycle`` (``nowcast`` or ``daily``;
        ``None``: every hazard).

        Raises
        ------
        ValueError
            If ``cycle`` is not one of :data:`hazard_models.config.CYCLES`.
        """
        if cycle is None:
            return dict(self.hazards)
        if cycle not in CYCLES:
            raise ValueError(f"unknown cycle {cycle!r}; choose one of {list(CYCLES)}")
        return {name: hazard for name, hazard in self.hazards.items() if hazard.cycle == cycle}

    def scheme_of(self, hazard: str) -> SignalScheme:
        """The signal scheme of the configured hazard ``hazard``."""
        return self.signal_schemes[self.hazards[hazard].scheme]

    @property
    def alert_database(self) -> str:
        """The alert store's SQLAlchemy URL, ``{output}`` replaced by the output folder."""
        if self.alerting is None:
            raise ConfigError(
                self.config_path,
                [("alerting", "is not configured; add hazards, sender and sender_code to warn")],
            )
        return self.alerting.database.replace("{output}", str(self.output_directory))

    @property
    def store_directory(self) -> Path:
        """Absolute folder of the ingest store (partitions and catalogue)."""
        return self.resolve(self.output.store_directory)

    @property
    def cache_directory(self) -> Path:
        """Absolute folder for caches (community layer, weights)."""
        return self.resolve(self.output.cache_directory)


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model class that holds the key at ``loc`` (best effort)."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            args = [a for a in getattr(current, "__args__", ()) if isinstance(a, type)]
            models = [a for a in args if issubclass(a, BaseModel)]
            current = models[0] if models else current
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _describe(error: Any, root: type[BaseModel]) -> tuple[str, str]:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        owner = _model_at(root, loc)
        allowed = sorted(owner.model_fields) if owner else []
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        return key, f"unknown key{hint}; allowed keys here: {', '.join(allowed)}"
    if error["type"] == "missing":
        return key, "is required; add it"
    return key, message


def load_settings(path: Path | str, data_root: Path | str | None = None) -> Settings:
    """Read, validate and freeze the configuration in ``path``.

    Raises
    ------
    ConfigError
        Listing every problem with its dotted key and the fix.
    """
    path = Path(path).resolve()
    if not path.exists():
        raise ConfigError(path, [("(file)", "does not exist; give the path of a YAML file")])
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(path, [("(file)", f"is not valid YAML: {err}")]) from None
    if not isinstance(document, dict):
        raise ConfigError(path, [("(file)", "must be a mapping of keys to values")])
    document = dict(document)
    configured_root = document.pop("data_root", None)
    root_text = data_root or os.environ.get("YUJING_DATA_ROOT") or configured_root
    if root_text is None:
        raise ConfigError(path, [("data_root", "is not set; add it or set YUJING_DATA_ROOT")])
    root = Path(root_text)
    root = (root if root.is_absolute() else path.parent / root).resolve()
    if not root.is_dir():
        raise ConfigError(
            path,
            [
                (
                    "data_root",
                    f"{root} is not a folder; set data_root or YUJING_DATA_ROOT to the "
                    "shared data folder",
                )
            ],
        )
    document.update(config_path=path, data_root=root)
    try:
        return Settings.model_validate(document, context={"base": path.parent, "data_root": root})
    except ValidationError as err:
        problems = [_describe(error, Settings) for error in err.errors()]
        raise ConfigError(path, problems) from None
    except ValueError as err:
        raise ConfigError(path, [("(references)", str(err))]) from None
