"""The factor lifecycle: the one place that enrols, removes, resets, locks
out and unlocks factors and sets passwords (docs/security.md, section H).

The account page, the passkey endpoints, the admin console, the admin API and
the CLI all call this module; none of them changes a factor itself. Each change

- is made by an :class:`Actor`: the user themself — only with a *confirmed*
  access check (:func:`by_user` refuses otherwise, so a view cannot forget
  Confirm access) — or an administrator (console, API, CLI);
- writes exactly one audit row (who in ``details.by``, what in ``method``,
  how many remembered browsers were forgotten in ``details.devices_forgotten``);
- applies its side effects here: every enrolment, removal, reset and password
  change forgets the user's remembered browsers (they replay factors that may
  have just changed hands), an admin password reset clears the password's lock.

Enrolment is not authentication (docs/security.md case 45). Binding a new
factor needs Confirm access at the level the account already has (checked by
:func:`by_user`); the proof of possession made while enrolling (the first TOTP
code, the passkey's registration ceremony, the code sent to a new email address
or phone number) is checked and consumed, but it never becomes an
authentication event: the session's acr is not raised, and the proof does not
count afterwards either — not even for the level the session already holds,
nor for freshness (``max_age``). To use the new factor, the user signs in or
steps up with it like with any other factor. The TOTP enrolment code's time
step is recorded as used, so it cannot be replayed as a step-up.

One password rule set (:func:`password_problem`) serves every place a
password is chosen: the account page, the admin console and API (new users),
and the CLI (``user create``, ``user set-password``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from provider import clock, storage
from provider.errors import N_, BelayError
from provider.factors.attempts import state_of
from provider.factors.backup_codes import BackupCodeFactor
from provider.factors.base import FactorError, FactorStatus
from provider.factors.delivery import DeliveryFailed
from provider.factors.otp import (
    CODE_CHANNELS,
    OtpFactor,
    Sent,
    normalise_email,
    normalise_phone,
)
from provider.factors.passkey import PasskeyRejected
from provider.factors.pin import PinFactor
from provider.factors.pin_policy import PinRejected
from provider.factors.totp import TotpEnrolment, TotpFactor
from provider.flows import code_login, step_up
from provider.flows import passkeys as passkey_flow
from provider.flows.account import AccessCheck
from provider.flows.login import hasher, password_limits
from provider.i18n import _, translate
from provider.policy import METHODS
from provider.storage import audit, devices, throttle
from provider.storage import otp as otp_store
from provider.storage import passkeys as passkey_store
from provider.storage.models import Passkey, User

__all__ = [
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_MIN_LENGTH",
    "UNLOCKABLE",
    "Actor",
    "LockState",
    "NotConfirmed",
    "Rejected",
    "begin_totp",
    "by_admin",
    "by_user",
    "confirm_totp",
    "delete_passkey",
    "generate_backup_codes",
    "hash_password",
    "import_totp",
    "lock_state",
    "note_locked",
    "note_pending_locks",
    "password_problem",
    "register_passkey",
    "removable",
    "remove_factor",
    "rename_passkey",
    "reset_factors",
    "send_destination_code",
    "set_destination",
    "set_password",
    "set_pin",
    "unlock",
    "verify_destination",
]

#: NIST SP 800-63B-4 §3.1.1.2: at least 8 characters when chosen by the user,
#: at least 64 allowed. 1024 is what the sign-in form reads, so any password
#: that can be set can also be typed at sign-in.
PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024

#: What an unlock names: every method of the catalogue (it clears the
#: factor's own failure counters, :attr:`provider.factors.base.Factor.counters`).
UNLOCKABLE: tuple[str, ...] = METHODS

#: What the account page calls the destinations codes go to ("email", "phone").
_DESTINATIONS = frozenset(channel.destination for channel in CODE_CHANNELS)


class Rejected(BelayError, ValueError):
    """A change refused; ``message`` (the ``description``) is for people,
    ``field`` names the input."""

    def __init__(self, message: str, *, status: int = 400, field: str = "request") -> None:
        # Marked constants (N_) are shown in the request's language (docs/i18n.md).
        message = translate(message)
        super().__init__(message, status_code=status)
        self.message = message
        self.field = field


class NotConfirmed(Rejected):
    """The user has not confirmed access at the account's level."""

    error = "confirm_access"

    def __init__(self, message: str = "Confirm it's you first, then make the change.") -> None:
        super().__init__(message, status=403)


@dataclass(frozen=True)
class Actor:
    """Who makes a change: ``self`` (the user, access confirmed) or an admin
    (``cli``, ``admin:<username>`` for the console, the admin client's id for
    the API)."""

    by: str
    ip: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.by != "self"


