"""The audit log: one row per security event. Callers never pass secrets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from provider import clock, observability
from provider.extensions import db
from provider.storage import insert_row
from provider.storage.models import AuditEvent

__all__ = ["recent", "record"]

_INSERT = insert(AuditEvent)


def record(
    event: str,
    result: str,
    *,
    user_id: int | None = None,
    username: str | None = None,
    client_id: str | None = None,
    method: str | None = None,
    acr: str | None = None,
    reason: str | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
    commit: bool = True,
) -> None:
    values = {
        "at": clock.now(),
        "event": event,
        "result": result,
        "user_id": user_id,
        "username": (username or "")[:150] or None,
        "client_id": (client_id or "")[:200] or None,
        "method": method,
        "acr": acr,
        "reason": (reason or "")[:200] or None,
        "ip": ip,
        "details": details or {},
    }
    if commit:
        # Written now and committed with what the request wrote before it: a Core
        # INSERT, no unit of work (issue 20).
        insert_row(_INSERT, values)
        db.session.commit()
    else:
        # Left to the request's commit, which may come after slow work (a hash):
        # an INSERT now would hold SQLite's write lock all that time.
        db.session.add(AuditEvent(**values))
    observability.audit_event(
        event,
        result,
        user_id=user_id,
        client_id=client_id,
        method=method,
        acr=acr,
        reason=reason,
    )


def recent(*, user_id: int | None = None, limit: int = 50) -> list[AuditEvent]:
    query = db.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(AuditEvent.user_id == user_id)
    return list(db.session.scalars(query))
