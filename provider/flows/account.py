"""The user's own account: "Confirm access" and factor management rules."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from provider import clock, policy
from provider.flows import step_up
from provider.storage.ladder import current_ladder
from provider.storage.models import User, WebSession

__all__ = ["SECOND_FACTORS", "AccessCheck", "check_access", "check_level"]

SECOND_FACTORS = ("totp", "pin", "passkey", "backup_code", "email_otp", "sms_otp")


@dataclass(frozen=True)
class AccessCheck:
    """Whether changes are allowed now, and if not, what would allow them."""

    confirmed: bool
    target_acr: str
    methods: tuple[str, ...]
    expires_at: int | None
    #: the passkeys (``passkey:<id>``) that can confirm (WebAuthn allowCredentials)
    passkey_credential_ids: tuple[str, ...] = ()


def check_access(
    user: User, row: WebSession, previous_seen_at: int | None, started_at: int | None
) -> AccessCheck:
    """Confirm access = the level of the strongest factor the user has, within
    ``CONFIRM_ACCESS_MAX_AGE`` seconds (NIST SP 800-63B-4 §4.1.2.1). The same
    engine call as /authorize, with a built-in strict policy."""
    enrolled = step_up.factors().enrolled(user.id)
    target = step_up.confirm_access_target(enrolled, current_ladder(), clock.now())
    max_age = int(current_app.config["CONFIRM_ACCESS_MAX_AGE"])
    return check_level(
        user, row, previous_seen_at, started_at, target=target, max_age=max_age, enrolled=enrolled
    )


def check_level(
    user: User,
    row: WebSession,
    previous_seen_at: int | None,
    started_at: int | None,
    *,
    target: str,
    max_age: int,
    enrolled: list[policy.EnrolledMethod] | None = None,
) -> AccessCheck:
    """Whether the session reached ``target`` within ``max_age`` seconds — the
    engine's decision for ``acr_values=target&max_age=max_age`` under a strict
    built-in policy (used by "Confirm access" and the admin console)."""
    ladder = current_ladder()
    now = clock.now()
    if enrolled is None:
        enrolled = step_up.factors().enrolled(user.id)
    client = policy.ClientPolicy()
    requirement = policy.parse_requirement(
        {"acr_values": target, "max_age": str(max_age)},
        client,
        ladder,
        has_openid_scope=False,
        transaction_started_at=started_at,
    )
    state = step_up.session_state(row, previous_seen_at)
    decision = policy.decide(requirement, client, ladder, state, enrolled, now)
    if isinstance(decision, policy.Satisfied):
        return AccessCheck(True, target, (), decision.auth_time + max_age)
    if isinstance(decision, policy.StepUp):
        return AccessCheck(False, target, decision.methods, None, decision.passkey_credential_ids)
    return AccessCheck(False, target, (), None)
