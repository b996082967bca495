"""PIN: a short numeric secret checked by the server (``amr`` ``pin``, knowledge).

RFC 8176 defines ``pin`` for a PIN that unlocks a key on the device; we use it
for the server-side PIN too, the closest registered value (docs/design.md).

docs/design.md "Factors": "Failed attempts are counted atomically in the database
(safe across processes and instances): after 5 consecutive failures a growing
wait, after 10 the PIN is locked until reset by a stronger login or an admin. A
locked PIN is never checked." The attempt is reserved before argon2 runs, so
100 parallel guesses cost at most ``max_failures`` verifications (docs/security.md
A.1) and the right PIN after the lock gets the same answer as a wrong one (A.2).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from provider import clock
from provider.errors import N_
from provider.factors.attempts import reserve_or_raise, state_of
from provider.factors.base import (
    Busy,
    CatalogueFacts,
    InvalidCode,
    Malformed,
    NotEnrolled,
    Verified,
)
from provider.factors.hashing import HasherBusy, SecretHasher
from provider.factors.pin_policy import PinRejected, check_pin
from provider.policy import EnrolledMethod
from provider.storage import factors as store
from provider.storage import throttle

__all__ = ["PinFactor", "PinRejected", "PinStatus"]

#: Shape of anything worth hashing: what a PIN could ever be under any policy.
_MIN_SHAPE, _MAX_SHAPE = 4, 64
_DIGITS = frozenset("0123456789")

LOCKED_MESSAGE = N_(
    "Too many wrong PINs: your PIN is locked. Sign in another way and set a new PIN, "
    "or ask an administrator to unlock it."
)
WAIT_MESSAGE = N_("Too many wrong PINs. Try again in {wait}.")
WRONG_MESSAGE = N_("That PIN is not right.")


@dataclass(frozen=True)
class PinStatus:
    enrolled: bool
    length: int | None
    locked: bool
    #: seconds before the next attempt is allowed (0 when it is allowed now)
    retry_after: int
    failures: int
    #: wrong tries left before a lock (0 when locked)
    tries_left: int


class PinFactor(CatalogueFacts, method="pin"):
    """The user's PIN, one per user, argon2id-hashed."""

    form_id = "pin-form"
    fields: tuple[str, ...] = ("pin",)
    label = N_("PIN")
    #: the failure counter this factor uses (provider.storage.throttle)
    counter = "pin"
    counters: tuple[str, ...] = (counter,)
    removable = True

    def __init__(
        self,
        *,
        hasher: SecretHasher,
        limits: throttle.Limits,
        min_length: int,
        max_length: int,
        now: Callable[[], int] = clock.now,
    ) -> None:
        self._hasher = hasher
        self._limits = limits
        self.min_length = min_length
        self.max_length = max_length
        self._now = now

    # -- enrolment ------------------------------------------------------------

    def check_policy(self, pin: str) -> None:
        """Raise :class:`PinRejected` when ``pin`` may not be set."""
        check_pin(pin, min_length=self.min_length, max_length=self.max_length)

    def set_pin(self, user_id: int, pin: str, pin_confirm: str) -> None:
        """Set (or replace) the PIN; raises :class:`PinRejected` with the reason.

        Setting a PIN resets its lock: the caller has confirmed access with a
        stronger login (or is an admin), which is how a locked PIN is unlocked.
        """
        self.check_policy(pin)
        if not isinstance(pin_confirm, str) or not hmac.compare_digest(
            pin.encode(), pin_confirm.encode("utf-8", "surrogatepass")
        ):
            raise PinRejected(N_("The two PINs don't match."))
        store.save_pin(
            user_id,
            pin_hash=self._hasher.hash(pin),
            length=len(pin),
            now=self._now(),
            reset_counters=(self.counter,),
        )

    def status(self, user_id: int) -> PinStatus:
        row = store.get_pin(user_id)
        attempts = state_of(user_id, self.counter, self._limits)
        return PinStatus(
            enrolled=row is not None,
            length=row.length if row is not None else None,
            locked=attempts.locked,
            retry_after=attempts.retry_after,
            failures=attempts.failures,
            tries_left=attempts.tries_left,
        )

    # -- the Factor protocol ----------------------------------------------------

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        row = store.get_pin(user_id)
        if row is None:
            return []
        return [
            EnrolledMethod(
                self.method,
                credential_id=f"pin:{row.id}",
                locked=throttle.is_locked(user_id, self.counter, self._limits),
                pin_length=row.length,
            )
        ]

    def verify(self, user_id: int, submitted: Mapping[str, str]) -> Verified:
        pin = submitted.get("pin")
        # Not even shaped like a PIN: not counted, never hashed.
        if (
            not isinstance(pin, str)
            or not _MIN_SHAPE <= len(pin) <= _MAX_SHAPE
            or not set(pin) <= _DIGITS
        ):
            raise Malformed(N_("Enter your PIN: digits only."))
        if store.get_pin(user_id) is None:
            raise NotEnrolled(N_("You have no PIN."))
        try:
            with self._hasher.admission():
                return self._verify_admitted(user_id, pin)
        except HasherBusy:
            # Not admitted: nothing counted, nothing hashed (a locked PIN still
            # answers as locked: the reservation refuses it without a hash).
            if throttle.is_locked(user_id, self.counter, self._limits):
                self._reserve(user_id)
            raise Busy() from None

    def _reserve(self, user_id: int) -> None:
        reserve_or_raise(
            user_id,
            self.counter,
            self._limits,
            locked_message=LOCKED_MESSAGE,
            wait_message=WAIT_MESSAGE,
        )

    def _verify_admitted(self, user_id: int, pin: str) -> Verified:
        self._reserve(user_id)
        # Read again after the (committing) reservation: the PIN as it is now.
        row = store.get_pin(user_id)
        if row is None:
            raise NotEnrolled(N_("You have no PIN."))
        pin_id, pin_hash, length = row.id, row.pin_hash, row.length
        checked = self._hasher.verify(pin_hash, pin)
        if not checked.ok:
            raise InvalidCode(WRONG_MESSAGE)
        if checked.new_hash is not None:
            store.replace_pin_hash(pin_id, old_hash=pin_hash, new_hash=checked.new_hash)
        throttle.reset(user_id, self.counter)
        return Verified(
            self.method, self.amr, credential_id=f"pin:{pin_id}", details={"pin_length": length}
        )

    def remove(self, user_id: int) -> None:
        store.delete_pin(user_id, reset_counters=(self.counter,))
