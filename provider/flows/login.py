"""Password login and password re-entry (a step-up for freshness)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from provider.factors import password as password_factor
from provider.factors.hashing import SecretHasher
from provider.storage import accounts, audit, throttle
from provider.storage.models import User

__all__ = ["LoginResult", "hasher", "password_limits", "verify_password"]

# One message for every failure: it never says whether the account exists,
# whether the password was wrong or whether the account is throttled.
FAILURE_MESSAGE = "That username and password did not work. Check them and try again in a moment."


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    reason: str
    retry_after: int = 0


def hasher() -> SecretHasher:
    h: SecretHasher = current_app.extensions["belay_hasher"]
    return h


def password_limits() -> throttle.Limits:
    c = current_app.config
    return throttle.Limits(
        delay_after=c["PASSWORD_DELAY_AFTER"],
        max_failures=c["PASSWORD_MAX_FAILURES"],
        max_delay=c["THROTTLE_MAX_DELAY"],
    )


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
    the acr it reached)."""
    user = accounts.user_by_name(username)
    if user is not None and user.disabled_at is not None:
        user = None
    result = password_factor.check_password(
        user_id=user.id if user else None,
        stored_hash=user.password_hash if user else None,
        password=password,
        hasher=hasher(),
        limits=password_limits(),
    )
    if not (result.ok and not audit_success):
        _audit_attempt(purpose, result, user, username, client_id, ip)
    if not result.ok or user is None:
        return LoginResult(None, result.reason, result.retry_after)
    if result.new_hash:
        user.password_hash = result.new_hash
        accounts.commit()
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
        username=username if user else None,
        client_id=client_id,
        method="password",
        reason=None if result.ok else result.reason,
        ip=ip,
    )
