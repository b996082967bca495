"""Backup codes: ten single-use random codes, the fallback second factor.

``amr`` is ``otp`` and the category possession: a backup code is what NIST SP
800-63B calls a *look-up secret* (something you have: the printed list). RFC
8176 registers no value for look-up secrets and ``otp`` is the closest; the
docs say so (docs/design.md "The ACR model").

- 60 bits per code from :mod:`secrets`, written ``xxxx-xxxx-xxxx`` in
  lower-case Crockford base32 (no ``i``, ``l``, ``o``, ``u``; typing them is
  forgiven: ``i``/``l`` read as ``1``, ``o`` as ``0``).
- Shown once, stored as HMAC-SHA256 under a key derived from the data key. The
  codes are high-entropy random values, so a slow password hash (argon2) would
  add nothing but cost: nobody can brute-force 2^60 keyed hashes, and a stolen
  table without the data key cannot even be tested offline. A keyed hash also
  allows a direct, indexed lookup with the atomic consume below.
- Consumed with one conditional ``UPDATE … SET used_at … WHERE used_at IS NULL
  RETURNING``: a code works once, and of 10 parallel uses one wins (docs/security.md
  B.13). Throttled like the other factors.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from provider import clock
from provider.crypto import derive_key, keyed_hash
from provider.errors import N_
from provider.factors.attempts import reserve_or_raise, state_of
from provider.factors.base import (
    CatalogueFacts,
    InvalidCode,
    Malformed,
    NotEnrolled,
    Replayed,
    Verified,
)
from provider.policy import EnrolledMethod
from provider.storage import factors as store
from provider.storage import throttle

__all__ = ["ALPHABET", "BackupCodeFactor", "BackupCodeStatus", "derive_hmac_key", "normalise"]

#: Crockford's base32, lower case: 32 symbols = 5 bits each
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
CODE_COUNT = 10
CODE_LENGTH = 12  # 12 x 5 = 60 bits
GROUP = 4

_ALPHABET_SET = frozenset(ALPHABET)
_READ_AS = str.maketrans({"i": "1", "l": "1", "o": "0"})

LOCKED_MESSAGE = N_(
    "Too many wrong backup codes: backup codes are locked. Sign in another way, "
    "or ask an administrator to unlock them."
)
WAIT_MESSAGE = N_("Too many wrong backup codes. Try again in {wait}.")
WRONG_MESSAGE = N_("That backup code is not right.")
MALFORMED_MESSAGE = N_("Enter one of your backup codes, like abcd-efgh-jkmn.")
USED_MESSAGE = N_("That backup code was already used. Each code works once.")


def derive_hmac_key(data_key: str) -> bytes:
    """The backup-code HMAC key: HKDF-SHA256 of the data key (RFC 5869), so the
    data key itself is never used for two purposes."""
    return derive_key(data_key, b"belay backup codes v1")


def normalise(value: object) -> str | None:
    """The canonical 12 characters of a typed code, or None when it cannot be one.

    Spaces and hyphens are ignored and case too; only ASCII is considered (so
    no Unicode case folding can turn another character into a code character).
    """
    if not isinstance(value, str) or len(value) > 64 or not value.isascii():
        return None
    cleaned = "".join(value.split()).replace("-", "").lower().translate(_READ_AS)
    if len(cleaned) != CODE_LENGTH or not set(cleaned) <= _ALPHABET_SET:
        return None
    return cleaned


def _format(raw: str) -> str:
    return "-".join(raw[i : i + GROUP] for i in range(0, len(raw), GROUP))


@dataclass(frozen=True)
class BackupCodeStatus:
    remaining: int
    locked: bool
    #: seconds before the next attempt is allowed (0 when it is allowed now)
    retry_after: int
    failures: int
    #: wrong tries left before a lock (0 when locked)
    tries_left: int


class BackupCodeFactor(CatalogueFacts, method="backup_code"):
    """The user's current set of backup codes."""

    form_id = "backup-form"
    fields: tuple[str, ...] = ("code",)
    label = N_("Backup code")
    counter = "backup_code"
    counters: tuple[str, ...] = (counter,)
    removable = True

    def __init__(
        self, *, hmac_key: bytes, limits: throttle.Limits, now: Callable[[], int] = clock.now
    ) -> None:
        if len(hmac_key) < 32:
            raise ValueError("the backup-code HMAC key needs at least 256 bits")
        self._key = hmac_key
        self._limits = limits
        self._now = now

    def _hash(self, user_id: int, code: str) -> str:
        # The user id is part of the message: one user's code is nothing to another.
        return keyed_hash(self._key, f"{user_id}:{code}")

    # -- management -------------------------------------------------------------

    def generate(self, user_id: int) -> list[str]:
        """A new set of codes, replacing the old set (in one transaction).

        The returned codes are shown once and never stored: keep them out of
        logs.
        """
        codes: set[str] = set()
        while len(codes) < CODE_COUNT:
            codes.add("".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)))
        ordered = sorted(codes)
        store.replace_backup_codes(
            user_id,
            [self._hash(user_id, code) for code in ordered],
            now=self._now(),
            reset_counters=(self.counter,),
        )
        return [_format(code) for code in ordered]

    def remaining(self, user_id: int) -> int:
        return store.remaining_backup_codes(user_id)

    def status(self, user_id: int) -> BackupCodeStatus:
        attempts = state_of(user_id, self.counter, self._limits)
        return BackupCodeStatus(
            remaining=self.remaining(user_id),
            locked=attempts.locked,
            retry_after=attempts.retry_after,
            failures=attempts.failures,
            tries_left=attempts.tries_left,
        )

    # -- the Factor protocol ----------------------------------------------------

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        if self.remaining(user_id) == 0:
            return []
        return [
            EnrolledMethod(
                self.method, locked=throttle.is_locked(user_id, self.counter, self._limits)
            )
        ]

    def verify(self, user_id: int, submitted: Mapping[str, str]) -> Verified:
        code = normalise(submitted.get("code"))
        if code is None:
            raise Malformed(MALFORMED_MESSAGE)
        if self.remaining(user_id) == 0:
            raise NotEnrolled(N_("You have no unused backup codes."))
        reserve_or_raise(
            user_id,
            self.counter,
            self._limits,
            locked_message=LOCKED_MESSAGE,
            wait_message=WAIT_MESSAGE,
        )
        code_hash = self._hash(user_id, code)
        used_id = store.consume_backup_code(user_id, code_hash, now=self._now())
        if used_id is None:
            if store.backup_code_was_used(user_id, code_hash):
                raise Replayed(USED_MESSAGE)
            raise InvalidCode(WRONG_MESSAGE)
        throttle.reset(user_id, self.counter)
        return Verified(
            self.method,
            self.amr,
            credential_id=f"backup_code:{used_id}",
            details={"remaining": self.remaining(user_id)},
        )

    def remove(self, user_id: int) -> None:
        store.delete_backup_codes(user_id, reset_counters=(self.counter,))
