"""DAG-integrity tests for ``dags/`` (Airflow 3 best practices: parse cleanly, stay thin).

Airflow is imported inside the tests, after ``AIRFLOW_HOME`` points at a temporary folder,
so the rest of the suite never loads it and no test touches a real Airflow installation.
Airflow is part of the dev install (``.[dev,airflow]``): a missing Airflow fails here, it
is not skipped.

The end-to-end test runs the DAG with ``dag.test()`` on a SQLite metadata database in the
temporary folder, for 2023-09-08 03:00 UTC, inside the record rainstorm of 7-8 September
2023 in Shenzhen, using the NASA POWER hourly rainfall that ``configs/shenzhen.yaml`` reads
(SOURCES.md 4.2). It runs in subprocesses so that Airflow's database and logging set-up stay
out of the pytest process.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from yujing.dag_support import issue_time_of, resolve_config_path

PROJECT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = PROJECT / "dags"
DAG_ID = "yujing_rainstorm_observed"
TASK_ID = "run_observed_cycle"


def _airflow_environment(airflow_home: Path) -> dict[str, str]:
    """Environment variables for an isolated Airflow: its own home, no examples."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary ``AIRFLOW_HOME``, set before anything imports Airflow."""
    home = tmp_path_factory.mktemp("airflow_home")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _airflow_environment(home).items():
            patch.setenv(name, value)
        patch.delenv("YUJING_REGION", raising=False)
        yield home


