"""The acr ladder: ordered levels, each an acr value with a rule and a lifetime.

Implements docs/design.md "The ladder" and the acr side of OpenID Connect Core 1.0
§2 (``acr``: "the Authentication Context Class that the authentication
performed satisfied") and RFC 9470 §3 (the acr values a resource server may
demand).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from provider.policy.errors import LadderError
from provider.policy.ladder.level_check import LevelCheck
from provider.policy.ladder.levels import Level, counted_events, level_holds
from provider.policy.model import Event, Lifetime, SessionState

__all__ = ["Ladder"]


@dataclass(frozen=True)
class Ladder:
    """Ordered levels (strictly increasing ``level``, unique ``acr``)."""

    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        problems = _structural_problems(self.levels)
        if problems:
            raise LadderError(problems)

    @property
    def acr_values(self) -> tuple[str, ...]:
        """Every acr value, lowest level first (``acr_values_supported``)."""
        return tuple(level.acr for level in self.levels)

    @property
    def lowest(self) -> Level:
        return self.levels[0]

    @property
    def highest(self) -> Level:
        return self.levels[-1]

    def __contains__(self, acr: object) -> bool:
        return self.get(acr) is not None

    def get(self, acr: object) -> Level | None:
        """The level for ``acr``, or None when the ladder does not know it."""
        for level in self.levels:
            if level.acr == acr:
                return level
        return None

    def with_lifetimes(self, overrides: Mapping[str, Lifetime]) -> Ladder:
        """A copy whose lifetimes are replaced per acr (a client's ``level_lifetimes``)."""
        if not overrides:
            return self
        return Ladder(
            tuple(
                replace(level, lifetime=overrides[level.acr]) if level.acr in overrides else level
                for level in self.levels
            )
        )

    def satisfies(
        self,
        acr: str,
        events: Sequence[Event],
        session: SessionState | None,
        now: int,
        *,
        allowed_aaguids: Sequence[str] = (),
        min_pin_length: int | None = None,
    ) -> bool:
        """Whether ``events`` satisfy ``acr`` at ``now`` (False for an unknown acr).

        ``session`` supplies ``last_active_at`` for idle lifetimes; without a
        session no idle bound is applied.
        """
        level = self.get(acr)
        if level is None:
            return False
        counted = counted_events(
            events, allowed_aaguids=allowed_aaguids, min_pin_length=min_pin_length
        )
        return level_holds(level, counted, session, now)

    def level_check(
        self,
        acr: str,
        events: Sequence[Event],
        session: SessionState | None,
        now: int,
        *,
        allowed_aaguids: Sequence[str] = (),
        min_pin_length: int | None = None,
    ) -> LevelCheck:
        """:meth:`satisfies` for ``events``, and for ``events`` plus each of many step-ups.

        ``level_check(...).holds()`` is ``satisfies(acr, events, ...)`` and
        ``.holds_adding(kind)`` is ``satisfies(acr, (*events, new), ...)`` where
        ``new`` is ``kind`` made at ``now``: what a step-up would reach.
        """
        return LevelCheck(
            self.get(acr),
            events,
            session,
            now,
            allowed_aaguids=allowed_aaguids,
            min_pin_length=min_pin_length,
        )

    def satisfied_levels(
        self,
        events: Sequence[Event],
        session: SessionState | None,
        now: int,
        *,
        allowed_aaguids: Sequence[str] = (),
        min_pin_length: int | None = None,
    ) -> tuple[Level, ...]:
        """Every level ``events`` satisfy at ``now``, lowest first."""
        counted = counted_events(
            events, allowed_aaguids=allowed_aaguids, min_pin_length=min_pin_length
        )
        return tuple(level for level in self.levels if level_holds(level, counted, session, now))

    def highest_satisfied(
        self,
        events: Sequence[Event],
        session: SessionState | None,
        now: int,
        *,
        allowed_aaguids: Sequence[str] = (),
        min_pin_length: int | None = None,
    ) -> Level | None:
        """The highest level ``events`` satisfy at ``now``, or None."""
        levels = self.satisfied_levels(
            events, session, now, allowed_aaguids=allowed_aaguids, min_pin_length=min_pin_length
        )
        return levels[-1] if levels else None


def _structural_problems(levels: Sequence[Level]) -> list[str]:
    problems: list[str] = []
    if not levels:
        problems.append("levels: a ladder needs at least one level")
    seen: set[str] = set()
    previous: int | None = None
    for index, level in enumerate(levels):
        if level.acr in seen:
            problems.append(f"levels[{index}].acr: duplicate acr {level.acr!r}")
        seen.add(level.acr)
        if previous is not None and level.level <= previous:
            problems.append(
                f"levels[{index}].level: levels must increase strictly "
                f"({level.level} follows {previous})"
            )
        previous = level.level
    return problems
