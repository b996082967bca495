"""Users and clients."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from provider.extensions import db
from provider.storage import first
from provider.storage.models import Client, User

__all__ = [
    "add",
    "commit",
    "get_client",
    "get_user",
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