@pytest.fixture(scope="module")
def dag_bag(airflow_home: Path) -> Any:
    """Every file in ``dags/``, parsed as the DAG processor parses it."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=DAGS_FOLDER, safe_mode=False)


def test_every_dag_file_parses_without_errors_or_warnings(dag_bag: Any) -> None:
    assert dag_bag.import_errors == {}
    assert dag_bag.captured_warnings == {}
    files_with_dags = {Path(dag.fileloc).resolve() for dag in dag_bag.dags.values()}
    assert files_with_dags == {path.resolve() for path in DAGS_FOLDER.glob("*.py")}


def test_rainstorm_observed_dag_is_hourly_retried_and_publishes_the_asset(dag_bag: Any) -> None:
    from airflow.sdk import CronTriggerTimetable

    dag = dag_bag.dags[DAG_ID]
    assert dag.task_ids == [TASK_ID]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 * * * *"
    task = dag.get_task(TASK_ID)
    assert task.retries > 0
    assert task.retry_exponential_backoff
    assert task.max_retry_delay is not None
    assert [asset.uri for asset in task.outlets] == ["yujing://440300/rainstorm"]
    assert dag.params["config"] is None


@pytest.mark.parametrize(
    ("cycle", "dag_id"), [("nowcast", "yujing_warning_cycle"), ("daily", "yujing_heat_outlook")]
)
def test_each_warning_cycle_runs_as_often_as_the_lifecycle_checks_assume(
    dag_bag: Any, cycle: str, dag_id: str
) -> None:
    """Settings refuse a policy under which a warning could lapse between two cycles,
    reckoning with ``CYCLE_INTERVALS``; the DAG's schedule must keep every gap that short
    (a week of fire times from croniter, which Airflow's cron timetables use)."""
    from croniter import croniter

    from hazard_models.config import CYCLE_INTERVALS

    timetable = dag_bag.dags[dag_id].timetable
    fires = croniter(timetable.expression, datetime(2026, 11, 23, tzinfo=UTC))
    times = [fires.get_next(datetime) for _ in range(8 * 24 * 10 + 1)]
    times = [time for time in times if time < datetime(2026, 11, 30, tzinfo=UTC)]
    gaps = {later - earlier for earlier, later in itertools.pairwise(times)}
    assert gaps == {CYCLE_INTERVALS[cycle]}


@pytest.mark.parametrize("path", sorted(DAGS_FOLDER.glob("*.py")), ids=lambda path: path.stem)
def test_parsing_the_dag_file_imports_no_heavy_packages(tmp_path: Path, path: Path) -> None:
    heavy = ["alerting", "dask", "hazard_models", "ingest", "xarray", "yujing"]
    script = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dag_under_test", {str(path)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(name for name in {heavy!r} if name in sys.modules)))
"""
    environment = {**os.environ, **_airflow_environment(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_config_path_comes_from_param_then_environment_then_default() -> None:
    resolve = resolve_config_path
    home = {"YUJING_HOME": "/srv/yujing"}
    assert resolve("/etc/yujing/city.yaml", {"YUJING_CONFIG": "/other.yaml"}) == Path(
        "/etc/yujing/city.yaml"
    )
    assert resolve(None, {**home, "YUJING_CONFIG": "configs/knmi-demo.yaml"}) == Path(
        "/srv/yujing/configs/knmi-demo.yaml"
    )
    assert resolve("", home) == Path("/srv/yujing/configs/shenzhen.yaml")


def test_relative_config_path_without_yujing_home_names_the_fix() -> None:
    with pytest.raises(ValueError, match="YUJING_HOME is not set"):
        resolve_config_path("configs/shenzhen.yaml", {})


def test_issue_time_is_a_standard_library_utc_datetime(airflow_home: Path) -> None:
    import pendulum

    shenzhen_11_am = pendulum.datetime(2023, 9, 8, 11, tz="Asia/Shanghai")
    issue_time = issue_time_of(shenzhen_11_am, shenzhen_11_am)
    assert type(issue_time) is datetime
    assert issue_time == datetime(2023, 9, 8, 3, tzinfo=UTC)
    assert issue_time.tzinfo is UTC
    # A manual run for 11:00 triggered later: Airflow 3 gives it the data interval of the
    # moment it was triggered; the cycle asked for is the logical date's.
    triggered = pendulum.datetime(2026, 11, 24, 19, 9, tz="UTC")
    assert issue_time_of(shenzhen_11_am, triggered) == datetime(2023, 9, 8, 3, tzinfo=UTC)
    assert issue_time_of(None, triggered) == datetime(2026, 11, 24, 19, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a logical date nor a data interval end"):
        issue_time_of(None, None)


DAG_TEST_SCRIPT = """
import sys
from datetime import UTC, datetime, timedelta
from airflow.dag_processing.dagbag import DagBag

dag = DagBag(dag_folder=sys.argv[1], safe_mode=False).dags[sys.argv[2]]
when = datetime.fromisoformat(sys.argv[4]) if sys.argv[4:] else datetime(2023, 9, 8, 3, tzinfo=UTC)
run = dag.test(logical_date=when, run_conf={"config": sys.argv[3]})
print("DAG RUN STATE", run.state)
"""


def test_warning_dag_runs_every_six_minutes_retried_and_publishes_the_asset(
    dag_bag: Any,
) -> None:
    from airflow.sdk import CronTriggerTimetable

    dag = dag_bag.dags["yujing_warning_cycle"]
    assert dag.task_ids == ["warn"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "*/6 * * * *"
    task = dag.get_task("warn")
    assert task.retries > 0 and task.execution_timeout <= timedelta(minutes=6)
    assert [asset.uri for asset in task.outlets] == ["yujing://440300/warnings"]


def _with_alert_store(deployed_config: Any, tmp_path: Path, name: str, edit: Any = None) -> Path:
    """``deployed_config(name, edit)`` whose alert store is ``tmp_path/alerts.db``, created."""
    from yujing.settings import load_settings
    from yujing.warn import upgrade_alert_database

    config = deployed_config(name, edit, alert_database=f"sqlite:///{tmp_path / 'alerts.db'}")
    upgrade_alert_database(load_settings(config))
    return config


def _run_dag(
    tmp_path: Path, dag_id: str, task_id: str, config: Path, when: str, **environ: str
) -> tuple[Path, Any]:
    """``dag.test`` of ``dag_id`` at ``when`` on a fresh SQLite Airflow home in ``tmp_path``;
    the Airflow home and the task's returned XCom."""
    airflow_home = tmp_path / "airflow_home"
    airflow_home.mkdir()
    environment = {**os.environ, **_airflow_environment(airflow_home), **environ}
    airflow = Path(sys.executable).with_name("airflow")
    script = [sys.executable, "-c", DAG_TEST_SCRIPT, str(DAGS_FOLDER), dag_id]
    for command in ([str(airflow), "db", "migrate"], [*script, str(config), when]):
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "DAG RUN STATE success" in done.stdout
    with sqlite3.connect(airflow_home / "airflow.db") as database:
        (returned,) = database.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value'",
            (dag_id, task_id),
        ).fetchone()
    return airflow_home, json.loads(returned)


