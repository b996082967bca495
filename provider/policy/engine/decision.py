"""The decision: does the session meet the request, or what runs next?

Implements, purely (no I/O; ``now`` is a parameter):

- RFC 9470 §4-§5: ``acr_values`` and ``max_age`` are the step-up
  requirement; "the authorization server [...] SHOULD treat the acr_values as
  necessary" -- unless a client opts into ``voluntary`` enforcement, an
  unreachable requirement fails with ``unmet_authentication_requirements``
  (OpenID Connect Unmet Authentication Requirements 1.0 §3), never a silent
  downgrade;
- OpenID Connect Core 1.0 §3.1.2.1: ``max_age`` ("the Authorization Server
  MUST attempt to actively re-authenticate the End-User" when exceeded) and
  ``prompt`` (``none``: "MUST NOT display any authentication or consent user
  interface pages", ``login_required`` / ``interaction_required``;
  ``login``: "SHOULD prompt the End-User for reauthentication");
- OpenID Connect Core 1.0 §5.5.1.1: an essential ``acr`` that cannot be met
  is an error;
- docs/design.md "The decision": preference order, the client's floor, step-up
  offering exactly the enrolled methods that reach the target, and
  remembered events that never satisfy an explicit step-up.

See docs/acr.md for the walk-through and reason codes.
"""

from __future__ import annotations

from collections.abc import Sequence

from provider.policy.engine.client_view import accepts_event, client_auth_time, client_events
from provider.policy.engine.context import Context
from provider.policy.engine.goals import Goal, baseline_goal, candidate_goals
from provider.policy.ladder.ladder import Ladder
from provider.policy.ladder.levels import Level
from provider.policy.model import (
    ClientPolicy,
    Decision,
    EnrolledMethod,
    Fail,
    Login,
    Reason,
    Requirement,
    Satisfied,
    SessionState,
    StepUp,
    session_amr,
)

__all__ = ["UNMET_AUTHENTICATION_REQUIREMENTS", "decide", "session_acr"]

UNMET_AUTHENTICATION_REQUIREMENTS = "unmet_authentication_requirements"
_LOGIN_PROMPTS = frozenset({"login", "select_account"})


def _is_fresh(
    session: SessionState, policy: ClientPolicy, max_age: int, started: int | None, now: int
) -> bool:
    """OIDC Core ``max_age``: strict, no grace; an event during this transaction always counts.

    ``max_age=0`` is met *only* by an event made during this transaction: a
    login earlier in the same second is not a new authentication (docs/security.md
    case 23). Only events of a method the client accepts count (case 48).
    """
    active = [event.at for event in session.events if accepts_event(event, policy)]
    if not active:
        return False
    latest = max(active)
    during_transaction = started is not None and latest >= started
    if max_age == 0:
        return during_transaction
    return latest >= now - max_age or during_transaction


def _logged_in_during(session: SessionState, started: int | None) -> bool:
    """Whether the session's login (its first active event) happened during this transaction."""
    if started is None:
        return False
    active = [event.at for event in session.events if not event.remembered]
    return bool(active) and min(active) >= started


