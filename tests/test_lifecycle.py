"""The warning lifecycle on real hazard results: Typhoon Mangkhut 2018 over Shenzhen.

Hazard results come from the ``typhoon-ensemble`` model on the JMA best track of Mangkhut
1822 (SOURCES.md §1.2) with the baseline forecaster, 10 members, the Shenzhen signal scheme
(district partition), as ``yujing replay mangkhut-2018`` makes them.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import xarray as xr

from alerting.lifecycle import ActiveWarning, LifecyclePolicy, area_levels, decide
from hazard_models import get_model
from ingest.readers.jma_besttrack import read_jma_best_tracks

FUTIAN = "440304"
ISSUES = [datetime(2018, 9, d, h, tzinfo=UTC) for d, h in ((15, 13), (15, 19), (16, 1), (16, 7),
                                                          (16, 13), (16, 19), (17, 1))]  # fmt: skip
POLICY = LifecyclePolicy(
    look_ahead=timedelta(0),  # the typhoon windows already look ahead
    min_duration=timedelta(hours=3),
    downgrade_after=timedelta(hours=5),
    validity=timedelta(hours=12),
    confirm_levels=("red",),
)


@pytest.fixture(scope="module")
def mangkhut_results(shenzhen_settings, shenzhen_region, data_root) -> dict[datetime, Any]:  # type: ignore[no-untyped-def]
    track = read_jma_best_tracks(data_root / "tc" / "jma_rsmc_bst_2015_2021jul.txt")["1822"]
    options = {**shenzhen_settings.hazards["typhoon"].options, "members": 10}
    scheme = shenzhen_settings.signal_schemes["shenzhen-typhoon"]
    model = get_model("typhoon-ensemble")(scheme, options, shenzhen_settings.risk)
    results = {}
    for issue in [*ISSUES, datetime(2018, 9, 25, tzinfo=UTC)]:
        known = track.sel(time=slice(None, issue.replace(tzinfo=None) - timedelta(hours=1)))
        results[issue] = model.run({"track": known}, shenzhen_region, issue)
    return results


def _run(results: dict[datetime, xr.Dataset], times: list[datetime]) -> list[Any]:
    active: dict[str, ActiveWarning] = {}
    log = []
    for issue in times:
        decisions, active = decide(results[issue], active, POLICY, "district", issue)
        log.append((issue, decisions, dict(active)))
    return log


def test_areas_are_districts_with_their_communities(mangkhut_results) -> None:  # type: ignore[no-untyped-def]
    result = mangkhut_results[ISSUES[3]]  # 16 Sep 07 UTC, the storm closest
    areas = area_levels(result, "district", timedelta(0))
    assert len(areas) == 9  # Shenzhen's nine districts in the community layer
    futian = next(a for a in areas if a.area == FUTIAN)
    assert futian.area_name == "福田区"
    assert result["level"].values[futian.index - 1] == "red"
    in_futian = (result["district_code"].values == FUTIAN).sum()
    assert 0 < len(futian.communities) <= in_futian


def test_mangkhut_warnings_escalate_then_step_down_without_flapping(mangkhut_results) -> None:  # type: ignore[no-untyped-def]
    log = _run(mangkhut_results, ISSUES)
    futian = [
        (issue, d.action, d.level)
        for issue, decisions, _ in log
        for d in decisions
        if d.area == FUTIAN
    ]
    actions = [action for _, action, _ in futian if action != "update"]
    levels = [level for _, action, level in futian if action != "update"]
    assert actions[0] == "issue"
    # Upgrades come at once, one cycle after another, up to red on the 16th.
    first_red = next(i for i, (_, _, level) in enumerate(futian) if level == "red")
    assert futian[first_red][0] <= datetime(2018, 9, 16, 7, tzinfo=UTC)
    assert set(actions[1 : actions.index("downgrade")]) <= {"upgrade", "extend"}
    # Downgrades wait for the lower proposal to persist 5 h: not at 13 UTC, at 19 UTC.
    down = [issue for issue, action, _ in futian if action == "downgrade"]
    assert down and down[0] >= datetime(2018, 9, 16, 19, tzinfo=UTC)
    assert levels.index("red") < len(levels) - 1
    # The red warning needed a forecaster's confirmation, the others went automatically
    # (lowering a red that went out waits too: alerting.cycle, which knows what was sent).
    for _, decisions, _ in log:
        for decision in decisions:
            assert decision.needs_confirmation == (
                decision.level == "red" and decision.action != "cancel"
            )
            assert decision.sequence >= 1
            assert decision.evidence["model"].startswith("typhoon-ensemble")


def test_alternating_proposals_do_not_flap(mangkhut_results) -> None:  # type: ignore[no-untyped-def]
    red, yellow = mangkhut_results[ISSUES[3]], mangkhut_results[ISSUES[4]]
    active: dict[str, ActiveWarning] = {}
    actions = []
    start = datetime(2018, 9, 16, 7, tzinfo=UTC)
    for k in range(8):  # every 30 minutes, red and yellow proposals alternate
        result = red if k % 2 == 0 else yellow
        decisions, active = decide(
            result, active, POLICY, "district", start + k * timedelta(minutes=30)
        )
        actions += [d.action for d in decisions if d.area == FUTIAN]
    assert actions.count("issue") == 1
    assert "downgrade" not in actions and "cancel" not in actions
    assert active[FUTIAN].level == "red"


def test_a_storm_gone_cancels_after_the_hysteresis(mangkhut_results) -> None:  # type: ignore[no-untyped-def]
    gone = mangkhut_results[datetime(2018, 9, 25, tzinfo=UTC)]
    assert gone.attrs["no_storm"]
    log = _run(mangkhut_results, ISSUES[2:4])
    active = log[-1][2]
    assert active[FUTIAN].level == "red"
    later = ISSUES[3] + timedelta(hours=1)
    decisions, active = decide(gone, active, POLICY, "district", later)
    assert decisions == [] and active[FUTIAN].lower_index == 0  # pending, not yet cancelled
    decisions, active = decide(gone, active, POLICY, "district", later + timedelta(hours=5))
    cancels = {d.area: d for d in decisions if d.action == "cancel"}
    assert FUTIAN in cancels and FUTIAN not in active
    assert cancels[FUTIAN].previous_level == "red"
    assert cancels[FUTIAN].sequence == log[-1][2][FUTIAN].sequence + 1
    # Where the red signal went out, lifting it waits for the duty forecaster (the
    # alerting cycle sets needs_confirmation); its level and area are not editable.
    lift = cancels[FUTIAN]
    assert lift.level == "red"
    from alerting.review import ReviewError, edit, propose

    waiting = propose(dataclasses.replace(lift, needs_confirmation=True), lift.issue_time)
    assert waiting.state == "proposed"
    levels = {"yellow": 2, "orange": 3, "red": 4}
    with pytest.raises(ReviewError, match="lifts the red warning of 福田区: its level and area"):
        edit(waiting, "duty-1", lift.issue_time, levels=levels, level="orange")
    worded = edit(waiting, "duty-1", lift.issue_time, levels=levels, text="解除台风红色预警")
    assert worded.decision.action == "cancel" and worded.text == "解除台风红色预警"


def test_an_extension_while_lower_is_pending_keeps_the_warnings_area(mangkhut_results) -> None:  # type: ignore[no-untyped-def]
    """Red over Futian, then the storm gone: before the lowering settles, the red nears its
    expiry and is extended over the communities it warned, not the (empty) proposal's."""
    short = POLICY.model_copy(update={"validity": timedelta(hours=3)})
    active: dict[str, ActiveWarning] = {}
    for issue in ISSUES[2:4]:
        _, active = decide(mangkhut_results[issue], active, short, "district", issue)
    red = active[FUTIAN]
    assert red.level == "red" and red.communities and red.onset is not None
    gone = mangkhut_results[datetime(2018, 9, 25, tzinfo=UTC)]
    decisions, active = decide(gone, active, short, "district", ISSUES[3] + timedelta(hours=1))
    assert decisions == [] and active[FUTIAN].lower_index == 0
    near = red.expires - timedelta(minutes=30)
    decisions, active = decide(gone, active, short, "district", near)
    extend = next(d for d in decisions if d.area == FUTIAN)
    assert extend.action == "extend" and extend.level == "red"
    assert extend.communities == red.communities and extend.onset == red.onset
    assert active[FUTIAN].communities == red.communities and active[FUTIAN].lower_index == 0


