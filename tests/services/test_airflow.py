"""The DAGs under a real Airflow on PostgreSQL, as production runs them.

Airflow 3.3's own processes — ``api-server`` (the Task SDK's execution API), ``scheduler``
with the ``LocalExecutor`` (each task in a supervised child process) and ``dag-processor``
— with their metadata database in a new PostgreSQL database, and yujing's alert store in a
new PostgreSQL schema. The DAG ``yujing_warning_cycle`` is triggered for 2010-08-26
04:06 UTC, a six-minute tick off the KNMI radar's five-minute cadence (SOURCES.md §7.1;
``configs/knmi-demo.yaml``, the radar nowcast alone with the replay's demonstration
levels, its dask work on a dask scheduler and worker reached by address), and must succeed
on its first try: the run's logical date is the issue time, the nowcast starts from the
newest frame delivered (04:00), warnings land in PostgreSQL and the asset event carries
the receipts. The DAG ``yujing_ingest`` is triggered for the same time: one mapped task per
configured source, the frames up to then in the store.

``tests/test_dags.py`` checks the same DAGs with ``dag.test()`` on SQLite (in one process);
this is the path that differs in production: scheduling, a task process, the execution
API, PostgreSQL on both sides. Scheduled (cron) runs are switched off
(``use_job_schedule``) so that only the triggered run exists.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

PROJECT = Path(__file__).resolve().parents[2]
AIRFLOW = Path(sys.executable).with_name("airflow")
DAG_ID = "yujing_warning_cycle"
LOGICAL_DATE = "2010-08-26T04:06:00+00:00"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Airflow:
    """Airflow's processes on one metadata database, their logs in ``home``."""

    def __init__(self, home: Path, database_url: str) -> None:
        self.home = home
        self.database_url = database_url
        port = _free_port()
        self.environment = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            # Airflow derives an asyncpg URL otherwise; psycopg 3 does both.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.database_url.replace(
                "+psycopg", "+psycopg_async"
            ),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "YUJING_REGION": "NL-KNMI",
        }
        self.port = port
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, *arguments: str) -> str:
        done = subprocess.run(
            [str(AIRFLOW), *arguments],
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"airflow {arguments[:2]}: {done.stderr[-3000:]}"
        return done.stdout

    def start(self, *command: str) -> None:
        with (self.home / f"{command[0]}.log").open("wb") as log:
            self.processes[command[0]] = subprocess.Popen(
                [str(AIRFLOW), *command], env=self.environment, stdout=log, stderr=log
            )

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url.replace("+psycopg", "")) as connection:
            return connection.execute(sql, parameters).fetchall()

    def evidence(self) -> str:
        """The processes' and the task's logs, for a failure message."""
        parts = []
        for path in sorted(self.home.rglob("*.log")):
            if "dag_processor" in path.parts:
                continue
            parts.append(f"--- {path.relative_to(self.home)}\n{path.read_text('utf-8')[-2500:]}")
        return "\n".join(parts)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, postgres_database: str) -> Iterator[_Airflow]:
    """Airflow's api-server, scheduler and dag-processor, running for the module's tests."""
    home = tmp_path_factory.mktemp("airflow_home")
    instance = _Airflow(home, postgres_database)
    instance.run("db", "migrate")
    try:
        for command in (
            ("api-server", "--port", str(instance.port)),
            ("scheduler",),
            ("dag-processor",),
        ):
            instance.start(*command)
        yield instance
    finally:
        instance.stop()


def _wait_for(
    airflow: _Airflow, what: str, sql: str, done: Any, *parameters: Any, seconds: float = 300
) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rows = airflow.query(sql, *parameters)
        if rows and done(rows):
            return rows
        for name, process in airflow.processes.items():
            assert process.poll() is None, f"airflow {name} exited\n{airflow.evidence()}"
        time.sleep(2)
    raise AssertionError(f"{what}: not within {seconds:.0f} s\n{airflow.evidence()}")


def _trigger(airflow: _Airflow, dag_id: str, config: Path) -> None:
    """Trigger ``dag_id`` for :data:`LOGICAL_DATE` on ``config``, once it is parsed."""
    _wait_for(
        airflow,
        f"{dag_id} parsed into the metadata database",
        "SELECT is_paused FROM dag WHERE dag_id = %s",
        lambda rows: rows[0][0] is False,
        dag_id,
        seconds=180,
    )
    airflow.run(
        "dags",
        "trigger",
        dag_id,
        "--logical-date",
        LOGICAL_DATE,
        "--conf",
        json.dumps({"config": str(config)}),
    )


