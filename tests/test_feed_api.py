"""The HTTP API and the public Atom feed, on the real Mangkhut (2018) alerting state.

State: the first three cycles of the Mangkhut typhoon-ensemble fixture
(``tests/fixtures/alerting/mangkhut_results.json.gz``, cut by ``make_mangkhut_results.py``)
run through :func:`alerting_cycle` into a SQLite database, with red needing a forecaster.
They issue yellow (2018-09-15 13 UTC) and orange (19 UTC) for 罗湖, 福田 and 盐田 districts
automatically, and at 2018-09-16 01 UTC propose red upgrades that wait for review (later
cycles would supersede them, so the run stops there). The API's clock is fixed twenty
minutes later. Only SQLite in ``tmp_path``: nothing here connects to PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import defusedxml.ElementTree as SafeElementTree
import numpy as np
import pytest
import shapely
import xarray as xr
from starlette.exceptions import StarletteDeprecationWarning

from alerting.cap import parse_cap, validate_cap
from alerting.cycle import AlertingSetup, alerting_cycle
from alerting.feed import ATOM_NAMESPACE, atom_feed, messages_in_force
from alerting.lifecycle import LifecyclePolicy
from alerting.messages import MessageContext
from alerting.outbox.dispatcher import Dispatcher
from alerting.outbox.store import AlertStore
from alerting.subscriptions import SubscriptionStore
from yujing.api import create_app
from yujing.settings import WatchdogConfig

with warnings.catch_warnings():
    # Starlette 1.x asks for the httpx2 fork on import; the locked dev tools have httpx,
    # which its TestClient still drives. Only that import-time notice is silenced.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2018, 9, 16, 1, 20, tzinfo=UTC)
RED_CYCLE = datetime(2018, 9, 16, 1, tzinfo=UTC)
LEVELS = {"white": 0, "blue": 1, "yellow": 2, "orange": 3, "red": 4}
FUTIAN = "440304"  # GB/T 2260 code of 福田区, where the subscriber's office is
BASE = "http://127.0.0.1:8000"
ATOM = "{" + ATOM_NAMESPACE + "}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def subscription_body(subscriber_id: str = "futian-em") -> dict[str, Any]:
    """A point asset in Futian with a typhoon gust rule and a webhook (as in
    tests/services/test_subscriptions.py); the port 9 target is never contacted here."""
    return {
        "subscriber": {
            "id": subscriber_id,
            "name": "Futian EM",
            "organisation": "Futian",
            "sector": "other",
        },
        "assets": [
            {
                "id": "office",
                "name": "office",
                "geometry": {"type": "Point", "coordinates": [114.055, 22.54]},
            }
        ],
        "rules": [
            {
                "hazard": "typhoon",
                "variable": "wsgsmax",
                "comparison": ">=",
                "threshold": "17.2 m s-1",
                "within": "12 h",
            }
        ],
        "channels": [
            {"kind": "webhook", "url": "http://127.0.0.1:9/hook", "languages": ["zh-CN", "en-US"]}
        ],
    }


class World:
    """The stores after the Mangkhut cycles, and a client of the API over them."""

    def __init__(self, alerts: AlertStore, subscriptions: SubscriptionStore) -> None:
        self.alerts = alerts
        self.subscriptions = subscriptions
        self.client: TestClient
        self.setup: AlertingSetup

    def bearer(self, subscriber_id: str) -> dict[str, str]:
        """The Authorization header of a token newly issued for ``subscriber_id``."""
        token = self.subscriptions.issue_token(subscriber_id, by="operator-1")
        return {"Authorization": f"Bearer {token}"}

    def red(self, area: str = FUTIAN) -> str:
        """Id of the open red proposal of ``area``."""
        (found,) = [p.id for p in self.alerts.proposals() if p.decision.area == area]
        return found


@pytest.fixture
def world(
    mangkhut: tuple[dict[datetime, xr.Dataset], xr.Dataset], tmp_path: Path
) -> Iterator[World]:
    results, communities = mangkhut
    policy = LifecyclePolicy(
        look_ahead=timedelta(0),
        min_duration=timedelta(hours=3),
        downgrade_after=timedelta(hours=5),
        validity=timedelta(hours=12),
        confirm_levels=("red",),
    )
    context = MessageContext(
        sender="yujing@440300.example",
        sender_code="44030041600000",
        sender_name="yujing",
        region_name="深圳市",
        timezone="Asia/Shanghai",
        communities=communities,
    )
    setup = AlertingSetup(context, policy, "district", LEVELS)
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    subscriptions = SubscriptionStore(url)
    subscriptions.upgrade()
    subscriptions.register_json(json.dumps(subscription_body()))
    alerts = AlertStore(url)
    for issue_time in sorted(results):
        if issue_time > RED_CYCLE:
            break
        alerting_cycle(results[issue_time], issue_time, setup, alerts, subscriptions)
    state = World(alerts, subscriptions)
    state.setup = setup
    app = create_app(alerts, subscriptions, {"typhoon": setup}, clock=lambda: NOW)
    with TestClient(app) as client:
        state.client = client
        yield state
    alerts.close()
    subscriptions.close()


# -- proposals and review ------------------------------------------------------------------


def test_open_proposals_are_the_red_upgrades_with_their_lead_time(world: World) -> None:
    response = world.client.get("/proposals", params={"hazard": "typhoon"})
    assert response.status_code == 200
    listed = {p["area_name"]: p for p in response.json()}
    assert set(listed) == {"罗湖区", "福田区", "盐田区"}
    for proposal in listed.values():
        assert (proposal["action"], proposal["level"], proposal["previous_level"]) == (
            "upgrade",
            "red",
            "orange",
        )
        assert proposal["state"] == "proposed" and proposal["needs_confirmation"]
        assert proposal["issue_time"] == "2018-09-16T01:00:00Z"
        assert proposal["communities"] > 0 and "criterion" in proposal["evidence"]
        assert [entry["action"] for entry in proposal["audit"]] == ["proposed"]
    # fixture onsets: 05:30 UTC for 罗湖 and 福田, 05:00 for 盐田, issued at 01:00
    assert [listed[name]["lead_time"] for name in ("罗湖区", "福田区", "盐田区")] == [
        270.0,
        270.0,
        240.0,
    ]
    explicit = [("state", "proposed"), ("state", "held"), ("hazard", "typhoon")]
    assert world.client.get("/proposals", params=explicit).json() == response.json()
    confirmed = world.client.get("/proposals", params=[("state", "confirmed")]).json()
    assert {p["level"] for p in confirmed} == {"yellow", "orange"} and len(confirmed) == 6
    assert world.client.get("/proposals", params={"state": "sent"}).status_code == 422


def test_one_proposal_and_an_unknown_one(world: World) -> None:
    red = world.red()
    assert world.client.get(f"/proposals/{red}").json()["id"] == red
    missing = world.client.get("/proposals/typhoon-440304-000000000000")
    assert missing.status_code == 404
    assert "no proposal 'typhoon-440304-000000000000'" in missing.json()["detail"]
    refused = world.client.post("/proposals/nope/confirm", json={"by": "duty-1"})
    assert refused.status_code == 404
    assert "/proposals/{proposal_id}/confirm" in world.client.get("/openapi.json").json()["paths"]


def test_a_hazard_without_setup_is_refused_by_name(world: World) -> None:
    app = create_app(world.alerts, world.subscriptions, {}, clock=lambda: NOW)
    with TestClient(app) as client:
        response = client.post(f"/proposals/{world.red()}/confirm", json={"by": "duty-1"})
    assert response.status_code == 500
    assert "no alerting setup for hazard 'typhoon'" in response.json()["detail"]
    assert world.alerts.proposal(world.red()).state == "proposed"


def test_confirming_queues_the_threaded_cap_message_and_its_deliveries(world: World) -> None:
    messages_before = world.alerts.messages()
    deliveries_before = world.alerts.deliveries()
    previous = world.alerts.last_message("typhoon", FUTIAN)
    assert previous is not None and previous.level == "orange"
    red = world.red()

    response = world.client.post(f"/proposals/{red}/confirm", json={"by": "duty-1"})

    assert response.status_code == 200, response.text
    assert response.json()["state"] == "confirmed"
    assert response.json()["audit"][-1] == {
        "at": "2018-09-16T01:20:00Z",
        "by": "duty-1",
        "action": "confirmed",
        "detail": "",
    }
    messages = world.alerts.messages()
    assert len(messages) == len(messages_before) + 1
    (new,) = [m for m in messages if m.proposal_id == red]
    assert (new.msg_type, new.level, new.area) == ("Update", "red", FUTIAN)
    assert validate_cap(new.xml) == []
    alert = parse_cap(new.xml)
    assert [ref.identifier for ref in alert.references] == [previous.identifier]
    deliveries = world.alerts.deliveries()
    assert len(deliveries) == len(deliveries_before) + 1
    assert (deliveries[-1].subscriber_id, deliveries[-1].message_identifier) == (
        "futian-em",
        new.identifier,
    )

    again = world.client.post(f"/proposals/{red}/confirm", json={"by": "duty-2"})
    assert again.status_code == 409
    assert "cannot confirm a confirmed proposal" in again.json()["detail"]
    assert len(world.alerts.messages()) == len(messages)


def test_a_review_step_needs_a_forecaster_and_a_reason(world: World) -> None:
    red = world.red()
    no_reason = world.client.post(f"/proposals/{red}/hold", json={"by": "duty-1"})
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"][0]["loc"] == ["body", "reason"]
    blank = world.client.post(f"/proposals/{red}/hold", json={"by": "duty-1", "reason": "  "})
    assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "reason"]
    nobody = world.client.post(f"/proposals/{red}/confirm", json={"by": " "})
    assert nobody.status_code == 422 and nobody.json()["detail"][0]["loc"] == ["body", "by"]
    extra = world.client.post(f"/proposals/{red}/confirm", json={"by": "duty-1", "force": 1})
    assert extra.status_code == 422
    assert world.client.get(f"/proposals/{red}").json()["state"] == "proposed"


def test_a_held_proposal_can_be_cancelled_and_both_steps_are_audited(world: World) -> None:
    red = world.red()
    held = world.client.post(
        f"/proposals/{red}/hold", json={"by": "duty-1", "reason": "awaiting HKO's 10 signal"}
    )
    assert held.status_code == 200 and held.json()["state"] == "held"
    listed = world.client.get("/proposals", params=[("state", "held")]).json()
    assert [p["id"] for p in listed] == [red]

    cancelled = world.client.post(
        f"/proposals/{red}/cancel", json={"by": "duty-2", "reason": "track moved south"}
    )

    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    steps = [(e.actor, e.action, e.detail) for e in world.alerts.audit("proposal", red)]
    assert steps[-2:] == [
        ("duty-1", "held", "awaiting HKO's 10 signal"),
        ("duty-2", "cancelled", "track moved south"),
    ]
    assert red not in {p["id"] for p in world.client.get("/proposals").json()}
    assert not [m for m in world.alerts.messages() if m.proposal_id == red]


def test_edits_take_the_scheme_levels(world: World) -> None:
    red = world.red()
    unknown = world.client.post(f"/proposals/{red}/edit", json={"by": "duty-1", "level": "purple"})
    assert unknown.status_code == 409
    detail = unknown.json()["detail"]
    assert "'purple'" in detail and "['white', 'blue', 'yellow', 'orange', 'red']" in detail

    edited = world.client.post(
        f"/proposals/{red}/edit",
        json={"by": "duty-1", "level": "orange", "text": "Gales expected; stay indoors."},
    )

    assert edited.status_code == 200, edited.text
    view = edited.json()
    assert (view["level"], view["state"], view["text"]) == (
        "orange",
        "proposed",
        "Gales expected; stay indoors.",
    )
    assert view["audit"][-1]["detail"] == "level red -> orange; text edited"
    nothing = world.client.post(f"/proposals/{red}/edit", json={"by": "duty-1"})
    assert nothing.status_code == 409 and "must change" in nothing.json()["detail"]


def test_an_edited_area_must_name_communities_of_the_layer(
    world: World, mangkhut: tuple[dict[datetime, xr.Dataset], xr.Dataset]
) -> None:
    red = world.red()
    ids = world.client.get(f"/proposals/{red}").json()["community_ids"]
    assert len(ids) > 2
    mistyped = world.client.post(
        f"/proposals/{red}/edit", json={"by": "duty-1", "communities": [*ids[:2], "SZ-99999"]}
    )
    assert mistyped.status_code == 409
    assert (
        "'SZ-99999'" in mistyped.json()["detail"] and "community layer" in mistyped.json()["detail"]
    )
    empty = world.client.post(f"/proposals/{red}/edit", json={"by": "duty-1", "communities": []})
    assert empty.status_code == 409 and "at least one community" in empty.json()["detail"]

    narrowed = world.client.post(
        f"/proposals/{red}/edit", json={"by": "duty-1", "communities": [ids[0], ids[1], ids[0]]}
    )

    assert narrowed.status_code == 200, narrowed.text
    view = narrowed.json()
    assert view["community_ids"] == ids[:2] and view["communities"] == 2
    assert view["audit"][-1]["detail"] == f"communities {len(ids)} -> 2"
    # the confirmed message's polygons cover the two communities only
    world.client.post(f"/proposals/{red}/confirm", json={"by": "duty-1"})
    (message,) = [m for m in world.alerts.messages() if m.proposal_id == red]
    layer = mangkhut[1]
    chosen = np.isin(layer["community_id"].values.astype(str), ids[:2])
    kept = shapely.union_all(shapely.from_wkt(layer["geometry_wkt"].values[chosen]))
    (area,) = parse_cap(message.xml).infos[0].areas
    drawn = shapely.union_all(
        [shapely.Polygon([(lon, lat) for lat, lon in ring]) for ring in area.polygons]
    )
    assert drawn.area > 0.9 * kept.area
    assert drawn.difference(kept.buffer(0.002)).is_empty


def test_behind_a_proxy_the_reviewer_is_the_signed_in_user(world: World) -> None:
    app = create_app(
        world.alerts,
        world.subscriptions,
        {"typhoon": world.setup},
        clock=lambda: NOW,
        identity_header="X-Forwarded-User",
    )
    red = world.red()
    with TestClient(app) as client:
        anonymous = client.post(f"/proposals/{red}/confirm", json={"by": "duty-1"})
        assert anonymous.status_code == 401 and "X-Forwarded-User" in anonymous.json()["detail"]
        impostor = client.post(
            f"/proposals/{red}/hold",
            json={"by": "duty-2", "reason": "not mine to hold"},
            headers={"X-Forwarded-User": "duty-1"},
        )
        assert impostor.status_code == 403 and "'duty-1'" in impostor.json()["detail"]
        assert [e.action for e in world.alerts.proposal(red).audit][-1] == "proposed"
        page = client.get("/console", headers={"X-Forwarded-User": "Li Wei"}).text
        assert 'id="forecaster" autocomplete="name" value="Li Wei" readonly' in page

        held = client.post(
            f"/proposals/{red}/hold",
            json={"by": "duty-1", "reason": "awaiting the 06 UTC track"},
            headers={"X-Forwarded-User": "duty-1"},
        )

    assert held.status_code == 200, held.text
    assert (held.json()["audit"][-1]["by"], held.json()["state"]) == ("duty-1", "held")
    with TestClient(app) as client:
        assert client.get("/outbox").status_code == 401
        assert client.get("/outbox", headers={"X-Forwarded-User": "ops-1"}).status_code == 200


# -- the public feed ------------------------------------------------------------------------


def test_the_feed_holds_each_message_in_force_with_its_cap(world: World) -> None:
    world.client.post(f"/proposals/{world.red()}/confirm", json={"by": "duty-1"})
    response = world.client.get("/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml"
    assert world.client.get("/feed.atom").content == response.content

    feed = SafeElementTree.fromstring(response.content)
    assert feed.tag == ATOM + "feed"
    assert feed.find(ATOM + "link").attrib == {
        "rel": "self",
        "type": "application/atom+xml",
        "href": f"{BASE}/feed.atom",
    }
    in_force = [m for m in world.alerts.messages() if m.expires > NOW]
    # at 01:20 the yellow Alerts (13 UTC + 12 h) have expired; the red Update of 福田
    # replaced its orange one; 罗湖 and 盐田 are still orange
    assert [(m.level, m.area) for m in in_force] == [
        ("red", FUTIAN),
        ("orange", "440303"),
        ("orange", FUTIAN),
        ("orange", "440308"),
    ]
    expected = [in_force[0], in_force[1], in_force[3]]
    entries = feed.findall(ATOM + "entry")
    assert len(entries) == len(expected)
    # the red went out when duty-1 confirmed it (01:20), not at its cycle (01:00)
    assert feed.findtext(ATOM + "updated") == "2018-09-16T01:20:00+00:00"
    for entry, message in zip(entries, expected, strict=True):
        assert entry.findtext(ATOM + "title") == message.headline
        assert entry.findtext(ATOM + "updated") == message.sent.isoformat()
        assert entry.findtext(ATOM + "id").startswith("tag:yujing@440300.example,2018-09-1")
        assert entry.findtext(ATOM + "author/" + ATOM + "name") == "yujing"
        link = entry.find(ATOM + "link")
        assert link.attrib["href"] == f"{BASE}/cap/{message.identifier}.xml"
        assert link.attrib["type"] == "application/cap+xml"
        content = entry.find(ATOM + "content")
        assert content.attrib == {"type": "application/cap+xml"} and len(content) == 1
        embedded = parse_cap(ElementTree.tostring(content[0], encoding="UTF-8"))
        assert embedded == parse_cap(message.xml)
        cap = world.client.get(f"/cap/{message.identifier}.xml")
        assert cap.status_code == 200 and cap.content == message.xml
        assert cap.headers["content-type"] == "application/cap+xml"
    # the embedded alert declares its own namespace, so it can be cut out as it stands
    assert b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">' in response.content
    assert world.client.get("/cap/44030041600000_nothing.xml").status_code == 404


def test_superseded_expired_and_cancelled_messages(world: World) -> None:
    messages = world.alerts.messages()
    evening = datetime(2018, 9, 15, 20, tzinfo=UTC)  # yellow not expired, orange issued
    assert [m.level for m in messages_in_force(messages, evening)] == ["orange"] * 3
    assert messages_in_force(messages, datetime(2018, 9, 15, 14, tzinfo=UTC)) == [
        m for m in messages if m.level == "yellow"
    ]
    (orange,) = [m for m in messages if m.level == "orange" and m.area == FUTIAN]
    sent = datetime(2018, 9, 16, 2, tzinfo=UTC)
    all_clear = replace(
        orange,
        identifier="cancel-futian",
        msg_type="Cancel",
        sent=sent,
        expires=sent + timedelta(minutes=30),
    )
    later = [all_clear, *messages]
    assert "cancel-futian" in {m.identifier for m in messages_in_force(later, sent)}
    assert orange not in messages_in_force(later, sent)
    assert FUTIAN not in {m.area for m in messages_in_force(later, sent + timedelta(hours=1))}

    empty = atom_feed(
        [],
        feed_id="urn:example:feed",
        title="empty",
        self_url=f"{BASE}/feed.atom",
        cap_url=str,
        now=NOW,
    )
    feed = SafeElementTree.fromstring(empty)
    assert feed.findtext(ATOM + "updated") == "2018-09-16T01:20:00+00:00"
    assert feed.findall(ATOM + "entry") == []
    with pytest.raises(ValueError, match="no time zone"):
        messages_in_force(messages, datetime(2018, 9, 16))


# -- subscriptions, outbox, health ----------------------------------------------------------


def test_subscriptions_register_read_and_remove(world: World) -> None:
    metro = world.bearer("futian-metro")
    created = world.client.post(
        "/subscriptions", content=json.dumps(subscription_body("futian-metro")), headers=metro
    )
    assert created.status_code == 201 and created.json() == {"subscriber_id": "futian-metro"}
    stored = world.client.get("/subscriptions/futian-metro", headers=metro).json()
    assert stored["subscriber"]["id"] == "futian-metro" and stored["version"] == 1
    assert stored["rules"][0]["threshold"] == "17.2 m s-1"

    wrong = subscription_body("futian-metro")
    wrong["rules"][0]["threshold"] = "17.2 km"
    refused = world.client.post("/subscriptions", content=json.dumps(wrong), headers=metro)
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["field"] == "rules[0].threshold" and "m s-1" in problem["message"]
    garbage = world.client.post("/subscriptions", content=b"{not json", headers=metro)
    assert garbage.status_code == 422 and garbage.json()["problems"][0]["field"] == "(body)"

    assert world.client.delete("/subscriptions/futian-metro", headers=metro).status_code == 204
    assert world.client.delete("/subscriptions/futian-metro", headers=metro).status_code == 404
    assert world.client.get("/subscriptions/futian-metro", headers=metro).status_code == 404
    audit = [(r.actor, r.action) for r in world.alerts.audit("subscriber", "futian-metro")]
    assert audit == [
        ("operator-1", "token issued"),
        ("futian-metro", "registered"),
        ("futian-metro", "removed"),
    ]


def test_only_the_subscribers_token_manages_its_subscription(world: World) -> None:
    """Without a token 401, with another subscriber's 403; the stored set is untouched."""
    before = world.subscriptions.get("futian-em")
    assert before is not None
    hijack = subscription_body("futian-em")
    hijack["channels"][0]["url"] = "http://127.0.0.1:9/elsewhere"
    body = json.dumps(hijack)
    other = world.bearer("luohu-water")
    forged = {"Authorization": "Bearer yjs_" + "A" * 43}

    def every_route(headers: dict[str, str]) -> list[Any]:
        return [
            world.client.post("/subscriptions", content=body, headers=headers),
            world.client.get("/subscriptions/futian-em", headers=headers),
            world.client.delete("/subscriptions/futian-em", headers=headers),
            world.client.get("/subscriptions/futian-em/deliveries", headers=headers),
        ]

    for headers in ({}, forged, {"Authorization": "Basic ZnV0aWFuOmVt"}):
        for response in every_route(headers):
            assert response.status_code == 401, response.text
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "Authorization: Bearer" in response.json()["detail"]
    for response in every_route(other):
        assert response.status_code == 403, response.text
        assert "'luohu-water'" in response.json()["detail"]

    assert world.subscriptions.get("futian-em") == before
    own = world.bearer("futian-em")
    assert world.client.get("/subscriptions/futian-em", headers=own).status_code == 200
    assert world.subscriptions.revoke_tokens("futian-em", by="operator-2") == 1
    revoked = world.client.get("/subscriptions/futian-em", headers=own)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"]
    (record,) = world.subscriptions.tokens("futian-em")
    assert (record.active, record.revoked_by) == (False, "operator-2")
    assert own["Authorization"].removeprefix("Bearer ").startswith(record.hint)


