"""The console's proposal cards, rendered without a browser.

Decisions come from the lifecycle on real hazard results: Typhoon Mangkhut 2018 over three
Shenzhen districts (``tests/fixtures/alerting``, the ``mangkhut`` fixture).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alerting.lifecycle import ActiveWarning, LifecyclePolicy, decide
from alerting.review import propose
from yujing.api import ProposalView
from yujing.console import console_page

LEVELS = {"typhoon": ["white", "blue", "yellow", "orange", "red"]}


def _decisions(mangkhut: Any, policy: LifecyclePolicy) -> list[Any]:
    """Every decision of the fixture's cycles, then of the storm gone for 14 h."""
    results = mangkhut[0]
    active: dict[str, ActiveWarning] = {}
    decided = []
    times = sorted(results)
    for issue in times[:-1]:
        decisions, active = decide(results[issue], active, policy, "district", issue)
        decided += decisions
    gone, last = results[times[-1]], times[-2]
    for hours in (1, 7, 8, 14):
        later = last + timedelta(hours=hours)
        decisions, active = decide(gone, active, policy, "district", later)
        decided += decisions
    return decided


def _page(decision: Any) -> str:
    waiting = dataclasses.replace(decision, needs_confirmation=True)
    view = ProposalView.of(propose(waiting, decision.issue_time))
    return console_page([view], decision.issue_time, "Asia/Shanghai", "深圳市", levels=LEVELS)


def test_a_card_lifting_a_signal_offers_confirm_or_keep_and_only_the_text(  # type: ignore[no-untyped-def]
    mangkhut, mangkhut_policy
) -> None:
    decided = _decisions(mangkhut, mangkhut_policy)
    lift = next(d for d in decided if d.action == "cancel")
    raise_ = next(d for d in decided if d.action in ("issue", "upgrade"))
    page = _page(lift)
    assert f"{lift.previous_level} → lifted" in page
    assert "Confirm: lift the signal" in page and "Withdraw: keep the signal" in page
    assert 'class="level"' not in page and 'class="area-edit"' not in page
    assert 'class="text-edit"' in page  # the all-clear's wording can still be edited
    other = _page(raise_)
    assert "Confirm and send" in other and ">Withdraw<" in other
    assert 'class="level"' in other and 'class="area-edit"' in other


def test_a_card_says_what_the_public_has_and_that_it_is_kept(  # type: ignore[no-untyped-def]
    mangkhut, mangkhut_policy, mangkhut_context
) -> None:
    """Lowering an area whose red went out: the card says the public has red, and that
    the red stays in force, renewed, while the forecaster decides."""
    from alerting.cycle import thread_alert, warning_message
    from alerting.review import confirm

    decided = _decisions(mangkhut, mangkhut_policy)
    lower = next(d for d in decided if d.previous_level == "red" and d.level != "red")
    red = [d for d in decided if d.area == lower.area and d.issue_time < lower.issue_time][-1]
    assert red.level == "red"  # the area's last red decision, 12 h valid
    sent = confirm(propose(red, red.issue_time), "duty-1", red.issue_time)
    alert = thread_alert(sent, mangkhut_context, None)
    message = warning_message(sent, alert, mangkhut_context)
    waiting = propose(dataclasses.replace(lower, needs_confirmation=True), lower.issue_time)
    view = ProposalView.of(waiting, message, lower.issue_time, mangkhut_policy)
    assert view.in_force is not None and view.in_force.level == "red" and view.in_force.renewed
    page = console_page([view], lower.issue_time, "Asia/Shanghai", "深圳市", levels=LEVELS)
    assert f"typhoon red → {lower.level}" in page
    local = message.expires.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert "the public has: <b>red</b> (Alert of 2018-09-16 " in page
    assert f"in force until {local} CST, renewed while this waits" in page
    # Without confirm_lowering a red is let lapse: the card does not promise a renewal.
    loose = mangkhut_policy.model_copy(update={"confirm_lowering": False})
    kept = ProposalView.of(waiting, message, lower.issue_time, loose).in_force
    assert kept is not None and not kept.renewed
    # Past its expiry nothing is in force.
    later = message.expires + timedelta(seconds=1)
    assert ProposalView.of(waiting, message, later).in_force is None
