"""The console's proposal cards, rendered without a browser.

Decisions come from the lifecycle on real hazard results: Typhoon Mangkhut 2018 over three
Shenzhen districts (``tests/fixtures/alerting``, the ``mangkhut`` fixture).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

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
