"""Subscriber access tokens: how a sector operator proves which subscriber it speaks for.

The deployment's operator issues a token for a subscriber id
(``yujing subscribers token metro-line-1``) and hands it over out of band, as with the
webhook secret. Over the HTTP API (:mod:`yujing.api`) the bearer of that token may register,
read and remove that subscriber's set and see its deliveries, and nothing else; without a
valid token those routes answer 401, with another subscriber's token 403. So nobody who
merely reaches the API can redirect a metro operator's warnings to another webhook, silence
them by removing the set, or read where a power company's substations are.

A token is ``yjs_`` and 43 URL-safe characters (256 random bits from :mod:`secrets`). The
store keeps only its SHA-256 and its first ten characters (``hint``, to tell tokens apart in
listings): a copy of the database grants nothing, and 256 random bits cannot be guessed
back from an unsalted hash. A token is shown once, when it is issued; a lost token is
revoked and another issued. A subscriber may hold several (to rotate without a gap).

Examples
--------
>>> token = new_token()
>>> token.startswith(TOKEN_PREFIX), len(token)
(True, 47)
>>> len(token_hash(token)), token_hash(token) == token_hash(token)
(64, True)
>>> looks_like_token("Bearer abc")
False
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "HINT_LENGTH",
    "TOKEN_PREFIX",
    "TokenRecord",
    "looks_like_token",
    "new_token",
    "token_hash",
]

TOKEN_PREFIX = "yjs_"
"""Every subscriber token starts with this (so a leaked one is recognisable in a scan)."""
HINT_LENGTH = 10
"""How many leading characters of a token are stored to tell tokens apart."""
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    """A new random token (shown once; store only :func:`token_hash` of it)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The SHA-256 of a token, hex: what the store keeps and looks tokens up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(text: str) -> bool:
    """Whether ``text`` has a token's form (checked before any database lookup)."""
    return _TOKEN.fullmatch(text) is not None


@dataclass(frozen=True)
class TokenRecord:
    """A stored token, without the token: whose it is, when and by whom issued or revoked."""

    subscriber_id: str
    hint: str
    label: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def active(self) -> bool:
        """Whether the token still grants access."""
        return self.revoked_at is None
