"""One rung of the ladder, and whether a session's events satisfy it at ``now``.

A :class:`Level` is an acr value with a rule (:mod:`provider.policy.ladder.rules`)
and an optional lifetime. Before its rule is asked, the events are counted for
the client (:func:`counted_events`: AAGUID allow-list, PIN minimum) and cut to
the lifetime: events older than the absolute bound drop out, and events followed
by an idle gap longer than the idle bound idle out unless a newer event revives
them (:func:`level_holds`). Lifetimes follow the session bounds of NIST SP
800-63B §7.2 (docs/security.md D29: "past them, the level drops and a step-up is
required").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Final

from provider.policy.ladder.rules import Rule
from provider.policy.model import Event, Lifetime, SessionState

__all__ = [
    "MAX_IDLED_EVENTS_SEARCHED",
    "Level",
    "counted_events",
    "event_counts",
    "idles_out",
    "level_holds",
    "revived",
]


@dataclass(frozen=True)
class Level:
    """One rung: ``acr`` value, its numeric ``level``, ``rule`` and optional ``lifetime``."""

    acr: str
    level: int
    rule: Rule
    lifetime: Lifetime | None = None
    description: str = ""


def counted_events(
    events: Iterable[Event],
    *,
    allowed_aaguids: Sequence[str] = (),
    min_pin_length: int | None = None,
) -> tuple[Event, ...]:
    """The events that count for a client.

    With an AAGUID allow-list only passkeys of those models count (an event
    without an AAGUID does not); with ``min_pin_length`` only PIN events of a
    recorded length at least that long count.
    """
    if not allowed_aaguids and min_pin_length is None:
        return tuple(events)  # the usual case: everything counts
    allowed = frozenset(a.lower() for a in allowed_aaguids)
    return tuple(event for event in events if event_counts(event, allowed, min_pin_length))


def event_counts(event: Event, allowed: frozenset[str], min_pin_length: int | None) -> bool:
    """Whether ``event`` counts (see :func:`counted_events`; ``allowed`` is lower-case)."""
    if (
        allowed
        and event.method == "passkey"
        and (event.aaguid is None or event.aaguid.lower() not in allowed)
    ):
        return False
    return not (
        min_pin_length is not None
        and event.method == "pin"
        and (event.pin_length is None or event.pin_length < min_pin_length)
    )


#: At most this many idled-out events are searched for a revival (2^n subsets).
MAX_IDLED_EVENTS_SEARCHED: Final = 10


def level_holds(
    level: Level, counted: Sequence[Event], session: SessionState | None, now: int
) -> bool:
    lifetime = level.lifetime
    if lifetime is None:
        return level.rule.holds(counted)
    if lifetime.absolute_seconds is not None:
        absolute = lifetime.absolute_seconds
        counted = [event for event in counted if now - event.at <= absolute]
    idle = lifetime.idle_seconds
    if idle is None or session is None:
        return level.rule.holds(counted)
    gaps = (*session.idle_gaps, (session.last_active_at, now))
    alive: list[Event] = []
    idled: list[Event] = []
    for event in counted:
        at = event.at
        for start, until in gaps:
            if start >= at and until - start > idle:
                idled.append(event)
                break
        else:
            alive.append(event)
    if not idled:
        return level.rule.holds(alive)
    return revived(level.rule, alive, idled)


def revived(rule: Rule, alive: Sequence[Event], idled: Sequence[Event]) -> bool:
    """Whether some set of events satisfying ``rule`` needs one of the ``alive`` events.

    Equivalently (rules are monotone): some subset T of the idled-out events
    has ``rule(T + alive)`` but not ``rule(T)``. T = {} covers "the new
    events satisfy the rule on their own".
    """
    if not alive or not rule.holds([*alive, *idled]):
        return False
    if rule.holds(alive):
        return True
    recent = sorted(idled, key=lambda event: event.at, reverse=True)[:MAX_IDLED_EVENTS_SEARCHED]
    for size in range(1, len(recent) + 1):
        for subset in combinations(recent, size):
            if rule.holds([*subset, *alive]) and not rule.holds(subset):
                return True
    return False


def idles_out(at: int, gaps: Sequence[tuple[int, int]], idle: int) -> bool:
    """Whether an event at ``at`` is followed by a gap longer than ``idle`` (level_holds)."""
    for start, until in gaps:  # noqa: SIM110 (a plain loop: any() costs a generator)
        if start >= at and until - start > idle:
            return True
    return False
