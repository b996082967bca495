"""Remembered browsers ("trust this browser", docs/design.md "Remembered devices").

The device cookie carries a random token; only its SHA-256 is stored (like
sessions), so a database read yields no usable cookie. A record keeps the
second-factor event it remembers, with the time that factor was really
checked, so a replay never looks fresher than it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from provider import clock
from provider.crypto import random_token, sha256_hex
from provider.extensions import db
from provider.storage import first
from provider.storage.models import RememberedDevice

__all__ = ["create", "find", "list_for_user", "revoke", "revoke_all", "touch"]


def create(
    *,
    user_id: int,
    client_id: str | None,
    method: str,
    amr: list[str],
    credential_id: str | None,
    details: dict[str, Any],
    event_at: int,
    user_agent: str | None,
    lifetime: int,
) -> tuple[RememberedDevice, str]:
    """Remember this browser; returns the row and the cookie token (shown once)."""
    token = random_token()
    now = clock.now()
    row = RememberedDevice(
        user_id=user_id,
        token_hash=sha256_hex(token),
        client_id=client_id,
        method=method,
        amr=list(amr),
        credential_id=credential_id,
        details=dict(details),
        event_at=event_at,
        user_agent=(user_agent or "")[:300] or None,
        created_at=now,
        last_used_at=None,
        expires_at=now + lifetime,
    )
    db.session.add(row)
    db.session.commit()
    return row, token


def find(token: str, user_id: int) -> RememberedDevice | None:
    """The live record of ``user_id`` for a cookie value (expired ones are deleted)."""
    if not token or len(token) > 200:
        return None
    row: RememberedDevice | None = first(
        select(RememberedDevice).where(
            RememberedDevice.token_hash == sha256_hex(token), RememberedDevice.user_id == user_id
        )
    )
    if row is None:
        return None
    if row.expires_at <= clock.now():
        db.session.delete(row)
        db.session.commit()
        return None
    return row


def touch(row: RememberedDevice) -> None:
    row.last_used_at = clock.now()
    db.session.commit()


def list_for_user(user_id: int) -> list[RememberedDevice]:
    now = clock.now()
    return list(
        db.session.scalars(
            select(RememberedDevice)
            .where(RememberedDevice.user_id == user_id, RememberedDevice.expires_at > now)
            .order_by(RememberedDevice.created_at.desc())
        )
    )


def revoke(user_id: int, device_id: int) -> bool:
    result = db.session.execute(
        delete(RememberedDevice).where(
            RememberedDevice.id == device_id, RememberedDevice.user_id == user_id
        )
    )
    db.session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def revoke_all(user_id: int) -> int:
    """Forget every browser of ``user_id`` (password or factor reset)."""
    result = db.session.execute(delete(RememberedDevice).where(RememberedDevice.user_id == user_id))
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
