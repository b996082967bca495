"""TOTP (RFC 6238): an authenticator app's 6-digit codes (``amr`` ``otp``, possession).

- RFC 6238 defaults for authenticator-app compatibility: HMAC-SHA1, 6 digits,
  30-second steps (§4, §5.3 "we RECOMMEND a default time-step size of 30
  seconds"), and one step of drift either way (§5.2: "We RECOMMEND that at most
  one time step is allowed as the network delay").
- §5.2: "the verifier MUST NOT accept the second attempt of the same OTP after
  the successful validation has been issued for the first OTP". We keep the last
  accepted time step and accept only a newer one, with one conditional UPDATE
  (atomic on SQLite and PostgreSQL): the same code twice, a code for an older
  step, or 20 parallel submissions give exactly one success (docs/security.md B.8,
  B.9).
- The secret is 160 bits from a CSPRNG (RFC 4226 §4 R6 recommends 160), is
  encrypted at rest with the data key (it must be read back to compute codes)
  and never logged (B.12).
- Verify-before-enable (B.12): :meth:`TotpFactor.begin` stores a *pending*
  secret; it becomes the active one only when :meth:`TotpFactor.confirm` sees
  a code from it. A pending secret is never accepted by :meth:`verify`, and
  re-enrolling keeps the old authenticator working until the new one is
  confirmed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeGuard

import pyotp
import segno

from provider import clock
from provider.crypto import DataKey
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

__all__ = ["TotpEnrolment", "TotpFactor", "TotpStatus", "is_code_shaped", "normalise_secret"]

DIGITS = 6
STEP_SECONDS = 30
#: steps of clock drift accepted either way (RFC 6238 §5.2)
WINDOW = 1
#: base32 characters: 32 x 5 bits = 160 bits (RFC 4226 §4 R6)
SECRET_LENGTH = 32

_DIGIT_CHARS = frozenset("0123456789")

LOCKED_MESSAGE = N_(
    "Too many wrong codes: your authenticator app is locked. Sign in another way, "
    "or ask an administrator to unlock it."
)
WAIT_MESSAGE = N_("Too many wrong codes. Try again in {wait}.")
WRONG_MESSAGE = N_("That code is not right. Check the time on your device and try again.")
MALFORMED_MESSAGE = N_("Enter the 6-digit code from your authenticator app.")
REPLAYED_MESSAGE = N_("That code was already used. Wait for the next one and enter it.")


def is_code_shaped(value: object) -> TypeGuard[str]:
    """Exactly six ASCII digits (not other scripts' digits, not padded, not longer)."""
    return isinstance(value, str) and len(value) == DIGITS and set(value) <= _DIGIT_CHARS


@dataclass(frozen=True)
class TotpEnrolment:
    """What the account page shows once: the secret, its otpauth URI and a QR code.

    Holds the plaintext secret: never log or store it.
    """

    secret: str
    uri: str
    #: an inline ``<svg>`` element (no external request, no JavaScript)
    qr_svg: str

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return "TotpEnrolment(secret=<hidden>, uri=<hidden>, qr_svg=<svg>)"


@dataclass(frozen=True)
class TotpStatus:
    #: an active (confirmed) authenticator
    enrolled: bool
    confirmed_at: int | None
    #: a new secret waiting for its first code
    pending: bool
    locked: bool
    #: seconds before the next attempt is allowed (0 when it is allowed now)
    retry_after: int
    failures: int
    #: wrong tries left before a lock (0 when locked)
    tries_left: int

    @property
    def confirmed(self) -> bool:
        """Same as ``enrolled``: the authenticator is active (a code from it verified)."""
        return self.enrolled


class TotpFactor(CatalogueFacts, method="totp"):
    """The user's authenticator app (one per user)."""

    form_id = "totp-form"
    fields: tuple[str, ...] = ("code",)
    label = N_("Authenticator app")
    #: failure counter of step-up checks
    counter = "totp"
    #: failure counter of enrolment confirmations: a new, unconfirmed secret is
    #: no credential yet, so mistyping its first code must not lock the one
    #: that works (and a locked authenticator can still be replaced)
    enrol_counter = "totp_enrol"
    counters: tuple[str, ...] = (counter, enrol_counter)
    removable = True

    def __init__(
        self,
        *,
        data_key: DataKey,
        limits: throttle.Limits,
        issuer_name: str,
        now: Callable[[], int] = clock.now,
    ) -> None:
        self._data_key = data_key
        self._limits = limits
        self.issuer_name = issuer_name
        self._now = now

    # -- enrolment ------------------------------------------------------------

    def begin(self, user_id: int, account_name: str) -> TotpEnrolment:
        """Create a new pending secret (replacing any other pending one).

        ``account_name`` labels the entry in the app (e.g. the username)."""
        # pyotp draws from secrets.SystemRandom (a CSPRNG).
        return self._start(user_id, pyotp.random_base32(SECRET_LENGTH), account_name)

    def pending(self, user_id: int, account_name: str | None = None) -> TotpEnrolment | None:
        """The enrolment waiting for its first code, to show again (e.g. after a
        mistyped code), or None. ``account_name`` defaults to the username."""
        row = store.get_totp(user_id)
        if row is None or row.pending_secret_encrypted is None:
            return None
        secret = self._data_key.decrypt(row.pending_secret_encrypted)
        if account_name is None:
            account_name = store.username(user_id) or str(user_id)
        return self._enrolment(secret, account_name)

    def confirm(self, user_id: int, code: str) -> None:
        """Activate the pending secret when ``code`` comes from it.

        Raises :class:`Malformed`, :class:`NotEnrolled` (nothing pending),
        :class:`Locked` or :class:`InvalidCode`. Activating resets the TOTP
        lock, like setting a new PIN does.
        """
        if not is_code_shaped(code):
            raise Malformed(MALFORMED_MESSAGE)
        row = store.get_totp(user_id)
        if row is None or row.pending_secret_encrypted is None:
            raise NotEnrolled(N_("Start setting up your authenticator app again."))
        credential_id, pending = row.id, row.pending_secret_encrypted
        reserve_or_raise(
            user_id,
            self.enrol_counter,
            self._limits,
            locked_message=LOCKED_MESSAGE,
            wait_message=WAIT_MESSAGE,
        )
        steps = self._matching_steps(self._data_key.decrypt(pending), code)
        if not steps:
            raise InvalidCode(WRONG_MESSAGE)
        activated = store.activate_totp(
            credential_id,
            pending_secret_encrypted=pending,
            # The confirming code can never be replayed as a step-up.
            step=max(steps),
            now=self._now(),
            user_id=user_id,
            reset_counters=(self.counter, self.enrol_counter),
        )
        if not activated:
            raise NotEnrolled(N_("This setup was replaced by a newer one: scan the new QR code."))

    def add_confirmed(
        self, user_id: int, account_name: str, secret: str | None = None
    ) -> TotpEnrolment:
        """Admin enrolment (``belay user add-totp``): active at once, no code asked.

        ``secret`` imports a base32 secret (>= 160 bits; spaces, lower case and
        padding allowed); a new one is made when it is None. Replaces the user's
        authenticator. Raises ``ValueError`` for an unusable secret.
        """
        secret = pyotp.random_base32(SECRET_LENGTH) if secret is None else normalise_secret(secret)
        enrolment = self._start(user_id, secret, account_name)
        row = store.get_totp(user_id)
        if row is None or row.pending_secret_encrypted is None:  # pragma: no cover - a race
            raise NotEnrolled(N_("The authenticator was removed meanwhile."))
        store.activate_totp(
            row.id,
            pending_secret_encrypted=row.pending_secret_encrypted,
            step=None,
            now=self._now(),
            user_id=user_id,
            reset_counters=(self.counter, self.enrol_counter),
        )
        return enrolment

    def status(self, user_id: int) -> TotpStatus:
        row = store.get_totp(user_id)
        attempts = state_of(user_id, self.counter, self._limits)
        return TotpStatus(
            enrolled=row is not None and row.secret_encrypted is not None,
            confirmed_at=row.confirmed_at if row is not None else None,
            pending=row is not None and row.pending_secret_encrypted is not None,
            locked=attempts.locked,
            retry_after=attempts.retry_after,
            failures=attempts.failures,
            tries_left=attempts.tries_left,
        )

    # -- the Factor protocol ----------------------------------------------------

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        row = store.get_totp(user_id)
        if row is None or row.secret_encrypted is None:
            return []  # nothing, or only a pending secret: not offered (B.12)
        return [
            EnrolledMethod(
                self.method,
                credential_id=f"totp:{row.id}",
                locked=throttle.is_locked(user_id, self.counter, self._limits),
            )
        ]

    def verify(self, user_id: int, submitted: Mapping[str, str]) -> Verified:
        code = submitted.get("code")
        if not is_code_shaped(code):
            raise Malformed(MALFORMED_MESSAGE)
        row = store.get_totp(user_id)
        if row is None or row.secret_encrypted is None:
            raise NotEnrolled(N_("You have no authenticator app set up."))
        reserve_or_raise(
            user_id,
            self.counter,
            self._limits,
            locked_message=LOCKED_MESSAGE,
            wait_message=WAIT_MESSAGE,
        )
        row = store.get_totp(user_id)  # as it is after the (committing) reservation
        if row is None or row.secret_encrypted is None:
            raise NotEnrolled(N_("You have no authenticator app set up."))
        credential_id = row.id
        steps = self._matching_steps(self._data_key.decrypt(row.secret_encrypted), code)
        if not steps:
            raise InvalidCode(WRONG_MESSAGE)
        # Two steps of the window share a code about once in 10^6: try each.
        for step in steps:
            if store.consume_totp_step(credential_id, step):
                throttle.reset(user_id, self.counter)
                return Verified(self.method, self.amr, credential_id=f"totp:{credential_id}")
        # The attempt stays counted: a replayed code is what an eavesdropper sends.
        raise Replayed(REPLAYED_MESSAGE)

    def remove(self, user_id: int) -> None:
        store.delete_totp(user_id, reset_counters=(self.counter, self.enrol_counter))

    # -- helpers -----------------------------------------------------------------

    def _start(self, user_id: int, secret: str, account_name: str) -> TotpEnrolment:
        store.start_totp(
            user_id, pending_secret_encrypted=self._data_key.encrypt(secret), now=self._now()
        )
        return self._enrolment(secret, account_name)

    def _enrolment(self, secret: str, account_name: str) -> TotpEnrolment:
        uri = self._totp(secret).provisioning_uri(name=account_name, issuer_name=self.issuer_name)
        qr_svg = segno.make(uri, micro=False, error="m").svg_inline(
            scale=4, title="QR code for your authenticator app"
        )
        return TotpEnrolment(secret=secret, uri=uri, qr_svg=qr_svg)

    def _totp(self, secret: str) -> pyotp.TOTP:
        return pyotp.TOTP(secret, digits=DIGITS, digest=hashlib.sha1, interval=STEP_SECONDS)

    def _matching_steps(self, secret: str, code: str) -> list[int]:
        """The time steps in the window whose code is ``code`` (compared in constant time)."""
        totp = self._totp(secret)
        current = self._now() // STEP_SECONDS
        return [
            step
            for step in range(current - WINDOW, current + WINDOW + 1)
            if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode())
        ]


def normalise_secret(secret: str) -> str:
    """A base32 secret as authenticator apps show it (spaces, lower case, padding
    allowed) in canonical form; ``ValueError`` unless it is valid and >= 160 bits."""
    cleaned = "".join(secret.split()).upper().rstrip("=")
    if not cleaned.isascii() or not cleaned.isalnum():
        raise ValueError("a TOTP secret is base32 (A-Z, 2-7)")
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except binascii.Error:
        raise ValueError("a TOTP secret is base32 (A-Z, 2-7)") from None
    if len(raw) * 8 < 160:
        raise ValueError("a TOTP secret has at least 160 bits (32 base32 characters)")
    return cleaned
