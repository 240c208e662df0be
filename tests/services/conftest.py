"""Fixtures of the tests that talk to real servers: databases on both backends, the broker.

PostgreSQL is the one at ``POSTGRES_URL`` (this machine's, trust authentication); each test
gets its own schema, dropped afterwards. MQTT is Mosquitto at ``BROKER``.

Where a server does not answer, its tests are skipped with the reason (the SQLite half of a
database test always runs) — so that a first try-out without servers still passes. On a
machine that has the servers (CI: ``make test`` sets ``YUJING_REQUIRE_SERVICES=1``) a
missing server is a **failure**, never a skip.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BROKER = ("127.0.0.1", 1883)


def unavailable(reason: str) -> None:
    """Skip for ``reason``, or fail where the servers are required (CI on this machine)."""
    if os.environ.get("YUJING_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (YUJING_REQUIRE_SERVICES=1: this machine should run it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def broker() -> tuple[str, int]:
    """Mosquitto's address (checked once)."""
    try:
        with socket.create_connection(BROKER, timeout=2):
            pass
    except OSError as err:
        unavailable(f"no MQTT broker at {BROKER[0]}:{BROKER[1]} ({err}); start mosquitto")
    return BROKER


@pytest.fixture(scope="session")
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used (None when it can), checked once per session."""
    try:
        with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except psycopg.Error as err:
        return f"{type(err).__name__}: {' '.join(str(err).split())}"


def _postgres_scratch(kind: str, postgres_problem: str | None) -> Iterator[str]:
    """Create a uniquely named PostgreSQL ``kind`` (``SCHEMA`` or ``DATABASE``), yield its
    name, drop it afterwards; skip (or fail, where required) without a server."""
    if postgres_problem is not None:
        unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {postgres_problem}")
    name = f"yujing_test_{uuid.uuid4().hex[:16]}"
    drop = "CASCADE" if kind == "SCHEMA" else "WITH (FORCE)"
    admin_url = POSTGRES_URL.replace("+psycopg", "")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE {kind} "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP {kind} "{name}" {drop}')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_problem: str | None
) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'subscriptions.db'}"
        return
    for schema in _postgres_scratch("SCHEMA", postgres_problem):
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module")
def postgres_database(postgres_problem: str | None) -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL) per test module, dropped
    afterwards: for a program that wants a database of its own (Airflow's metadata)."""
    for name in _postgres_scratch("DATABASE", postgres_problem):
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
