"""Queries for one-time codes sent by email or SMS, and the verified destinations.

Only HMACs of codes reach this module. Tries and use are conditional
``UPDATE … WHERE … RETURNING`` statements (atomic on SQLite and PostgreSQL), so
of any number of racing submissions of one code exactly one wins.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from provider.extensions import db
from provider.storage import first, transaction
from provider.storage.models import OneTimeCode, User

__all__ = [
    "code_was_used",
    "consume",
    "create_code",
    "discard",
    "live_code",
    "set_destination",
    "supersede",
    "take_try",
    "verified_destination",
]


def create_code(
    *,
    user_id: int,
    channel: str,
    purpose: str,
    context_hash: str,
    destination: str,
    code_hash: str,
    now: int,
    ttl: int,
    limit: int,
    window: int,
) -> int | None:
    """Store a new code; its id. An earlier live code of the same purpose and
    context keeps working until :func:`supersede` (once the new one is delivered).

    None when ``limit`` codes were already sent in the last ``window`` seconds
    to this user on this channel, or to this destination by anyone.
    """
    since = now - window
    by_user = first(
        select(func.count(OneTimeCode.id)).where(
            OneTimeCode.user_id == user_id,
            OneTimeCode.channel == channel,
            OneTimeCode.created_at > since,
        )
    )
    by_destination = first(
        select(func.count(OneTimeCode.id)).where(
            OneTimeCode.destination == destination, OneTimeCode.created_at > since
        )
    )
    if int(by_user or 0) >= limit or int(by_destination or 0) >= limit:
        return None
    with transaction():
        row = OneTimeCode(
            user_id=user_id,
            channel=channel,
            purpose=purpose,
            context_hash=context_hash,
            destination=destination,
            code_hash=code_hash,
            tries=0,
            created_at=now,
            expires_at=now + ttl,
        )
        db.session.add(row)
    return int(row.id)


def supersede(code_id: int) -> None:
    """The code ``code_id`` was delivered: end the earlier live codes of its
    user, channel, purpose and context (the newest code is the one to use)."""
    row = db.session.get(OneTimeCode, code_id)
    if row is None:
        return
    with transaction():
        db.session.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.user_id == row.user_id,
                OneTimeCode.channel == row.channel,
                OneTimeCode.purpose == row.purpose,
                OneTimeCode.context_hash == row.context_hash,
                OneTimeCode.id < code_id,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > row.created_at,
            )
            .values(expires_at=row.created_at)
        )


def discard(code_id: int) -> None:
    """Forget a code that could not be delivered: it never counts against the
    resend limit (a delivery failure is not the user's doing)."""
    with transaction():
        db.session.execute(delete(OneTimeCode).where(OneTimeCode.id == code_id))


def live_code(
    user_id: int,
    channel: str,
    purpose: str,
    context_hash: str,
    now: int,
    destination: str | None = None,
) -> OneTimeCode | None:
    """The newest unused, unexpired code of this kind, sent in this context."""
    stmt = select(OneTimeCode).where(
        OneTimeCode.user_id == user_id,
        OneTimeCode.channel == channel,
        OneTimeCode.purpose == purpose,
        OneTimeCode.context_hash == context_hash,
        OneTimeCode.used_at.is_(None),
        OneTimeCode.expires_at > now,
    )
    if destination is not None:
        stmt = stmt.where(OneTimeCode.destination == destination)
    row: OneTimeCode | None = first(stmt.order_by(OneTimeCode.id.desc()).limit(1))
    return row


def take_try(code_id: int, max_tries: int) -> bool:
    """Count one try of a code; False when it has had ``max_tries`` already."""
    with transaction():
        result = db.session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.id == code_id, OneTimeCode.tries < max_tries)
            .values(tries=OneTimeCode.tries + 1)
            .returning(OneTimeCode.id)
        )
        taken = result.first() is not None
    return taken


def consume(code_id: int, code_hash: str, now: int) -> str | None:
    """Use the code once: its destination, or None (wrong, used or expired)."""
    with transaction():
        result = db.session.execute(
            update(OneTimeCode)
            .where(
                OneTimeCode.id == code_id,
                OneTimeCode.code_hash == code_hash,
                OneTimeCode.used_at.is_(None),
                OneTimeCode.expires_at > now,
            )
            .values(used_at=now)
            .returning(OneTimeCode.destination)
        )
        row = result.first()
    return str(row[0]) if row is not None else None


def code_was_used(user_id: int, channel: str, code_hash: str) -> bool:
    found = first(
        select(OneTimeCode.id).where(
            OneTimeCode.user_id == user_id,
            OneTimeCode.channel == channel,
            OneTimeCode.code_hash == code_hash,
            OneTimeCode.used_at.is_not(None),
        )
    )
    return found is not None


def verified_destination(user_id: int, channel: str) -> str | None:
    """The user's verified email address (``channel`` ``email``) or phone number, or None."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    if channel == "email":
        return user.email if user.email and user.email_verified_at else None
    return user.phone if user.phone and user.phone_verified_at else None


def set_destination(user_id: int, channel: str, value: str | None, verified_at: int | None) -> None:
    """Set (or clear, with None) the user's email address or phone number."""
    values: dict[str, object]
    if channel == "email":
        values = {"email_verified_at": verified_at}
        if value is not None:
            values["email"] = value
    else:
        values = {"phone": value, "phone_verified_at": verified_at}
    with transaction():
        db.session.execute(update(User).where(User.id == user_id).values(**values))
