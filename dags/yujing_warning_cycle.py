"""The fast warning cycle, every 6 minutes: every hazard, then the warnings.

The DAG ``yujing_warning_cycle`` has one task, ``warn``, which calls
:func:`yujing.warn.warning_cycle` for the run's logical date (the issue time; a manual run
for a past time runs that cycle, :func:`yujing.dag_support.issue_time_of`):
every configured hazard of the ``nowcast`` cycle (all but those marked ``cycle: daily``,
which ``yujing_heat_outlook`` runs; :func:`yujing.pipeline.run_cycle`; the nowcast's inputs
are what had arrived by then, each source's latency applied), then for each hazard of the
configuration's ``alerting.hazards`` the alerting cycle on ``alerting.database``
(PostgreSQL in production): decisions against the warnings in force, proposals, CAP
messages and queued deliveries, in one transaction per hazard. Levels the policy keeps for
the duty forecaster wait as proposals for the review API. The outbox dispatcher
(``yujing dispatch``, a long-running service) sends what was queued.

Retries are safe: the alert store records each hazard's cycle once, so a retried run
re-runs the hazards but warns only those not yet recorded. A run in which a warning hazard
produced no result (bad or missing input) fails after the others have warned, so that
Airflow retries it and the failure is seen.

The task returns ``{"results": {hazard: path}, "receipts": {hazard: counts}, "failures":
{hazard: reason}, "notes": {hazard: [what its inputs' reading left out]}, "compute": where
the dask work ran}`` (an XCom; notes are e.g. a radar file that could not be read and was
skipped, station reports that failed QC; compute says when an unreachable cluster left the
cycle to local threads) and updates the asset ``yujing://<region code>/warnings`` (for
Shenzhen ``yujing://440300/warnings``) with the issue time and the counts.

Configuration and region as in ``yujing_rainstorm_observed`` (the ``config`` param, else
``YUJING_CONFIG``, else ``configs/shenzhen.yaml`` under ``YUJING_HOME``; the asset's region
from ``YUJING_REGION`` at parse time). Create the alert database's schema once with
``yujing alerts upgrade --config …``. Parsing this file imports only the standard library
and ``airflow.sdk``; the task runs its dask work where the configuration's ``compute``
says (:mod:`yujing.compute`: local threads, or a dask cluster by address).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, task

__all__ = ["REGION", "WARNINGS"]

REGION = os.environ.get("YUJING_REGION", "440300")
WARNINGS = Asset(uri=f"yujing://{REGION}/warnings", name=f"yujing://{REGION}/warnings")


@dag(
    dag_id="yujing_warning_cycle",
    description="Hazards and warnings per community, every 6 minutes (the radar interval)",
    schedule=CronTriggerTimetable("*/6 * * * *", timezone="UTC"),
    catchup=False,  # a late warning cycle is worth nothing: run the latest only
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=6),
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
        "execution_timeout": timedelta(minutes=5),
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
    tags=["yujing", "warnings"],
    doc_md=__doc__,
)
def yujing_warning_cycle() -> None:
    """Every 6 minutes: hazards, then warnings."""

    @task(outlets=[WARNINGS])
    def warn(
        params: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        data_interval_end: datetime | None = None,
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        """Run the warning cycle for the data interval end; return what it did."""
        from yujing.compute import dask_compute
        from yujing.dag_support import task_run
        from yujing.warn import warning_cycle

        run = task_run(params, logical_date, data_interval_end, REGION, WARNINGS.uri, os.environ)
        settings, issue_time = run.settings, run.issue_time
        with dask_compute(settings.compute) as where:
            done = warning_cycle(settings, issue_time, cycle="nowcast")
        receipts = done.receipt_counts()
        if outlet_events is not None:
            outlet_events[WARNINGS].extra = {
                "region": settings.region.code,
                "issue_time": issue_time.isoformat(),
                "receipts": receipts,
            }
        if done.not_warned:
            raise RuntimeError(
                "no warning decided for "
                + "; ".join(f"{name}: {reason}" for name, reason in done.not_warned.items())
            )
        return {
            "results": {hazard: str(path) for hazard, path in done.cycle.paths.items()},
            "receipts": receipts,
            "failures": dict(done.cycle.failures),
            "compute": where,
            "notes": dict(done.cycle.notes),
        }

    warn()


yujing_warning_cycle()
