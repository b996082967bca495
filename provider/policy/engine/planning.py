"""Plans of several step-ups: a goal no single step-up reaches (docs/security.md case 49).

Only searched when a goal is neither met nor reached in one step (it costs a
search): the first step of a shortest plan of challenges, or an empty plan when
only a new login (which replaces the session's events) followed by challenges
reaches it. The challenge page decides again after each step, so each step
brings the goal one step closer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import combinations
from typing import TYPE_CHECKING, Final, NamedTuple

from provider.policy.engine.client_view import step_up_kind
from provider.policy.engine.goals import Goal
from provider.policy.model import METHODS, EnrolledMethod, Event, first_factor_methods

if TYPE_CHECKING:
    from provider.policy.engine.context import Context

__all__ = ["MAX_PLAN_STEPS", "Plan", "find_plan"]

#: The most new events a plan of challenges may take (docs/security.md case 49): a
#: level whose rule needs more than this many new events is refused as before.
MAX_PLAN_STEPS: Final = 4


class Plan(NamedTuple):
    """The first step of a plan that reaches a goal in several steps (docs/security.md case 49).

    ``methods`` / ``credentials``: what the challenge offers now (every method that
    starts a shortest plan); both empty when only a new login reaches the goal.
    """

    methods: tuple[str, ...]
    credentials: tuple[str, ...]


def find_plan(ctx: Context, goal: Goal) -> Plan | None:
    """How ``goal`` is reached in several steps, or None (see the module docstring).

    Asked by :meth:`~provider.policy.engine.context.Context.plan`, which memoises it.
    """
    # One pool entry per usable credential, at most MAX_PLAN_STEPS of one kind
    # (credentials of the same kind are interchangeable in a plan).
    by_kind: dict[Event, list[EnrolledMethod]] = {}
    for method, kind in ctx.options():
        by_kind.setdefault(kind, []).append(method)
    pool = [kind for kind, methods in by_kind.items() for _ in methods[:MAX_PLAN_STEPS]]
    first = _shortest_plans(ctx, goal, pool)
    if first:
        names: set[str] = set()
        credentials: list[str] = []
        for method, kind in ctx.options():  # enrolled order, as offers() lists them
            if kind in first:
                names.add(method.method)
                if method.method == "passkey" and method.credential_id is not None:
                    credentials.append(method.credential_id)
        ordered = tuple([m for m in METHODS if m in names])
        return Plan(ordered, tuple(dict.fromkeys(credentials)))
    if _login_reaches(ctx, goal, pool):
        return Plan((), ())
    return None


def _reaches(
    ctx: Context, goal: Goal, added: Sequence[Event], *, after_login: bool = False
) -> bool:
    """Whether the session's events (none ``after_login``) plus ``added`` kinds made
    at ``now`` meet every check of ``goal``."""
    now = ctx.now
    new = [replace(kind, at=now) for kind in added]
    for check in goal.checks:
        if after_login:
            events: Sequence[Event] = new
        else:
            base = ctx.active_events if check.active_only else ctx.events
            events = (*base, *new)
        if not ctx.ladder.satisfies(
            check.acr,
            events,
            None if after_login else ctx.session,
            now,
            allowed_aaguids=ctx.policy.allowed_aaguids,
            min_pin_length=ctx.policy.min_pin_length,
        ):
            return False
    return True


def _shortest_plans(ctx: Context, goal: Goal, pool: list[Event]) -> set[Event]:
    """The kinds that start a shortest plan of 2 to MAX_PLAN_STEPS steps (empty: none).

    Every kind of a shortest plan may come first: after it, the rest of that plan
    reaches the goal in one step less, so each challenge makes progress.
    """
    if len(pool) < 2 or not _reaches(ctx, goal, pool):
        return set()
    for size in range(2, min(len(pool), MAX_PLAN_STEPS) + 1):
        found: set[Event] = set()
        seen: set[tuple[Event, ...]] = set()
        for combo in combinations(pool, size):
            if combo in seen:
                continue
            seen.add(combo)
            if _reaches(ctx, goal, combo):
                found.update(combo)
        if found:
            return found
    return set()


def _login_reaches(ctx: Context, goal: Goal, pool: list[Event]) -> bool:
    """Whether a new login, then at most MAX_PLAN_STEPS challenges, reaches ``goal``.

    A login may use a first factor the client does not accept as a step-up
    (``step_up_methods``): the password always, a passkey, a PIN with
    ``pin_login``, an email/SMS code with ``passwordless_login``.
    """
    policy = ctx.policy
    login_methods = first_factor_methods(
        pin_login=policy.pin_login, passwordless_login=policy.passwordless_login
    )
    unrestricted = replace(policy, step_up_methods=())
    logins = {
        kind
        for method in ctx.enrolled
        if method.method in login_methods
        and (kind := step_up_kind(method, unrestricted)) is not None
    }
    for login in logins:
        if not _reaches(ctx, goal, [login, *pool], after_login=True):
            continue
        for size in range(min(len(pool), MAX_PLAN_STEPS) + 1):
            for combo in combinations(pool, size):
                if _reaches(ctx, goal, [login, *combo], after_login=True):
                    return True
    return False
