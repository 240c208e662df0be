"""Access tokens of the subscription store: issued, checked, revoked, listed.

:class:`TokenAccess` is the part of
:class:`~alerting.subscriptions.store.SubscriptionStore` that handles the tokens of
:mod:`.tokens` (only their hashes are stored); each change is written to the audit log
(entity ``subscriber``) in its own transaction, with who made it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from alerting import database
from alerting.database import AuditRow
from alerting.subscriptions.request import SLUG_PATTERN
from alerting.subscriptions.tables import TokenRow
from alerting.subscriptions.tokens import (
    HINT_LENGTH,
    TokenRecord,
    looks_like_token,
    new_token,
    token_hash,
)

__all__ = ["TokenAccess", "subscriber_audit"]


def subscriber_audit(
    at: datetime, by: str, subscriber_id: str, action: str, detail: str
) -> AuditRow:
    """An audit-log row about one subscriber."""
    return AuditRow(
        at=at, actor=by, entity="subscriber", entity_id=subscriber_id, action=action, detail=detail
    )


class TokenAccess(database.SqlStore):
    """Subscribers' access tokens (the store's ``_clock`` gives the time of each change)."""

    _clock: Callable[[], datetime]

    def issue_token(self, subscriber_id: str, *, by: str, label: str = "") -> str:
        """A new access token for ``subscriber_id`` (registered or not yet); shown only now.

        Parameters
        ----------
        subscriber_id
            The subscriber the token speaks for (an id slug such as ``yantian-port``).
        by
            Who issues it (the operator's name), for the audit log.
        label
            What the token is for (``"SCADA gateway, rotated 2026-11"``), shown in listings.

        Raises
        ------
        ValueError
            If ``subscriber_id`` is not an id slug or ``by`` is blank.
        """
        if re.fullmatch(SLUG_PATTERN, subscriber_id) is None:
            raise ValueError(
                f"subscriber id {subscriber_id!r} is not an id: 2-64 characters a-z, 0-9 and "
                "'-', starting with a letter or digit (e.g. 'yantian-port')"
            )
        if not by.strip():
            raise ValueError("who issues the token is blank; give the operator's name")
        self._check_schema()
        token = new_token()
        now = self._clock()
        with self._sessions.begin() as session:
            session.add(
                TokenRow(
                    token_hash=token_hash(token),
                    subscriber_id=subscriber_id,
                    hint=token[:HINT_LENGTH],
                    label=label[:200],
                    created_at=now,
                    created_by=by,
                )
            )
            detail = f"token {token[:HINT_LENGTH]}…" + (f" ({label})" if label else "")
            session.add(subscriber_audit(now, by, subscriber_id, "token issued", detail))
        return token

    def authenticate(self, token: str) -> str | None:
        """The subscriber an active token speaks for, or None (unknown, revoked, malformed)."""
        if not looks_like_token(token):
            return None
        self._check_schema()
        with self._sessions() as session:
            return session.scalar(
                select(TokenRow.subscriber_id).where(
                    TokenRow.token_hash == token_hash(token), TokenRow.revoked_at.is_(None)
                )
            )

    def revoke_tokens(self, subscriber_id: str, *, by: str, hint: str | None = None) -> int:
        """Revoke a subscriber's active tokens (or only the one whose hint is ``hint``);
        return how many were revoked."""
        self._check_schema()
        now = self._clock()
        with self._sessions.begin() as session:
            query = select(TokenRow).where(
                TokenRow.subscriber_id == subscriber_id, TokenRow.revoked_at.is_(None)
            )
            if hint is not None:
                query = query.where(TokenRow.hint == hint)
            rows = session.scalars(query.order_by(TokenRow.created_at)).all()
            for row in rows:
                row.revoked_at, row.revoked_by = now, by
            if rows:
                detail = ", ".join(f"token {row.hint}…" for row in rows)
                session.add(subscriber_audit(now, by, subscriber_id, "tokens revoked", detail))
            return len(rows)

    def tokens(self, subscriber_id: str | None = None) -> list[TokenRecord]:
        """The stored tokens (never the tokens themselves), oldest first."""
        self._check_schema()
        query = select(TokenRow).order_by(TokenRow.created_at, TokenRow.hint)
        if subscriber_id is not None:
            query = query.where(TokenRow.subscriber_id == subscriber_id)
        with self._sessions() as session:
            return [
                TokenRecord(
                    row.subscriber_id,
                    row.hint,
                    row.label,
                    row.created_at,
                    row.created_by,
                    row.revoked_at,
                    row.revoked_by,
                )
                for row in session.scalars(query)
            ]
