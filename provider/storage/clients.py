"""Clients by client id, read once per database session."""

from __future__ import annotations

from sqlalchemy import bindparam, inspect, select

from provider.extensions import db
from provider.storage.models import Client

__all__ = ["get_client"]

# Built once (issue 20): no statement construction or cache key per request.
_BY_CLIENT_ID = select(Client).where(Client.client_id == bindparam("client_id"))


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
    row = db.session.scalar(_BY_CLIENT_ID, {"client_id": client_id})
    if row is not None:
        memo[client_id] = row
    return row