def test_forecaster_review_of_the_red_warning(mangkhut_results) -> None:  # type: ignore[no-untyped-def]
    from alerting.review import ReviewError, cancel, confirm, edit, hold, propose

    log = _run(mangkhut_results, ISSUES[:4])
    issue, decisions, _ = log[-1]  # 16 Sep 07 UTC: Futian goes to red
    red = next(d for d in decisions if d.area == FUTIAN)
    assert red.level == "red" and red.needs_confirmation
    proposal = propose(red, issue)
    assert proposal.state == "proposed"
    assert propose(red, issue).id == proposal.id  # deterministic
    result = mangkhut_results[issue]
    levels = dict(
        zip(result["level"].values.tolist(), result["level_rank"].values.tolist(), strict=True)
    )
    with pytest.raises(ReviewError, match="'purple' is not a level of the scheme"):
        edit(proposal, "duty-1", issue, levels=levels, level="purple")
    with pytest.raises(ReviewError, match="holding needs a reason"):
        hold(proposal, "duty-1", issue, " ")
    held = hold(proposal, "duty-1", issue, "waiting for the 02 UTC fix")
    edited = edit(held, "duty-1", issue, levels=levels, level="orange", text="橙色预警")
    assert edited.state == "proposed" and edited.decision.level == "orange"
    assert edited.decision.rank == 3
    done = confirm(edited, "duty-1", issue + timedelta(minutes=3))
    assert done.state == "confirmed"
    assert [e.action for e in done.audit] == ["proposed", "held", "edited", "confirmed"]
    with pytest.raises(ReviewError, match="cannot cancel a confirmed proposal"):
        cancel(done, "duty-1", issue, "too late")
    # Lower levels go out by policy, recorded as such.
    orange = next(d for d in log[1][1] if d.area == FUTIAN)
    automatic = propose(orange, log[1][0])
    assert automatic.state == "confirmed" and automatic.audit[-1].by == "policy"


