"""The warning lifecycle: from hazard results to issue, upgrade, downgrade, extend, cancel.

Pure functions over plain state, so the same decisions come out of a live cycle, a replay
and a test. :func:`decide` takes the hazard result of one cycle, the warnings active before
it (:class:`ActiveWarning`) and the :class:`LifecyclePolicy`, and returns one
:class:`Decision` per warning area whose warning changes, plus the new state.

Warning areas
    The scheme's ``partition`` says how a warning is issued: per ``community``, per
    ``subdistrict`` or per ``district``. Communities are grouped into areas by that code
    (where a sub-district code is empty, as for Shenzhen's grid-cell communities, the
    district is used and the decision says so); within an area the warning takes the
    highest level proposed for any of its communities and lists the communities at it, so
    neighbouring communities at the same level are one warning, not hundreds. With the
    ``community`` partition each community is its own area.

The proposed level of a community
    The highest level whose probability reaches the model's warning threshold at any lead
    time up to ``policy.look_ahead`` (the ``signal`` variable where the model gives one,
    which counts advisory levels too; otherwise the ``hazard_level``). Looking ahead is how
    a warning is issued *before* the criterion is met: that margin is the lead time.

Hysteresis (no flapping)
    An upgrade or a first issue happens at once. A lower proposal must persist for
    ``downgrade_after`` (consecutive cycles spanning at least that long) and the warning
    must have been in force ``min_duration`` before it is downgraded or cancelled; until
    then the warning stays and the pending lower level is recorded. A warning close to its
    expiry while still proposed is extended.

Confirmation
    A decision whose level is in ``confirm_levels`` waits for a forecaster. With
    ``confirm_lowering`` (the default) the alerting cycle compares each decision with the
    message in force (:mod:`alerting.in_force`): whatever would lower a level that went out
    for confirmation waits too, prolonging it as it went out does not, and the message is
    renewed while the forecaster is asked. The lifecycle moves on as decided; a forecaster
    who withdraws the proposal puts the warning back as it was
    (:meth:`alerting.outbox.store.AlertStore.save_review`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from hazard_models.config import Duration, Frozen

__all__ = [
    "Action",
    "ActiveWarning",
    "Decision",
    "LifecyclePolicy",
    "area_levels",
    "decide",
]

Action = Literal["issue", "upgrade", "downgrade", "extend", "update", "cancel"]


class LifecyclePolicy(Frozen):
    """How warnings of one hazard live: look-ahead, hysteresis, validity, confirmation."""

    look_ahead: Duration = timedelta(hours=2)
    min_duration: Duration = timedelta(hours=1)
    downgrade_after: Duration = timedelta(hours=1)
    validity: Duration = timedelta(hours=6)
    extend_before: Duration = timedelta(hours=1)
    confirm_levels: tuple[str, ...] = ()
    """Levels a forecaster must confirm before they go out (e.g. ``["red"]``); others are
    issued automatically."""
    confirm_lowering: bool = True
    """Whether a warning the public has at one of ``confirm_levels`` (its area's last
    message in force) is lowered or lifted only by a forecaster: any decision at a lower
    level waits for one, prolonging it as it went out does not, and it is renewed rather
    than left to expire while a forecaster is asked. A level only a forecaster may raise
    is only lifted by one: an input gone stale, a model glitch or an unanswered page must
    not lift a red signal by itself. Applied by :func:`alerting.cycle.alerting_cycle`,
    which knows what was sent (:mod:`alerting.in_force`); :func:`decide` alone does not."""

    def lapse_risks(self, every: timedelta, paged_after: timedelta | None = None) -> list[str]:
        """How a warning in force under this policy could lapse, its cycle running every
        ``every`` and the watchdog failing the service ``paged_after`` a cycle was last
        recorded (none: not watched); each reason starts with the policy key to change.

        A warning is renewed by the first cycle within ``extend_before`` of its expiry
        (:func:`decide`, :func:`alerting.in_force.kept_in_force`), and a message lasts
        ``validity``: unless both are at least ``every``, a warning can expire between two
        cycles with none able to renew it. When cycles stop, the last message lasts at
        least the shorter of the two after the last cycle: the watchdog must page before.
        """
        window = min(self.validity, self.extend_before)
        risks = [
            f"{key}: {_spoken(value)} is shorter than the {_spoken(every)} between cycles, "
            f"so a warning can expire before any cycle renews it; set {key} to at least "
            f"{_spoken(every)}"
            for key, value in (("validity", self.validity), ("extend_before", self.extend_before))
            if value < every
        ]
        if not risks and paged_after is not None and paged_after >= window:
            key = "extend_before" if self.extend_before <= self.validity else "validity"
            risks.append(
                f"{key}: a warning in force can expire {_spoken(window)} after the last "
                f"cycle, before the watchdog pages at {_spoken(paged_after)} (cycle_max_age);"
                f" set {key} above {_spoken(paged_after)}, or cycle_max_age below "
                f"{_spoken(window)}"
            )
        return risks


def _spoken(duration: timedelta) -> str:
    """``6 min``, ``3 h``, ``1.5 d``: a duration as configuration writes it."""
    seconds = duration.total_seconds()
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds / 86400:g} d"


@dataclass(frozen=True)
class ActiveWarning:
    """A warning in force for one hazard and area, as the lifecycle remembers it."""

    hazard: str
    area: str
    area_name: str
    level: str
    rank: int
    index: int
    issued: datetime
    changed: datetime
    expires: datetime
    sequence: int
    communities: tuple[str, ...]
    onset: datetime | None = None
    lower_since: datetime | None = None
    lower_index: int | None = None


@dataclass(frozen=True)
class Decision:
    """One change to the warning of one area, with what it rests on."""

    action: Action
    hazard: str
    area: str
    area_name: str
    level: str
    previous_level: str | None
    issue_time: datetime
    onset: datetime | None
    expires: datetime
    sequence: int
    communities: tuple[str, ...]
    needs_confirmation: bool
    evidence: dict[str, str] = field(default_factory=dict)
    rank: int = 0
    """Rank of ``level`` in the scheme (0 advisory ... 4 red)."""
    previous_issue_time: datetime | None = None
    """Issue time of the message this one follows (Update/Cancel reference it)."""
    keeps_in_force: bool = False
    """An extension the alerting cycle made of a message in force while its area waits
    for a forecaster (:func:`alerting.in_force.kept_in_force`), not a lifecycle decision."""

    @property
    def lead_time(self) -> timedelta | None:
        """Expected onset minus issue time (``None`` when the model gives no onset)."""
        return None if self.onset is None else self.onset - self.issue_time


@dataclass(frozen=True)
class AreaLevel:
    """The proposal for one area in one cycle."""

    area: str
    area_name: str
    index: int  # 0 none, k = the scheme's k-th level (1-based)
    communities: tuple[str, ...]
    onset: datetime | None
    partition_note: str


def _community_index(result: xr.Dataset, look_ahead: timedelta) -> np.ndarray:
    """Highest level index (1-based, 0 none) per community within the look-ahead."""
    lead = result["lead_time"].values
    ahead = lead <= np.timedelta64(look_ahead)
    if "signal" in result:
        values = result["signal"].values
    else:
        ranks = [int(r) for r in result["level_rank"].values]
        lookup = np.zeros(5, dtype=int)
        for position, rank in enumerate(ranks, start=1):
            lookup[rank] = position
        values = lookup[np.asarray(result["hazard_level"].values, dtype=int)]
    return np.asarray(np.where(ahead[None, :], values, 0).max(axis=1), dtype=int)


def _area_keys(result: xr.Dataset, partition: str) -> tuple[np.ndarray, np.ndarray, str]:
    communities = result["community_id"].values.astype(str)
    districts = result["district_code"].values.astype(str)
    names = result["district_name"].values.astype(str)
    if partition == "community":
        return communities, result["community_name"].values.astype(str), "community"
    if partition == "subdistrict":
        sub = result["subdistrict_code"].values.astype(str)
        if (sub != "").all():
            return sub, sub, "subdistrict"
        keys = np.where(sub != "", sub, districts)
        return (
            keys,
            np.where(sub != "", sub, names),
            (
                "subdistrict where known, else district (the community layer has no "
                "sub-district codes for some communities)"
            ),
        )
    return districts, names, "district"


def area_levels(result: xr.Dataset, partition: str, look_ahead: timedelta) -> list[AreaLevel]:
    """Per warning area: the highest proposed level, its communities and earliest onset."""
    index = _community_index(result, look_ahead)
    keys, names, note = _area_keys(result, partition)
    communities = result["community_id"].values.astype(str)
    onset = result["onset_time"].values  # community, level
    areas = []
    # Rows of each area in layer order, grouped once (one area per community is common:
    # comparing every key with all of them would be quadratic).
    unique, group = np.unique(keys, return_inverse=True)
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(unique.size + 1))
    for g, key in enumerate(unique.tolist()):
        rows = order[bounds[g] : bounds[g + 1]]
        top = int(index[rows].max())
        at_top = rows[index[rows] == top] if top else rows[:0]
        first = None
        if top:
            times = onset[at_top, top - 1]
            times = times[~np.isnat(times)]
            if times.size:
                first = pd.Timestamp(times.min()).tz_localize("UTC").to_pydatetime()
        areas.append(
            AreaLevel(
                area=str(key),
                area_name=str(names[rows[0]]),
                index=top,
                communities=tuple(communities[at_top].tolist()),
                onset=first,
                partition_note=note,
            )
        )
    return areas


def _evidence(result: xr.Dataset, index: int, note: str) -> dict[str, str]:
    level = str(result["level"].values[index - 1])
    return {
        "criterion": str(result["level_criteria"].sel(level=level).values),
        "model": f"{result.attrs.get('model', '?')} {result.attrs.get('model_version', '')}",
        "inputs": str(result.attrs.get("inputs", "")),
        "scheme": str(result.attrs.get("scheme_source", "")),
        "evaluation_time": str(result.attrs.get("evaluation_time", "")),
        "areas": note,
    }


@dataclass(frozen=True)
class _Cycle:
    """What every decision of one cycle shares."""

    result: xr.Dataset
    policy: LifecyclePolicy
    issue_time: datetime
    hazard: str
    names: list[str]
    ranks: list[int]

    def change(
        self,
        action: Action,
        index: int,
        base: ActiveWarning | None,
        proposal: AreaLevel | None,
    ) -> tuple[Decision, ActiveWarning | None]:
        """The decision to move an area to level ``index`` (0: cancel) and the new state."""
        assert proposal is not None or base is not None
        area = proposal.area if proposal else base.area  # type: ignore[union-attr]
        area_name = proposal.area_name if proposal else base.area_name  # type: ignore[union-attr]
        level = self.names[index - 1] if index else base.level  # type: ignore[union-attr]
        sequence = base.sequence + 1 if base else 1
        expires = self.issue_time + self.policy.validity
        # The proposal's communities and onset where it proposes this level; otherwise
        # (extending a warning while a lower level is pending, a downgrade to a level
        # proposed in an earlier cycle, a cancellation) the warning's own.
        if proposal is not None and proposal.index == index:
            onset, communities = proposal.onset, proposal.communities
        elif base is not None:
            onset, communities = base.onset, base.communities
        else:
            onset, communities = None, ()
        note = proposal.partition_note if proposal else ""
        decision = Decision(
            action=action,
            hazard=self.hazard,
            area=area,
            area_name=area_name,
            level=level,
            previous_level=base.level if base else None,
            issue_time=self.issue_time,
            onset=onset,
            expires=self.issue_time if action == "cancel" else expires,
            sequence=sequence,
            communities=communities,
            needs_confirmation=level in self.policy.confirm_levels and action != "cancel",
            evidence=_evidence(self.result, index or base.index, note),  # type: ignore[union-attr]
            previous_issue_time=base.changed if base else None,
            rank=self.ranks[index - 1] if index else base.rank,  # type: ignore[union-attr]
        )
        if action == "cancel":
            return decision, None
        warning = ActiveWarning(
            hazard=self.hazard,
            area=area,
            area_name=area_name,
            level=level,
            rank=self.ranks[index - 1],
            index=index,
            issued=base.issued if base else self.issue_time,
            changed=self.issue_time,
            expires=expires,
            sequence=sequence,
            communities=communities,
            onset=onset,
        )
        return decision, warning


def decide(
    result: xr.Dataset,
    active: dict[str, ActiveWarning],
    policy: LifecyclePolicy,
    partition: str,
    issue_time: datetime,
) -> tuple[list[Decision], dict[str, ActiveWarning]]:
    """The decisions of one cycle and the warnings in force after it.

    Parameters
    ----------
    result
        A hazard result (``community``, ``lead_time``, ``level``).
    active
        Warnings in force before this cycle, keyed by area.
    policy
        Hysteresis, validity and confirmation settings.
    partition
        The scheme's partition (``community``, ``subdistrict`` or ``district``).
    issue_time
        This cycle's issue time (timezone-aware).
    """
    cycle = _Cycle(
        result=result,
        policy=policy,
        issue_time=issue_time,
        hazard=str(result.attrs.get("hazard", "?")),
        names=[str(name) for name in result["level"].values],
        ranks=[int(rank) for rank in result["level_rank"].values],
    )
    decisions: list[Decision] = []
    state: dict[str, ActiveWarning] = {}
    proposals = {a.area: a for a in area_levels(result, partition, policy.look_ahead)}
    for key in sorted(set(proposals) | set(active)):
        proposal, current = proposals.get(key), active.get(key)
        wanted = proposal.index if proposal else 0
        if current is None and wanted == 0:
            continue
        decision: Decision | None = None
        new: ActiveWarning | None
        if current is None:
            decision, new = cycle.change("issue", wanted, None, proposal)
        elif wanted > current.index:
            decision, new = cycle.change("upgrade", wanted, current, proposal)
        elif wanted < current.index:
            since = current.lower_since or issue_time
            settled = issue_time - since >= policy.downgrade_after
            old_enough = issue_time - current.changed >= policy.min_duration
            # The highest level proposed while lower: a downgrade never undershoots it.
            lower = max(wanted, current.lower_index or 0)
            if settled and old_enough:
                action: Action = "cancel" if lower == 0 else "downgrade"
                decision, new = cycle.change(action, lower, current, proposal)
            else:
                new = current
                if current.expires - issue_time <= policy.extend_before:
                    decision, new = cycle.change("extend", current.index, current, proposal)
                assert new is not None
                new = replace(new, lower_since=since, lower_index=lower)
        elif current.expires - issue_time <= policy.extend_before:
            decision, new = cycle.change("extend", wanted, current, proposal)
        elif proposal is not None and set(proposal.communities) != set(current.communities):
            decision, new = cycle.change("update", wanted, current, proposal)
        else:
            new = replace(current, lower_since=None, lower_index=None)
        if decision is not None:
            decisions.append(decision)
        if new is not None:
            state[key] = new
    return decisions, state
