"""Atomic failure counters for factors (docs/security.md A.1–A.7).

An attempt is *reserved* before the secret is checked: one conditional
``UPDATE … SET failures = failures + 1 WHERE failures < limit AND not waiting``
(atomic on SQLite and PostgreSQL alike, unlike ``SELECT … FOR UPDATE`` which
SQLAlchemy drops on SQLite). A success then resets the counter. So however many
requests race, at most ``limit`` secrets are ever verified, and a locked factor
is never hashed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError

from provider import clock, observability
from provider.extensions import db
from provider.storage.models import FactorCounter

__all__ = ["Limits", "Refused", "is_locked", "reserve", "reset", "state", "unlock"]


@dataclass(frozen=True)
class Limits:
    delay_after: int
    max_failures: int
    max_delay: int = 300

    def delay_for(self, failures: int) -> int:
        """Wait imposed after ``failures`` consecutive failures (0 before delay_after)."""
        if failures < self.delay_after:
            return 0
        return int(min(self.max_delay, 2 ** (failures - self.delay_after)))


@dataclass(frozen=True)
class Refused:
    locked: bool
    retry_after: int


def _ensure_row(user_id: int, factor: str) -> None:
    exists = db.session.scalar(
        db.select(FactorCounter.id).where(
            FactorCounter.user_id == user_id, FactorCounter.factor == factor
        )
    )
    if exists is None:
        try:
            with db.session.begin_nested():
                db.session.add(FactorCounter(user_id=user_id, factor=factor, failures=0))
        except IntegrityError:
            pass  # created by a concurrent request: fine
        db.session.commit()


def reserve(user_id: int, factor: str, limits: Limits) -> Refused | None:
    """Count one attempt before verifying. Returns ``Refused`` when none is allowed."""
    _ensure_row(user_id, factor)
    now = clock.now()
    result = db.session.execute(
        update(FactorCounter)
        .where(
            and_(
                FactorCounter.user_id == user_id,
                FactorCounter.factor == factor,
                FactorCounter.locked.is_(False),
                FactorCounter.failures < limits.max_failures,
                or_(FactorCounter.next_allowed_at.is_(None), FactorCounter.next_allowed_at <= now),
            )
        )
        .values(failures=FactorCounter.failures + 1)
        .returning(FactorCounter.failures)
    )
    row = result.first()
    if row is None:
        db.session.commit()
        current = state(user_id, factor)
        if current is None or current.locked or current.failures >= limits.max_failures:
            observability.locked_refusal(factor)
            return Refused(locked=True, retry_after=0)
        wait = (current.next_allowed_at or now) - now
        return Refused(locked=False, retry_after=max(wait, 1))
    failures = int(row[0])
    if failures == limits.max_failures:
        observability.factor_locked(factor)
    # The reserved attempt counts as a failure until the caller resets it, so
    # the delay is already in force for concurrent requests; reaching
    # ``max_failures`` is the lock (the WHERE above refuses from then on).
    delay = limits.delay_for(failures)
    if delay:
        db.session.execute(
            update(FactorCounter)
            .where(
                FactorCounter.user_id == user_id,
                FactorCounter.factor == factor,
                FactorCounter.failures == failures,
            )
            .values(next_allowed_at=now + delay)
        )
    db.session.commit()
    return None


def reset(user_id: int, factor: str) -> None:
    """A success: the factor's own counter starts again (only that factor's)."""
    db.session.execute(
        update(FactorCounter)
        .where(
            FactorCounter.user_id == user_id,
            FactorCounter.factor == factor,
            FactorCounter.locked.is_(False),
        )
        .values(failures=0, next_allowed_at=None)
    )
    db.session.commit()


def unlock(user_id: int, factor: str | None = None) -> int:
    """Admin or stronger-login unlock. Returns how many counters were cleared."""
    stmt = update(FactorCounter).where(FactorCounter.user_id == user_id)
    if factor is not None:
        stmt = stmt.where(FactorCounter.factor == factor)
    result = db.session.execute(stmt.values(failures=0, next_allowed_at=None, locked=False))
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def is_locked(user_id: int, factor: str, limits: Limits) -> bool:
    row = state(user_id, factor)
    return row is not None and (row.locked or row.failures >= limits.max_failures)


def state(user_id: int, factor: str) -> FactorCounter | None:
    row: FactorCounter | None = db.session.scalar(
        db.select(FactorCounter).where(
            FactorCounter.user_id == user_id, FactorCounter.factor == factor
        )
    )
    return row
