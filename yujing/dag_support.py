"""What the Airflow DAGs in ``dags/`` share, imported inside their tasks (never at parse time).

Parsing a DAG file imports only the standard library and ``airflow.sdk``; the tasks, which
run where yujing is installed, import this module for the run's configuration and times.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from yujing.settings import Settings, load_settings

__all__ = [
    "DEFAULT_CONFIG",
    "TaskRun",
    "check_region",
    "issue_time_of",
    "resolve_config_path",
    "task_run",
]

DEFAULT_CONFIG = "configs/shenzhen.yaml"


def resolve_config_path(param: str | None, environ: Mapping[str, str]) -> Path:
    """Configuration path: the ``config`` param, else ``YUJING_CONFIG``, else the default.

    Relative paths are resolved against ``YUJING_HOME``.

    Raises
    ------
    ValueError
        If the path is relative and ``YUJING_HOME`` is not set.
    """
    text = param or environ.get("YUJING_CONFIG") or DEFAULT_CONFIG
    path = Path(text).expanduser()
    if path.is_absolute():
        return path
    home = environ.get("YUJING_HOME")
    if not home:
        raise ValueError(
            f"configuration path {text!r} is relative and YUJING_HOME is not set; set "
            "YUJING_HOME to the yujing folder, or give an absolute path in the 'config' param "
            "or in YUJING_CONFIG"
        )
    return Path(home).expanduser() / path


def issue_time_of(
    logical_date: datetime | None, data_interval_end: datetime | None = None
) -> datetime:
    """The run's issue time (or as-of time) as a standard-library, aware UTC ``datetime``.

    The run's logical date: the cron tick of a scheduled run (the DAGs' trigger timetables
    give it as logical date and as data interval end alike), the date a manual run or a
    backfill asks for. Airflow 3 gives a manual run the data interval of the moment it was
    triggered whatever date it asks for, so the data interval end serves only a run without
    a logical date (a manual run "now"). Airflow passes pendulum ``DateTime``s; the pipeline
    wants a plain ``datetime``.
    """
    when = logical_date if logical_date is not None else data_interval_end
    if when is None:
        raise ValueError(
            "the run has neither a logical date nor a data interval end; trigger it with a "
            "logical date (the issue time)"
        )
    if when.tzinfo is None:
        raise ValueError(f"the run's time {when} has no timezone")
    return datetime.fromisoformat(when.isoformat()).astimezone(UTC)


def check_region(config: Path, configured: str, published: str, asset_uri: str) -> None:
    """Refuse a configuration for another region than the DAG's asset was parsed for.

    Raises
    ------
    ValueError
        Naming both regions and the ``YUJING_REGION`` setting that fixes it.
    """
    if configured != published:
        raise ValueError(
            f"{config} is for region {configured!r} but this DAG publishes {asset_uri}; set "
            f"YUJING_REGION={configured} where the DAG is parsed and run, or use a "
            f"configuration for region {published!r}"
        )


@dataclass(frozen=True)
class TaskRun:
    """What a DAG task runs on: its configuration file, issue time and settings."""

    config: Path
    issue_time: datetime
    settings: Settings


def task_run(
    params: Mapping[str, Any] | None,
    logical_date: datetime | None,
    data_interval_end: datetime | None,
    published_region: str,
    asset_uri: str,
    environ: Mapping[str, str],
) -> TaskRun:
    """The configuration (:func:`resolve_config_path`), issue time (:func:`issue_time_of`)
    and loaded settings of a task's run, its region checked against the DAG's asset
    (:func:`check_region`)."""
    config = resolve_config_path((params or {}).get("config"), environ)
    issue_time = issue_time_of(logical_date, data_interval_end)
    settings = load_settings(config)
    check_region(config, settings.region.code, published_region, asset_uri)
    return TaskRun(config, issue_time, settings)