def test_a_subscriber_sees_its_own_deliveries(world: World) -> None:
    own = world.bearer("futian-em")
    queued = world.alerts.deliveries(subscriber_id="futian-em")
    # Futian's yellow then orange, never dispatched: only the newer of the thread goes out
    assert [d.status for d in queued] == ["superseded", "pending"]
    first, second = queued
    (claimed,) = world.alerts.claim("test-dispatcher", 5, timedelta(minutes=5), send_expired=True)
    assert claimed.id == second.id
    world.alerts.settle(
        claimed.token,
        "test-dispatcher",
        dead=[(second.id, "HTTP 410 from http://127.0.0.1:9/hook")],
    )

    listed = world.client.get("/subscriptions/futian-em/deliveries", headers=own)
    dead = world.client.get("/subscriptions/futian-em/deliveries?status=dead", headers=own)
    replaced = world.client.get(
        "/subscriptions/futian-em/deliveries?status=superseded", headers=own
    )
    newest = world.client.get("/subscriptions/futian-em/deliveries?latest=1", headers=own)
    too_many = world.client.get("/subscriptions/futian-em/deliveries?latest=5000", headers=own)

    assert [(d["id"], d["status"]) for d in listed.json()["deliveries"]] == [
        (first.id, "superseded"),
        (second.id, "dead"),
    ]
    (gone,) = dead.json()["deliveries"]
    assert gone["last_error"] == "HTTP 410 from http://127.0.0.1:9/hook"
    assert gone["message"] == second.message_identifier and gone["target"] == second.target
    assert gone["thread"] == f"warning/typhoon/{FUTIAN}" and gone["next_attempt_at"] is None
    (older,) = replaced.json()["deliveries"]
    assert older["id"] == first.id and older["attempts"] == 0
    assert older["last_error"].startswith("superseded before it was sent: delivery ")
    assert second.idempotency_key[:16] in older["last_error"]
    assert [d["id"] for d in newest.json()["deliveries"]] == [second.id]
    assert too_many.status_code == 422