def by_user(access: AccessCheck, *, ip: str | None) -> Actor:
    """The user acting on their own account; :class:`NotConfirmed` unless the
    access check (Confirm access at the account's level, made by
    :func:`provider.flows.account.check_access`) is confirmed."""
    if access.confirmed is not True:
        raise NotConfirmed()
    return Actor("self", ip)


def by_admin(actor: str, *, ip: str | None = None) -> Actor:
    if not actor or actor == "self":
        raise ValueError("an admin actor has a name")
    return Actor(actor, ip)


def _record(
    event: str,
    user: User,
    actor: Actor,
    *,
    method: str | None = None,
    forget_devices: bool = False,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """The change's one audit row, after its side effects."""
    data: dict[str, Any] = {"by": actor.by, **(details or {})}
    if forget_devices:
        data["devices_forgotten"] = devices.revoke_all(user.id)
    audit.record(
        event,
        "success",
        user_id=user.id,
        method=method,
        reason=reason,
        ip=actor.ip,
        details=data,
    )


# -- passwords ------------------------------------------------------------------------


def password_problem(password: object) -> str | None:
    """Why ``password`` may not be set, or None. The only password rule set."""
    if not isinstance(password, str):
        return _("A password is text.")
    if len(password) < PASSWORD_MIN_LENGTH:
        return _("A password has at least %(num)d characters.", num=PASSWORD_MIN_LENGTH)
    if len(password) > PASSWORD_MAX_LENGTH:
        return _("A password has at most %(num)d characters.", num=PASSWORD_MAX_LENGTH)
    if "\x00" in password:
        return _("A password cannot contain a NUL character.")
    try:
        password.encode()
    except UnicodeEncodeError:
        return _("A password cannot contain unpaired surrogate characters.")
    return None


def hash_password(password: object) -> str:
    """The hash of a password that passes the rules; :class:`Rejected` otherwise."""
    problem = password_problem(password)
    if problem is not None:
        raise Rejected(problem, field="password")
    assert isinstance(password, str)
    return hasher().hash(password)


def set_password(user: User, password: object, *, actor: Actor, confirm: object = None) -> None:
    """Change (the user, ``confirm`` checked) or reset (an admin) a password.

    Forgets remembered browsers; an admin reset also clears the password's lock.
    """
    problem = password_problem(password)
    if problem is not None:
        raise Rejected(problem, field="password")
    if not actor.is_admin and confirm != password:
        raise Rejected(N_("The two passwords are not the same."), field="password_confirm")
    user.password_hash = hash_password(password)
    storage.commit()
    if actor.is_admin:
        throttle.unlock(user.id, "password")
    _record("password_changed", user, actor, method="password", forget_devices=True)


# -- enrolment ------------------------------------------------------------------------


def set_pin(user: User, pin: str, confirm: str, *, actor: Actor) -> None:
    factor = step_up.factors().get_as("pin", PinFactor)
    try:
        factor.set_pin(user.id, pin, confirm)
    except PinRejected as exc:
        raise Rejected(exc.message, field="pin") from None
    except FactorError as exc:
        raise Rejected(exc.message, status=exc.status_code, field="pin") from None
    _record("factor_enrolled", user, actor, method="pin", forget_devices=True)


def begin_totp(user: User, *, actor: Actor) -> TotpEnrolment:
    """A new pending secret (not a credential until confirmed: no audit row)."""
    factor = step_up.factors().get_as("totp", TotpFactor)
    return factor.begin(user.id, user.username)


def confirm_totp(user: User, code: str, *, actor: Actor) -> None:
    """Activate the pending secret with its first code. The code proves the app
    holds the secret; it is *not* an authentication event (case 45)."""
    factor = step_up.factors().get_as("totp", TotpFactor)
    try:
        factor.confirm(user.id, code)
    except FactorError as exc:
        raise Rejected(exc.message, status=exc.status_code, field="code") from None
    _record("factor_enrolled", user, actor, method="totp", forget_devices=True)


def import_totp(user: User, secret: str | None, *, actor: Actor) -> TotpEnrolment:
    """Admin enrolment (no code asked): active at once, replaces the app."""
    if not actor.is_admin:
        raise NotConfirmed()
    factor = step_up.factors().get_as("totp", TotpFactor)
    try:
        enrolment = factor.add_confirmed(user.id, user.username, secret)
    except ValueError as exc:
        raise Rejected(str(exc), field="secret") from None
    _record("factor_enrolled", user, actor, method="totp", forget_devices=True)
    return enrolment


def register_passkey(
    user: User, *, session_id: int, credential: dict[str, Any], name: str, actor: Actor
) -> Passkey:
    """Finish a passkey registration started in this browser session. The
    ceremony is not an authentication event (case 45). Raises
    ``PasskeyRejected`` (audited as a failure)."""
    try:
        consumed = passkey_flow.take_challenge(
            session_id=session_id, ceremony="registration", user_id=user.id
        )
        saved = passkey_flow.factor().register(
            user_id=user.id, credential=credential, challenge=consumed.challenge, name=name
        )
    except PasskeyRejected as exc:
        audit.record(
            "factor_enrolled",
            "failure",
            user_id=user.id,
            method="passkey",
            reason=exc.reason,
            ip=actor.ip,
            details={"by": actor.by},
        )
        raise
    _record(
        "factor_enrolled",
        user,
        actor,
        method="passkey",
        forget_devices=True,
        details={"passkey": f"passkey:{saved.id}", "aaguid": saved.aaguid},
    )
    return saved


def generate_backup_codes(user: User, *, actor: Actor) -> list[str]:
    """A new set of backup codes (the old set stops working); shown once."""
    codes = step_up.factors().get_as("backup_code", BackupCodeFactor).generate(user.id)
    _record("backup_codes_generated", user, actor, method="backup_code", forget_devices=True)
    return codes


def _destination_factor(kind: str) -> OtpFactor:
    """The code factor receiving codes at ``kind`` ("email", "phone")."""
    if kind not in _DESTINATIONS:
        raise Rejected(N_("Codes go to an email address or a phone number."), field="kind")
    factor = step_up.factors().destination_factor(kind)
    if factor is None:
        raise Rejected(N_("Codes by this channel are not available."), field="kind")
    return factor


def send_destination_code(user: User, kind: str, value: object, *, actor: Actor) -> Sent:
    """Send a code to a new email address or phone number (not used until
    :func:`verify_destination`); audited as ``otp_sent``. A
    :class:`~provider.factors.delivery.DeliveryFailed` (a 503) when the code
    could not be handed over; a :class:`FactorError` for a malformed address
    or number, or too many codes lately."""
    factor = _destination_factor(kind)
    try:
        sent = factor.send_verification(user.id, value)
    except DeliveryFailed as exc:
        code_login.record_send(factor.method, exc, user_id=user.id, client_id=None, ip=actor.ip)
        raise
    code_login.record_send(factor.method, None, user_id=user.id, client_id=None, ip=actor.ip)
    return sent


def verify_destination(user: User, kind: str, code: str, *, actor: Actor) -> str:
    """Make the address or number a code was sent to the verified one (the code
    is not an authentication event, case 45); returns the destination."""
    factor = _destination_factor(kind)
    try:
        destination = factor.confirm_verification(user.id, code)
    except FactorError as exc:
        raise Rejected(exc.message, status=exc.status_code, field="code") from None
    _record("factor_enrolled", user, actor, method=factor.method, forget_devices=True)
    return destination


def set_destination(
    user: User, kind: Literal["email", "phone"], value: str, *, actor: Actor
) -> str:
    """An admin sets a verified email address or phone number (no code)."""
    if not actor.is_admin:
        raise NotConfirmed()
    factor = _destination_factor(kind)
    cleaned = normalise_email(value) if kind == "email" else normalise_phone(value)
    if cleaned is None:
        raise Rejected(
            "not an email address" if kind == "email" else "not a phone number like +447700900123",
            field=kind,
        )
    otp_store.set_destination(user.id, factor.channel_name, cleaned, clock.now())
    _record("factor_enrolled", user, actor, method=factor.method, forget_devices=True)
    return cleaned


# -- removal and reset ----------------------------------------------------------------


def removable() -> list[str]:
    """The second factors a user or an admin removes as a whole (passkeys go
    one by one: :func:`delete_passkey`; the password never)."""
    return step_up.factors().removable()


def remove_factor(user: User, method: str, *, actor: Actor) -> None:
    methods = removable()
    if method not in methods:
        raise Rejected(f"must be one of {', '.join(methods)}", field="method")
    step_up.factors().get(method).remove(user.id)
    _record("factor_removed", user, actor, method=method, forget_devices=True)


def delete_passkey(user: User, passkey_id: int, *, actor: Actor) -> bool:
    """Remove one of the user's passkeys; False (no change, no row) when it is
    not theirs or already gone."""
    if not passkey_store.delete_passkey(user.id, passkey_id):
        return False
    _record(
        "factor_removed",
        user,
        actor,
        method="passkey",
        forget_devices=True,
        details={"passkey": f"passkey:{passkey_id}"},
    )
    return True


def rename_passkey(user: User, passkey_id: int, name: str, *, actor: Actor) -> bool:
    cleaned = " ".join(name.split())[:100]
    if not cleaned:
        raise Rejected(N_("Give the passkey a name."), field="name")
    if not passkey_store.rename_passkey(user.id, passkey_id, cleaned):
        return False
    _record(
        "passkey_renamed",
        user,
        actor,
        method="passkey",
        details={"passkey": f"passkey:{passkey_id}"},
    )
    return True


def reset_factors(user: User, *, actor: Actor) -> list[str]:
    """Remove every second factor (PIN, TOTP, codes by email or SMS, backup
    codes, passkeys) and clear every lock; the password stays. The user enrols
    again after signing in. Admins only."""
    if not actor.is_admin:
        raise NotConfirmed()
    removed: list[str] = []
    registry = step_up.factors()
    enrolled = {m.method for m in registry.enrolled(user.id)}
    for method in registry.removable():
        if method in enrolled:
            registry.get(method).remove(user.id)
            removed.append(method)
    passkeys = passkey_store.list_for_user(user.id)
    for row in passkeys:
        passkey_store.delete_passkey(user.id, row.id)
    if passkeys:
        removed.append("passkey")
    throttle.unlock(user.id, None)
    _record("factors_reset", user, actor, forget_devices=True, details={"removed": removed})
    return removed


# -- locks ---------------------------------------------------------------------------
# A factor locks itself after too many failures (provider/factors/attempts.py):
# the one request whose attempt crossed the threshold (provider/storage/throttle.py)
# notes the lock here once, as that request ends. Only an admin unlocks it here,
# or the user replaces it (a new PIN, a new TOTP secret, new backup codes reset
# their own counters).


def _counter_method(counter: str) -> str:
    """The method a failure counter belongs to (``totp_enrol``: the TOTP's setup)."""
    counters = step_up.factors().counters()
    return next((m for m, names in counters.items() if counter in names), counter)


def note_locked(crossing: throttle.Crossing, *, ip: str | None = None) -> bool:
    """The ``factor_locked`` audit row of a lock ``crossing`` caused: the
    method, the user, and whether it holds for good (until an unlock) or until
    ``until`` (a password lock window of ``window`` seconds). False (no row)
    when the attempt did not end in a lock after all (it succeeded, or the
    factor was replaced meanwhile)."""
    row = throttle.state(crossing.user_id, crossing.factor)
    if row is None or int(row.failures) < crossing.failures:
        return False
    details: dict[str, Any] = {
        "by": "throttle",
        "counter": crossing.factor,
        "failures": crossing.failures,
        "for_good": crossing.for_good,
    }
    if not crossing.for_good:
        details["until"] = crossing.until
        details["window"] = crossing.window
    audit.record(
        "factor_locked",
        "success",
        user_id=crossing.user_id,
        method=_counter_method(crossing.factor),
        reason="locked until an unlock" if crossing.for_good else "lock window",
        ip=ip,
        details=details,
    )
    return True


@dataclass(frozen=True)
class LockState:
    """A locked factor as the user is told about it: ``until`` is the end of a
    password lock window (it lapses by itself); None means until an
    administrator unlocks or resets it (or the user replaces it)."""

    method: str
    until: int | None


def lock_state(user_id: int, method: str) -> LockState | None:
    """How ``method`` is locked for the user now, or None (not locked, or only
    a short delay between tries)."""
    state: FactorStatus
    if method == "password":
        # The sign-in's limits, as configured now (the login reads them so).
        state = state_of(user_id, "password", password_limits())
    else:
        try:
            state = step_up.factors().get(method).status(user_id)
        except LookupError:
            return None
    if not state.locked:
        return None
    retry_after = state.retry_after
    return LockState(method, clock.now() + retry_after if retry_after else None)


def note_pending_locks(*, ip: str | None = None) -> int:
    """Note every lock the current request's failed attempts caused (called
    as each request ends); returns how many rows were written."""
    return sum(note_locked(crossing, ip=ip) for crossing in throttle.take_crossings())


def unlock(user: User, factor: str | None, *, actor: Actor) -> int:
    """Clear failure counters and locks of ``factor`` (or every factor).
    Returns how many counters were cleared."""
    if not actor.is_admin:
        raise NotConfirmed()
    if factor is not None and factor not in UNLOCKABLE:
        raise Rejected(f"must be one of {', '.join(UNLOCKABLE)}", field="factor")
    if factor is None:
        count = throttle.unlock(user.id, None)
    else:
        counters = step_up.factors().counters().get(factor, (factor,))
        count = sum(throttle.unlock(user.id, counter) for counter in counters)
    _record(
        "unlock",
        user,
        actor,
        method=factor,
        reason=f"unlock {factor or 'all'}",
        details={"counters": count},
    )
    return count