def test_warning_dag_warns_on_the_knmi_storm(tmp_path: Path, deployed_config: Any) -> None:
    # configs/knmi-demo.yaml, the radar nowcast alone with the replay's demonstration
    # levels (the event never reaches HKO's), its alert store in tmp_path; 04:00 UTC.
    def edit(document: dict[str, Any]) -> None:
        nowcast = {**document["hazards"]["rainstorm_nowcast"], "scheme": "knmi-2010-demo"}
        document["hazards"] = {"rainstorm_nowcast": nowcast}
        document["alerting"]["policy"]["rainstorm_nowcast"]["confirm_levels"] = ["red"]

    config = _with_alert_store(deployed_config, tmp_path, "knmi-demo.yaml", edit)
    _, returned = _run_dag(
        tmp_path,
        "yujing_warning_cycle",
        "warn",
        config,
        "2010-08-26T04:00:00+00:00",
        YUJING_REGION="NL-KNMI",
    )
    receipt = returned["receipts"]["rainstorm_nowcast"]
    assert receipt["recorded_before"] is False and receipt["proposals"] > 0
    # Yellow and orange go out at once; red waits for the duty forecaster.
    with sqlite3.connect(tmp_path / "alerts.db") as database:
        sent = database.execute("SELECT count(*) FROM messages").fetchone()[0]
        states = database.execute("SELECT level, state FROM proposals").fetchall()
    assert sent == receipt["messages"] > 0
    assert len(states) == receipt["proposals"]
    assert {state for level, state in states if level != "red"} == {"confirmed"}
    assert {state for level, state in states if level == "red"} <= {"proposed"}
    written = tmp_path / "out" / "NL-KNMI" / "rainstorm_nowcast" / "20100826T0400Z.nc"
    assert returned["results"] == {"rainstorm_nowcast": str(written)}


def test_heat_outlook_runs_daily_in_the_deployment_timezone(dag_bag: Any) -> None:
    from airflow.sdk import CronTriggerTimetable

    dag = dag_bag.dags["yujing_heat_outlook"]
    assert dag.task_ids == ["outlook"]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "0 6 * * *"
    assert str(dag.timetable.timezone) == "Asia/Shanghai"
    task = dag.get_task("outlook")
    assert task.retries > 0 and task.retry_exponential_backoff
    assert [asset.uri for asset in task.outlets] == ["yujing://440300/heat"]


def test_heat_outlook_warns_on_real_analyses(tmp_path: Path, deployed_config: Any) -> None:
    # configs/era5-uk-demo.yaml (ERA5 2 m temperature, March 2019; its demonstration heat
    # levels warn), its alert store in tmp_path; the outlook of 30 March 2019, 06:00 London.
    config = _with_alert_store(deployed_config, tmp_path, "era5-uk-demo.yaml")
    _, outcome = _run_dag(
        tmp_path,
        "yujing_heat_outlook",
        "outlook",
        config,
        "2019-03-30T06:00:00+00:00",
        YUJING_REGION="UK-ERA5",
        YUJING_TIMEZONE="Europe/London",
    )
    folder = tmp_path / "out" / "UK-ERA5"
    assert outcome["results"] == {
        name: str(folder / name / "20190330T0600Z.nc")
        for name in ("heatwave", "heatwave_demo", "heatwave_demo_analysis")
    }
    receipt = outcome["receipts"]["heatwave_demo"]
    assert receipt["proposals"] > 0 and receipt["messages"] > 0
    with sqlite3.connect(tmp_path / "alerts.db") as database:
        events = {row[0] for row in database.execute("SELECT hazard FROM messages")}
        (xml,) = database.execute("SELECT cap_xml FROM messages LIMIT 1").fetchone()
    assert events == {"heatwave"}
    text = xml.decode() if isinstance(xml, bytes) else xml
    assert "<event>Heat " in text and "当地时间 UTC+00:00" in text  # GMT until 31 March
    assert "<valueName>yujing:area</valueName>" in text  # not a GB/T 2260 code