def decide(
    requirement: Requirement,
    policy: ClientPolicy,
    ladder: Ladder,
    session: SessionState | None,
    enrolled: Sequence[EnrolledMethod],
    now: int,
) -> Decision:
    """Decide what the authorization request needs next. Pure; see docs/acr.md.

    Order: unknown essential acr -> session -> prompt=login/select_account ->
    target acr (preference order, floor, strict/voluntary) -> freshness
    (max_age) -> step-up -> satisfied. ``prompt=none`` turns every UI answer
    into ``login_required`` / ``interaction_required``.

    A target is *reachable* when it is met, when one step-up reaches it, or
    when a plan does (docs/security.md case 49): a level that needs more than
    one new event -- its absolute lifetime lapsed, or a custom rule asks for
    two factors the session lacks -- is reached, never refused with
    ``unmet_authentication_requirements``, while the user's enrolled, unlocked
    methods can reach it in at most :data:`MAX_PLAN_STEPS` new events. The
    answer is then a :class:`StepUp` offering the first step of a shortest plan
    (every method that starts one); the challenge page decides again after each
    step, so the next answer offers the next step and each step brings the target
    one step closer. When no plan of step-ups reaches it but a new login does
    (the plan needs a first factor the client does not accept as a step-up
    method, e.g. the password for ``step_up_methods = totp passkey``), the
    answer is :class:`Login` with the goal's reason (``acr_not_met`` or
    ``floor_not_met``), like any other "only a new login helps" answer; a
    login replaces the session's events, so it is planned only when nothing
    less helps. Locked methods are never planned: if only they could reach
    the target, the answer is as before.
    """
    req = requirement
    silent = "none" in req.prompt

    if req.essential_acr and req.unknown_essential_acr_values and not req.essential_acr_values:
        return Fail(
            UNMET_AUTHENTICATION_REQUIREMENTS,
            "none of the essential acr values requested is supported",
            Reason.ESSENTIAL_ACR_UNKNOWN,
        )

    if session is None or not session.events:
        if silent:
            return Fail("login_required", "the user is not signed in", Reason.NO_SESSION)
        return Login(Reason.NO_SESSION)

    if req.prompt & _LOGIN_PROMPTS and not _logged_in_during(session, req.transaction_started_at):
        return Login(Reason.PROMPT_LOGIN if "login" in req.prompt else Reason.SELECT_ACCOUNT)

    floor: Level | None = None
    if policy.minimum_acr is not None:
        floor = ladder.get(policy.minimum_acr)
        if floor is None:
            # Fail closed: a floor the ladder no longer knows cannot be checked.
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "the client's minimum acr is not configured",
                Reason.FLOOR_NOT_MET,
            )

    # What this client may count: replays only where remembered browsers are
    # accepted (docs/security.md case 47).
    session = client_events(session, policy, now)
    if not session.events:
        if silent:
            return Fail("login_required", "the user is not signed in", Reason.NO_SESSION)
        return Login(Reason.NO_SESSION)
    ctx = Context(policy, ladder, session, enrolled, now)
    goals, essential = candidate_goals(req, ladder, floor)

    selected: Goal | None = None
    for goal in goals:
        if ctx.met(goal) or ctx.offers(goal)[0] or ctx.plan(goal) is not None:
            selected = goal
            break

    downgraded = False
    if selected is None:
        requested = bool(goals) or bool(req.unknown_acr_values)
        if essential:
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "the essential acr requested cannot be met with the user's methods",
                Reason.ESSENTIAL_ACR_UNREACHABLE,
            )
        if requested and policy.acr_enforcement == "strict":
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "none of the requested acr values can be met with the user's methods",
                Reason.UNMET,
            )
        downgraded = bool(goals)
        selected = baseline_goal(ladder, floor)

    met = ctx.met(selected)
    fresh = req.max_age is None or _is_fresh(
        session, policy, req.max_age, req.transaction_started_at, now
    )
    if met and fresh:
        # Satisfied: what a step-up could offer is not needed (and costs the most).
        methods: tuple[str, ...] = ()
        credentials: tuple[str, ...] = ()
    else:
        methods, credentials = ctx.offers(selected)

    if not met and not methods:
        # More than one new event is needed (docs/security.md case 49): offer the
        # first step of a plan; the challenge page decides again after each step.
        plan = ctx.plan(selected)
        if plan is not None and plan.methods:
            methods, credentials = plan.methods, plan.credentials
        elif plan is not None:
            if silent:
                return Fail("login_required", "a new sign-in is required", selected.reason)
            return Login(selected.reason)

    if not met and not methods:
        # Only the standing minimum gets here (requested goals were reachable).
        if floor is not None:
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "the client's minimum acr cannot be met with the user's methods",
                Reason.FLOOR_NOT_MET,
            )
        if silent:
            return Fail("login_required", "a new sign-in is required", Reason.ACR_NOT_MET)
        return Login(Reason.ACR_NOT_MET)

    if not fresh:
        if silent:
            return Fail(
                "login_required", "the authentication is older than max_age", Reason.MAX_AGE
            )
        if not methods:
            return Login(Reason.MAX_AGE)
        return StepUp(
            selected.shown if met else selected.target, methods, Reason.MAX_AGE, credentials
        )

    if not met:
        if silent:
            return Fail(
                "interaction_required", "a step-up authentication is required", selected.reason
            )
        return StepUp(selected.target, methods, selected.reason, credentials)

    acr = selected.emit
    if acr is None:
        highest = ctx.highest(selected.target)
        acr = highest.acr if highest is not None else None
    auth_time = client_auth_time(session.events, policy)
    assert auth_time is not None  # session.events is not empty
    return Satisfied(
        acr=acr,
        amr=session_amr(session.events),
        auth_time=auth_time,
        reason=Reason.VOLUNTARY_DOWNGRADE if downgraded else Reason.SATISFIED,
    )


def session_acr(
    session: SessionState | None, policy: ClientPolicy, ladder: Ladder, now: int
) -> str | None:
    """The highest acr the session satisfies for this client at ``now`` (None: none)."""
    if session is None:
        return None
    session = client_events(session, policy, now)
    level = ladder.with_lifetimes(policy.level_lifetimes).highest_satisfied(
        session.events,
        session,
        now,
        allowed_aaguids=policy.allowed_aaguids,
        min_pin_length=policy.min_pin_length,
    )
    return level.acr if level is not None else None