def _statuses(health: Any) -> dict[str, str]:
    return {check["name"]: check["status"] for check in health.json()["checks"]}


def _hold_every_proposal(world: World) -> None:
    """The duty forecaster holds the red upgrades: no proposal waits unseen any more."""
    for proposal in world.alerts.proposals(states=["proposed"]):
        held = world.client.post(
            f"/proposals/{proposal.id}/hold",
            json={"by": "duty-1", "reason": "awaiting the 06 UTC track"},
        )
        assert held.status_code == 200


def test_outbox_shows_counts_and_dead_letters(world: World) -> None:
    assert world.client.get("/outbox").json() == {
        "counts": {"pending": 1, "superseded": 1},  # Futian's orange replaced its yellow
        "dead_letters": [],
    }
    healthy = world.client.get("/health")
    assert (healthy.json()["database"], healthy.json()["pending"]) == (world.alerts.where, 1)
    assert _statuses(healthy)["dead letters"] == "ok"
    claimed = world.alerts.claim("test-dispatcher", 1, timedelta(minutes=5), send_expired=True)
    (first,) = claimed
    world.alerts.settle(
        first.token, "test-dispatcher", dead=[(first.id, "HTTP 410 from http://127.0.0.1:9/hook")]
    )

    outbox = world.client.get("/outbox").json()

    assert outbox["counts"] == {"superseded": 1, "dead": 1}
    assert outbox["dead_letters"] == [
        {
            "id": first.id,
            "subscriber": "futian-em",
            "channel": "webhook",
            "target": "http://127.0.0.1:9/hook",
            "attempts": 1,
            "last_error": "HTTP 410 from http://127.0.0.1:9/hook",
            "message": world.alerts.deliveries(status="dead")[0].message_identifier,
        }
    ]
    after = world.client.get("/health")
    assert after.json()["pending"] == 0 and _statuses(after)["dead letters"] == "degraded"


