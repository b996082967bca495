"""Server-side browser sessions and their authentication events.

The cookie carries a random token; the database stores only its SHA-256, so a
database read does not yield usable cookies. All authentication state lives
here (docs/security.md: Flask's signed cookie session can be replayed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, select

from provider import clock, policy
from provider.crypto import random_token, sha256_hex
from provider.extensions import db
from provider.storage.models import AuthEvent, User, WebSession

__all__ = [
    "NewEvent",
    "add_event",
    "create",
    "delete_session",
    "find",
    "get",
    "list_for_user",
    "login",
    "record_activity",
    "rotate",
]


_BY_TOKEN_HASH = select(WebSession).where(WebSession.token_hash == bindparam("token_hash"))


@dataclass(frozen=True)
class NewEvent:
    method: str
    amr: tuple[str, ...]
    credential_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: int | None = None


def find(token: str, *, idle_timeout: int) -> WebSession | None:
    """The live session for a cookie value, or None (expired ones are deleted)."""
    if not token or len(token) > 200:
        return None
    row: WebSession | None = db.session.scalar(_BY_TOKEN_HASH, {"token_hash": sha256_hex(token)})
    if row is None:
        return None
    now = clock.now()
    if row.expires_at <= now or row.last_seen_at + idle_timeout <= now:
        db.session.delete(row)
        db.session.commit()
        return None
    return row


def get(session_id: int) -> WebSession | None:
    return db.session.get(WebSession, session_id)


def create(*, absolute_timeout: int, user_agent: str | None) -> tuple[WebSession, str]:
    token = random_token()
    now = clock.now()
    row = WebSession(
        token_hash=sha256_hex(token),
        sid=random_token(16),
        data={},
        created_at=now,
        last_seen_at=now,
        expires_at=now + absolute_timeout,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.session.add(row)
    db.session.commit()
    return row, token


def rotate(row: WebSession) -> str:
    """Give the session a new cookie value; the old one stops working at once."""
    token = random_token()
    row.token_hash = sha256_hex(token)
    db.session.commit()
    return token


def record_activity(
    row: WebSession, data: dict[str, Any] | None, *, min_interval: int = 30
) -> None:
    """Note that the browser was active now (and save ``data`` when given)."""
    now = clock.now()
    changed = False
    if now - row.last_seen_at >= min_interval:
        _note_activity(row, now)
        changed = True
    if data is not None:
        row.data = dict(data)
        changed = True
    if changed:
        db.session.commit()


def _note_activity(row: WebSession, now: int) -> None:
    row.idle_gaps = [
        list(g) for g in policy.idle_gaps_after(row.idle_gaps or [], row.last_seen_at, now)
    ]
    row.last_seen_at = now


def _event(row: WebSession, event: NewEvent, now: int) -> AuthEvent:
    return AuthEvent(
        session_id=row.id,
        method=event.method,
        amr=list(event.amr),
        at=event.at if event.at is not None else now,
        credential_id=event.credential_id,
        details=dict(event.details),
    )


def login(row: WebSession, user: User, event: NewEvent, *, absolute_timeout: int) -> str:
    """A new login: replaces every event, gives a new ``sid`` and a new cookie value."""
    now = clock.now()
    db.session.execute(delete(AuthEvent).where(AuthEvent.session_id == row.id))
    if row.user_id != user.id:
        # Another user in this browser: nothing of the old session survives, not
        # even the CSRF token (rotated at every login, docs/security.md case 54).
        row.data = {}
    row.user_id = user.id
    row.idle_gaps = []
    row.sid = random_token(16)
    row.authenticated_at = now
    row.last_seen_at = now
    row.expires_at = now + absolute_timeout
    db.session.add(_event(row, event, now))
    token = random_token()
    row.token_hash = sha256_hex(token)
    db.session.commit()
    db.session.refresh(row)
    return token


def add_event(row: WebSession, event: NewEvent) -> str:
    """A step-up inside the existing session: one more event, a new cookie value."""
    now = clock.now()
    _note_activity(row, now)
    db.session.add(_event(row, event, now))
    token = random_token()
    row.token_hash = sha256_hex(token)
    db.session.commit()
    db.session.refresh(row)
    return token


def delete_session(row: WebSession) -> None:
    db.session.delete(row)
    db.session.commit()


def list_for_user(user_id: int) -> list[WebSession]:
    return list(
        db.session.scalars(
            db.select(WebSession)
            .where(WebSession.user_id == user_id)
            .order_by(WebSession.last_seen_at.desc())
        )
    )
