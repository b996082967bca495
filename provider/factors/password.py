"""Password: the default first factor (``amr`` ``pwd``, category knowledge).

Throttled with atomic counters (docs/security.md A.6): the lock is checked and an
attempt reserved *before* hashing; every failure looks the same to the caller.

Timing (docs/security.md case 51): every refusal of a sign-in costs exactly one
argon2 verification, like a real check: an unknown user, a user without a
password, a delay in force and a lock (window) each get one dummy verify, so
how long the answer takes does not tell which accounts exist or are throttled.
The real hash of a throttled or locked password is never checked (a dummy
verify checks nothing).

The lock is not for good (docs/factors.md "Password lock"): anonymous failures
open time-boxed lock windows that grow and are capped; only the NIST limit of
consecutive failures (``PASSWORD_FAILURE_LIMIT``, at most 100) holds the
password until an unlock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from provider.factors.attempts import AttemptState, state_of, wait_words
from provider.factors.base import (
    Busy,
    CatalogueFacts,
    InvalidCode,
    Locked,
    Malformed,
    NotEnrolled,
    NotRemovable,
    Verified,
)
from provider.factors.hashing import HasherBusy, SecretHasher
from provider.policy import EnrolledMethod
from provider.policy.model import CATALOGUE
from provider.storage import factors as store
from provider.storage import throttle

__all__ = ["AMR", "FACTOR", "PasswordCheck", "PasswordFactor", "check_password"]

FACTOR = "password"
#: the password's amr (from the policy's catalogue)
AMR = CATALOGUE[FACTOR].amr


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    reason: Literal["ok", "wrong", "unknown_user", "locked", "wait", "busy"]
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
    try:
        with hasher.admission():
            return _check_admitted(user_id, stored_hash, password, hasher, limits)
    except HasherBusy:
        # Not admitted: nothing counted, nothing hashed, and the same answer
        # for every account (a "locked" here would tell that it exists).
        return PasswordCheck(ok=False, reason="busy", retry_after=Busy.retry_after)


def _check_admitted(
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
        # As long as a real check: the same one argon2 verification as for an
        # unknown user, against the dummy hash (never the real one).
        hasher.dummy_verify(password)
        return PasswordCheck(
            ok=False, reason="locked" if refused.locked else "wait", retry_after=refused.retry_after
        )
    verified = hasher.verify(stored_hash, password)
    if not verified.ok:
        return PasswordCheck(ok=False, reason="wrong")
    throttle.reset(user_id, FACTOR)
    return PasswordCheck(ok=True, reason="ok", new_hash=verified.new_hash)


def _locked(retry_after: int) -> Locked:
    """A step-up's answer for a locked password (its user is signed in: exact)."""
    if retry_after > 0:
        minutes = max(1, -(-retry_after // 60))
        return Locked(
            "Too many wrong passwords: your password is locked for "
            f"{minutes} more minute{'s' if minutes != 1 else ''}. "
            "Use another way to confirm, or ask an administrator to unlock it.",
            retry_after=retry_after,
        )
    return Locked(
        "Too many wrong passwords: your password is locked. "
        "Use another way to confirm, or ask an administrator to unlock it.",
        retry_after=None,
    )


#: Longer than any password the pages accept (they cut fields at 4096).
_MAX_LENGTH = 4096


def _encodable(value: str) -> bool:
    """UTF-8 encodable: JSON (the step-up API) can carry lone surrogates, which
    argon2 cannot hash; such a value is malformed, not counted (was a 500)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class PasswordFactor(CatalogueFacts, method=FACTOR):
    """The password as a step-up factor, for a user who is already known.

    Same counter, limits and rehashing as the login (:func:`check_password`).
    """

    form_id = "password-form"
    fields: tuple[str, ...] = ("password",)
    label = "Password"
    counter = FACTOR
    counters: tuple[str, ...] = (counter,)
    #: changed, never removed
    removable = False

    def __init__(self, *, hasher: SecretHasher, limits: throttle.Limits) -> None:
        self._hasher = hasher
        self._limits = limits

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        if store.password_hash(user_id) is None:
            return []
        return [
            EnrolledMethod(
                self.method, locked=throttle.is_locked(user_id, self.counter, self._limits)
            )
        ]

    def status(self, user_id: int) -> AttemptState:
        return state_of(user_id, self.counter, self._limits)

    def verify(self, user_id: int, submitted: Mapping[str, str]) -> Verified:
        password = submitted.get("password")
        if (
            not isinstance(password, str)
            or not password
            or len(password) > _MAX_LENGTH
            or not _encodable(password)
        ):
            raise Malformed("Enter your password.")
        stored = store.password_hash(user_id)
        if stored is None:
            raise NotEnrolled("You have no password.")
        result = check_password(
            user_id=user_id,
            stored_hash=stored,
            password=password,
            hasher=self._hasher,
            limits=self._limits,
        )
        if result.reason == "locked":
            raise _locked(result.retry_after)
        if result.reason == "busy":
            if throttle.is_locked(user_id, FACTOR, self._limits):
                # The signed-in user may know: a locked password needs no hash.
                raise _locked(state_of(user_id, FACTOR, self._limits).retry_after)
            raise Busy()
        if result.reason == "wait":
            raise Locked(
                f"Too many wrong passwords. Try again in {wait_words(result.retry_after)}.",
                retry_after=result.retry_after,
            )
        if not result.ok:
            raise InvalidCode("That password is not right.")
        if result.new_hash is not None:
            store.replace_password_hash(user_id, old_hash=stored, new_hash=result.new_hash)
        return Verified(self.method, self.amr)

    def remove(self, user_id: int) -> None:
        raise NotRemovable("A password can't be removed here; change it instead.")
