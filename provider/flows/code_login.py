"""Sign-in with a one-time code by email or SMS (per client ``passwordless_login``).

docs/design.md "Factors": the "SMS login, then a PIN" pattern. The code is the
login event (possession, ``1fa``); a PIN step-up on top makes ``2fa``.

Asking for a code never says whether the account exists, and never claims a
code was sent (docs/security.md case 50): the page answers the same, in
conditional words ("if alice has a verified phone number, a code is on its
way"), for an unknown user, a user without a verified destination, one whose
resend limit is spent and a failed delivery (audited as such for operators;
the page tells people what to do when no code arrives). What it cannot hide is
the time a real delivery takes.

A sign-in code is bound to the browser session and the authorize transaction
it was asked for (:func:`provider.factors.otp.sign_in_context`), with its own
purpose: a step-up code, or a sign-in code from another browser, cannot sign in.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from provider.errors import N_, BelayError
from provider.factors.base import FactorError, Verified
from provider.factors.delivery import DeliveryFailed
from provider.factors.otp import LOGIN, OtpFactor
from provider.factors.registry import FactorRegistry
from provider.storage import audit
from provider.storage import users as user_store
from provider.storage.models import User

__all__ = [
    "FAILURE_MESSAGE",
    "CodeLoginResult",
    "available_channels",
    "record_send",
    "send_login_code",
    "sent_notice",
    "verify_login_code",
]

FAILURE_MESSAGE = N_("That code did not work. Check it, or ask for a new one in a moment.")


def sent_notice(username: str, channel: str) -> str:
    """What the page says after a sign-in code was asked for: true whatever
    happened (sent, unknown user, no verified destination, resend limit spent,
    delivery failed), so it tells nothing about the account."""
    config = current_app.config
    what = "email address" if channel == "email" else "phone number"
    minutes = max(1, int(config["OTP_CODE_TTL"]) // 60)
    window = max(1, int(config["OTP_RESEND_WINDOW"]) // 60)
    return (
        f"If {username} has a verified {what}, a code is on its way to it, valid for "
        f"{minutes} minutes; we send at most {config['OTP_RESEND_LIMIT']} codes in "
        f"{window} minutes. If none arrives, check the username, wait a few minutes "
        "and ask again, or sign in another way."
    )


@dataclass(frozen=True)
class CodeLoginResult:
    user: User | None
    verified: Verified | None
    reason: str


def _registry() -> FactorRegistry:
    registry: FactorRegistry = current_app.extensions["belay_factors"]
    return registry


def _factor(channel: str) -> OtpFactor | None:
    """The configured code factor of ``channel``, or None."""
    factor = _registry().code_factor(channel)
    return factor if factor is not None and factor.channel is not None else None


def available_channels() -> list[dict[str, str]]:
    """The configured code channels: ``[{"channel", "method", "label"}]``."""
    return [
        {"channel": factor.channel_name, "method": factor.method, "label": factor.label}
        for factor in _registry().code_factors()
        if factor.channel is not None
    ]


def _user(username: str) -> User | None:
    user = user_store.user_by_name(username)
    return user if user is not None and user.disabled_at is None else None


def send_login_code(
    username: str, channel: str, *, context: str, ip: str | None, client_id: str | None
) -> bool:
    """Send a sign-in code for ``context`` when the user has a verified
    destination on ``channel``; whether one was sent.

    The answer is for the audit and tests only: the page reads the same either
    way (an unknown user, no destination, a spent resend limit, a failed delivery).
    """
    factor = _factor(channel)
    if factor is None:
        raise ValueError(f"no configured channel {channel!r}")
    user = _user(username)
    error: FactorError | DeliveryFailed | None = None
    if user is not None:
        try:
            factor.send(user.id, purpose=LOGIN, context=context)
        except (FactorError, DeliveryFailed) as exc:  # nothing sent; the page reads the same
            error = exc
    record_send(
        factor.method,
        error,
        user_id=user.id if user else None,
        username=user.username if user else None,
        client_id=client_id,
        ip=ip,
        reason="unknown_user" if user is None else None,
    )
    return user is not None and error is None


def record_send(
    method: str,
    error: BelayError | None,
    *,
    user_id: int | None,
    client_id: str | None,
    ip: str | None,
    username: str | None = None,
    reason: str | None = None,
) -> None:
    """Audit one code send (``otp_sent``) — from the challenge page, the account
    page or sign-in with a code — with one vocabulary of reasons."""
    if error is not None and reason is None:
        reason = (
            "delivery_failed" if isinstance(error, DeliveryFailed) else type(error).__name__.lower()
        )
    audit.record(
        "otp_sent",
        "success" if reason is None else "failure",
        user_id=user_id,
        username=username,
        client_id=client_id,
        method=method,
        reason=reason,
        ip=ip,
    )


def verify_login_code(
    username: str,
    channel: str,
    code: str,
    *,
    context: str,
    ip: str | None,
    client_id: str | None,
) -> CodeLoginResult:
    """Check a sign-in code sent for ``context``; the factor's own tries,
    single use and lock apply."""
    factor = _factor(channel)
    if factor is None:
        raise ValueError(f"no configured channel {channel!r}")
    user = _user(username)
    verified: Verified | None = None
    reason = "unknown_user"
    if user is not None:
        try:
            verified = factor.verify_sign_in(user.id, code, context=context)
            reason = "ok"
        except FactorError as exc:
            reason = type(exc).__name__.lower()
    audit.record(
        "login",
        "success" if verified is not None else "failure",
        user_id=user.id if user else None,
        username=user.username if user else None,
        client_id=client_id,
        method=factor.method,
        reason=None if verified is not None else reason,
        ip=ip,
    )
    if verified is None:
        return CodeLoginResult(None, None, reason)
    return CodeLoginResult(user, verified, "ok")
