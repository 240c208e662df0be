"""The duty forecaster's review of proposed warnings: confirm, edit, hold or cancel.

Each :class:`~alerting.lifecycle.Decision` becomes a :class:`Proposal`. A decision the
policy lets through automatically (its level is not in ``confirm_levels``, nor does it
lower a warning from one) is confirmed at once, by the policy; the others wait for a
forecaster. Every step returns a new, frozen
proposal with one more :class:`AuditEntry` (who, when, what, why), so the history of a
warning can always be told; a step that is not allowed in the current state raises
:class:`ReviewError` naming the state and what is allowed.

::

    proposed ──confirm──► confirmed
       │  ▲                  (sent by the dispatcher)
       │  └──edit (level, communities, text)
       ├──hold──► held ──confirm / edit / cancel
       └──cancel──► cancelled
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from alerting.errors import ReviewError
from alerting.lifecycle import Decision

__all__ = [
    "AuditEntry",
    "Proposal",
    "ReviewError",
    "cancel",
    "confirm",
    "edit",
    "hold",
    "propose",
]

State = Literal["proposed", "held", "confirmed", "cancelled"]


@dataclass(frozen=True)
class AuditEntry:
    """One state change of a proposal."""

    at: datetime
    by: str
    action: str
    detail: str = ""


@dataclass(frozen=True)
class Proposal:
    """A proposed warning under review."""

    id: str
    decision: Decision
    state: State
    text: str = ""
    audit: tuple[AuditEntry, ...] = ()


def _proposal_id(decision: Decision) -> str:
    parts = [
        decision.hazard,
        decision.area,
        decision.issue_time.isoformat(),
        str(decision.sequence),
    ]
    if decision.keeps_in_force:  # beside the lifecycle's own decision of the same cycle
        parts.append("kept")
    key = "|".join(parts)
    return f"{decision.hazard}-{decision.area}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def propose(decision: Decision, at: datetime) -> Proposal:
    """The proposal of ``decision``: confirmed by policy unless it needs a forecaster."""
    entry = AuditEntry(at, "lifecycle", "proposed", f"{decision.action} {decision.level}")
    proposal = Proposal(id=_proposal_id(decision), decision=decision, state="proposed")
    proposal = replace(proposal, audit=(entry,))
    if decision.needs_confirmation:
        return proposal
    auto = AuditEntry(at, "policy", "confirmed", f"level {decision.level} is issued automatically")
    return replace(proposal, state="confirmed", audit=(*proposal.audit, auto))


def _require(proposal: Proposal, allowed: tuple[State, ...], step: str) -> None:
    if proposal.state not in allowed:
        raise ReviewError(
            f"proposal {proposal.id}: cannot {step} a {proposal.state} proposal; {step} is "
            f"allowed when it is {' or '.join(allowed)}"
        )


def _who(by: str) -> str:
    if not by.strip():
        raise ReviewError("a review step needs the forecaster's name or id in 'by'")
    return by.strip()


def confirm(proposal: Proposal, by: str, at: datetime) -> Proposal:
    """The forecaster confirms: the warning goes out as proposed (or as edited)."""
    _require(proposal, ("proposed", "held"), "confirm")
    entry = AuditEntry(at, _who(by), "confirmed")
    return replace(proposal, state="confirmed", audit=(*proposal.audit, entry))


def hold(proposal: Proposal, by: str, at: datetime, reason: str) -> Proposal:
    """The forecaster holds the proposal back (it is not sent) with a reason."""
    _require(proposal, ("proposed",), "hold")
    if not reason.strip():
        raise ReviewError(f"proposal {proposal.id}: holding needs a reason")
    entry = AuditEntry(at, _who(by), "held", reason.strip())
    return replace(proposal, state="held", audit=(*proposal.audit, entry))


def cancel(proposal: Proposal, by: str, at: datetime, reason: str) -> Proposal:
    """The forecaster withdraws the proposal: it is never sent."""
    _require(proposal, ("proposed", "held"), "cancel")
    if not reason.strip():
        raise ReviewError(f"proposal {proposal.id}: cancelling needs a reason")
    entry = AuditEntry(at, _who(by), "cancelled", reason.strip())
    return replace(proposal, state="cancelled", audit=(*proposal.audit, entry))


def edit(
    proposal: Proposal,
    by: str,
    at: datetime,
    *,
    levels: Mapping[str, int],
    level: str | None = None,
    communities: tuple[str, ...] | None = None,
    text: str | None = None,
    known_communities: Collection[str] | None = None,
) -> Proposal:
    """The forecaster changes the level, the communities or the text; it stays to confirm.

    ``levels`` maps the scheme's level names to their ranks (an edited level must be one);
    edited communities must be in ``known_communities`` (the community layer's ids) when
    given, so that a mistyped id is refused rather than dropped from the message's area.
    """
    _require(proposal, ("proposed", "held"), "edit")
    changes = []
    decision = proposal.decision
    if decision.action == "cancel" and (level is not None or communities is not None):
        raise ReviewError(
            f"proposal {proposal.id} lifts the {decision.level} warning of "
            f"{decision.area_name}: its level and area cannot be edited; confirm it, hold it, "
            "or withdraw it to keep the warning in force"
        )
    if level is not None:
        if level not in levels:
            raise ReviewError(
                f"proposal {proposal.id}: level {level!r} is not a level of the scheme; use "
                f"one of {list(levels)}"
            )
        changes.append(f"level {decision.level} -> {level}")
        decision = replace(decision, level=level, rank=levels[level])
    if communities is not None:
        if not communities:
            raise ReviewError(
                f"proposal {proposal.id}: a warning needs at least one community; cancel "
                "the proposal instead"
            )
        communities = tuple(dict.fromkeys(communities))
        if known_communities is not None:
            unknown = [c for c in communities if c not in known_communities]
            if unknown:
                shown = ", ".join(repr(c) for c in unknown[:5])
                more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
                raise ReviewError(
                    f"proposal {proposal.id}: {shown}{more} not in the community layer; use "
                    "the layer's community ids"
                )
        changes.append(f"communities {len(decision.communities)} -> {len(communities)}")
        decision = replace(decision, communities=tuple(communities))
    if text is not None:
        changes.append("text edited")
    if not changes:
        raise ReviewError(f"proposal {proposal.id}: an edit must change level, area or text")
    entry = AuditEntry(at, _who(by), "edited", "; ".join(changes))
    return replace(
        proposal,
        decision=decision,
        state="proposed",
        text=proposal.text if text is None else text,
        audit=(*proposal.audit, entry),
    )
