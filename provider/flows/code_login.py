"""Sign-in with a one-time code by email or SMS (per client ``passwordless_login``).

docs/design.md "Factors": the "SMS login, then a PIN" pattern. The code is the
login event (possession, ``1fa``); a PIN step-up on top makes ``2fa``.

Asking for a code never says whether the account exists: the page answers the
same for an unknown user, a user without a verified destination and one whose
resend limit is spent. What it cannot hide is a delivery failure (that is
shown, so people are not left waiting) and the time a real delivery takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from provider.factors.base import FactorError, Verified
from provider.factors.delivery import DeliveryFailed
from provider.factors.registry import FactorRegistry
from provider.storage import accounts, audit
from provider.storage.models import User

__all__ = [
    "CHANNEL_METHODS",
    "FAILURE_MESSAGE",
    "CodeLoginResult",
    "available_channels",
    "record_send",
    "send_login_code",
    "verify_login_code",
]

CHANNEL_METHODS = {"email": "email_otp", "sms": "sms_otp"}

FAILURE_MESSAGE = "That code did not work. Check it, or ask for a new one in a moment."


@dataclass(frozen=True)
class CodeLoginResult:
    user: User | None
    verified: Verified | None
    reason: str


def _registry() -> FactorRegistry:
    registry: FactorRegistry = current_app.extensions["belay_factors"]
    return registry


def _factor(channel: str) -> Any:
    method = CHANNEL_METHODS.get(channel)
    if method is None or method not in _registry():
        return None
    factor: Any = _registry().get(method)
    return factor if factor.channel is not None else None


def available_channels() -> list[dict[str, str]]:
    """The configured code channels: ``[{"channel", "method", "label"}]``."""
    shown = []
    for channel, method in CHANNEL_METHODS.items():
        factor = _factor(channel)
        if factor is not None:
            shown.append({"channel": channel, "method": method, "label": factor.label})
    return shown


def _user(username: str) -> User | None:
    user = accounts.user_by_name(username)
    return user if user is not None and user.disabled_at is None else None


def send_login_code(
    username: str, channel: str, *, ip: str | None, client_id: str | None
) -> str | None:
    """Send a sign-in code when the user has a verified destination on ``channel``.

    Returns a message for people when the delivery failed, else None (also for
    an unknown user, no destination or a spent resend limit: all read alike).
    """
    factor = _factor(channel)
    if factor is None:
        raise ValueError(f"no configured channel {channel!r}")
    user = _user(username)
    error: FactorError | DeliveryFailed | None = None
    if user is not None:
        try:
            factor.send(user.id)
        except (FactorError, DeliveryFailed) as exc:
            error = exc
    record_send(
        factor.method,
        error,
        user_id=user.id if user else None,
        username=username if user else None,
        client_id=client_id,
        ip=ip,
        reason="unknown_user" if user is None else None,
    )
    failure = error.message if isinstance(error, DeliveryFailed) else None
    return failure


def record_send(
    method: str,
    error: FactorError | DeliveryFailed | None,
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
    username: str, channel: str, code: str, *, ip: str | None, client_id: str | None
) -> CodeLoginResult:
    """Check a sign-in code; the factor's own tries, single use and lock apply."""
    factor = _factor(channel)
    if factor is None:
        raise ValueError(f"no configured channel {channel!r}")
    user = _user(username)
    verified: Verified | None = None
    reason = "unknown_user"
    if user is not None:
        try:
            verified = factor.verify(user.id, {"code": code})
            reason = "ok"
        except FactorError as exc:
            reason = type(exc).__name__.lower()
    audit.record(
        "login",
        "success" if verified is not None else "failure",
        user_id=user.id if user else None,
        username=username if user else None,
        client_id=client_id,
        method=factor.method,
        reason=None if verified is not None else reason,
        ip=ip,
    )
    if verified is None:
        return CodeLoginResult(None, None, reason)
    return CodeLoginResult(user, verified, "ok")
