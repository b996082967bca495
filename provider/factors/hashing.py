"""argon2id hashing of low-entropy secrets (passwords, PINs).

Parameters come from configuration; a hash made with older parameters still
verifies and is rehashed once (SECURITY.md case 40).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = ["SecretHasher", "Verified"]


@dataclass(frozen=True)
class Verified:
    ok: bool
    new_hash: str | None = None  # set when the stored hash should be replaced


class SecretHasher:
    def __init__(self, *, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        # Verifying against this keeps the time of an unknown-user attempt equal
        # to a known one, so timing does not reveal which accounts exist.
        self._dummy = self._hasher.hash("belay-dummy-secret")

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> Verified:
        if stored_hash is None:
            self.dummy_verify(secret)
            return Verified(ok=False)
        try:
            self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verified(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verified(ok=True, new_hash=self._hasher.hash(secret))
        return Verified(ok=True)

    def dummy_verify(self, secret: str) -> None:
        with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
            self._hasher.verify(self._dummy, secret)
