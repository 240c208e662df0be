"""Daily housekeeping: delete what is past its retention, so that the disk does not fill.

The DAG ``yujing_housekeeping`` has one task, ``prune``, which calls
:func:`yujing.housekeeping.prune` with the run's logical date as ``now``
(:func:`yujing.dag_support.issue_time_of`): store partitions and landed snapshots of each
source with a ``retention``, hazard results older than ``output.retention``; the newest of
each is always kept, and the alert database is never pruned. It returns what it deleted
(an XCom: files and bytes per source or hazard). At 03:30 in the region's time zone, away
from the morning heat outlook.

Configuration is found as in ``yujing_rainstorm_observed`` (the ``config`` param, else
``YUJING_CONFIG``, else ``configs/shenzhen.yaml`` under ``YUJING_HOME``). Parsing this file
imports only the standard library and ``airflow.sdk``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, task

__all__ = ["TIMEZONE"]

TIMEZONE = os.environ.get("YUJING_TIMEZONE", "Asia/Shanghai")


@dag(
    dag_id="yujing_housekeeping",
    description="Delete store partitions, snapshots and results past their retention",
    schedule=CronTriggerTimetable("30 3 * * *", timezone=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
    },
    params={
        "config": Param(
            None,
            type=["null", "string"],
            description="YAML configuration; empty means $YUJING_CONFIG, else the default",
        ),
    },
    tags=["yujing", "housekeeping"],
    doc_md=__doc__,
)
def yujing_housekeeping() -> None:
    """Once a day: retention."""

    @task
    def prune(
        params: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Prune as of the run's logical date; return one entry per pruned line."""
        from yujing.dag_support import issue_time_of, resolve_config_path
        from yujing.housekeeping import prune as prune_all
        from yujing.settings import load_settings

        settings = load_settings(resolve_config_path((params or {}).get("config"), os.environ))
        report = prune_all(settings, issue_time_of(logical_date, data_interval_end))
        for line in report.lines:
            print(
                f"{line.kind} {line.name}: {line.files} files, {line.size} bytes "
                f"older than {line.before:%Y-%m-%dT%H:%MZ}"
            )
        return [
            {"kind": line.kind, "name": line.name, "files": line.files, "bytes": line.size}
            for line in report.lines
        ]

    prune()


yujing_housekeeping()