def test_the_token_module_examples_hold() -> None:
    import doctest

    from alerting.subscriptions import tokens

    failed, attempted = doctest.testmod(tokens)
    assert (failed, attempted > 0) == (0, True)


# -- health and dead letters ------------------------------------------------------------------


def _beat(world: World, at: datetime, owner: str = "dispatcher-1") -> None:
    """A dispatcher sending webhooks polls the outbox at ``at``."""
    url = f"sqlite:///{world.alerts.where.removeprefix('sqlite:///')}"
    store = AlertStore(url, clock=lambda: at)
    try:
        store.heartbeat(owner, ["webhook"])
    finally:
        store.close()


def _health(world: World, now: datetime, review_max_wait: str = "15 min") -> Any:
    app = create_app(
        world.alerts,
        world.subscriptions,
        {"typhoon": world.setup},
        clock=lambda: now,
        cycle_max_age={"typhoon": timedelta(minutes=20)},
        watchdog=WatchdogConfig.model_validate({"review_max_wait": review_max_wait}),
    )
    with TestClient(app) as client:
        return client.get("/health")


def test_health_fails_when_the_typhoon_cycle_stops_or_the_outbox_is_not_drained(
    world: World,
) -> None:
    _hold_every_proposal(world)
    _beat(world, NOW - timedelta(seconds=30))
    on_time = _health(world, NOW)  # the 01 UTC cycle, 20 min before
    stopped = _health(world, NOW + timedelta(seconds=1))
    due = world.alerts.next_due()
    assert due is not None
    undrained = _health(world, due + timedelta(minutes=11))

    assert on_time.status_code == 200
    assert [(c["name"], c["status"]) for c in on_time.json()["checks"]] == [
        ("cycle:typhoon", "ok"),
        ("dispatcher", "ok"),
        ("heartbeat", "ok"),
        ("dead letters", "ok"),
        ("review", "ok"),
    ]
    assert on_time.json()["checks"][2]["detail"] == (
        "'dispatcher-1' polled 0 min ago, sends webhook"
    )
    assert stopped.status_code == 503 and stopped.json()["status"] == "failing"
    assert stopped.json()["checks"][0]["detail"] == (
        "newest cycle 2018-09-16T01:00:00Z is 20 min old, more than 20 min"
    )
    assert undrained.status_code == 503
    dispatcher = undrained.json()["checks"][1]
    assert dispatcher["status"] == "failing" and "11 min overdue" in dispatcher["detail"]