def _finished_run(airflow: _Airflow, dag_id: str) -> str:
    """The state of ``dag_id``'s run once it is finished."""
    ((state,),) = _wait_for(
        airflow,
        f"the run of {dag_id} finished",
        "SELECT state FROM dag_run WHERE dag_id = %s",
        lambda rows: rows[0][0] in ("success", "failed"),
        dag_id,
    )
    return str(state)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_warning_dag_warns_under_the_scheduler_on_postgresql(
    airflow: _Airflow, database_url: str, deployed_config: Any, dask_cluster: str
) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from yujing.settings import load_settings
    from yujing.warn import upgrade_alert_database

    def knmi_nowcast(document: dict[str, Any]) -> None:
        nowcast = {**document["hazards"]["rainstorm_nowcast"], "scheme": "knmi-2010-demo"}
        document["hazards"] = {"rainstorm_nowcast": nowcast}
        document["alerting"]["policy"]["rainstorm_nowcast"]["confirm_levels"] = ["red"]
        document["compute"] = {"scheduler": dask_cluster}  # the task connects by address

    config = deployed_config("knmi-demo.yaml", knmi_nowcast, alert_database=database_url)
    upgrade_alert_database(load_settings(config))

    _trigger(airflow, DAG_ID, config)
    assert _finished_run(airflow, DAG_ID) == "success", airflow.evidence()
    ((task_state, tries),) = airflow.query(
        "SELECT state, try_number FROM task_instance WHERE dag_id = %s", DAG_ID
    )
    assert (task_state, tries) == ("success", 1)  # no retry needed

    ((returned,),) = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = %s AND key = 'return_value'", DAG_ID
    )
    returned = json.loads(returned) if isinstance(returned, str) else returned
    receipt = returned["receipts"]["rainstorm_nowcast"]
    assert returned["failures"] == {}
    assert returned["compute"] == f"dask cluster {dask_cluster} (1 workers)"
    assert receipt["recorded_before"] is False and receipt["messages"] > 0
    written = Path(returned["results"]["rainstorm_nowcast"])
    assert written.name == "20100826T0406Z.nc"  # the logical date, not the trigger's time

    ((extra,),) = airflow.query(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = %s",
        "yujing://NL-KNMI/warnings",
    )
    extra = json.loads(extra) if isinstance(extra, str) else extra
    assert extra["issue_time"] == LOGICAL_DATE
    assert extra["receipts"]["rainstorm_nowcast"] == receipt

    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        sent = connection.execute(text("SELECT count(*), min(sent) FROM messages")).one()
    engine.dispose()
    assert sent[0] == receipt["messages"]
    assert sent[1].isoformat().startswith("2010-08-26T04:06")


def test_the_ingest_dag_maps_one_task_per_source_under_the_scheduler(
    airflow: _Airflow, deployed_config: Any, tmp_path: Path
) -> None:
    from ingest.store import PartitionStore

    config = deployed_config("knmi-demo.yaml")
    _trigger(airflow, "yujing_ingest", config)
    assert _finished_run(airflow, "yujing_ingest") == "success", airflow.evidence()
    tasks = airflow.query(
        "SELECT task_id, map_index, state, rendered_map_index FROM task_instance "
        "WHERE dag_id = 'yujing_ingest' ORDER BY task_id, map_index"
    )
    assert tasks == [
        ("announce", -1, "success", None),
        ("configured_sources", -1, "success", None),
        ("ingest_source", 0, "success", "knmi_radar"),
    ]
    # Frames labelled up to the logical date, 04:06, are in the store: 00:00 ... 04:05.
    stored = PartitionStore(tmp_path / "store").partitions("knmi_radar")
    assert [part.reference_time.isoformat() for part in (stored[0], stored[-1])] == [
        "2010-08-26T00:00:00+00:00",
        "2010-08-26T04:05:00+00:00",
    ]
    assert len(stored) == 50 and all(part.complete for part in stored)
    ((extra,),) = airflow.query(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = %s",
        "yujing://NL-KNMI/ingest",
    )
    extra = json.loads(extra) if isinstance(extra, str) else extra
    assert extra == {"as_of": LOGICAL_DATE, "sources": ["knmi_radar"]}
