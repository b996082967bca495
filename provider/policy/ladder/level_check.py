"""The fast path of a decision: one level checked for a session's events, with and
without each step-up a user could make.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from provider.policy.ladder.levels import Level, counted_events, event_counts, idles_out, revived
from provider.policy.model import Event, SessionState

__all__ = ["LevelCheck"]

_EMPTY: Final[frozenset[str]] = frozenset()


class LevelCheck:
    """One level checked for a session's events, alone or with one step-up added.

    Built by :meth:`~provider.policy.ladder.ladder.Ladder.level_check`. :meth:`holds`
    answers what :meth:`~provider.policy.ladder.ladder.Ladder.satisfies` answers for
    the events; :meth:`holds_adding` what it answers for the events plus one new
    event made at ``now`` (a step-up with one enrolled factor). The events are
    counted, cut to the level's absolute lifetime and split into alive /
    idled-out once, here (where
    :func:`~provider.policy.ladder.levels.level_holds` does it on every call), so
    each of the many candidates costs only the tests of
    :meth:`~provider.policy.ladder.rules.Rule.plus_one`. Lives as long as one
    :func:`~provider.policy.engine.decision.decide` call.
    """

    __slots__ = (
        "_alive",
        "_allowed",
        "_base",
        "_filtered",
        "_idled",
        "_min_pin_length",
        "_new_idles_out",
        "_new_too_old",
        "_now",
        "_plus_one",
        "_rule",
    )

    def __init__(
        self,
        level: Level | None,
        events: Sequence[Event],
        session: SessionState | None,
        now: int,
        *,
        allowed_aaguids: Sequence[str] = (),
        min_pin_length: int | None = None,
    ) -> None:
        self._rule = level.rule if level is not None else None
        self._now = now
        self._filtered = bool(allowed_aaguids) or min_pin_length is not None
        self._allowed = (
            frozenset([a.lower() for a in allowed_aaguids]) if allowed_aaguids else _EMPTY
        )
        self._min_pin_length = min_pin_length
        self._base: bool | None = None
        self._alive: list[Event] = []
        self._idled: list[Event] = []
        self._plus_one: tuple[tuple[Callable[[Event], bool], ...], ...] | None = None
        # Whether an event made at ``now`` is past the absolute lifetime (only for a
        # negative bound) or idled out (only with an idle gap starting at ``now``).
        self._new_too_old = False
        self._new_idles_out = False
        if level is None:
            self._base = False  # an unknown acr is never satisfied
            return
        counted: Sequence[Event] = counted_events(
            events, allowed_aaguids=allowed_aaguids, min_pin_length=min_pin_length
        )
        # The same steps as level_holds.
        lifetime = level.lifetime
        if lifetime is not None and lifetime.absolute_seconds is not None:
            absolute = lifetime.absolute_seconds
            counted = [event for event in counted if now - event.at <= absolute]
            self._new_too_old = absolute < 0  # now - now > absolute
        if lifetime is None or lifetime.idle_seconds is None or session is None:
            self._alive = list(counted)  # no idle bound: nothing idles out
            return
        idle = lifetime.idle_seconds
        gaps = (*session.idle_gaps, (session.last_active_at, now))
        for event in counted:
            if idles_out(event.at, gaps, idle):
                self._idled.append(event)
            else:
                self._alive.append(event)
        self._new_idles_out = idles_out(now, gaps, idle)

    def holds(self) -> bool:
        """Whether the events satisfy the level (memoised)."""
        if self._base is None:
            assert self._rule is not None  # set whenever the level is known
            if self._idled:
                self._base = revived(self._rule, self._alive, self._idled)
            else:
                self._base = self._rule.holds(self._alive)
        return self._base

    def holds_adding(self, kind: Event) -> bool:
        """Whether the events plus an event like ``kind`` made at ``now`` satisfy the level.

        ``kind.at`` is not read (the new event is made at ``now``), nor is
        ``kind.credential_id`` (no rule reads it): one ``kind`` serves every
        enrolled credential of the same kind, at any time.
        """
        rule = self._rule
        if rule is None:
            return False
        if self._filtered and not event_counts(kind, self._allowed, self._min_pin_length):
            return self.holds()  # the new event does not count: the events alone
        if self._new_too_old:
            return self.holds()
        if self._new_idles_out:
            return revived(rule, self._alive, [*self._idled, replace(kind, at=self._now)])
        # The new event is alive. Rules are monotone, so adding an alive event
        # keeps a level that held: with nothing idled out, rule(alive) implies
        # rule(alive + new); with a revival, the same idled subset still works
        # (the idled list, hence the subsets searched, is unchanged).
        if self.holds():
            return True
        if self._idled:
            return revived(rule, [*self._alive, replace(kind, at=self._now)], self._idled)
        # rule(alive + [new]) from what the alive events lack (Rule.plus_one): the
        # alive events are scanned once per check, not once per candidate.
        plus_one = self._plus_one
        if plus_one is None:
            plus_one = self._plus_one = rule.plus_one(self._alive)
        for tests in plus_one:
            for test in tests:
                if not test(kind):
                    break
            else:
                return True
        return False