def test_a_red_signal_left_unreviewed_fails_the_health_check(
    world: World, mangkhut: tuple[dict[datetime, xr.Dataset], xr.Dataset]
) -> None:
    """The three red upgrades proposed at 01 UTC wait for a forecaster. At 01:20 they have
    waited 20 min, more than 15. The 07 UTC cycle supersedes two of them with new
    proposals: the areas have still waited since 01 UTC. Held, nothing waits unseen."""
    _beat(world, NOW)
    waited = _health(world, NOW)
    patient = _health(world, NOW, review_max_wait="30 min")
    results, _ = mangkhut
    later = min(t for t in results if t > RED_CYCLE)
    alerting_cycle(results[later], later, world.setup, world.alerts, world.subscriptions)
    chained = world.alerts.awaiting_review()
    issued = {p.decision.area: p.decision.issue_time for p in world.alerts.proposals()}
    _hold_every_proposal(world)

    assert waited.status_code == 503
    assert _statuses(waited)["review"] == "failing"
    assert waited.json()["checks"][-1]["detail"] == (
        "3 proposals wait for a forecaster; red typhoon for area 440303 has waited 20 min, "
        "more than 15 min: open /console"
    )
    assert patient.status_code == 200 and _statuses(patient)["review"] == "ok"
    assert {(w.area, w.proposal_id == world.red(w.area)) for w in chained} == {
        ("440303", True),
        ("440304", True),
        ("440308", True),
    }
    assert issued == {"440303": RED_CYCLE, "440304": later, "440308": later}
    assert {w.since for w in chained} == {RED_CYCLE}
    assert world.alerts.awaiting_review() == []


