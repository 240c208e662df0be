"""Hourly observed-rainstorm cycle: run the configured hazards and publish the result.

The DAG ``yujing_rainstorm_observed`` has one task, ``run_observed_cycle``, which calls
:func:`yujing.pipeline.run_cycle` for the run's logical date (the time the run is for, taken
as the issue time: :func:`yujing.dag_support.issue_time_of`) on the hazards of the
``nowcast`` cycle (those marked ``cycle: daily`` are the heat outlook's) and returns the
written files as ``{hazard: path}`` strings (an XCom). Re-running a run rewrites the same
files, keyed by that issue time.

When the cycle wrote a rainstorm result, the task updates the asset
``yujing://<region code>/rainstorm`` (for Shenzhen ``yujing://440300/rainstorm``), with
``{"region", "issue_time", "path"}`` in the event's ``extra``, so downstream DAGs
(alerting) can be scheduled on it.

Configuration
-------------
Which YAML file to use is decided inside the task, at run time
(:func:`yujing.dag_support.resolve_config_path`), in this order:

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
packages, xarray and dask are imported inside the task. The task runs its dask work where
the configuration's ``compute`` says (:mod:`yujing.compute`): local threads by default, or a
dask cluster by address (worker processes of a ``LocalCluster`` cannot be started from an
Airflow task).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, task

__all__ = ["RAINSTORM", "REGION"]

REGION = os.environ.get("YUJING_REGION", "440300")
RAINSTORM = Asset(uri=f"yujing://{REGION}/rainstorm", name=f"yujing://{REGION}/rainstorm")


@dag(
    dag_id="yujing_rainstorm_observed",
    description="Observed rainstorm hazard and risk per community, every hour",
    # A trigger timetable: the run at 03:00 UTC has logical date (issue time) 03:00.
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
                "configs/shenzhen.yaml. Relative paths are relative to $YUJING_HOME."
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
        logical_date: datetime | None = None,
        data_interval_end: datetime | None = None,
        outlet_events: Any = None,
    ) -> dict[str, str]:
        """Run the cycle for the data interval end; return ``{hazard: written path}``."""
        from yujing.compute import dask_compute
        from yujing.dag_support import task_run
        from yujing.pipeline import run_cycle

        run = task_run(params, logical_date, data_interval_end, REGION, RAINSTORM.uri, os.environ)
        settings, issue_time = run.settings, run.issue_time
        if "rainstorm" not in settings.hazards:
            raise ValueError(
                f"{run.config} configures no 'rainstorm' hazard (it has "
                f"{', '.join(sorted(settings.hazards)) or 'none'}); add one under 'hazards'"
            )
        with dask_compute(settings.compute):
            cycle = run_cycle(settings, issue_time, cycle="nowcast")
        if outlet_events is not None:
            outlet_events[RAINSTORM].extra = {
                "region": settings.region.code,
                "issue_time": issue_time.isoformat(),
                "path": str(cycle.paths["rainstorm"]),
            }
        return {hazard: str(path) for hazard, path in cycle.paths.items()}

    run_observed_cycle()


yujing_rainstorm_observed()
