"""The HTTP API: proposals for duty forecasters, the public feed, subscriptions, the outbox.

::

    GET    /proposals?state=proposed&state=held&hazard=typhoon   open proposals, oldest first
    GET    /proposals/{id}                                       one proposal and its audit
    POST   /proposals/{id}/confirm   {"by"}                      send it (queues CAP + outbox)
    POST   /proposals/{id}/hold      {"by", "reason"}            keep it back
    POST   /proposals/{id}/cancel    {"by", "reason"}            withdraw it
    POST   /proposals/{id}/edit      {"by", "level"?, "communities"?, "text"?}
    GET    /feed.atom                                           the public Atom feed (in force)
    GET    /cap/{identifier}.xml                                one stored CAP message
    POST   /subscriptions            subscription request JSON  201 {"subscriber_id"}   (token)
    GET    /subscriptions/{id}       the stored set                                   (token)
    DELETE /subscriptions/{id}                                                        (token)
    GET    /subscriptions/{id}/deliveries?status=dead&latest=100   its deliveries     (token)
    GET    /subscriptions/{id}/impacts    its impact forecasts in force (pull)         (token)
    GET    /outbox                   delivery counts by status and the dead letters
    GET    /health                   ok/degraded/failing with each check (503 when failing)
    GET    /console                  the duty forecasters' page over these routes (HTML)

Errors
    An unknown proposal, message or subscriber is 404; a review step the proposal's state
    does not allow (or an unknown level, an empty area, a community id the layer does not
    have) is 409 Conflict with the reason from :mod:`alerting.review`; a malformed body is
    422 (FastAPI's validation, naming the field); an invalid subscription is 422 with
    ``{"problems": [{"field", "message"}]}``.

Sector operators
    The ``/subscriptions`` routes take ``Authorization: Bearer <token>``, a token the
    deployment's operator issued for one subscriber id (``yujing subscribers token ID``,
    :mod:`alerting.subscriptions.tokens`). Without a token, or with an unknown or revoked
    one, they answer 401 (``WWW-Authenticate: Bearer``); with a token of another subscriber
    (including a body whose ``subscriber.id`` is not the token's) 403. Registering and
    removing are written to the audit log under the subscriber's id.

Who is reviewing
    Every review step names the forecaster in ``by`` (required, not blank); it is written to
    the audit log. This API does **not** authenticate: put it behind a reverse proxy that
    does (single sign-on for the duty forecasters' routes, nothing for ``/feed.atom`` and
    ``/cap``). With ``identity_header`` (``yujing serve --identity-header X-Forwarded-User``)
    the reviewer is the signed-in user the proxy names in that header, not what the body
    says: a review step without the header is 401, one whose ``by`` names someone else 403,
    and the console fills in the name; ``/outbox`` (every subscriber's targets) then also
    needs the header. The proxy must set the header itself and drop any the client sent.
    Never expose the review routes directly.

Health
    ``GET /health`` (:mod:`alerting.health`): each warning hazard's newest cycle is recent
    enough, the dispatcher keeps up with the outbox, no recent dead letters; 200 with the
    checks when ok or degraded, 503 when failing, so an uptime probe pages the on-call.

Run it with ``uvicorn --factory`` around a function that builds the stores and calls
:func:`create_app`; nothing is read or connected at import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from alerting import review
from alerting.cycle import AlertingSetup, review_proposal
from alerting.database import utc_now
from alerting.errors import ReviewError
from alerting.feed import CAP_MEDIA_TYPE, atom_feed
from alerting.in_force import in_force, renewed_while_waiting
from alerting.lifecycle import LifecyclePolicy
from alerting.outbox.records import DeliveryRecord, MessageRecord
from alerting.outbox.store import AlertStore
from alerting.review import Proposal
from alerting.subscriptions import SubscriptionError, SubscriptionStore
from yujing.console import AreaMap, console_page
from yujing.settings import WatchdogConfig

__all__ = [
    "AuditView",
    "CancelBody",
    "ConfirmBody",
    "EditBody",
    "HoldBody",
    "ProposalView",
    "create_app",
]

State = Literal["proposed", "held", "confirmed", "cancelled"]
DeliveryStatus = Literal["pending", "sending", "sent", "dead", "superseded"]
Bearer = Annotated[
    HTTPAuthorizationCredentials | None,
    Depends(
        HTTPBearer(
            auto_error=False,
            description="A subscriber token (yujing subscribers token ID); see the module doc.",
        )
    ),
]
NonBlank = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfirmBody(_Body):
    """Confirm a proposal: who confirms."""

    by: NonBlank = Field(description="The duty forecaster's name or id (written to the audit).")


class HoldBody(ConfirmBody):
    """Hold a proposal back: who, and why."""

    reason: NonBlank


class CancelBody(ConfirmBody):
    """Withdraw a proposal: who, and why."""

    reason: NonBlank


class EditBody(ConfirmBody):
    """Change a proposal's level, communities or text (at least one)."""

    level: str | None = None
    communities: list[str] | None = None
    text: str | None = None