def test_the_console_warns_the_forecaster_when_the_service_is_not_healthy(world: World) -> None:
    _hold_every_proposal(world)
    _beat(world, NOW)
    assert 'class="health' not in world.client.get("/console").text
    (first,) = world.alerts.deliveries(status="pending")
    (claimed,) = world.alerts.claim("test-dispatcher", 1, timedelta(minutes=5), send_expired=True)
    world.alerts.settle(claimed.token, "test-dispatcher", dead=[(first.id, "HTTP 410")])
    degraded = world.client.get("/console").text
    app = create_app(
        world.alerts,
        world.subscriptions,
        {"typhoon": world.setup},
        clock=lambda: NOW + timedelta(hours=1),
        cycle_max_age={"typhoon": timedelta(minutes=20)},
    )
    with TestClient(app) as client:
        failing = client.get("/console").text

    assert '<section class="health degraded" role="alert">' in degraded
    assert "<b>dead letters</b>: 1 deliveries of the last 24.0 h were given up" in degraded
    assert '<section class="health failing" role="alert">' in failing
    assert "confirmed warnings may not reach anyone" in failing
    assert "<b>cycle:typhoon</b>: newest cycle 2018-09-16T01:00:00Z is 80 min old" in failing


def test_a_silent_dispatcher_fails_before_any_warning_needs_it(world: World) -> None:
    """No dispatcher ever ran, then one starts (its first heartbeat), then it stays silent
    past the 2-min default while nothing is due: only the heartbeat says so."""
    _hold_every_proposal(world)
    never = _health(world, NOW)
    dispatcher = Dispatcher(world.alerts, {}, owner="dispatcher-7")
    dispatcher.start()
    (started,) = world.alerts.dispatchers()
    stop = threading.Event()
    stop.set()
    dispatcher.run_forever(stop)  # one beat, then it stops at once
    dispatcher.close()
    (beaten,) = world.alerts.dispatchers()
    silent = _health(world, beaten[1] + timedelta(minutes=3))

    assert never.status_code == 503
    assert never.json()["checks"][2] == {
        "name": "heartbeat",
        "status": "failing",
        "detail": "no dispatcher has ever run: start `yujing dispatch`",
    }
    assert started[0] == "dispatcher-7" and started[2] == ()
    assert beaten[1] >= started[1]
    assert silent.status_code == 503
    assert silent.json()["checks"][2]["detail"].startswith(
        "no dispatcher has polled the outbox for 3 min (more than 2 min; last 'dispatcher-7'"
    )
    # alive, but started without the webhook key: the two webhook deliveries would wait
    # ten minutes before the overdue check noticed
    assert world.alerts.waiting_channels() == ["webhook"]
    keyless = _health(world, beaten[1] + timedelta(seconds=10))
    assert keyless.json()["checks"][2] == {
        "name": "heartbeat",
        "status": "failing",
        "detail": "deliveries wait on webhook, which no running dispatcher sends "
        "('dispatcher-7' sends no channel): start `yujing dispatch` with that channel "
        "(--webhook-key-file, --mqtt, --smtp)",
    }


