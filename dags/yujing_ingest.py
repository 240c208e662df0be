"""Ingest cycle: bring every configured source into the partition store every 6 minutes.

The DAG ``yujing_ingest`` has two tasks: ``configured_sources`` reads the configuration and
returns the names of its sources; ``ingest_source`` is mapped over them (one task instance
per source, retried on its own) and calls :func:`yujing.ingest.ingest_source` with the run's
logical date as ``as_of`` (:func:`yujing.dag_support.issue_time_of`), so a run for 03:06
writes only steps labelled at or before 03:06. Re-running a run rewrites nothing: partitions
with the same bytes are left untouched (the store is idempotent), and new late reports
replace their partition atomically.

When all sources are in, the asset ``yujing://<region code>/ingest`` is updated with the
run's ``as_of`` so hazard DAGs can be scheduled on fresh data.

Configuration is found as in ``yujing_rainstorm_observed`` (the ``config`` param, else
``YUJING_CONFIG``, else ``configs/shenzhen.yaml`` under ``YUJING_HOME``). Parsing this file
imports only the standard library and ``airflow.sdk``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Asset, CronTriggerTimetable, Param, dag, task

__all__ = ["INGESTED", "REGION"]

REGION = os.environ.get("YUJING_REGION", "440300")
INGESTED = Asset(uri=f"yujing://{REGION}/ingest", name=f"yujing://{REGION}/ingest")


@dag(
    dag_id="yujing_ingest",
    description="Ingest stations, radar, NWP and tracks into the partition store",
    schedule=CronTriggerTimetable("*/6 * * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=5),
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(minutes=4),
    },
    params={
        "config": Param(
            None,
            type=["null", "string"],
            description="YAML configuration; empty means $YUJING_CONFIG, else the default",
        ),
    },
    tags=["yujing", "ingest"],
    doc_md=__doc__,
)
def yujing_ingest() -> None:
    """Ingest cycle."""

    @task
    def configured_sources(params: dict[str, Any] | None = None) -> list[str]:
        """Names of the configured sources."""
        from yujing.dag_support import resolve_config_path
        from yujing.settings import load_settings

        settings = load_settings(resolve_config_path((params or {}).get("config"), os.environ))
        return sorted(settings.sources)

    @task(map_index_template="{{ name }}")
    def ingest_source(
        name: str,
        params: dict[str, Any] | None = None,
        logical_date: datetime | None = None,
        data_interval_end: datetime | None = None,
    ) -> dict[str, Any]:
        """Ingest one source up to the run's as-of time; return the counts."""
        from ingest.store import PartitionStore
        from yujing.dag_support import issue_time_of, resolve_config_path
        from yujing.ingest import ingest_source as ingest
        from yujing.settings import load_settings

        settings = load_settings(resolve_config_path((params or {}).get("config"), os.environ))
        report = ingest(
            settings,
            name,
            PartitionStore(settings.store_directory),
            as_of=issue_time_of(logical_date, data_interval_end),
        )
        print(report.line())
        return {
            "source": name,
            "written": report.written,
            "replaced": report.replaced,
            "unchanged": report.unchanged,
            "incomplete": report.incomplete,
        }

    @task(outlets=[INGESTED])
    def announce(
        reports: list[dict[str, Any]],
        logical_date: datetime | None = None,
        data_interval_end: datetime | None = None,
        outlet_events: Any = None,
    ) -> None:
        """Publish the ingest asset event with the run's as-of time."""
        from yujing.dag_support import issue_time_of

        if outlet_events is not None:
            outlet_events[INGESTED].extra = {
                "as_of": issue_time_of(logical_date, data_interval_end).isoformat(),
                "sources": [report["source"] for report in reports],
            }

    announce(ingest_source.expand(name=configured_sources()))


yujing_ingest()
