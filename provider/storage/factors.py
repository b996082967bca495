"""Queries for the second factors: PIN, TOTP and backup codes (and the password
hash the step-up password factor reads).

Single-use values are consumed with one conditional ``UPDATE … WHERE …
RETURNING`` (docs/security.md B.8, B.9, B.13): atomic on SQLite and PostgreSQL
alike, so of any number of racing requests exactly one wins. Writes that belong
together (a new PIN and the reset of its lock, a new set of backup codes and the
removal of the old one) are one transaction.

No plaintext PIN, code or secret ever reaches this module: only hashes and the
encrypted TOTP secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from provider.extensions import db
from provider.storage import first, transaction
from provider.storage.models import (
    BackupCode,
    FactorCounter,
    PinCredential,
    TotpCredential,
    User,
)

__all__ = [
    "activate_totp",
    "backup_code_was_used",
    "consume_backup_code",
    "consume_totp_step",
    "delete_backup_codes",
    "delete_pin",
    "delete_totp",
    "get_pin",
    "get_totp",
    "password_hash",
    "remaining_backup_codes",
    "replace_backup_codes",
    "replace_password_hash",
    "replace_pin_hash",
    "save_pin",
    "start_totp",
    "username",
]


def _clear_counters(user_id: int, counters: Sequence[str]) -> None:
    """Reset failure counters inside the caller's transaction (no commit)."""
    if counters:
        db.session.execute(
            update(FactorCounter)
            .where(FactorCounter.user_id == user_id, FactorCounter.factor.in_(list(counters)))
            .values(failures=0, next_allowed_at=None, locked=False)
        )


def _delete_for_user(
    model: type[PinCredential] | type[TotpCredential] | type[BackupCode],
    user_id: int,
    reset_counters: Sequence[str],
) -> int:
    """Delete the user's rows of ``model`` and reset their counters in one
    transaction: how many rows went."""
    with transaction():
        result = db.session.execute(delete(model).where(model.user_id == user_id))
        _clear_counters(user_id, reset_counters)
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


# What a sign-in and a step-up read, built once (issue 20): no construction or
# cache key per request.
_PASSWORD_HASH = select(User.password_hash).where(User.id == bindparam("user_id"))
_PIN = select(PinCredential).where(PinCredential.user_id == bindparam("user_id"))
_TOTP = select(TotpCredential).where(TotpCredential.user_id == bindparam("user_id"))
_BACKUP_CODES_LEFT = select(func.count(BackupCode.id)).where(
    BackupCode.user_id == bindparam("user_id"), BackupCode.used_at.is_(None)
)

# -- password -------------------------------------------------------------------


def password_hash(user_id: int) -> str | None:
    value: str | None = db.session.scalar(_PASSWORD_HASH, {"user_id": user_id})
    return value


def replace_password_hash(user_id: int, *, old_hash: str, new_hash: str) -> bool:
    """Store a rehash, unless the password changed meanwhile."""
    with transaction():
        result = db.session.execute(
            update(User)
            .where(User.id == user_id, User.password_hash == old_hash)
            .values(password_hash=new_hash)
            .returning(User.id)
        )
        return result.first() is not None


def username(user_id: int) -> str | None:
    value = first(select(User.username).where(User.id == user_id))
    return value


# -- PIN --------------------------------------------------------------------------


def get_pin(user_id: int) -> PinCredential | None:
    row: PinCredential | None = db.session.scalar(_PIN, {"user_id": user_id})
    return row


def save_pin(
    user_id: int, *, pin_hash: str, length: int, now: int, reset_counters: Sequence[str]
) -> PinCredential:
    """Create or replace the user's PIN and reset its lock, in one transaction."""
    for attempt in range(2):
        try:
            with transaction():
                row = get_pin(user_id)
                if row is None:
                    row = PinCredential(
                        user_id=user_id,
                        pin_hash=pin_hash,
                        length=length,
                        created_at=now,
                        updated_at=now,
                    )
                    db.session.add(row)
                else:
                    row.pin_hash = pin_hash
                    row.length = length
                    row.updated_at = now
                _clear_counters(user_id, reset_counters)
                db.session.flush()
            return row
        except IntegrityError:
            # A concurrent request created the row first: update it instead.
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def replace_pin_hash(pin_id: int, *, old_hash: str, new_hash: str) -> bool:
    """Store a rehash, unless the PIN was changed meanwhile."""
    with transaction():
        result = db.session.execute(
            update(PinCredential)
            .where(PinCredential.id == pin_id, PinCredential.pin_hash == old_hash)
            .values(pin_hash=new_hash)
            .returning(PinCredential.id)
        )
        return result.first() is not None


