"""Throttling shared by the factors: reserve an attempt before checking a secret.

docs/security.md A.1/A.2: the attempt is counted *before* any hash is computed, with
the atomic counter of :mod:`provider.storage.throttle`; when none is allowed the
caller raises :class:`~provider.factors.base.Locked` and never looks at the
secret, so a correct value after the lock is refused exactly like a wrong one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provider import clock
from provider.factors.base import Locked
from provider.i18n import ngettext_, translate
from provider.storage import throttle

__all__ = [
    "AttemptState",
    "limits_from_config",
    "reserve_or_raise",
    "state_of",
    "tries_before_lock",
    "wait_words",
]


def limits_from_config(config: Mapping[str, Any], prefix: str) -> throttle.Limits:
    """``{prefix}_DELAY_AFTER`` / ``{prefix}_MAX_FAILURES`` and THROTTLE_MAX_DELAY;
    with ``{prefix}_LOCK_WINDOW`` (the password) lock windows instead of a lock
    for good: ``{prefix}_LOCK_WINDOW_MAX`` and ``{prefix}_FAILURE_LIMIT``."""
    return throttle.Limits(
        delay_after=int(config[f"{prefix}_DELAY_AFTER"]),
        max_failures=int(config[f"{prefix}_MAX_FAILURES"]),
        max_delay=int(config["THROTTLE_MAX_DELAY"]),
        lock_window=int(config.get(f"{prefix}_LOCK_WINDOW", 0)),
        lock_window_max=int(config.get(f"{prefix}_LOCK_WINDOW_MAX", 0)),
        failure_limit=int(config.get(f"{prefix}_FAILURE_LIMIT", 0)),
    )


def reserve_or_raise(
    user_id: int, counter: str, limits: throttle.Limits, *, locked_message: str, wait_message: str
) -> None:
    """Count one attempt, or raise :class:`Locked` (``wait_message`` may use ``{wait}``:
    "5 seconds" in the request's language)."""
    refused = throttle.reserve(user_id, counter, limits)
    if refused is None:
        return
    if refused.locked:
        raise Locked(locked_message, retry_after=refused.retry_after or None)
    raise Locked(
        translate(wait_message).format(wait=wait_words(refused.retry_after)),
        retry_after=refused.retry_after,
    )


def wait_words(seconds: int) -> str:
    """``1 second`` / ``5 seconds`` in the request's language."""
    return ngettext_("%(num)d second", "%(num)d seconds", seconds)


@dataclass(frozen=True)
class AttemptState:
    failures: int
    locked: bool
    #: seconds before the next attempt is allowed (0: now, or, when locked,
    #: not before an unlock; a lock window's remaining seconds otherwise)
    retry_after: int
    #: wrong tries left before the factor locks (or, for the password, before
    #: its next lock window); 0 when locked
    tries_left: int = 0


def tries_before_lock(failures: int, limits: throttle.Limits) -> int:
    """Wrong tries left, after ``failures`` consecutive ones, before a lock: the
    hard limit, or with lock windows (the password) the next window."""
    left = limits.hard_limit - failures
    if limits.windowed:
        left = min(left, limits.max_failures - failures % limits.max_failures)
    return max(0, left)


def state_of(user_id: int, counter: str, limits: throttle.Limits) -> AttemptState:
    row = throttle.state(user_id, counter)
    if row is None:
        return AttemptState(
            failures=0, locked=False, retry_after=0, tries_left=tries_before_lock(0, limits)
        )
    now = clock.now()
    locked = limits.locked(row, now)
    wait = 0 if row.next_allowed_at is None else max(0, row.next_allowed_at - now)
    if bool(row.locked) or row.failures >= limits.hard_limit:
        wait = 0  # until an unlock
    return AttemptState(
        failures=int(row.failures),
        locked=locked,
        retry_after=int(wait),
        tries_left=0 if locked else tries_before_lock(int(row.failures), limits),
    )
