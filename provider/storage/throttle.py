"""Atomic failure counters for factors (docs/security.md A.1–A.7).

An attempt is *reserved* before the secret is checked: one conditional
``UPDATE … SET failures = failures + 1 WHERE failures < limit AND not waiting``
(atomic on SQLite and PostgreSQL alike, unlike ``SELECT … FOR UPDATE`` which
SQLAlchemy drops on SQLite). A success then resets the counter. So however many
requests race, at most ``limit`` secrets are ever verified, and a locked factor
is never hashed.

A counter either locks for good at ``max_failures`` (until an unlock: the PIN,
TOTP, backup codes, one-time codes) or, with ``lock_window`` set (the
password, docs/factors.md "Password lock"), opens a *lock window* at every
``max_failures``-th consecutive failure: no attempt until it lapses, the
window doubling at each further lock up to ``lock_window_max``. Consecutive
failures keep counting across windows; at ``failure_limit`` (at most 100, NIST
SP 800-63B-4 §3.2.2) the factor stays locked until an unlock or a success
elsewhere resets it.

The request whose reservation *crosses* into a lock (the ``RETURNING`` value
of that one atomic update is the threshold: exactly one request sees it,
however many race) remembers a :class:`Crossing` for the rest of the request;
a success of that attempt (:func:`reset`) takes it back, and whatever is left
when the request ends is a lock, noted once by
:func:`provider.flows.assurance.lifecycle.note_pending_locks` (its
``factor_locked`` audit row). An ordinary failure costs no extra query.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, has_app_context
from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from provider import clock, observability
from provider.extensions import db
from provider.storage.models import FactorCounter

__all__ = [
    "Crossing",
    "Limits",
    "Refused",
    "is_locked",
    "reserve",
    "reset",
    "state",
    "take_crossings",
    "unlock",
]


@dataclass(frozen=True)
class Limits:
    delay_after: int
    max_failures: int
    max_delay: int = 300
    #: 0: ``max_failures`` locks until an unlock. Else the seconds of the first
    #: lock window opened at each ``max_failures``-th failure (doubling, capped).
    lock_window: int = 0
    lock_window_max: int = 0
    #: with lock windows: the consecutive failures that lock until an unlock
    failure_limit: int = 0

    @property
    def windowed(self) -> bool:
        return self.lock_window > 0

    @property
    def hard_limit(self) -> int:
        """Consecutive failures from which no attempt is allowed until an unlock."""
        if not self.windowed:
            return self.max_failures
        return max(self.max_failures, self.failure_limit or self.max_failures)

    def delay_for(self, failures: int) -> int:
        """Wait imposed after ``failures`` consecutive failures (0 before delay_after).

        With lock windows the delay starts again after each window."""
        if self.windowed:
            failures %= self.max_failures
        if failures < self.delay_after:
            return 0
        return int(min(self.max_delay, 2 ** (failures - self.delay_after)))

    def window_for(self, failures: int) -> int:
        """The lock window opened by the ``failures``-th consecutive failure (0: none)."""
        if not self.windowed or failures <= 0 or failures % self.max_failures:
            return 0
        locks = failures // self.max_failures
        cap = max(self.lock_window, self.lock_window_max)
        return int(min(cap, self.lock_window * 2 ** min(locks - 1, 40)))

    def locked(self, row: FactorCounter, now: int) -> bool:
        """Whether no attempt is allowed now for a reason other than a short delay:
        an admin lock, the hard limit, or (lock windows) a window in force."""
        if row.locked or row.failures >= self.hard_limit:
            return True
        return (
            self.window_for(row.failures) > 0
            and row.next_allowed_at is not None
            and row.next_allowed_at > now
        )


@dataclass(frozen=True)
class Refused:
    locked: bool
    retry_after: int


@dataclass(frozen=True)
class Crossing:
    """An attempt that locks ``factor`` (a counter name) unless it succeeds:
    for good (``for_good``: until an unlock) or a lock window of ``window``
    seconds ending at ``until``."""

    user_id: int
    factor: str
    failures: int
    for_good: bool
    until: int | None
    window: int


_PENDING = "belay_lock_crossings"


def _pending() -> list[Crossing]:
    if not has_app_context():
        return []
    pending: list[Crossing] = g.setdefault(_PENDING, [])
    return pending


def take_crossings() -> list[Crossing]:
    """The locks this request's failed attempts caused (each once), emptied."""
    if not has_app_context():
        return []
    pending: list[Crossing] = g.pop(_PENDING, [])
    return pending


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
                FactorCounter.failures < limits.hard_limit,
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
        if current is None or current.locked or current.failures >= limits.hard_limit:
            observability.locked_refusal(factor)
            return Refused(locked=True, retry_after=0)
        wait = max((current.next_allowed_at or now) - now, 1)
        if limits.locked(current, now):
            observability.locked_refusal(factor)
            return Refused(locked=True, retry_after=wait)
        return Refused(locked=False, retry_after=wait)
    failures = int(row[0])
    window = limits.window_for(failures)
    if failures == limits.hard_limit or window:
        observability.factor_locked(factor)
        for_good = failures >= limits.hard_limit
        _pending().append(
            Crossing(
                user_id=user_id,
                factor=factor,
                failures=failures,
                for_good=for_good,
                until=None if for_good else now + window,
                window=0 if for_good else window,
            )
        )
    # The reserved attempt counts as a failure until the caller resets it, so
    # the delay (or lock window) is already in force for concurrent requests;
    # reaching the hard limit is the lock (the WHERE above refuses from then on).
    delay = limits.window_for(failures) or limits.delay_for(failures)
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
    """A success: the factor's own counter starts again (only that factor's),
    and a lock the attempt would have caused is none."""
    pending = _pending()
    pending[:] = [c for c in pending if (c.user_id, c.factor) != (user_id, factor)]
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
    """Locked now: for good (until an unlock) or, with lock windows, in a window."""
    row = state(user_id, factor)
    return row is not None and limits.locked(row, clock.now())


def state(user_id: int, factor: str) -> FactorCounter | None:
    row: FactorCounter | None = db.session.scalar(_STATE, {"user_id": user_id, "factor": factor})
    return row


_STATE = select(FactorCounter).where(
    FactorCounter.user_id == bindparam("user_id"), FactorCounter.factor == bindparam("factor")
)
