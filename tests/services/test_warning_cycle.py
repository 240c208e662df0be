"""The live warning cycle (``yujing run --alert``, the DAG ``yujing_warning_cycle``).

``configs/shenzhen.yaml`` as deployed (its ``alerting`` section: the typhoon warns, orange
and red wait for the duty forecaster), the typhoon model on JMA's best track of Mangkhut
(SOURCES.md 1.2, each fix known one hour after its time) with 10 members, and the alert
store on SQLite and on this machine's PostgreSQL (``database_url``).
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from starlette.exceptions import StarletteDeprecationWarning

from alerting.errors import OutboxError
from alerting.outbox.store import AlertStore
from yujing.warn import review_api, upgrade_alert_database, warning_cycle

with warnings.catch_warnings():
    # Starlette 1.x asks for the httpx2 fork on import; the locked dev tools have httpx,
    # which its TestClient still drives (as in tests/test_feed_api.py).
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

FIRST = datetime(2018, 9, 15, 1, tzinfo=UTC)  # yellow expected within 24 h
SECOND = datetime(2018, 9, 16, 1, tzinfo=UTC)


def _deployed(shenzhen_settings: Any, database_url: str) -> Any:
    """The deployment's settings: the typhoon alone (10 members), the test's database."""
    typhoon = shenzhen_settings.hazards["typhoon"]
    return shenzhen_settings.model_copy(
        update={
            "hazards": {
                "typhoon": typhoon.model_copy(
                    update={"options": {**typhoon.options, "members": 10}}
                )
            },
            "alerting": shenzhen_settings.alerting.model_copy(update={"database": database_url}),
        }
    )


def test_live_cycles_warn_once_and_keep_orange_and_red_for_the_forecaster(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, database_url: str, tmp_path: Path
) -> None:
    settings = _deployed(shenzhen_settings, database_url)
    assert upgrade_alert_database(settings) == database_url
    first = warning_cycle(settings, FIRST, output_dir=tmp_path, region=shenzhen_region)
    second = warning_cycle(settings, SECOND, output_dir=tmp_path, region=shenzhen_region)
    assert first.not_warned == {} and second.not_warned == {}
    assert (tmp_path / "440300" / "typhoon" / "20180916T0100Z.nc").is_file()
    alerts = AlertStore(database_url)
    try:
        every = alerts.proposals(states=("proposed", "held", "confirmed", "cancelled"))
        receipts = [first.receipts["typhoon"], second.receipts["typhoon"]]
        assert len(every) == sum(receipt.proposals for receipt in receipts) > 0
        # Orange and red wait for the duty forecaster; the lower signals went out at once.
        waiting = alerts.proposals()
        assert waiting and {p.decision.level for p in waiting} <= {"orange", "red"}
        confirmed = [p for p in every if p.state == "confirmed"]
        assert confirmed and {p.decision.level for p in confirmed} <= {"white", "blue", "yellow"}
        sent = alerts.messages()
        assert len(sent) == sum(receipt.messages for receipt in receipts) > 0
        assert {message.level for message in sent} <= {"white", "blue", "yellow"}
        in_force = alerts.active_warnings("typhoon")
        assert in_force and all(w.issued <= SECOND for w in in_force.values())
        # A retried cycle (an Airflow retry) warns nothing twice; a late older one is refused.
        again = warning_cycle(settings, SECOND, output_dir=tmp_path, region=shenzhen_region)
        assert again.receipts["typhoon"].already_recorded
        everything = alerts.proposals(states=("proposed", "held", "confirmed", "cancelled"))
        assert len(everything) == len(every) and len(alerts.messages()) == len(sent)
        # The duty forecaster confirms one waiting signal through the review API.
        app, close = review_api(settings)
        try:
            with TestClient(app) as client:
                listed = client.get("/proposals", params={"hazard": "typhoon"}).json()
                assert {p["level"] for p in listed} <= {"orange", "red"} and listed
                chosen = listed[-1]
                done = client.post(f"/proposals/{chosen['id']}/confirm", json={"by": "duty-1"})
                assert done.status_code == 200 and done.json()["state"] == "confirmed"
        finally:
            close()
        message = alerts.last_message("typhoon", chosen["area"])
        assert message is not None and message.level == chosen["level"]
        between = datetime(2018, 9, 15, 19, tzinfo=UTC)  # never run, older than SECOND
        with pytest.raises(OutboxError, match="a newer cycle"):
            warning_cycle(settings, between, output_dir=tmp_path, region=shenzhen_region)
    finally:
        alerts.close()


def test_a_database_without_the_schema_is_refused_before_anything_is_written(  # type: ignore[no-untyped-def]
    shenzhen_settings, shenzhen_region, database_url: str, tmp_path: Path
) -> None:
    settings = _deployed(shenzhen_settings, database_url)
    with pytest.raises(OutboxError, match="upgrade"):
        warning_cycle(settings, SECOND, output_dir=tmp_path, region=shenzhen_region)
    engine = create_engine(database_url, poolclass=NullPool)
    with engine.connect() as connection:
        tables = connection.execute(
            text(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                if database_url.startswith("sqlite")
                else "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        ).all()
    engine.dispose()
    assert tables == []  # the cycle did not create the schema behind the operator's back
