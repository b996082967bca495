"""Users, clients, consents and authorize transactions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, inspect

from provider import clock
from provider.crypto import random_token
from provider.extensions import db
from provider.storage import first
from provider.storage.models import (
    AuthEvent,
    AuthorizeTransaction,
    Client,
    Consent,
    User,
    WebSession,
)

__all__ = [
    "add",
    "commit",
    "consented_scopes",
    "create_transaction",
    "delete_transaction",
    "get_client",
    "get_transaction",
    "get_user",
    "grant_consent",
    "user_by_name",
]


def add(obj: Any) -> None:
    db.session.add(obj)
    db.session.commit()


def commit() -> None:
    db.session.commit()


def get_user(user_id: int | None) -> User | None:
    return db.session.get(User, user_id) if user_id else None


def user_by_name(username: str) -> User | None:
    if not username or len(username) > 150 or "\x00" in username:  # PostgreSQL refuses NUL
        return None
    row = first(db.select(User).where(User.username == username))
    return row


def get_client(client_id: str | None) -> Client | None:
    """The client row, read once per database session.

    One request asks for its client several times (Authlib's grant, our policy,
    the ID token). The memo lives in the session's ``info``, so it goes when
    the session does (Flask-SQLAlchemy removes it after every request), and a
    row this session deleted or expunged is read again.
    """
    if not client_id or len(client_id) > 200 or "\x00" in client_id:  # PostgreSQL refuses NUL
        return None
    memo: dict[str, Client] = db.session.info.setdefault("belay_clients", {})
    row = memo.get(client_id)
    if row is not None and row in db.session and not inspect(row).deleted:
        return row
    row = first(db.select(Client).where(Client.client_id == client_id))
    if row is not None:
        memo[client_id] = row
    return row


def consented_scopes(user_id: int, client_id: str) -> set[str]:
    row = db.session.scalar(
        db.select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    return set(row.scope.split()) if row else set()


def grant_consent(user_id: int, client_id: str, scopes: set[str]) -> None:
    row = db.session.scalar(
        db.select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    if row is None:
        row = Consent(user_id=user_id, client_id=client_id, scope="", granted_at=clock.now())
        db.session.add(row)
    row.scope = " ".join(sorted(set(row.scope.split()) | scopes))
    row.granted_at = clock.now()
    db.session.commit()


def create_transaction(
    session_id: int, client_id: str, params: dict[str, str], ttl: int
) -> AuthorizeTransaction:
    now = clock.now()
    db.session.execute(delete(AuthorizeTransaction).where(AuthorizeTransaction.expires_at < now))
    baseline = first(db.select(db.func.max(AuthEvent.id)).where(AuthEvent.session_id == session_id))
    tx = AuthorizeTransaction(
        id=random_token(24),
        session_id=session_id,
        client_id=client_id,
        params=params,
        created_at=now,
        expires_at=now + ttl,
        baseline_sid=first(db.select(WebSession.sid).where(WebSession.id == session_id)),
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


def delete_transaction(tx: AuthorizeTransaction, *, commit: bool = True) -> None:
    db.session.delete(tx)
    if commit:
        db.session.commit()
