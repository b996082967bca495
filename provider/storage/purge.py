"""Deleting rows that can no longer be used (docs/security.md case 55).

Each function deletes at most ``batch`` rows, oldest first, in one short
transaction, and returns how many it deleted: a purge never holds a long lock.
Children of a deleted browser session (its authentication events, authorize
transactions and WebAuthn challenges) go with it (``ON DELETE CASCADE``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select

from provider.extensions import db
from provider.storage.models import (
    AddressCounter,
    AuthorizationCode,
    AuthorizeTransaction,
    ClientAssertionJti,
    OneTimeCode,
    Token,
    WebAuthnChallenge,
    WebSession,
)

__all__ = [
    "address_counters",
    "assertion_jtis",
    "authorization_codes",
    "authorize_transactions",
    "one_time_codes",
    "sessions",
    "tokens",
    "webauthn_challenges",
]


def _delete(model: Any, condition: ColumnElement[bool], order: Any, batch: int) -> int:
    ids = list(db.session.scalars(select(model.id).where(condition).order_by(order).limit(batch)))
    if ids:
        db.session.execute(delete(model).where(model.id.in_(ids)))
    db.session.commit()
    return len(ids)


def sessions(now: int, *, idle_timeout: int, batch: int) -> int:
    """Browser sessions past their absolute lifetime or idle too long."""
    condition = or_(WebSession.expires_at <= now, WebSession.last_seen_at <= now - idle_timeout)
    return _delete(WebSession, condition, WebSession.last_seen_at, batch)


def authorize_transactions(now: int, *, batch: int) -> int:
    return _delete(
        AuthorizeTransaction,
        AuthorizeTransaction.expires_at <= now,
        AuthorizeTransaction.expires_at,
        batch,
    )


def webauthn_challenges(now: int, *, batch: int) -> int:
    return _delete(
        WebAuthnChallenge, WebAuthnChallenge.expires_at <= now, WebAuthnChallenge.expires_at, batch
    )


def one_time_codes(now: int, *, keep_after_creation: int, batch: int) -> int:
    """Expired codes, once they no longer count towards the resend limit."""
    condition = (OneTimeCode.expires_at <= now) & (
        OneTimeCode.created_at <= now - keep_after_creation
    )
    return _delete(OneTimeCode, condition, OneTimeCode.created_at, batch)


def authorization_codes(now: int, *, keep_after_expiry: int, batch: int) -> int:
    """Codes (spent or not) expired more than ``keep_after_expiry`` seconds ago:
    until then a replayed code is still recognised as a replay."""
    return _delete(
        AuthorizationCode,
        AuthorizationCode.expires_at <= now - keep_after_expiry,
        AuthorizationCode.expires_at,
        batch,
    )


def tokens(now: int, *, keep_after_expiry: int, batch: int) -> int:
    """Tokens whose access token and refresh token (if any) both expired more
    than ``keep_after_expiry`` seconds ago: nothing can use them any more."""
    cutoff = now - keep_after_expiry
    condition = (Token.access_expires_at <= cutoff) & or_(
        Token.refresh_expires_at.is_(None), Token.refresh_expires_at <= cutoff
    )
    return _delete(Token, condition, Token.access_expires_at, batch)


def assertion_jtis(now: int, *, batch: int) -> int:
    """Client-assertion ``jti`` values whose assertion has expired (replay is moot)."""
    return _delete(
        ClientAssertionJti,
        ClientAssertionJti.expires_at < now,
        ClientAssertionJti.expires_at,
        batch,
    )


def address_counters(now: int, *, batch: int) -> int:
    """Sign-in counters per address whose window has ended (the next attempt
    from there would start a new one anyway)."""
    return _delete(
        AddressCounter,
        AddressCounter.window_ends_at <= now,
        AddressCounter.window_ends_at,
        batch,
    )
