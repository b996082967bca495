"""Password login, PIN login (per client ``pin_login``), password re-entry
(a step-up for freshness), the new session a login opens, and the
application a sign-in is for."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from provider import storage
from provider.errors import N_
from provider.factors import password as password_factor
from provider.factors.attempts import limits_from_config
from provider.factors.base import Busy, FactorError, InvalidCode, Verified
from provider.factors.hashing import HasherBusy, SecretHasher
from provider.factors.registry import FactorRegistry
from provider.flows import sign_in_limit
from provider.flows.assurance import events
from provider.storage import audit, throttle
from provider.storage import factors as factor_store
from provider.storage import users as user_store
from provider.storage.models import User, WebSession

__all__ = [
    "BUSY_MESSAGE",
    "PIN_FAILURE_MESSAGE",
    "LoginResult",
    "PinLoginResult",
    "hasher",
    "password_limits",
    "sign_in",
    "verify_password",
    "verify_pin_login",
]

# One message for every failure: it never says whether the account exists,
# whether the password was wrong or whether the account is throttled.
FAILURE_MESSAGE = N_(
    "That username and password did not work. Check them and try again in a moment."
)
# The same for PIN sign-in: unknown user, no PIN, wrong PIN, waiting or locked
# all read alike (a locked PIN is refused exactly like a wrong one).
PIN_FAILURE_MESSAGE = N_(
    "That username and PIN did not work. Check them and try again in a moment."
)
# Too many checks at once on this server (load shedding): nothing was checked.
BUSY_MESSAGE = N_("We are checking too many sign-ins at once. Try again in a moment.")


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    reason: str
    retry_after: int = 0


def sign_in(row: WebSession, user: User, verified: Verified) -> str:
    """A new login in this browser: the session starts over with ``verified``
    as its first event (``SESSION_ABSOLUTE_TIMEOUT``); the new cookie value."""
    return events.sign_in(
        row, user, verified, absolute_timeout=current_app.config["SESSION_ABSOLUTE_TIMEOUT"]
    )


def hasher() -> SecretHasher:
    h: SecretHasher = current_app.extensions["belay_hasher"]
    return h


def password_limits() -> throttle.Limits:
    """The password's throttle, lock windows included (the same as the factor's)."""
    return limits_from_config(current_app.config, "PASSWORD")


def verify_password(
    username: str,
    password: str,
    *,
    ip: str | None,
    client_id: str | None,
    purpose: str,
    audit_success: bool = True,
) -> LoginResult:
    """Check a password and audit the attempt as ``purpose`` (``login``, ``step_up``).

    With ``audit_success=False`` the caller records the success itself (with
    the acr it reached). Counted first against the limit of sign-ins from
    ``ip`` (:class:`~provider.flows.sign_in_limit.TooManySignIns` beyond it)."""
    counted = sign_in_limit.attempt(ip)
    user = user_store.user_by_name(username)
    if user is not None and user.disabled_at is not None:
        user = None
    result = password_factor.check_password(
        user_id=user.id if user else None,
        stored_hash=user.password_hash if user else None,
        password=password,
        hasher=hasher(),
        limits=password_limits(),
    )
    if result.ok or result.reason == "busy":
        counted.give_back()  # a success, or nothing was checked
    if not (result.ok and not audit_success) and result.reason != "busy":
        # (a busy refusal checked nothing: no attempt to audit)
        _audit_attempt(purpose, result, user, username, client_id, ip)
    if not result.ok or user is None:
        return LoginResult(None, result.reason, result.retry_after)
    if result.new_hash:
        user.password_hash = result.new_hash
        storage.commit()
    return LoginResult(user, "ok")


def _audit_attempt(
    purpose: str,
    result: password_factor.PasswordCheck,
    user: User | None,
    username: str,
    client_id: str | None,
    ip: str | None,
) -> None:
    audit.record(
        purpose,
        "success" if result.ok else "failure",
        user_id=user.id if user else None,
        username=user.username if user else None,
        client_id=client_id,
        method="password",
        reason=None if result.ok else result.reason,
        ip=ip,
    )


def _spend_one_check(secret: str) -> bool:
    """A dummy argon2 verification (so refusals take as long as a real check),
    inside the hasher's admission: False when the server is too busy for it."""
    try:
        with hasher().admission():
            hasher().dummy_verify(secret)
    except HasherBusy:
        return False
    return True


@dataclass(frozen=True)
class PinLoginResult:
    user: User | None
    verified: Verified | None
    reason: str


def verify_pin_login(
    username: str,
    pin: str,
    *,
    min_pin_length: int | None,
    ip: str | None,
    client_id: str | None,
) -> PinLoginResult:
    """Username + PIN as a first factor (docs/design.md "PIN as a first factor").

    The PIN factor itself checks it, so the lockout is the PIN's own (shared
    with PIN step-up). Every refusal costs one argon2 verification, so an
    unknown user, a user without a PIN, a PIN shorter than the client's
    ``min_pin_length`` and a locked PIN cannot be told apart by timing either.
    Counted first against the limit of sign-ins from ``ip``, like a password.
    """
    counted = sign_in_limit.attempt(ip)
    registry: FactorRegistry = current_app.extensions["belay_factors"]
    factor = registry.get("pin")
    user = user_store.user_by_name(username)
    if user is not None and user.disabled_at is not None:
        user = None
    reason = "ok"
    verified: Verified | None = None
    if user is None:
        reason = "unknown_user"
    else:
        row = factor_store.get_pin(user.id)
        if row is None:
            reason = "not_enrolled"
        elif min_pin_length is not None and row.length < min_pin_length:
            reason = "pin_too_short"
        else:
            try:
                verified = factor.verify(user.id, {"pin": pin})
            except FactorError as exc:
                reason = type(exc).__name__.lower()
                if not isinstance(exc, InvalidCode | Busy) and not _spend_one_check(pin):
                    reason = "busy"  # no hash ran: spend the same time, if admitted
    unchecked = verified is None and reason in {"unknown_user", "not_enrolled", "pin_too_short"}
    if unchecked and not _spend_one_check(pin):
        reason = "busy"
    if reason == "busy" or verified is not None:
        counted.give_back()  # nothing checked, or a success
    if reason == "busy":
        return PinLoginResult(None, None, reason)  # nothing checked: nothing to audit
    audit.record(
        "login",
        "success" if verified is not None else "failure",
        user_id=user.id if user else None,
        username=user.username if user else None,
        client_id=client_id,
        method="pin",
        reason=None if verified is not None else reason,
        ip=ip,
    )
    if verified is None:
        return PinLoginResult(None, None, reason)
    return PinLoginResult(user, verified, "ok")
