"""The duty forecasters' console (``GET /console``) in a real browser over a real server.

The proposals come from a real warning cycle: the heat demo of ``configs/era5-uk-demo.yaml``
(ERA5 2 m temperature, March 2019, SOURCES.md §8) at 2019-03-30 16:00 UTC, every level kept
for the forecaster, on an SQLite store. The API runs under uvicorn on a loopback port and
Debian's Chromium (``/usr/bin/chromium``, driven by Playwright) clicks the buttons.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerting.outbox.store import AlertStore
from yujing.settings import load_settings
from yujing.warn import review_api, upgrade_alert_database, warning_cycle

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
ISSUE = datetime(2019, 3, 30, 16, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(
    data_root: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """The console's URL and the settings of its store, after one real warning cycle."""
    import uvicorn

    from hazard_models.region import load_region

    folder = tmp_path_factory.mktemp("console")
    demo = load_settings(REPO / "configs" / "era5-uk-demo.yaml", data_root=data_root)
    assert demo.alerting is not None
    policy = demo.alerting.policy["heatwave_demo"].model_copy(
        update={"confirm_levels": ("yellow", "orange", "red")}
    )
    settings = demo.model_copy(
        update={
            "hazards": {"heatwave_demo": demo.hazards["heatwave_demo"]},
            "alerting": demo.alerting.model_copy(
                update={
                    "database": f"sqlite:///{folder / 'alerts.db'}",
                    "policy": {"heatwave_demo": policy},
                }
            ),
        }
    )
    upgrade_alert_database(settings)
    region = load_region(settings.region, settings.communities, cache_dir)
    done = warning_cycle(settings, ISSUE, output_dir=folder, region=region)
    assert done.receipts["heatwave_demo"].proposals > 1
    app, close = review_api(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/console", settings
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        close()


def _waiting(settings: Any) -> dict[str, Any]:
    store = AlertStore(settings.alert_database)
    try:
        return {p.id: p for p in store.proposals(states=["proposed", "held", "confirmed"])}
    finally:
        store.close()


_BOX = (
    "path => { const b = path.getBBox(); "
    "return {x: b.x, y: b.y, width: b.width, height: b.height}; }"
)


def _inside(inner: dict[str, float], outer: dict[str, float], slack: float = 1.0) -> bool:
    """True when the drawn box ``inner`` lies within ``outer`` (SVG units)."""
    return (
        inner["width"] > 0
        and inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


def test_forecaster_confirms_and_holds_in_the_console(served: Any) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install -y "
            "chromium` (as root; CI's .ci/run does this). Do not run `playwright install`."
        )
    from playwright.sync_api import expect, sync_playwright

    url, settings = served
    before = _waiting(settings)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        cards = page.locator("section.card")
        assert cards.count() == len(before) > 1
        first, second, third = (cards.nth(i).get_attribute("data-id") for i in (0, 1, 2))
        assert first is not None and second is not None and third is not None
        card = page.locator(f'section.card[data-id="{first}"]')
        assert "heatwave" in card.locator("h2").inner_text()
        assert "24-h maximum tas" in card.locator("table.evidence").inner_text()
        # No name, no step: the page says so and nothing is sent.
        card.locator('button[data-action="confirm"]').click()
        assert "Type your name" in card.locator(".status").inner_text()
        page.fill("#forecaster", "Li Wei")
        page.dispatch_event("#forecaster", "change")
        with page.expect_navigation():
            card.locator('button[data-action="confirm"]').click()
        held = page.locator(f'section.card[data-id="{second}"]')
        held.locator('button[data-action="hold"]').click()
        assert "reason is needed" in held.locator(".status").inner_text()
        held.locator("input.reason").fill("waiting for the 06 UTC run")
        with page.expect_navigation():
            held.locator('button[data-action="hold"]').click()
        held = page.locator(f'section.card[data-id="{second}"]')
        assert held.get_attribute("data-state") == "held"
        assert page.locator(f'section.card[data-id="{first}"]').count() == 0  # sent, gone
        # The forecaster raises the third proposal to red; it then waits for confirmation.
        edited = page.locator(f'section.card[data-id="{third}"]')
        edited.locator("details summary", has_text="edit").click()
        edited.locator('button[data-action="edit"]').click()
        assert "Nothing changed" in edited.locator(".status").inner_text()
        assert edited.locator("select.level option").all_inner_texts() == [
            "yellow",
            "orange",
            "red",
        ]
        # Every card maps its area inside the region's outline.
        for i in range(cards.count()):
            drawn = cards.nth(i).locator("svg.map path.area")
            assert drawn.get_attribute("d")
        box_before = edited.locator("svg.map path.area").evaluate(_BOX)
        region = edited.locator("svg.map path.region").evaluate(_BOX)
        assert _inside(box_before, region)
        # A mistyped community id is refused by name and nothing changes ...
        area = edited.locator("textarea.area-edit")
        ids = area.input_value().split()
        assert ids == list(before[third].decision.communities)
        area.fill(" ".join([*ids, "XX-0000"]))
        edited.locator('button[data-action="edit"]').click()
        expect(edited.locator(".status")).to_contain_text("'XX-0000' not in the community layer")
        # ... its area grown by the held proposal's communities, at red, is saved.
        held_ids = held.locator("textarea.area-edit").input_value().split()
        grown = [*ids, *(c for c in held_ids if c not in ids)]
        assert len(grown) > len(ids)
        area.fill(" ".join(grown))
        edited.locator("select.level").select_option("red")
        with page.expect_navigation():
            edited.locator('button[data-action="edit"]').click()
        edited = page.locator(f'section.card[data-id="{third}"]')
        assert edited.get_attribute("data-level") == "red"
        box_after = edited.locator("svg.map path.area").evaluate(_BOX)
        assert _inside(box_before, box_after)
        assert box_after["width"] * box_after["height"] > (
            box_before["width"] * box_before["height"]
        )
        browser.close()
    # Chromium reports the one refused edit (409) as a failed resource; nothing else fails.
    assert errors == [
        "Failed to load resource: the server responded with a status of 409 (Conflict)"
    ]
    after = _waiting(settings)
    assert after[first].state == "confirmed" and after[second].state == "held"
    assert [(e.by, e.action) for e in after[first].audit][-1] == ("Li Wei", "confirmed")
    assert after[second].audit[-1].detail.endswith("waiting for the 06 UTC run")
    assert before[third].decision.level != "red"
    assert after[third].decision.level == "red" and after[third].state == "proposed"
    assert after[third].decision.communities == tuple(grown)
    assert after[third].audit[-1].by == "Li Wei"


def test_the_served_api_takes_a_subscription_by_token_inside_the_region(
    served: Any, cache_dir: Path
) -> None:
    """Over the real server: the subscription routes need the subscriber's token, and an
    asset outside the region's community layer (here written [lat, lon]) is refused."""
    import requests
    import shapely

    from alerting.subscriptions import SubscriptionStore
    from hazard_models.region import load_region

    url, settings = served
    base = url.removesuffix("/console")
    region = load_region(settings.region, settings.communities, cache_dir)
    inside = shapely.from_wkt(str(region.communities["geometry_wkt"].values[0])).centroid
    with SubscriptionStore(settings.alert_database) as store:
        token = store.issue_token("dales-water", by="ops-1")
    body: dict[str, Any] = {
        "subscriber": {
            "id": "dales-water",
            "name": "Dales water works",
            "organisation": "Dales Water",
            "sector": "water",
        },
        "assets": [
            {"id": "works", "name": "works", "geometry": {"type": "Point", "coordinates": []}}
        ],
        "rules": [
            {
                "hazard": "heatwave",
                "variable": "tas",
                "comparison": ">=",
                "threshold": "25 degC",
                "within": "24 h",
            }
        ],
        "channels": [
            {"kind": "email", "address": "duty@dales.example.org", "languages": ["en-US"]}
        ],
    }
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    body["assets"][0]["geometry"]["coordinates"] = [inside.y, inside.x]
    swapped = requests.post(f"{base}/subscriptions", json=body, headers=headers, timeout=30)
    body["assets"][0]["geometry"]["coordinates"] = [inside.x, inside.y]
    anonymous = requests.post(f"{base}/subscriptions", json=body, timeout=30)
    created = requests.post(f"{base}/subscriptions", json=body, headers=headers, timeout=30)

    assert swapped.status_code == 422
    (problem,) = swapped.json()["problems"]
    assert problem["field"] == "assets[0].geometry" and "[lat, lon]" in problem["message"]
    assert anonymous.status_code == 401
    assert created.status_code == 201, created.text
    read = requests.get(f"{base}/subscriptions/dales-water", headers=headers, timeout=30)
    assert read.json()["assets"][0]["geometry"]["coordinates"] == [inside.x, inside.y]