def delete_pin(user_id: int, *, reset_counters: Sequence[str]) -> bool:
    return _delete_for_user(PinCredential, user_id, reset_counters) > 0


# -- TOTP -------------------------------------------------------------------------


def get_totp(user_id: int) -> TotpCredential | None:
    row: TotpCredential | None = db.session.scalar(_TOTP, {"user_id": user_id})
    return row


def start_totp(user_id: int, *, pending_secret_encrypted: str, now: int) -> TotpCredential:
    """Store a new secret waiting for its first code (replacing any other pending one)."""
    for attempt in range(2):
        try:
            with transaction():
                row = get_totp(user_id)
                if row is None:
                    row = TotpCredential(user_id=user_id, created_at=now)
                    db.session.add(row)
                row.pending_secret_encrypted = pending_secret_encrypted
                row.pending_created_at = now
                db.session.flush()
            return row
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def activate_totp(
    credential_id: int,
    *,
    pending_secret_encrypted: str,
    step: int | None,
    now: int,
    user_id: int,
    reset_counters: Sequence[str],
) -> bool:
    """Make the pending secret the active one, atomically.

    Only the very secret that was checked is activated (a newer pending secret
    started meanwhile is not), and only once. The accepted step is recorded so
    the enrolment code cannot be replayed as a step-up; with ``step`` None
    (an admin enrolment, no code) the last accepted step is kept, so re-importing
    the same secret does not make a just-used code valid again.
    """
    values: dict[str, Any] = {
        "secret_encrypted": pending_secret_encrypted,
        "pending_secret_encrypted": None,
        "pending_created_at": None,
        "confirmed_at": now,
    }
    if step is not None:
        values["last_step"] = step
    with transaction():
        result = db.session.execute(
            update(TotpCredential)
            .where(
                TotpCredential.id == credential_id,
                TotpCredential.pending_secret_encrypted == pending_secret_encrypted,
            )
            .values(**values)
            .returning(TotpCredential.id)
        )
        activated = result.first() is not None
        if activated:
            _clear_counters(user_id, reset_counters)
        return activated


def consume_totp_step(credential_id: int, step: int) -> bool:
    """Accept time step ``step`` once: only when it is newer than the last accepted one."""
    with transaction():
        result = db.session.execute(
            update(TotpCredential)
            .where(
                TotpCredential.id == credential_id,
                TotpCredential.secret_encrypted.is_not(None),
                or_(TotpCredential.last_step.is_(None), TotpCredential.last_step < step),
            )
            .values(last_step=step)
            .returning(TotpCredential.id)
        )
        return result.first() is not None


def delete_totp(user_id: int, *, reset_counters: Sequence[str]) -> bool:
    return _delete_for_user(TotpCredential, user_id, reset_counters) > 0


# -- backup codes -----------------------------------------------------------------


def replace_backup_codes(
    user_id: int, code_hashes: Sequence[str], *, now: int, reset_counters: Sequence[str]
) -> None:
    """Delete the old set and store the new one, in one transaction."""
    with transaction():
        db.session.execute(delete(BackupCode).where(BackupCode.user_id == user_id))
        db.session.add_all(
            BackupCode(user_id=user_id, code_hash=h, created_at=now) for h in code_hashes
        )
        _clear_counters(user_id, reset_counters)


def consume_backup_code(user_id: int, code_hash: str, *, now: int) -> int | None:
    """Mark an unused code used; its id, or None when there is no such unused code."""
    with transaction():
        result = db.session.execute(
            update(BackupCode)
            .where(
                BackupCode.user_id == user_id,
                BackupCode.code_hash == code_hash,
                BackupCode.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(BackupCode.id)
        )
        row = result.first()
        return int(row[0]) if row is not None else None


def backup_code_was_used(user_id: int, code_hash: str) -> bool:
    found = first(
        select(BackupCode.id).where(
            BackupCode.user_id == user_id,
            BackupCode.code_hash == code_hash,
            BackupCode.used_at.is_not(None),
        )
    )
    return found is not None


def remaining_backup_codes(user_id: int) -> int:
    count = db.session.scalar(_BACKUP_CODES_LEFT, {"user_id": user_id})
    return int(count or 0)


def delete_backup_codes(user_id: int, *, reset_counters: Sequence[str]) -> int:
    return _delete_for_user(BackupCode, user_id, reset_counters)
