"""The daily heat outlook: the hazards of the ``daily`` cycle, then their warnings.

The DAG ``yujing_heat_outlook`` has one task, ``outlook``, which runs every hazard the
configuration puts in the daily cycle (``hazards.<name>.cycle: daily``; the heat models)
for the run's logical date (the issue time), through
:func:`yujing.warn.warning_cycle` when the configuration's ``alerting.hazards`` names one of
them (warnings, CAP messages and deliveries queued in the alert database, as in the
six-minute ``yujing_warning_cycle``), else through :func:`yujing.pipeline.run_cycle`. The
six-minute cycle leaves these hazards alone.

It runs once a day at 06:00 in the deployment's timezone (the ``YUJING_TIMEZONE``
environment variable at parse time, default ``Asia/Shanghai``), so that the day's heat
warnings are out before the working day. A configuration with no daily hazard skips the
run (and says so); a daily hazard without a result fails it, after the others have run,
so that Airflow retries it and the failure is seen.

The task returns ``{"results": {hazard: path}, "receipts": {hazard: counts}, "failures":
{hazard: reason}, "notes": {hazard: [what its inputs' reading left out]}, "compute": where
the dask work ran}`` (an XCom) and updates the asset ``yujing://<region code>/heat`` (for
Shenzhen ``yujing://440300/heat``).

Configuration and region as in ``yujing_rainstorm_observed`` (the ``config`` param, else
``YUJING_CONFIG``, else ``configs/shenzhen.yaml`` under ``YUJING_HOME``; the asset's region
from ``YUJING_REGION`` at parse time). Parsing this file imports only the standard library
and ``airflow.sdk``; the task runs its dask work where the configuration's ``compute``
says (:mod:`yujing.compute`: local threads, or a dask cluster by address).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, task

__all__ = ["HEAT", "REGION", "TIMEZONE"]

REGION = os.environ.get("YUJING_REGION", "440300")
TIMEZONE = os.environ.get("YUJING_TIMEZONE", "Asia/Shanghai")
HEAT = Asset(uri=f"yujing://{REGION}/heat", name=f"yujing://{REGION}/heat")


@dag(
    dag_id="yujing_heat_outlook",
    description="Daily heat outlook per community, and its warnings",
    schedule=CronTriggerTimetable("0 6 * * *", timezone=TIMEZONE),
    catchup=False,  # yesterday's outlook is of no use today
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(minutes=30),
    },
    params={
        "config": Param(
            None,
            type=["null", "string"],
            description=(
                "YAML configuration; empty means $YUJING_CONFIG, else configs/shenzhen.yaml. "
                "Relative paths are relative to $YUJING_HOME."
            ),
        ),
    },
    tags=["yujing", "heat", "warnings"],
    doc_md=__doc__,
)
def yujing_heat_outlook() -> None:
    """Every morning: the daily hazards (heat), then their warnings."""

    @task(outlets=[HEAT])
    def outlook(
        params: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        data_interval_end: datetime | None = None,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        """Run the daily cycle for the data interval end; return what it did."""
        from airflow.sdk.exceptions import AirflowSkipException

        from yujing.compute import dask_compute
        from yujing.dag_support import task_run
        from yujing.pipeline import run_cycle
        from yujing.warn import warning_cycle

        run = task_run(params, logical_date, data_interval_end, REGION, HEAT.uri, os.environ)
        settings, issue_time = run.settings, run.issue_time
        daily = set(settings.hazards_in("daily"))
        if not daily:
            raise AirflowSkipException(f"{run.config}: no hazard has 'cycle: daily'; nothing to do")
        receipts: dict[str, Any] = {}
        not_warned: dict[str, str] = {}
        with dask_compute(settings.compute) as where:
            if settings.alerting is not None and daily & set(settings.alerting.hazards):
                done = warning_cycle(settings, issue_time, cycle="daily")
                cycle, receipts, not_warned = done.cycle, done.receipt_counts(), done.not_warned
            else:
                cycle = run_cycle(settings, issue_time, cycle="daily")
        if outlet_events is not None:
            outlet_events[HEAT].extra = {
                "region": settings.region.code,
                "issue_time": issue_time.isoformat(),
                "results": {hazard: str(path) for hazard, path in cycle.paths.items()},
            }
        missing = {**cycle.failures, **not_warned}
        if missing:
            raise RuntimeError(
                "daily cycle incomplete: "
                + "; ".join(f"{name}: {reason}" for name, reason in sorted(missing.items()))
            )
        return {
            "results": {hazard: str(path) for hazard, path in cycle.paths.items()},
            "receipts": receipts,
            "failures": dict(cycle.failures),
            "compute": where,
            "notes": dict(cycle.notes),
        }

    outlook()


yujing_heat_outlook()
