"""Queries behind the admin console, the admin API and the admin CLI."""

from __future__ import annotations

from sqlalchemy import delete, or_, update

from provider.extensions import db
from provider.storage.models import AuditEvent, Client, Consent, FactorCounter, User, WebSession

__all__ = [
    "audit_events",
    "client_for_update",
    "counters_for_user",
    "delete_client",
    "delete_sessions",
    "list_clients",
    "search_users",
]


def list_clients() -> list[Client]:
    return list(db.session.scalars(db.select(Client).order_by(Client.client_id)))


def client_for_update(client_id: str) -> Client | None:
    """The client row, read again and locked until this transaction ends: a
    change computed from it cannot interleave with another change of the same
    client (the other waits, then reads what this one wrote).

    The lock is taken by writing the row unchanged, which works alike on
    PostgreSQL (a row lock, as ``FOR UPDATE``) and on SQLite (which has no
    ``FOR UPDATE`` and starts a write transaction only at the first write)."""
    if not client_id or len(client_id) > 200 or "\x00" in client_id:  # PostgreSQL refuses NUL
        return None
    db.session.execute(
        update(Client)
        .where(Client.client_id == client_id)
        .values(client_id=Client.client_id)
        .execution_options(synchronize_session=False)
    )
    statement = (
        db.select(Client)
        .where(Client.client_id == client_id)
        .execution_options(populate_existing=True)
    )
    row: Client | None = db.session.scalar(statement)
    return row


def delete_client(client: Client) -> None:
    """The client and the consents given to it (its tokens stop working with it)."""
    db.session.execute(delete(Consent).where(Consent.client_id == client.client_id))
    db.session.delete(client)
    db.session.commit()


def search_users(query: str = "", *, limit: int = 100) -> list[User]:
    statement = db.select(User).order_by(User.username).limit(limit)
    text = query.strip().replace("\x00", "")
    if text:
        like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(
                User.username.ilike(like, escape="\\"),
                User.email.ilike(like, escape="\\"),
                User.name.ilike(like, escape="\\"),
            )
        )
    return list(db.session.scalars(statement))


def users_with_failures(user_ids: list[int]) -> set[int]:
    """Which of ``user_ids`` have a factor with failures or an admin lock (the
    only ones that can be locked now)."""
    if not user_ids:
        return set()
    rows = db.session.scalars(
        db.select(FactorCounter.user_id)
        .where(
            FactorCounter.user_id.in_(user_ids),
            or_(FactorCounter.locked.is_(True), FactorCounter.failures > 0),
        )
        .distinct()
    )
    return set(rows)


def counters_for_user(user_id: int) -> list[FactorCounter]:
    return list(
        db.session.scalars(
            db.select(FactorCounter)
            .where(FactorCounter.user_id == user_id)
            .order_by(FactorCounter.factor)
        )
    )


def delete_sessions(user_id: int) -> int:
    result = db.session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def audit_events(
    *,
    user_id: int | None = None,
    client_id: str | None = None,
    event: str | None = None,
    result: str | None = None,
    since: int | None = None,
    until: int | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """Newest first; every filter given must hold."""
    statement = db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        statement = statement.where(AuditEvent.user_id == user_id)
    if client_id:
        statement = statement.where(AuditEvent.client_id == client_id)
    if event:
        statement = statement.where(AuditEvent.event == event)
    if result:
        statement = statement.where(AuditEvent.result == result)
    if since is not None:
        statement = statement.where(AuditEvent.at >= since)
    if until is not None:
        statement = statement.where(AuditEvent.at <= until)
    return list(db.session.scalars(statement))
