"""The ladder and a session's events as one client sees them at ``now``.

One :class:`Context` lives as long as one :func:`~provider.policy.engine.decision.decide`
call and memoises what it is asked: whether a goal is met, which enrolled methods
reach it in one step-up, how a plan of several reaches it, the highest level to
claim.
"""

from __future__ import annotations

from collections.abc import Sequence

from provider.policy.engine.client_view import step_up_kind
from provider.policy.engine.goals import Check, Goal
from provider.policy.engine.planning import Plan, find_plan
from provider.policy.ladder.ladder import Ladder
from provider.policy.ladder.level_check import LevelCheck
from provider.policy.ladder.levels import Level
from provider.policy.model import METHODS, ClientPolicy, EnrolledMethod, Event, SessionState

__all__ = ["Context"]


class Context:
    """The ladder and events as one client sees them at ``now``."""

    def __init__(
        self,
        policy: ClientPolicy,
        ladder: Ladder,
        session: SessionState,
        enrolled: Sequence[EnrolledMethod],
        now: int,
    ) -> None:
        self.policy = policy
        self.ladder = ladder.with_lifetimes(policy.level_lifetimes)
        self.session = session
        self.now = now
        self.events = session.events
        self.active_events = tuple([e for e in session.events if not e.remembered])
        self.enrolled = enrolled
        self._options: list[tuple[EnrolledMethod, Event]] | None = None
        # One LevelCheck per (acr, active_only): the session's events are counted
        # and split by lifetime once, not again for every goal and step-up option.
        self._checks: dict[Check, LevelCheck] = {}
        # Per goal (by identity: hashing a goal costs more than it saves), met() and
        # offers() are asked more than once (bench/analysis.md).
        self._met: dict[int, bool] = {}
        self._offers: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._plans: dict[int, Plan | None] = {}

    def options(self) -> list[tuple[EnrolledMethod, Event]]:
        """(method, the kind of event a step-up with it would add): only needed when not met."""
        if self._options is None:
            self._options = [
                (method, kind)
                for method in self.enrolled
                if (kind := step_up_kind(method, self.policy)) is not None
            ]
        return self._options

    def _check(self, check: Check) -> LevelCheck:
        level_check = self._checks.get(check)
        if level_check is None:
            level_check = self._checks[check] = self.ladder.level_check(
                check.acr,
                self.active_events if check.active_only else self.events,
                self.session,
                self.now,
                allowed_aaguids=self.policy.allowed_aaguids,
                min_pin_length=self.policy.min_pin_length,
            )
        return level_check

    def met(self, goal: Goal) -> bool:
        key = id(goal)
        met = self._met.get(key)
        if met is None:
            met = True
            for check in goal.checks:
                if not self._check(check).holds():
                    met = False
                    break
            self._met[key] = met
        return met

    def offers(self, goal: Goal) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Methods (stable order) and passkey credential ids that reach ``goal`` in one step."""
        key = id(goal)
        offers = self._offers.get(key)
        if offers is None:
            offers = self._offers[key] = self._compute_offers(goal)
        return offers

    def _compute_offers(self, goal: Goal) -> tuple[tuple[str, ...], tuple[str, ...]]:
        checks = [self._check(check) for check in goal.checks]
        methods: set[str] = set()
        credentials: list[str] = []
        for method, kind in self.options():
            name = method.method
            if name in methods and (name != "passkey" or method.credential_id is None):
                continue  # would add nothing: the method is offered already
            for level_check in checks:
                if not level_check.holds_adding(kind):
                    break
            else:
                methods.add(name)
                if name == "passkey" and method.credential_id is not None:
                    credentials.append(method.credential_id)
        if not methods:
            return (), ()
        ordered = tuple([m for m in METHODS if m in methods])
        return ordered, tuple(dict.fromkeys(credentials))

    def plan(self, goal: Goal) -> Plan | None:
        """How ``goal`` is reached when it is neither met nor reached in one step, or None.

        Only asked then (it costs a search): the first step of a shortest plan of
        challenges, or an empty plan when only a new login (which replaces the
        session's events) followed by challenges reaches it; None when neither does.
        """
        key = id(goal)
        if key in self._plans:
            return self._plans[key]
        plan = self._plans[key] = find_plan(self, goal)
        return plan

    def highest(self, standing: str) -> Level | None:
        """The highest level to claim once the standing minimum ``standing`` is met.

        Remembered events lift the claim up to ``standing`` at most: a browser
        remembered after a passkey step-up must not make every later sign-in
        claim ``phrh`` (tokens never claim more than really happened fresh).
        """

        def best(events: tuple[Event, ...]) -> Level | None:
            return self.ladder.highest_satisfied(
                events,
                self.session,
                self.now,
                allowed_aaguids=self.policy.allowed_aaguids,
                min_pin_length=self.policy.min_pin_length,
            )

        everything = best(self.events)
        if everything is None or len(self.active_events) == len(self.events):
            return everything
        fresh = best(self.active_events)
        floor = self.ladder.get(standing)
        if floor is None or floor.level > everything.level:
            return fresh
        if fresh is None or floor.level > fresh.level:
            return floor
        return fresh