def test_dead_letters_are_requeued_unless_expired_or_replaced(world: World) -> None:
    (first,) = world.alerts.deliveries(status="pending")
    (claimed,) = world.alerts.claim("test-dispatcher", 1, timedelta(minutes=5), send_expired=True)
    world.alerts.settle(claimed.token, "test-dispatcher", dead=[(first.id, "HTTP 410")])
    (message,) = [m for m in world.alerts.messages() if m.identifier == first.message_identifier]
    url = f"sqlite:///{world.alerts.where.removeprefix('sqlite:///')}"

    later = AlertStore(url, clock=lambda: message.expires)
    assert later.requeue("ops-1") == ([], [first.id], [])
    assert world.alerts.deliveries(status="dead")[0].id == first.id
    with pytest.raises(ValueError, match="blank"):
        later.requeue(" ")
    later.close()
    in_force = AlertStore(url, clock=lambda: message.expires - timedelta(minutes=1))
    assert in_force.requeue("ops-1", subscriber_id="someone-else") == ([], [], [])
    assert in_force.requeue("ops-1", subscriber_id="futian-em") == ([first.id], [], [])
    in_force.close()

    (again,) = [d for d in world.alerts.deliveries() if d.id == first.id]
    assert (again.status, again.attempts, again.last_error) == ("pending", 0, "HTTP 410")
    assert again.next_attempt_at == message.expires - timedelta(minutes=1)
    steps = [(r.actor, r.action) for r in world.alerts.audit("delivery", first.idempotency_key)]
    assert steps[-2:] == [("test-dispatcher", "dead"), ("ops-1", "requeued")]

    # Dead again; then the forecaster confirms red on the same thread: the orange, sent
    # now, would arrive after the red, so it stays dead whatever is asked.
    (claimed,) = world.alerts.claim("test-dispatcher", 1, timedelta(minutes=5), send_expired=True)
    world.alerts.settle(claimed.token, "test-dispatcher", dead=[(first.id, "HTTP 410")])
    confirmed = world.client.post(f"/proposals/{world.red()}/confirm", json={"by": "duty-1"})
    assert confirmed.status_code == 200
    assert world.alerts.requeue("ops-1", include_expired=True) == ([], [], [first.id])
    assert [d.id for d in world.alerts.deliveries(status="dead")] == [first.id]