class AuditView(BaseModel):
    """One step in a proposal's history."""

    at: datetime
    by: str
    action: str
    detail: str


class InForceView(BaseModel):
    """The message the public has for a proposal's hazard and area."""

    identifier: str
    msg_type: str
    level: str
    sent: datetime
    expires: datetime
    renewed: bool = Field(
        default=False,
        description="Whether the cycles renew it before it expires while a proposal for its "
        "area waits (alerting.in_force.kept_in_force), rather than letting it lapse.",
    )


class ProposalView(BaseModel):
    """A proposal as a duty forecaster reviews it."""

    id: str
    hazard: str
    area: str
    area_name: str
    action: str
    level: str
    previous_level: str | None
    issue_time: datetime
    onset: datetime | None
    lead_time: float | None = Field(description="Expected onset minus issue time, minutes.")
    expires: datetime
    communities: int = Field(description="How many communities the warning covers.")
    community_ids: list[str] = Field(description="The communities the warning covers.")
    evidence: dict[str, str]
    needs_confirmation: bool
    state: State
    text: str
    audit: list[AuditView]
    in_force: InForceView | None = Field(
        default=None,
        description="What the public has for this hazard and area now (its last message, "
        "unless a Cancel or expired): the level the proposal would change.",
    )

    @classmethod
    def of(
        cls,
        proposal: Proposal,
        last: MessageRecord | None = None,
        now: datetime | None = None,
        policy: LifecyclePolicy | None = None,
    ) -> ProposalView:
        """The view of a stored proposal; ``last``: its area's last message, shown as in
        force when it is at ``now``, renewed meanwhile as its hazard's ``policy`` says."""
        decision = proposal.decision
        lead = decision.lead_time
        shown = None
        if now is not None and in_force(last, now):
            assert last is not None
            shown = InForceView(
                identifier=last.identifier,
                msg_type=last.msg_type,
                level=last.level,
                sent=last.sent,
                expires=last.expires,
                renewed=policy is not None and renewed_while_waiting(last.level, policy),
            )
        return cls(
            in_force=shown,
            id=proposal.id,
            hazard=decision.hazard,
            area=decision.area,
            area_name=decision.area_name,
            action=decision.action,
            level=decision.level,
            previous_level=decision.previous_level,
            issue_time=decision.issue_time,
            onset=decision.onset,
            lead_time=None if lead is None else lead.total_seconds() / 60,
            expires=decision.expires,
            communities=len(decision.communities),
            community_ids=list(decision.communities),
            evidence=dict(decision.evidence),
            needs_confirmation=decision.needs_confirmation,
            state=proposal.state,
            text=proposal.text,
            audit=[
                AuditView(at=entry.at, by=entry.by, action=entry.action, detail=entry.detail)
                for entry in proposal.audit
            ],
        )


