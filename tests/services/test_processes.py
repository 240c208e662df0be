"""yujing's commands as separate processes on PostgreSQL: each exits with its own status.

A command that did its work and then died at exit would look failed to Airflow, to
systemd and to ``yujing alerts status``'s monitor. This happened: ecCodes ≥ 2.43 from PyPI
(``eccodeslib``/``eckitlib``) loads 25 bundled libraries with ``RTLD_GLOBAL``, among them an
unversioned OpenLDAP 2.4 and Cyrus SASL; xarray imports cfgrib, hence ecCodes, whenever it
opens any file; psycopg's bundled ``libldap`` then bound to those and freed a foreign
pointer when the process exited (SIGSEGV, exit status 139) — after every
``yujing alerts upgrade`` or ``yujing run --alert`` on PostgreSQL. ``pyproject.toml`` keeps
ecCodes below 2.43 (self-contained wheels); these tests fail if that comes back.

The commands run on ``configs/era5-uk-demo.yaml`` (ERA5 2 m temperature in GRIB, SOURCES.md
§8, so the daily heat cycle reads GRIB through ecCodes) with the alert store in a new
PostgreSQL schema.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

YUJING = Path(sys.executable).with_name("yujing")


def _yujing(*arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    return subprocess.run(
        [str(YUJING), *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _died(done: subprocess.CompletedProcess[str]) -> str:
    if done.returncode < 0:
        return f"killed by {signal.Signals(-done.returncode).name}\n{done.stderr[-3000:]}"
    return f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_commands_on_postgresql_that_read_grib_exit_with_their_own_status(
    database_url: str, deployed_config: Any
) -> None:
    config = str(deployed_config("era5-uk-demo.yaml", alert_database=database_url))

    upgrade = _yujing("alerts", "upgrade", "--config", config)
    assert upgrade.returncode == 0, _died(upgrade)

    # The outlook of 30 March 2019, 06:00 UTC: reads the GRIB, warns into PostgreSQL.
    run = _yujing("run", "--config", config, "--at", "2019-03-30T06:00Z", "--cycle", "daily")
    run_and_warn = _yujing(
        "run", "--config", config, "--at", "2019-03-30T06:00Z", "--cycle", "daily", "--alert"
    )
    assert run.returncode == 0, _died(run)
    assert run_and_warn.returncode == 0, _died(run_and_warn)
    assert "heatwave_demo" in run_and_warn.stdout

    # Exit 0 ok, 1 degraded, 2 failing: never a signal.
    status = _yujing("alerts", "status", "--config", config)
    assert status.returncode in (0, 1, 2), _died(status)