def test_a_subscriber_pulls_the_impact_forecasts_in_force(
    world: World, mangkhut: tuple[dict[datetime, xr.Dataset], xr.Dataset]
) -> None:
    """A port office in Futian with 'gust >= 17.2 m s-1 within 12 h, probability >= 0.3'
    registers after the 01 UTC cycle; the next Mangkhut cycle (07 UTC, the storm ~100 km
    south-west) meets it. What it pulls is what was pushed to it, byte for byte."""
    results, _ = mangkhut
    body = subscription_body("futian-port")
    body["rules"][0]["min_probability"] = 0.3
    own = world.bearer("futian-port")
    assert world.client.post("/subscriptions", content=json.dumps(body), headers=own).is_success
    url = "/subscriptions/futian-port/impacts"
    before = world.client.get(url, headers=own).json()
    later = min(t for t in results if t > RED_CYCLE)
    alerting_cycle(results[later], later, world.setup, world.alerts, world.subscriptions)

    after = world.client.get(url, headers=own).json()

    assert before == {"impacts": [], "cycles": {"typhoon": "2018-09-16T01:00:00Z"}}
    assert after["cycles"] == {"typhoon": "2018-09-16T07:00:00Z"}
    (impact,) = after["impacts"]
    assert (impact["hazard"], impact["asset_id"], impact["rule_position"]) == (
        "typhoon",
        "office",
        0,
    )
    assert impact["issue_time"] == "2018-09-16T07:00:00Z"
    assert impact["forecast"]["probability"] >= 0.3
    assert impact["forecast"]["threshold"] == "17.2 m s-1"
    claimed = [
        c.envelope
        for c in world.alerts.claim("test-dispatcher", 100, timedelta(minutes=5), send_expired=True)
        if c.envelope.subscriber_id == "futian-port"
    ]
    pushed = [e.body for e in claimed if e.content_type == "application/json"]
    assert [json.loads(b) for b in pushed] == [impact["forecast"]]
    # Futian's orange would expire at 07 UTC while its red waits for the forecaster: the
    # cycle renewed it, and the port, in the area, gets that too.
    (renewal,) = [parse_cap(e.body) for e in claimed if e.content_type == "application/cap+xml"]
    assert renewal.msg_type == "Update" and renewal.infos[0].parameters[0] == (
        "yujing:level",
        "orange",
    )
    # Cycles stop: once its 12-h window has ended, the forecast is no longer in force.
    ended = datetime.fromisoformat(impact["forecast"]["expires"])
    assert ended == datetime(2018, 9, 16, 19, tzinfo=UTC)  # the 07 UTC run + 12 h
    for now, listed in ((ended - timedelta(minutes=1), 1), (ended, 0)):
        app = create_app(
            world.alerts, world.subscriptions, {"typhoon": world.setup}, clock=lambda at=now: at
        )
        with TestClient(app) as client:
            assert len(client.get(url, headers=own).json()["impacts"]) == listed
    other = world.client.get(url, headers=world.bearer("futian-em"))
    assert other.status_code == 403
    assert (
        world.client.get(
            "/subscriptions/nobody/impacts", headers=world.bearer("nobody")
        ).status_code
        == 404
    )
