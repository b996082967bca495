"""Step-up inside the session the user already has: verify one factor, add
its event, rotate the session id. Used by the authorize challenge, "Confirm
access" on the account page and the first-party step-up API alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from flask import current_app

from provider import clock, policy
from provider.errors import N_
from provider.factors.base import Busy, FactorError, NotEnrolled, Verified
from provider.factors.otp import OtpFactor, step_up_context
from provider.factors.registry import FactorRegistry
from provider.flows.assurance import events
from provider.storage import audit
from provider.storage.models import User, WebSession

__all__ = [
    "StepUpDone",
    "confirm_access_target",
    "factors",
    "session_state",
    "verify_in_session",
]


@dataclass(frozen=True)
class StepUpDone:
    verified: Verified
    cookie_token: str


def factors() -> FactorRegistry:
    registry: FactorRegistry = current_app.extensions["belay_factors"]
    return registry


def session_state(row: WebSession, previous_seen_at: int | None) -> policy.SessionState | None:
    """The policy engine's view of a browser session (provider/flows/assurance/events.py)."""
    return events.session_state(row, previous_seen_at)


def verify_in_session(
    *,
    user: User,
    row: WebSession,
    method: str,
    submitted: Mapping[str, str],
    allowed: Sequence[str],
    client_id: str | None,
    purpose: str,
    target_acr: str | None = None,
    ip: str | None = None,
) -> StepUpDone:
    """Check ``method`` for the signed-in ``user``; raises :class:`FactorError`.

    Only a method in ``allowed`` (what the policy engine offered) is checked.
    """
    if method not in allowed:
        raise NotEnrolled(N_("That way of confirming is not available here."))
    try:
        factor = factors().get(method)
    except LookupError:
        raise NotEnrolled(N_("That way of confirming is not available here.")) from None
    try:
        if isinstance(factor, OtpFactor):
            # A code counts only in the session and for the page it was sent
            # for (docs/security.md case 50).
            context = step_up_context(row.id, purpose)
            verified = factor.verify(user.id, submitted, context=context)
        else:
            verified = factor.verify(user.id, submitted)
    except Busy:
        raise  # nothing was checked: no attempt to audit (counted in /metrics)
    except FactorError as exc:
        audit.record(
            purpose,
            "failure",
            user_id=user.id,
            client_id=client_id,
            method=method,
            acr=target_acr,
            reason=type(exc).__name__.lower(),
            ip=ip,
        )
        raise
    token = events.add_performed(row, verified)
    audit.record(
        purpose,
        "success",
        user_id=user.id,
        client_id=client_id,
        method=method,
        acr=target_acr,
        ip=ip,
    )
    return StepUpDone(verified=verified, cookie_token=token)


def confirm_access_target(
    enrolled: Sequence[policy.EnrolledMethod], ladder: policy.Ladder, now: int
) -> str:
    """The level of the strongest factor the user has enrolled (NIST SP 800-63B-4
    §4.1.2.1): the highest level one of their methods reaches together with the
    others -- *locked or not*. A locked factor never lowers the requirement
    (docs/security.md case 44): whoever locks the TOTP with wrong guesses must
    not get a "Confirm access" that a password alone satisfies."""
    client = policy.ClientPolicy()
    events = [
        event
        for method in enrolled
        for event in [policy.step_up_event(replace(method, locked=False), client, now)]
        if event is not None
    ]
    state = policy.SessionState(
        user_id="", events=tuple(events), created_at=now, last_active_at=now
    )
    best = ladder.highest_satisfied(state.events, state, now)
    return best.acr if best is not None else ladder.lowest.acr


def current_acr(row: WebSession, previous_seen_at: int | None, ladder: policy.Ladder) -> str | None:
    """The session's acr for the OP's own pages (no remembered browser counts)."""
    state = session_state(row, previous_seen_at)
    return policy.session_acr(state, policy.ClientPolicy(), ladder, clock.now())