def test_dag_runs_end_to_end_on_the_september_2023_rainstorm(
    tmp_path: Path, deployed_config: Any
) -> None:
    # configs/shenzhen.yaml with absolute data_root and outputs in tmp_path.
    def edit(document: dict[str, Any]) -> None:
        # Only the source the rainstorm model reads: the others poll HTTP or name files
        # relative to configs/, which this copy in tmp_path would not find.
        document["sources"] = {"nasa_power_futian": document["sources"]["nasa_power_futian"]}
        document["hazards"] = {"rainstorm": document["hazards"]["rainstorm"]}
        document.pop("alerting")  # it warns on the typhoon, left out here

    config = deployed_config("shenzhen.yaml", edit)
    airflow_home = tmp_path / "airflow_home"
    airflow_home.mkdir()
    environment = {**os.environ, **_airflow_environment(airflow_home)}
    environment.pop("YUJING_REGION", None)
    airflow = Path(sys.executable).with_name("airflow")

    for command in (
        [str(airflow), "db", "migrate"],
        [sys.executable, "-c", DAG_TEST_SCRIPT, str(DAGS_FOLDER), DAG_ID, str(config)],
    ):
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "DAG RUN STATE success" in done.stdout

    written = tmp_path / "out" / "440300" / "rainstorm" / "20230908T0300Z.nc"
    assert written.is_file()
    assert written.with_suffix(".txt").is_file()
    with sqlite3.connect(airflow_home / "airflow.db") as database:
        (returned,) = database.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value'",
            (DAG_ID, TASK_ID),
        ).fetchone()
        events = database.execute(
            "SELECT asset.uri, asset_event.extra FROM asset_event "
            "JOIN asset ON asset.id = asset_event.asset_id"
        ).fetchall()
    assert json.loads(returned) == {"rainstorm": str(written)}
    assert [(uri, json.loads(extra)) for uri, extra in events] == [
        (
            "yujing://440300/rainstorm",
            {"region": "440300", "issue_time": "2023-09-08T03:00:00+00:00", "path": str(written)},
        )
    ]

    # The ingest DAG, same run time and configuration: the NASA POWER hours of the source's
    # history (24 h) up to the run, ending 2023-09-07 04:00Z ... 2023-09-08 03:00Z, are
    # stored; nothing later, and not the three earlier hours the file also holds.
    ingest = [sys.executable, "-c", DAG_TEST_SCRIPT, str(DAGS_FOLDER), "yujing_ingest", str(config)]
    done = subprocess.run(
        ingest, env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "DAG RUN STATE success" in done.stdout
    from ingest.store import PartitionStore

    stored = PartitionStore(tmp_path / "store").partitions("nasa_power_futian")
    assert len(stored) == 24
    assert stored[0].reference_time == datetime(2023, 9, 7, 4, tzinfo=UTC)
    assert stored[-1].reference_time == datetime(2023, 9, 8, 3, tzinfo=UTC)


def test_housekeeping_prunes_daily_as_of_its_logical_date(
    dag_bag: Any, tmp_path: Path, deployed_config: Any
) -> None:
    from airflow.sdk import CronTriggerTimetable

    from ingest.store import PartitionStore
    from yujing.ingest import ingest_source
    from yujing.settings import load_settings

    dag = dag_bag.dags["yujing_housekeeping"]
    assert dag.task_ids == ["prune"] and dag.catchup is False
    assert isinstance(dag.timetable, CronTriggerTimetable)
    assert dag.timetable.expression == "30 3 * * *"
    # configs/knmi-demo.yaml keeps a week of radar frames: the 13 frames stored up to
    # 01:00 on 26 August 2010 are all older than a week on 3 September at 03:30, and all
    # but the newest go.
    config = deployed_config("knmi-demo.yaml")
    settings = load_settings(config)
    store = PartitionStore(settings.store_directory)
    ingest_source(settings, "knmi_radar", store, as_of=datetime(2010, 8, 26, 1, tzinfo=UTC))
    _, returned = _run_dag(
        tmp_path, "yujing_housekeeping", "prune", config, "2010-09-02T19:30:00+00:00"
    )
    assert returned[0]["kind"] == "partitions" and returned[0]["files"] == 12
    assert [p.reference_time for p in store.partitions("knmi_radar")] == [
        datetime(2010, 8, 26, 1, tzinfo=UTC)
    ]
