"""Hourly observed-rainstorm cycle: run every configured hazard and publish the result.

The DAG ``yujing_rainstorm_observed`` has one task, ``run_observed_cycle``, which calls
:func:`yujing.pipeline.run_cycle` for the run's ``data_interval_end`` (the time the run is
for, taken as the issue time) and returns the written files as ``{hazard: path}`` strings
(an XCom). Re-running a run rewrites the same files, keyed by that issue time.

When the cycle wrote a rainstorm result, the task updates the asset
``yujing://<region code>/rainstorm`` (for Shenzhen ``yujing://440300/rainstorm``), with
``{"region", "issue_time", "path"}`` in the event's ``extra``, so downstream DAGs
(alerting) can be scheduled on it.

Configuration
-------------
Which YAML file to use is decided inside the task, at run time, in this order:

1. the ``config`` param given when the run is triggered;
2. the ``YUJING_CONFIG`` environment variable of the worker;
3. ``configs/shenzhen.yaml``, the reference deployment.

A relative path is taken relative to the ``YUJING_HOME`` environment variable (the yujing
checkout or deployment folder), never to the worker's working directory.

The asset's region is fixed when the file is parsed, so it comes from the ``YUJING_REGION``
environment variable (a region code as in the config's ``region.code``; default
``440300``, which matches ``configs/shenzhen.yaml``). A run whose configuration is for
another region fails rather than publish an event under the wrong region.

Parsing this file imports only the standard library and ``airflow.sdk``; the yujing
packages, xarray and dask are imported inside the task. The task uses dask's threaded
scheduler: worker processes of a ``LocalCluster`` cannot be started from an Airflow task.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, task

__all__ = ["DEFAULT_CONFIG", "RAINSTORM", "REGION", "issue_time_of", "resolve_config_path"]

DEFAULT_CONFIG = "configs/shenzhen.yaml"
REGION = os.environ.get("YUJING_REGION", "440300")
RAINSTORM = Asset(uri=f"yujing://{REGION}/rainstorm", name=f"yujing://{REGION}/rainstorm")


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


def issue_time_of(data_interval_end: datetime | None) -> datetime:
    """The run's issue time as a standard-library, timezone-aware UTC ``datetime``.

    Airflow passes a pendulum ``DateTime``; the pipeline wants a plain ``datetime``.
    """
    if data_interval_end is None:
        raise ValueError(
            "the run has no data interval end; trigger it with a logical date (the issue time)"
        )
    if data_interval_end.tzinfo is None:
        raise ValueError(f"data interval end {data_interval_end} has no timezone")
    return datetime.fromisoformat(data_interval_end.isoformat()).astimezone(UTC)


@dag(
    dag_id="yujing_rainstorm_observed",
    description="Observed rainstorm hazard and risk per community, every hour",
    # A trigger timetable: the run at 03:00 UTC has data_interval_end (issue time) 03:00.
    schedule=CronTriggerTimetable("0 * * * *", timezone="UTC"),
    # No start_date: a task whose start_date is after a run's logical date gets no task
    # instance, which would make replays of past events (dag.test, backfills) do nothing.
    # catchup=False keeps the scheduler to the latest hour.
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=55),
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        # True (doubling) is accepted by every Airflow 3.x; newer versions also take a float.
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
    },
    params={
        "config": Param(
            None,
            type=["null", "string"],
            description=(
                "YAML configuration; empty means $YUJING_CONFIG, else "
                f"{DEFAULT_CONFIG}. Relative paths are relative to $YUJING_HOME."
            ),
        ),
    },
    tags=["yujing", "rainstorm"],
    doc_md=__doc__,
)
def yujing_rainstorm_observed() -> None:
    """Hourly observed-rainstorm cycle."""

    @task(outlets=[RAINSTORM])
    def run_observed_cycle(
        params: dict[str, Any] | None = None,
        data_interval_end: datetime | None = None,
        outlet_events: Any = None,
    ) -> dict[str, str]:
        """Run the cycle for the data interval end; return ``{hazard: written path}``."""
        import dask

        from yujing.pipeline import run_cycle
        from yujing.settings import load_settings

        config = resolve_config_path((params or {}).get("config"), os.environ)
        issue_time = issue_time_of(data_interval_end)
        settings = load_settings(config)
        if "rainstorm" not in settings.hazards:
            raise ValueError(
                f"{config} configures no 'rainstorm' hazard (it has "
                f"{', '.join(sorted(settings.hazards)) or 'none'}); add one under 'hazards'"
            )
        if settings.region.code != REGION:
            raise ValueError(
                f"{config} is for region {settings.region.code!r} but this DAG publishes "
                f"{RAINSTORM.uri}; set YUJING_REGION={settings.region.code} where the DAG is "
                f"parsed and run, or use a configuration for region {REGION!r}"
            )
        with dask.config.set(scheduler="threads"):
            cycle = run_cycle(settings, issue_time)
        if outlet_events is not None:
            outlet_events[RAINSTORM].extra = {
                "region": settings.region.code,
                "issue_time": issue_time.isoformat(),
                "path": str(cycle.paths["rainstorm"]),
            }
        return {hazard: str(path) for hazard, path in cycle.paths.items()}

    run_observed_cycle()


yujing_rainstorm_observed()
