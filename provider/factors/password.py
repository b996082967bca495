"""Password: the default first factor (``amr`` ``pwd``, category knowledge).

Throttled with atomic counters (SECURITY.md A.6): the lock is checked and an
attempt reserved *before* hashing; unknown users get a dummy verify so timing
does not tell which accounts exist; every failure looks the same to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provider.factors.hashing import SecretHasher
from provider.storage import throttle

__all__ = ["AMR", "FACTOR", "PasswordCheck", "check_password"]

FACTOR = "password"
AMR = ("pwd",)


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    reason: Literal["ok", "wrong", "unknown_user", "locked", "wait"]
    new_hash: str | None = None
    retry_after: int = 0


def check_password(
    *,
    user_id: int | None,
    stored_hash: str | None,
    password: str,
    hasher: SecretHasher,
    limits: throttle.Limits,
) -> PasswordCheck:
    if user_id is None:
        hasher.dummy_verify(password)
        return PasswordCheck(ok=False, reason="unknown_user")
    refused = throttle.reserve(user_id, FACTOR, limits)
    if refused is not None:
        return PasswordCheck(
            ok=False, reason="locked" if refused.locked else "wait", retry_after=refused.retry_after
        )
    verified = hasher.verify(stored_hash, password)
    if not verified.ok:
        return PasswordCheck(ok=False, reason="wrong")
    throttle.reset(user_id, FACTOR)
    return PasswordCheck(ok=True, reason="ok", new_hash=verified.new_hash)