def test_decisions_become_threaded_cap_messages(  # type: ignore[no-untyped-def]
    mangkhut_results, shenzhen_region, shenzhen_settings
) -> None:
    from alerting.cap import parse_cap, to_xml, validate_cap
    from alerting.messages import MessageContext, decision_to_cap

    scheme = shenzhen_settings.signal_schemes["shenzhen-typhoon"]
    context = MessageContext(
        sender="yujing@440300.example",
        sender_code="44030041600000",
        sender_name="yujing 深圳 (test)",
        region_name="深圳市",
        timezone="Asia/Shanghai",
        communities=shenzhen_region.communities,
        instructions=scheme.instructions(),
    )
    log = _run(mangkhut_results, ISSUES)
    futian = [d for _, decisions, _ in log for d in decisions if d.area == FUTIAN]
    messages = [decision_to_cap(d, context) for d in futian]
    for decision, alert in zip(futian, messages, strict=True):
        xml = to_xml(alert, tz=__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
        assert validate_cap(xml) == []
        assert to_xml(decision_to_cap(decision, context)) == to_xml(alert)  # deterministic
        assert parse_cap(xml).identifier == alert.identifier
        assert [info.language for info in alert.infos] == ["zh-CN", "en-US"]
        assert alert.infos[0].areas[0].geocodes == (("GB/T 2260", FUTIAN),)
    assert messages[0].msg_type == "Alert" and messages[0].identifier.startswith("44030041600000_")
    assert messages[0].infos[0].areas[0].polygons  # the communities' outline
    for previous, alert in itertools.pairwise(messages):
        assert alert.msg_type == "Update"
        assert alert.references[0].identifier == previous.identifier
    severities = [m.infos[1].severity for m in messages]
    assert "Extreme" in severities  # the red warning
    # Once the storm is gone (and the lower proposal has lasted 5 h) the warning is
    # cancelled, referring to the last message of the thread.
    gone = mangkhut_results[datetime(2018, 9, 25, tzinfo=UTC)]
    active, thread = log[-1][2], messages
    for step in range(1, 4):  # each lower proposal must last 5 h: white first, then cancel
        decisions, active = decide(
            gone, active, POLICY, "district", ISSUES[-1] + step * timedelta(hours=6)
        )
        thread += [decision_to_cap(d, context) for d in decisions if d.area == FUTIAN]
        if FUTIAN not in active:
            break
    assert [m.msg_type for m in thread[-2:]] == ["Update", "Cancel"]
    assert thread[-1].references[0].identifier == thread[-2].identifier
    assert validate_cap(to_xml(thread[-1])) == []
    # Each warning says what to do at its level (configs/shenzhen.yaml); the cancel does not.
    levels = {level.name: level for level in scheme.levels}
    for decision, alert in zip(futian, messages[: len(futian)], strict=True):
        instruction = levels[decision.level].instruction
        assert (alert.infos[0].instruction, alert.infos[1].instruction) == (
            instruction.zh,
            instruction.en,
        )
    assert "red" in {decision.level for decision in futian}
    said = {level.instruction.zh for level in scheme.levels}
    assert thread[-1].infos[0].instruction not in said and "解除" in thread[-1].infos[0].instruction


@pytest.mark.parametrize(
    ("validity", "extend_before", "lapses"),
    [(8, 1, True), (6, 6, False), (12, 6, False), (3, 6, True)],
)
def test_a_warning_lapses_between_cycles_exactly_when_the_policy_says(  # type: ignore[no-untyped-def]
    mangkhut_results, validity: int, extend_before: int, lapses: bool
) -> None:
    """Red over Futian held for a day of 6-hourly cycles (the replay's cadence): the
    message in force must cover every moment until the next cycle. A policy whose
    validity or extend_before is shorter than the cycle interval lets it lapse between
    cycles (8 h valid, renewed within 1 h: out at 08 h, back at 12 h), and
    ``lapse_risks`` refuses exactly those."""
    every = timedelta(hours=6)
    policy = POLICY.model_copy(
        update={
            "validity": timedelta(hours=validity),
            "extend_before": timedelta(hours=extend_before),
        }
    )
    red = mangkhut_results[ISSUES[3]]
    active: dict[str, ActiveWarning] = {}
    expires: datetime | None = None
    gaps = []
    for k in range(5):
        issue = ISSUES[3] + k * every
        if expires is not None and expires < issue:
            gaps.append((expires, issue))
        decisions, active = decide(red, active, policy, "district", issue)
        futian = [d for d in decisions if d.area == FUTIAN]
        if futian:
            expires = futian[-1].expires
    assert bool(gaps) == lapses, gaps
    assert bool(policy.lapse_risks(every)) == lapses