def create_app(
    alerts: AlertStore,
    subscriptions: SubscriptionStore,
    setups: Mapping[str, AlertingSetup],
    *,
    clock: Callable[[], datetime] = utc_now,
    public_base_url: str = "http://127.0.0.1:8000",
    feed_title: str = "yujing warnings in force",
    timezone: str = "UTC",
    region_name: str = "yujing",
    identity_header: str | None = None,
    watchdog: WatchdogConfig | None = None,
    cycle_max_age: Mapping[str, timedelta] | None = None,
) -> FastAPI:
    """The HTTP API over the alert and subscription stores.

    Parameters
    ----------
    alerts, subscriptions
        The stores (upgraded to the newest schema); the app does not close them.
    setups
        The alerting setup of each hazard, by hazard name (a review step of a hazard with
        no setup is refused with 500 naming it).
    clock
        Returns the current time (aware): review steps are stamped with it and the feed
        shows what is in force at it.
    public_base_url
        Where the API is reached from outside (feed and CAP links), without trailing ``/``.
    feed_title
        The Atom feed's title.
    timezone, region_name
        The region's IANA timezone and name, for the console (:mod:`yujing.console`).
    identity_header
        The request header in which the signing-in proxy names the user; when given, it,
        not the body's ``by``, is the reviewer.
    watchdog, cycle_max_age
        What ``/health`` holds for failing (default :class:`~yujing.settings.WatchdogConfig`),
        and per hazard (the store's key) how old its newest cycle may be (default: cycles
        are not checked; :func:`yujing.warn.cycle_max_ages` gives a deployment's).

    Returns
    -------
    FastAPI
        The application.
    """
    base = public_base_url.rstrip("/")
    watch = watchdog or WatchdogConfig()
    max_age = dict(cycle_max_age or {})
    levels = {
        hazard: sorted(setup.levels, key=setup.levels.__getitem__)
        for hazard, setup in setups.items()
    }
    app = FastAPI(title="yujing", summary="Warnings review, public CAP feed, subscriptions")
    # every hazard of a deployment warns the same community layer: one map for all
    area_map = next((AreaMap(s.context.communities) for s in setups.values()), None)
    known_communities = {
        hazard: frozenset(setup.context.communities["community_id"].values.astype(str))
        for hazard, setup in setups.items()
    }

    def signed_in_user(request: Request) -> str | None:
        """The user the signing-in proxy names (None without an identity header or user)."""
        if identity_header is None:
            return None
        return request.headers.get(identity_header, "").strip() or None

    def reviewer(request: Request, body: ConfirmBody) -> str:
        """Who takes the review step: the proxy's signed-in user, else the body's ``by``."""
        if identity_header is None:
            return body.by
        signed_in = signed_in_user(request)
        if signed_in is None:
            raise HTTPException(
                401,
                f"this API takes the reviewer from the {identity_header} header that the "
                "signing-in proxy sets, and the request has none; review through the proxy",
            )
        if body.by.strip() != signed_in:
            raise HTTPException(
                403,
                f"signed in as {signed_in!r}, the request names {body.by!r}; review under "
                "your own name",
            )
        return signed_in

    def view(proposal: Proposal) -> ProposalView:
        decision = proposal.decision
        setup = setups.get(decision.hazard)
        last = alerts.last_message(decision.hazard, decision.area)
        return ProposalView.of(proposal, last, clock(), setup.policy if setup else None)

    def stored(proposal_id: str) -> Proposal:
        try:
            return alerts.proposal(proposal_id)
        except ReviewError as error:
            raise HTTPException(404, str(error)) from None

    def apply(
        proposal_id: str, step: Callable[[Proposal, AlertingSetup], Proposal]
    ) -> ProposalView:
        hazard = stored(proposal_id).decision.hazard
        setup = setups.get(hazard)
        if setup is None:
            raise HTTPException(
                500,
                f"proposal {proposal_id}: this API has no alerting setup for hazard {hazard!r} "
                f"(it has {sorted(setups)}); add it to create_app's setups",
            )
        try:
            after = review_proposal(
                proposal_id, lambda before: step(before, setup), setup, alerts, subscriptions
            )
        except ReviewError as error:
            raise HTTPException(409, str(error)) from None
        return view(after)

    @app.get("/proposals")
    def list_proposals(
        state: Annotated[list[State] | None, Query()] = None,
        hazard: str | None = None,
    ) -> list[ProposalView]:
        """Proposals in the given states (default: proposed and held), oldest first."""
        states = state or ["proposed", "held"]
        return [view(p) for p in alerts.proposals(states=states, hazard=hazard)]

    @app.get("/proposals/{proposal_id}")
    def get_proposal(proposal_id: str) -> ProposalView:
        """One proposal with its audit trail."""
        return view(stored(proposal_id))

    @app.post("/proposals/{proposal_id}/confirm")
    def confirm(proposal_id: str, body: ConfirmBody, request: Request) -> ProposalView:
        """Confirm: the CAP message and its deliveries are queued in the same transaction."""
        by = reviewer(request, body)
        return apply(proposal_id, lambda p, _: review.confirm(p, by, clock()))

    @app.post("/proposals/{proposal_id}/hold")
    def hold(proposal_id: str, body: HoldBody, request: Request) -> ProposalView:
        """Hold the proposal back (nothing is sent) with a reason."""
        by = reviewer(request, body)
        return apply(proposal_id, lambda p, _: review.hold(p, by, clock(), body.reason))

    @app.post("/proposals/{proposal_id}/cancel")
    def cancel(proposal_id: str, body: CancelBody, request: Request) -> ProposalView:
        """Withdraw the proposal (never sent); the area's earlier warning state comes back."""
        by = reviewer(request, body)
        return apply(proposal_id, lambda p, _: review.cancel(p, by, clock(), body.reason))

    @app.post("/proposals/{proposal_id}/edit")
    def edit(proposal_id: str, body: EditBody, request: Request) -> ProposalView:
        """Change level, communities or text; the proposal then waits for confirmation."""
        by = reviewer(request, body)
        communities = None if body.communities is None else tuple(body.communities)
        return apply(
            proposal_id,
            lambda p, setup: review.edit(
                p,
                by,
                clock(),
                levels=setup.levels,
                level=body.level,
                communities=communities,
                text=body.text,
                known_communities=known_communities[p.decision.hazard],
            ),
        )

    @app.get("/feed.atom", response_class=Response)
    def feed() -> Response:
        """The Atom feed of the CAP messages in force now, newest first."""
        content = atom_feed(
            alerts.messages(),
            feed_id=f"{base}/feed.atom",
            title=feed_title,
            self_url=f"{base}/feed.atom",
            cap_url=lambda identifier: f"{base}/cap/{quote(identifier, safe='')}.xml",
            now=clock(),
        )
        return Response(content, media_type="application/atom+xml")

    @app.get("/cap/{identifier}.xml", response_class=Response)
    def cap_message(identifier: str) -> Response:
        """The stored CAP XML of one message, byte for byte."""
        for message in alerts.messages():
            if message.identifier == identifier:
                return Response(message.xml, media_type=CAP_MEDIA_TYPE)
        raise HTTPException(404, f"no CAP message {identifier!r}; the feed lists those in force")

    def token_holder(credentials: HTTPAuthorizationCredentials | None) -> str:
        """The subscriber whose token the request bears; 401 without a valid one."""
        holder = (
            None if credentials is None else subscriptions.authenticate(credentials.credentials)
        )
        if holder is None:
            reason = "no bearer token" if credentials is None else "an unknown or revoked token"
            raise HTTPException(
                401,
                f"the subscription routes need 'Authorization: Bearer <token>' with the token "
                f"the operator issued for your subscriber id; the request has {reason}",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return holder

    def owned(subscriber_id: str, credentials: HTTPAuthorizationCredentials | None) -> str:
        """``subscriber_id`` when the request bears its token (401 without, 403 another's)."""
        return mine(token_holder(credentials), subscriber_id)

    def mine(holder: str, subscriber_id: str) -> str:
        if holder != subscriber_id:
            raise HTTPException(
                403,
                f"this token is subscriber {holder!r}'s, not {subscriber_id!r}'s; use the "
                f"token issued for {subscriber_id!r}",
            )
        return holder

    def operator(request: Request) -> None:
        """With an identity header, operator routes need the signed-in user (else 401)."""
        if identity_header is not None and signed_in_user(request) is None:
            raise HTTPException(
                401,
                f"this route shows every subscriber's delivery targets and needs the "
                f"{identity_header} header the signing-in proxy sets; open it through the proxy",
            )

    @app.post("/subscriptions", status_code=201, response_model=None)
    async def register(request: Request, credentials: Bearer) -> dict[str, str] | JSONResponse:
        """Register or replace the token holder's whole set (the request JSON as the body)."""
        holder = await run_in_threadpool(token_holder, credentials)
        body = await request.body()
        try:
            parsed = await run_in_threadpool(subscriptions.parse_json, body)
            mine(holder, parsed.subscriber.id)
            subscriber_id = await run_in_threadpool(subscriptions.register, parsed, by=holder)
        except SubscriptionError as error:
            problems = [{"field": p.field, "message": p.message} for p in error.problems]
            return JSONResponse({"problems": problems}, status_code=422)
        return {"subscriber_id": subscriber_id}

    @app.get("/subscriptions/{subscriber_id}")
    def get_subscription(subscriber_id: str, credentials: Bearer) -> dict[str, Any]:
        """A subscriber's stored set, its version and when it was registered."""
        subscription = subscriptions.get(owned(subscriber_id, credentials))
        if subscription is None:
            raise HTTPException(404, f"no subscriber {subscriber_id!r}; register it first")
        return {
            **subscription.request.model_dump(mode="json"),
            "version": subscription.version,
            "created_at": subscription.created_at,
            "updated_at": subscription.updated_at,
        }

    @app.delete("/subscriptions/{subscriber_id}", status_code=204)
    def remove_subscription(subscriber_id: str, credentials: Bearer) -> Response:
        """Remove a subscriber's set; deliveries already queued for it still go out."""
        holder = owned(subscriber_id, credentials)
        if not subscriptions.remove(subscriber_id, by=holder):
            raise HTTPException(404, f"no subscriber {subscriber_id!r}; nothing was removed")
        return Response(status_code=204)

    @app.get("/subscriptions/{subscriber_id}/deliveries")
    def subscriber_deliveries(
        subscriber_id: str,
        credentials: Bearer,
        status: DeliveryStatus | None = None,
        latest: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The subscriber's newest deliveries (oldest first): what was sent where, what
        waits for a retry and why, what was given up (dead) and why, what a newer
        delivery of the same thread replaced before it went out (superseded)."""
        owned(subscriber_id, credentials)
        found = alerts.deliveries(status=status, subscriber_id=subscriber_id, latest=latest)
        return {"deliveries": [_delivery_view(delivery) for delivery in found]}

    @app.get("/subscriptions/{subscriber_id}/impacts")
    def subscriber_impacts(subscriber_id: str, credentials: Bearer) -> dict[str, Any]:
        """The impact forecasts in force for the subscriber's assets (pulled rather than
        pushed): per asset and rule whose rule is met, the forecast last sent (the same
        JSON its deliveries carried; it is refreshed when it changes, see
        :mod:`alerting.impact`) unless its window has ended (cycles stopped), and each of
        its hazards' newest cycle, so that no impact can be told from no cycle."""
        owned(subscriber_id, credentials)
        subscription = subscriptions.get(subscriber_id)
        if subscription is None:
            raise HTTPException(404, f"no subscriber {subscriber_id!r}; register it first")
        hazards = sorted({rule.hazard for rule in subscription.request.rules})
        now = clock()
        pulled = [
            (impact, json.loads(impact.forecast) if impact.forecast else None)
            for impact in alerts.impacts_of(subscriber_id)
        ]
        return {
            "impacts": [
                {
                    "hazard": impact.hazard,
                    "asset_id": impact.asset_id,
                    "rule_position": impact.rule_position,
                    "issue_time": impact.issue_time,
                    "forecast": forecast,
                }
                for impact, forecast in pulled
                if not (forecast and forecast.get("expires"))
                or datetime.fromisoformat(forecast["expires"]) > now
            ],
            "cycles": {hazard: alerts.last_cycle(hazard) for hazard in hazards},
        }

    @app.get("/outbox")
    def outbox(request: Request) -> dict[str, Any]:
        """Delivery counts by status, and the dead letters a duty officer must follow up."""
        operator(request)
        return {
            "counts": alerts.delivery_counts(),
            "dead_letters": [
                {
                    "id": delivery.id,
                    "subscriber": delivery.subscriber_id,
                    "channel": delivery.channel,
                    "target": delivery.target,
                    "attempts": delivery.attempts,
                    "last_error": delivery.last_error,
                    "message": delivery.message_identifier,
                }
                for delivery in alerts.deliveries(status="dead")
            ],
        }

    @app.get("/console", response_class=HTMLResponse)
    def console(request: Request) -> HTMLResponse:
        """The duty forecasters' page: the proposals waiting, with buttons to review them."""
        waiting = [view(p) for p in alerts.proposals(states=["proposed", "held"])]
        signed_in = signed_in_user(request)
        return HTMLResponse(
            console_page(
                waiting,
                clock(),
                timezone,
                region_name,
                levels,
                signed_in=signed_in,
                area_map=area_map,
                health=watch.assess(alerts, clock(), max_age),
            ),
            headers={
                "Content-Security-Policy": (
                    "default-src 'self'; script-src 'unsafe-inline'; "
                    "style-src 'unsafe-inline'; img-src data:"
                ),
                "Cache-Control": "no-store",
            },
        )

    @app.get("/health", response_model=None)
    def health() -> dict[str, Any] | JSONResponse:
        """ok / degraded / failing with each check (:mod:`alerting.health`); 503 if failing."""
        report = watch.assess(alerts, clock(), max_age)
        content = {
            "status": report.status,
            "checked_at": report.checked_at.isoformat(),
            "checks": [
                {"name": c.name, "status": c.status, "detail": c.detail} for c in report.checks
            ],
            "database": alerts.where,
            "pending": alerts.delivery_counts().get("pending", 0),
        }
        if report.status == "failing":
            return JSONResponse(content, status_code=503, headers={"Cache-Control": "no-store"})
        return content

    return app


def _delivery_view(delivery: DeliveryRecord) -> dict[str, Any]:
    """One delivery as its subscriber sees it."""
    return {
        "id": delivery.id,
        "idempotency_key": delivery.idempotency_key,
        "kind": delivery.kind,
        "message": delivery.message_identifier,
        "channel": delivery.channel,
        "target": delivery.target,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "created_at": delivery.created_at,
        "next_attempt_at": (
            delivery.next_attempt_at if delivery.status in ("pending", "sending") else None
        ),
        "sent_at": delivery.sent_at,
        "last_error": delivery.last_error,
        "thread": delivery.thread,
        "expires": delivery.expires,
    }
