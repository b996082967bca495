"""Authorize transactions: an authorization request waiting for the user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, func, select

from provider import clock
from provider.crypto import random_token
from provider.extensions import db
from provider.storage.models import AuthEvent, AuthorizeTransaction, WebSession

__all__ = ["create_transaction", "delete_transaction", "get_transaction", "mark_consent_given"]

# Built once (issue 20): no construction or cache key per request.
_DELETE_EXPIRED = delete(AuthorizeTransaction).where(
    AuthorizeTransaction.expires_at < bindparam("now")
)
# The session's last authentication event and its sid, in one round trip.
_BASELINE = (
    select(func.max(AuthEvent.id), WebSession.sid)
    .select_from(WebSession)
    .outerjoin(AuthEvent, AuthEvent.session_id == WebSession.id)
    .where(WebSession.id == bindparam("session_id"))
    .group_by(WebSession.sid)
)


def create_transaction(
    session_id: int, client_id: str, params: dict[str, Any], ttl: int
) -> AuthorizeTransaction:
    now = clock.now()
    db.session.execute(_DELETE_EXPIRED, {"now": now})
    found = db.session.execute(_BASELINE, {"session_id": session_id}).first()
    baseline, baseline_sid = (found[0], found[1]) if found is not None else (None, None)
    tx = AuthorizeTransaction(
        id=random_token(24),
        session_id=session_id,
        client_id=client_id,
        params=params,
        created_at=now,
        expires_at=now + ttl,
        baseline_sid=baseline_sid,
        baseline_event_id=int(baseline or 0),
    )
    db.session.add(tx)
    db.session.commit()
    return tx


def get_transaction(tx_id: str | None, session_id: int | None) -> AuthorizeTransaction | None:
    """The live transaction, only for the browser session that started it."""
    # Ids are URL-safe random tokens: anything else (a NUL, a lone surrogate from
    # JSON, which PostgreSQL's driver cannot even encode) is no transaction.
    if not tx_id or session_id is None or len(tx_id) > 64:
        return None
    if not tx_id.isascii() or "\x00" in tx_id:
        return None
    tx = db.session.get(AuthorizeTransaction, tx_id)
    if tx is None or tx.session_id != session_id or tx.expires_at <= clock.now():
        return None
    return tx


def get_own_transaction(tx_id: str | None, session_id: int | None) -> AuthorizeTransaction | None:
    """This browser session's transaction, even when it has expired (not yet
    purged): only to say which application it was for."""
    if not tx_id or session_id is None or len(tx_id) > 64:
        return None
    if not tx_id.isascii() or "\x00" in tx_id:
        return None
    tx = db.session.get(AuthorizeTransaction, tx_id)
    return tx if tx is not None and tx.session_id == session_id else None


def mark_consent_given(tx: AuthorizeTransaction) -> None:
    tx.consent_given = True
    db.session.commit()


def delete_transaction(tx: AuthorizeTransaction, *, commit: bool = True) -> None:
    db.session.delete(tx)
    if commit:
        db.session.commit()
