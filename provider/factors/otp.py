"""One-time codes by email (``email_otp``) or SMS (``sms_otp``).

- A 6-digit code from :mod:`secrets`, stored only as HMAC-SHA256 (the user id,
  channel, purpose and context are part of the message, like backup codes), valid
  OTP_CODE_TTL seconds, at most OTP_MAX_TRIES tries, used once with a
  conditional ``UPDATE … RETURNING`` (of parallel uses one wins).
- Bound to what it was sent for (docs/security.md case 50): a *purpose*
  (``login``: sign-in with a code; ``step_up``: a confirmation inside a
  session; ``verify``: proving a new address) and a *context*: the browser
  session and authorize transaction of a sign-in (:func:`sign_in_context`), or
  the browser session and the page of a step-up (:func:`step_up_context`:
  challenge, Confirm access, admin console, step-up API). A code is looked up
  only in its own purpose and context, so a code sent for a step-up in one
  browser cannot complete a sign-in, or anything, in another.
- At most OTP_RESEND_LIMIT codes per OTP_RESEND_WINDOW, per user and per
  destination. A delivery failure raises :class:`~provider.factors.delivery.DeliveryFailed`
  (audited by the caller), never counts as a failed attempt and leaves an
  earlier code of the same context working (a new code replaces it only once
  delivered).
- Enrolled only with a *verified* address or number (a code sent to it on the
  account page, or an admin's ``belay user set-email`` / ``set-phone``), and
  only while the channel is configured.
- ``verify`` is throttled with the factor counters like the other factors.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from provider import clock
from provider.crypto import derive_key, keyed_hash
from provider.factors.attempts import AttemptState, reserve_or_raise, state_of
from provider.factors.base import (
    FactorError,
    InvalidCode,
    Malformed,
    NotEnrolled,
    Replayed,
    Verified,
)
from provider.factors.delivery import Channel, DeliveryFailed
from provider.policy import EnrolledMethod
from provider.policy.model import CATALOGUE
from provider.storage import otp as store
from provider.storage import throttle

__all__ = [
    "CODE_CHANNELS",
    "CODE_DIGITS",
    "CodeChannel",
    "OtpFactor",
    "OtpSettings",
    "ResendLimited",
    "Sent",
    "Unavailable",
    "derive_hmac_key",
    "mask",
    "normalise_code",
    "normalise_email",
    "normalise_phone",
    "sign_in_context",
    "step_up_context",
]

CODE_DIGITS = 6


@dataclass(frozen=True)
class CodeChannel:
    """One way codes are sent: its method, its delivery channel, what the
    account page calls the destination, and what people call it."""

    method: str
    channel: str
    destination: str
    label: str


#: The one-time-code methods (one :class:`OtpFactor` each).
CODE_CHANNELS: tuple[CodeChannel, ...] = (
    CodeChannel("email_otp", "email", "email", "Email"),
    CodeChannel("sms_otp", "sms", "phone", "Text message"),
)

#: purposes: sign-in with a code, a step-up inside a session, a new destination
LOGIN = "login"
STEP_UP = "step_up"
VERIFY = "verify"
#: the context of destination verification codes (the signed-in user's own)
ACCOUNT_CONTEXT = "account"

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")

MALFORMED_MESSAGE = "Enter the 6-digit code we sent you."
WRONG_MESSAGE = "That code is not right."
NO_CODE_MESSAGE = "There is no code waiting (or it has expired): ask for a new one."
TOO_MANY_MESSAGE = "Too many tries with this code: ask for a new one."
USED_MESSAGE = "That code was already used. Each code works once: ask for a new one."
LOCKED_MESSAGE = (
    "Too many wrong codes: codes by {label} are locked. Sign in another way, "
    "or ask an administrator to unlock them."
)
WAIT_MESSAGE = "Too many wrong codes. Try again in {seconds}."


class ResendLimited(FactorError):
    """Too many codes sent lately (not a failed attempt)."""

    code = "resend_limited"
    status_code = 429


class Unavailable(FactorError):
    """The channel is not configured, or the delivery failed."""

    code = "delivery_failed"
    status_code = 503


def derive_hmac_key(data_key: str) -> bytes:
    """HKDF-SHA256 of the data key, for this purpose only (RFC 5869)."""
    return derive_key(data_key, b"belay one-time codes v1")


def sign_in_context(session_id: int, tx_id: str) -> str:
    """The context of a sign-in code: this browser session and this authorization."""
    return f"login:{session_id}:{tx_id}"


def step_up_context(session_id: int, purpose: str) -> str:
    """The context of a step-up code: this browser session and the page's
    purpose (``step_up`` challenge, ``confirm_access``, ``admin_step_up``,
    ``step_up_api``)."""
    return f"step_up:{session_id}:{purpose}"


def normalise_code(value: object) -> str | None:
    """The 6 ASCII digits of a typed code (spaces and hyphens ignored), or None."""
    if not isinstance(value, str) or len(value) > 32 or not value.isascii():
        return None
    cleaned = "".join(value.split()).replace("-", "")
    if len(cleaned) != CODE_DIGITS or not cleaned.isdigit():
        return None
    return cleaned


def normalise_email(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 254:
        return None
    cleaned = value.strip()
    if not cleaned.isascii() or not _EMAIL.match(cleaned):
        return None
    local, _, domain = cleaned.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalise_phone(value: object) -> str | None:
    """An E.164 number (``+`` and 7-15 digits; spaces, dots, dashes, brackets ignored)."""
    if not isinstance(value, str) or len(value) > 40 or not value.isascii():
        return None
    cleaned = re.sub(r"[\s.()\-]", "", value)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    return cleaned if _PHONE.match(cleaned) else None


def mask(channel: str, destination: str) -> str:
    """``a…@example.com`` or ``+…1234``: enough to recognise, not to learn."""
    if channel == "email":
        local, _, domain = destination.rpartition("@")
        return f"{local[:1]}…@{domain}"
    return f"{destination[:1]}…{destination[-4:]}"


@dataclass(frozen=True)
class OtpSettings:
    ttl: int = 300
    max_tries: int = 5
    resend_limit: int = 3
    resend_window: int = 900


@dataclass(frozen=True)
class Sent:
    method: str
    masked: str


class OtpFactor:
    """Codes sent through one delivery channel (``method`` ``email_otp`` or
    ``sms_otp``; its ``amr`` and ``category`` from the policy's catalogue)."""

    fields: tuple[str, ...] = ("code",)
    form_id = "code-form"
    removable = True

    def __init__(
        self,
        *,
        code_channel: CodeChannel,
        channel: Channel | None,
        hmac_key: bytes,
        limits: throttle.Limits,
        settings: OtpSettings,
        now: Callable[[], int] = clock.now,
    ) -> None:
        if len(hmac_key) < 32:
            raise ValueError("the one-time-code HMAC key needs at least 256 bits")
        facts = CATALOGUE[code_channel.method]
        self.method = facts.method
        self.amr = facts.amr
        self.category = facts.category
        self.channel_name = code_channel.channel
        #: what the account page calls the destination ("email", "phone")
        self.destination_kind = code_channel.destination
        self.label = code_channel.label
        self.counter = self.method
        self.counters: tuple[str, ...] = (self.method,)
        self.channel = channel
        self._key = hmac_key
        self._limits = limits
        self.settings = settings
        self._now = now

    # -- helpers ---------------------------------------------------------------

    def _hash(self, user_id: int, purpose: str, context: str, code: str) -> str:
        return keyed_hash(self._key, f"{user_id}:{self.channel_name}:{purpose}:{context}:{code}")

    def _context_hash(self, purpose: str, context: str) -> str:
        return keyed_hash(self._key, f"context:{self.channel_name}:{purpose}:{context}")

    def destination(self, user_id: int) -> str | None:
        """The user's verified address or number, or None."""
        return store.verified_destination(user_id, self.channel_name)

    def normalise_destination(self, value: object) -> str | None:
        if self.channel_name == "email":
            return normalise_email(value)
        return normalise_phone(value)

    def _send(self, user_id: int, destination: str, purpose: str, context: str) -> Sent:
        if self.channel is None:
            raise Unavailable(f"Codes by {self.label.lower()} are not available here.")
        code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
        code_id = store.create_code(
            user_id=user_id,
            channel=self.channel_name,
            purpose=purpose,
            context_hash=self._context_hash(purpose, context),
            destination=destination,
            code_hash=self._hash(user_id, purpose, context, code),
            now=self._now(),
            ttl=self.settings.ttl,
            limit=self.settings.resend_limit,
            window=self.settings.resend_window,
        )
        if code_id is None:
            raise ResendLimited(
                "Too many codes were sent lately. Wait a few minutes, or use another way."
            )
        try:
            self.channel.send(destination, code, ttl=self.settings.ttl, purpose=purpose)
        except DeliveryFailed:
            store.discard(code_id)  # an earlier code of this context still works
            raise
        store.supersede(code_id)  # delivered: it replaces any earlier one
        return Sent(method=self.method, masked=mask(self.channel_name, destination))

    def _check(
        self,
        user_id: int,
        purpose: str,
        context: str,
        submitted: object,
        destination: str | None,
    ) -> str:
        """Reserve an attempt, then use the live code of this purpose and
        context; its destination."""
        code = normalise_code(submitted)
        if code is None:
            raise Malformed(MALFORMED_MESSAGE)
        reserve_or_raise(
            user_id,
            self.counter,
            self._limits,
            locked_message=LOCKED_MESSAGE.format(label=self.label.lower()),
            wait_message=WAIT_MESSAGE,
        )
        code_hash = self._hash(user_id, purpose, context, code)
        now = self._now()
        live = store.live_code(
            user_id,
            self.channel_name,
            purpose,
            self._context_hash(purpose, context),
            now,
            destination,
        )
        if live is None:
            if store.code_was_used(user_id, self.channel_name, code_hash):
                raise Replayed(USED_MESSAGE)
            raise InvalidCode(NO_CODE_MESSAGE)
        if not store.take_try(live.id, self.settings.max_tries):
            raise InvalidCode(TOO_MANY_MESSAGE)
        used = store.consume(live.id, code_hash, now)
        if used is None:
            if store.code_was_used(user_id, self.channel_name, code_hash):
                raise Replayed(USED_MESSAGE)
            raise InvalidCode(WRONG_MESSAGE)
        throttle.reset(user_id, self.counter)
        return used

    # -- codes to the verified destination: sign-in and step-up -----------------

    def send(self, user_id: int, *, purpose: str, context: str) -> Sent:
        """Send a code for ``purpose`` (:data:`LOGIN` or :data:`STEP_UP`) in
        ``context`` (:func:`sign_in_context`, :func:`step_up_context`) to the
        verified destination.

        Raises :class:`NotEnrolled`, :class:`ResendLimited`, :class:`Unavailable`
        or :class:`DeliveryFailed` (none of them counts as a failed attempt).
        """
        if purpose not in {LOGIN, STEP_UP} or not context:
            raise ValueError("a sign-in or step-up code needs its purpose and context")
        destination = self.destination(user_id)
        if destination is None or self.channel is None:
            raise NotEnrolled(f"You have no verified {self._what()}.")
        return self._send(user_id, destination, purpose, context)

    def verify_sign_in(self, user_id: int, submitted: object, *, context: str) -> Verified:
        """Check a sign-in code sent in ``context`` (:func:`sign_in_context`)."""
        return self._verify(user_id, LOGIN, context, submitted)

    def _verify(self, user_id: int, purpose: str, context: str, submitted: object) -> Verified:
        destination = self.destination(user_id)
        if destination is None or self.channel is None:
            raise NotEnrolled(f"You have no verified {self._what()}.")
        self._check(user_id, purpose, context, submitted, destination)
        return Verified(
            self.method,
            self.amr,
            credential_id=f"{self.method}:{mask(self.channel_name, destination)}",
        )

    # -- enrolment: proving a new address or number -----------------------------

    def send_verification(self, user_id: int, value: object) -> Sent:
        destination = self.normalise_destination(value)
        if destination is None:
            raise Malformed(
                "Enter an email address like name@example.com."
                if self.channel_name == "email"
                else "Enter a phone number with its country code, like +44 20 7946 0018."
            )
        return self._send(user_id, destination, VERIFY, ACCOUNT_CONTEXT)

    def pending(self, user_id: int) -> str | None:
        """The masked destination a verification code is waiting for, if any."""
        live = store.live_code(
            user_id,
            self.channel_name,
            VERIFY,
            self._context_hash(VERIFY, ACCOUNT_CONTEXT),
            self._now(),
        )
        return mask(self.channel_name, live.destination) if live is not None else None

    def confirm_verification(self, user_id: int, submitted: object) -> str:
        """Check the code sent to a new destination and make it the verified one."""
        destination = self._check(user_id, VERIFY, ACCOUNT_CONTEXT, submitted, None)
        store.set_destination(user_id, self.channel_name, destination, self._now())
        return destination

    def _what(self) -> str:
        return "email address" if self.channel_name == "email" else "phone number"

    # -- the Factor protocol ----------------------------------------------------

    def status(self, user_id: int) -> AttemptState:
        return state_of(user_id, self.counter, self._limits)

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        if self.channel is None or self.destination(user_id) is None:
            return []
        return [
            EnrolledMethod(
                self.method, locked=throttle.is_locked(user_id, self.counter, self._limits)
            )
        ]

    def verify(
        self, user_id: int, submitted: Mapping[str, str], *, context: str | None = None
    ) -> Verified:
        """A step-up: check a code sent for :data:`STEP_UP` in ``context``
        (:func:`step_up_context`). Without a context no code can match."""
        if not context:
            raise InvalidCode(NO_CODE_MESSAGE)
        return self._verify(user_id, STEP_UP, context, submitted.get("code"))

    def remove(self, user_id: int) -> None:
        store.set_destination(user_id, self.channel_name, None, None)
