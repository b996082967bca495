"""The acr ladder: ordered levels, each an acr value with a rule and a lifetime.

Implements docs/design.md "The ladder" and the acr side of OpenID Connect Core 1.0
§2 (``acr``: "the Authentication Context Class that the authentication
performed satisfied") and RFC 9470 §3 (the acr values a resource server may
demand). Lifetimes follow the session bounds of NIST SP 800-63B §7.2
(docs/security.md D29: "past them, the level drops and a step-up is required").

Rule language (stored as JSON-compatible data, see docs/acr.md)::

    rule        = [alternative, ...]        # any-of: one alternative must hold
    alternative = [condition, ...]          # all-of: every condition must hold
    condition   = {"min_events": n}                    # at least n events
                | {"distinct_categories": n}           # events span n categories
                | {"distinct_methods": n}              # events use n methods
                | {"exclude_knowledge_only": true}     # not only password/PIN
                | {<event match>, "count": n?}         # n events (default 1) match

    event match keys (all given keys must hold for one event):
      "method": str, "methods_any": [str], "uv": bool, "backup_eligible": bool,
      "aaguid_in": [uuid], "category": str, "amr_any": [str]

Every condition is monotone: adding an event never makes it false, so adding
an event never lowers the level.

Each condition also answers ``plus_one(events)``: whether it holds for
``events`` plus one more event -- True (whatever the event), False (no single
event is enough) or a test of the event. A step-up offers every enrolled
method whose event reaches the target, so :class:`LevelCheck` scans the
session's events once and then asks these tests, not the whole rule, per method.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any, Final, TypeAlias

from provider.policy.errors import LadderError
from provider.policy.model import (
    CATEGORIES,
    KNOWLEDGE,
    METHODS,
    Event,
    Lifetime,
    SessionState,
    categories,
)

__all__ = [
    "DEFAULT_LADDER_DATA",
    "Condition",
    "DistinctCategories",
    "DistinctMethods",
    "EventCondition",
    "ExcludeKnowledgeOnly",
    "Ladder",
    "Level",
    "LevelCheck",
    "Lifetime",
    "MinEvents",
    "PlusOne",
    "Rule",
    "counted_events",
    "default_ladder",
    "default_ladder_data",
    "ladder_from_data",
    "ladder_to_data",
    "lifetime_from_data",
    "lifetime_to_data",
    "normalize_aaguid",
]

LADDER_DATA_VERSION: Final = 1
MAX_SECONDS: Final = 2**31 - 1
_AAGUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ACR = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, no spaces: acr_values is space-separated


def normalize_aaguid(value: object) -> str | None:
    """The canonical lower-case ``8-4-4-4-12`` form of an AAGUID, or None if malformed."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if _AAGUID.fullmatch(text) else None


# --- conditions ---------------------------------------------------------------


@dataclass(frozen=True)
class MinEvents:
    """At least ``count`` events."""

    count: int

    def holds(self, events: Sequence[Event]) -> bool:
        return len(events) >= self.count

    def plus_one(self, events: Sequence[Event]) -> PlusOne:
        return len(events) + 1 >= self.count

    def to_data(self) -> dict[str, Any]:
        return {"min_events": self.count}


@dataclass(frozen=True)
class DistinctCategories:
    """The events span at least ``count`` factor categories."""

    count: int

    def holds(self, events: Sequence[Event]) -> bool:
        count = self.count
        found: set[str] = set()
        for event in events:
            found.update(categories(event))
            if len(found) >= count:
                return True
        return len(found) >= count

    def plus_one(self, events: Sequence[Event]) -> PlusOne:
        count = self.count
        found: set[str] = set()
        for event in events:
            found.update(categories(event))
        if len(found) >= count:
            return True
        return lambda event: len(found.union(categories(event))) >= count

    def to_data(self) -> dict[str, Any]:
        return {"distinct_categories": self.count}


@dataclass(frozen=True)
class DistinctMethods:
    """The events use at least ``count`` different methods."""

    count: int

    def holds(self, events: Sequence[Event]) -> bool:
        return len({event.method for event in events}) >= self.count

    def plus_one(self, events: Sequence[Event]) -> PlusOne:
        methods = {event.method for event in events}
        missing = self.count - len(methods)
        if missing <= 0:
            return True
        if missing > 1:
            return False  # one event adds at most one method
        return lambda event: event.method not in methods

    def to_data(self) -> dict[str, Any]:
        return {"distinct_methods": self.count}


@dataclass(frozen=True)
class ExcludeKnowledgeOnly:
    """At least one event proves something other than knowledge."""

    def holds(self, events: Sequence[Event]) -> bool:
        return any(cat != KNOWLEDGE for event in events for cat in categories(event))

    def plus_one(self, events: Sequence[Event]) -> PlusOne:
        if self.holds(events):
            return True
        return lambda event: self.holds((event,))

    def to_data(self) -> dict[str, Any]:
        return {"exclude_knowledge_only": True}


@dataclass(frozen=True)
class EventCondition:
    """At least ``count`` events each matching every given (non-None) predicate."""

    method: str | None = None
    methods_any: tuple[str, ...] | None = None
    uv: bool | None = None
    backup_eligible: bool | None = None
    aaguid_in: tuple[str, ...] | None = None
    category: str | None = None
    amr_any: tuple[str, ...] | None = None
    count: int = 1

    def matches(self, event: Event) -> bool:
        if self.method is not None and event.method != self.method:
            return False
        if self.methods_any is not None and event.method not in self.methods_any:
            return False
        if self.uv is not None and event.uv is not self.uv:
            return False
        # Exact match: an unknown BE flag (None) is neither device-bound nor synced.
        if self.backup_eligible is not None and event.backup_eligible is not self.backup_eligible:
            return False
        if self.aaguid_in is not None and (
            event.aaguid is None or event.aaguid.lower() not in self.aaguid_in
        ):
            return False
        if self.category is not None and self.category not in categories(event):
            return False
        return self.amr_any is None or any(value in self.amr_any for value in event.amr)

    def holds(self, events: Sequence[Event]) -> bool:
        # A plain loop that stops at ``count`` matches, not sum() over a generator.
        count = self.count
        found = 0
        for event in events:
            if self.matches(event):
                found += 1
                if found >= count:
                    return True
        return found >= count

    def plus_one(self, events: Sequence[Event]) -> PlusOne:
        missing = self.count
        for event in events:
            if self.matches(event):
                missing -= 1
        if missing <= 0:
            return True
        if missing > 1:
            return False  # one event is one match at most
        return self.matches

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.method is not None:
            data["method"] = self.method
        if self.methods_any is not None:
            data["methods_any"] = list(self.methods_any)
        if self.uv is not None:
            data["uv"] = self.uv
        if self.backup_eligible is not None:
            data["backup_eligible"] = self.backup_eligible
        if self.aaguid_in is not None:
            data["aaguid_in"] = list(self.aaguid_in)
        if self.category is not None:
            data["category"] = self.category
        if self.amr_any is not None:
            data["amr_any"] = list(self.amr_any)
        if self.count != 1:
            data["count"] = self.count
        return data


Condition: TypeAlias = (
    MinEvents | DistinctCategories | DistinctMethods | ExcludeKnowledgeOnly | EventCondition
)
#: A condition's answer for "these events plus one more": True, False, or a test of the event.
PlusOne: TypeAlias = bool | Callable[[Event], bool]


@dataclass(frozen=True)
class Rule:
    """Any-of ``alternatives``; each alternative is all-of its conditions."""

    alternatives: tuple[tuple[Condition, ...], ...]

    def holds(self, events: Sequence[Event]) -> bool:
        # Plain loops, not any(all(...)): this runs for every level decide() checks.
        for alternative in self.alternatives:
            for condition in alternative:
                if not condition.holds(events):
                    break
            else:
                return True
        return False

    def plus_one(self, events: Sequence[Event]) -> tuple[tuple[Callable[[Event], bool], ...], ...]:
        """The alternatives that one more event could complete, each as the tests that event
        must pass (conditions it meets whatever the event are left out, so an empty
        alternative means any event does): ``rule(events + [e])`` is whether ``e`` passes
        every test of some alternative.
        """
        result: list[tuple[Callable[[Event], bool], ...]] = []
        for alternative in self.alternatives:
            tests: list[Callable[[Event], bool]] = []
            for condition in alternative:
                answer = condition.plus_one(events)
                if answer is False:
                    break
                if answer is not True:
                    tests.append(answer)
            else:
                result.append(tuple(tests))
        return tuple(result)

    def to_data(self) -> list[list[dict[str, Any]]]:
        return [[condition.to_data() for condition in alt] for alt in self.alternatives]


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
    return tuple(event for event in events if _counts(event, allowed, min_pin_length))


def _counts(event: Event, allowed: frozenset[str], min_pin_length: int | None) -> bool:
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
        return _level_holds(level, counted, session, now)

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
        return tuple(level for level in self.levels if _level_holds(level, counted, session, now))

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


#: At most this many idled-out events are searched for a revival (2^n subsets).
MAX_IDLED_EVENTS_SEARCHED: Final = 10


def _level_holds(
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
    return _revived(level.rule, alive, idled)


def _revived(rule: Rule, alive: Sequence[Event], idled: Sequence[Event]) -> bool:
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


_EMPTY: Final[frozenset[str]] = frozenset()


class LevelCheck:
    """One level checked for a session's events, alone or with one step-up added.

    Built by :meth:`Ladder.level_check`. :meth:`holds` answers what
    :meth:`Ladder.satisfies` answers for the events; :meth:`holds_adding` what
    it answers for the events plus one new event made at ``now`` (a step-up
    with one enrolled factor). The events are counted, cut to the level's
    absolute lifetime and split into alive / idled-out once, here (where
    :func:`_level_holds` does it on every call), so each of the many
    candidates costs only the tests of :meth:`Rule.plus_one`. Lives as long
    as one :func:`~provider.policy.engine.decide` call.
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
        # The same steps as _level_holds.
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
            if _idles_out(event.at, gaps, idle):
                self._idled.append(event)
            else:
                self._alive.append(event)
        self._new_idles_out = _idles_out(now, gaps, idle)

    def holds(self) -> bool:
        """Whether the events satisfy the level (memoised)."""
        if self._base is None:
            assert self._rule is not None  # set whenever the level is known
            if self._idled:
                self._base = _revived(self._rule, self._alive, self._idled)
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
        if self._filtered and not _counts(kind, self._allowed, self._min_pin_length):
            return self.holds()  # the new event does not count: the events alone
        if self._new_too_old:
            return self.holds()
        if self._new_idles_out:
            return _revived(rule, self._alive, [*self._idled, replace(kind, at=self._now)])
        # The new event is alive. Rules are monotone, so adding an alive event
        # keeps a level that held: with nothing idled out, rule(alive) implies
        # rule(alive + new); with a revival, the same idled subset still works
        # (the idled list, hence the subsets searched, is unchanged).
        if self.holds():
            return True
        if self._idled:
            return _revived(rule, [*self._alive, replace(kind, at=self._now)], self._idled)
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


def _idles_out(at: int, gaps: Sequence[tuple[int, int]], idle: int) -> bool:
    """Whether an event at ``at`` is followed by a gap longer than ``idle`` (_level_holds)."""
    for start, until in gaps:  # noqa: SIM110 (a plain loop: any() costs a generator)
        if start >= at and until - start > idle:
            return True
    return False


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


# --- data form ----------------------------------------------------------------

_AGGREGATE_KEYS: Final = ("min_events", "distinct_categories", "distinct_methods")
_EVENT_KEYS: Final = (
    "method",
    "methods_any",
    "uv",
    "backup_eligible",
    "aaguid_in",
    "category",
    "amr_any",
    "count",
)
_LEVEL_KEYS: Final = ("acr", "level", "rule", "lifetime", "description")
_LIFETIME_KEYS: Final = ("idle_seconds", "absolute_seconds")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_list(
    value: object, path: str, errors: list[str], *, allowed: Sequence[str] | None = None
) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        errors.append(f"{path}: must be a non-empty list of strings")
        return None
    items = tuple(str(v) for v in value)
    if allowed is not None:
        unknown = [v for v in items if v not in allowed]
        if unknown:
            errors.append(
                f"{path}: unknown value(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(allowed)}"
            )
            return None
    return items


def _condition_from_data(data: object, path: str, errors: list[str]) -> Condition | None:
    if not isinstance(data, dict) or not data:
        errors.append(f"{path}: a condition must be a non-empty object")
        return None
    keys = list(data)
    aggregate = [k for k in keys if k in (*_AGGREGATE_KEYS, "exclude_knowledge_only")]
    unknown = [k for k in keys if k not in _AGGREGATE_KEYS and k not in _EVENT_KEYS]
    unknown = [k for k in unknown if k != "exclude_knowledge_only"]
    if unknown:
        errors.append(
            f"{path}: unknown condition key(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join((*_AGGREGATE_KEYS, 'exclude_knowledge_only', *_EVENT_KEYS))}"
        )
        return None
    if aggregate:
        if len(keys) != 1:
            errors.append(
                f"{path}: {aggregate[0]!r} must be the only key of its condition "
                "(put each condition in its own object)"
            )
            return None
        key = aggregate[0]
        value = data[key]
        if key == "exclude_knowledge_only":
            if value is not True:
                errors.append(f"{path}.exclude_knowledge_only: must be true")
                return None
            return ExcludeKnowledgeOnly()
        if not _is_int(value) or not 1 <= value <= 100:
            errors.append(f"{path}.{key}: must be an integer from 1 to 100")
            return None
        count = int(value)
        if key == "min_events":
            return MinEvents(count)
        if key == "distinct_categories":
            if count > len(CATEGORIES):
                errors.append(
                    f"{path}.distinct_categories: at most {len(CATEGORIES)} categories exist"
                )
                return None
            return DistinctCategories(count)
        return DistinctMethods(count)
    return _event_condition_from_data(data, path, errors)


def _event_condition_from_data(
    data: dict[Any, Any], path: str, errors: list[str]
) -> EventCondition | None:
    before = len(errors)
    if set(data) == {"count"}:
        errors.append(f"{path}: an event match needs at least one predicate besides 'count'")
        return None
    method = data.get("method")
    if "method" in data and (not isinstance(method, str) or method not in METHODS):
        errors.append(f"{path}.method: must be one of {', '.join(METHODS)}")
    methods_any = (
        _str_list(data["methods_any"], f"{path}.methods_any", errors, allowed=METHODS)
        if "methods_any" in data
        else None
    )
    for key in ("uv", "backup_eligible"):
        if key in data and not isinstance(data[key], bool):
            errors.append(f"{path}.{key}: must be true or false")
    aaguid_in: tuple[str, ...] | None = None
    if "aaguid_in" in data:
        raw = _str_list(data["aaguid_in"], f"{path}.aaguid_in", errors)
        if raw is not None:
            normalized = [normalize_aaguid(v) for v in raw]
            if any(v is None for v in normalized):
                errors.append(f"{path}.aaguid_in: AAGUIDs are UUIDs like 'xxxxxxxx-xxxx-…'")
            else:
                aaguid_in = tuple(v for v in normalized if v is not None)
    category = data.get("category")
    if "category" in data and (not isinstance(category, str) or category not in CATEGORIES):
        errors.append(f"{path}.category: must be one of {', '.join(CATEGORIES)}")
    amr_any = _str_list(data["amr_any"], f"{path}.amr_any", errors) if "amr_any" in data else None
    count = data.get("count", 1)
    if not _is_int(count) or not 1 <= count <= 100:
        errors.append(f"{path}.count: must be an integer from 1 to 100")
    if len(errors) != before:
        return None
    return EventCondition(
        method=method if isinstance(method, str) else None,
        methods_any=methods_any,
        uv=data.get("uv"),
        backup_eligible=data.get("backup_eligible"),
        aaguid_in=aaguid_in,
        category=category if isinstance(category, str) else None,
        amr_any=amr_any,
        count=int(count),
    )


def _rule_from_data(data: object, path: str, errors: list[str]) -> Rule | None:
    if not isinstance(data, list) or not data:
        errors.append(
            f"{path}: a rule is a non-empty list of alternatives, "
            "each a non-empty list of conditions"
        )
        return None
    before = len(errors)
    alternatives: list[tuple[Condition, ...]] = []
    for a_index, alternative in enumerate(data):
        a_path = f"{path}[{a_index}]"
        if not isinstance(alternative, list) or not alternative:
            errors.append(f"{a_path}: an alternative is a non-empty list of conditions")
            continue
        conditions = [
            _condition_from_data(condition, f"{a_path}[{c_index}]", errors)
            for c_index, condition in enumerate(alternative)
        ]
        alternatives.append(tuple(c for c in conditions if c is not None))
    if len(errors) != before:
        return None
    return Rule(tuple(alternatives))


def lifetime_from_data(data: object, path: str = "lifetime") -> Lifetime | None:
    """Parse ``null`` or ``{"idle_seconds": int|null, "absolute_seconds": int|null}``.

    Raises :class:`LadderError` with the problems found.
    """
    errors: list[str] = []
    result = _lifetime_from_data(data, path, errors)
    if errors:
        raise LadderError(errors)
    return result


def _lifetime_from_data(data: object, path: str, errors: list[str]) -> Lifetime | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        errors.append(f"{path}: must be null or an object with idle_seconds/absolute_seconds")
        return None
    unknown = [k for k in data if k not in _LIFETIME_KEYS]
    if unknown:
        errors.append(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(_LIFETIME_KEYS)}"
        )
        return None
    values: dict[str, int | None] = {}
    for key in _LIFETIME_KEYS:
        value = data.get(key)
        if value is not None and (not _is_int(value) or not 1 <= value <= MAX_SECONDS):
            errors.append(f"{path}.{key}: must be null or a number of seconds from 1 to 2^31-1")
            return None
        values[key] = value
    return Lifetime(values["idle_seconds"], values["absolute_seconds"])


def lifetime_to_data(lifetime: Lifetime | None) -> dict[str, Any] | None:
    """The data form of ``lifetime`` (``None`` stays ``None``)."""
    if lifetime is None:
        return None
    return {"idle_seconds": lifetime.idle_seconds, "absolute_seconds": lifetime.absolute_seconds}


def ladder_from_data(data: object) -> Ladder:
    """Load and validate ladder data (see :data:`DEFAULT_LADDER_DATA` for the shape).

    Raises :class:`LadderError` listing every problem with its path.
    """
    errors: list[str] = []
    if not isinstance(data, dict):
        raise LadderError(['ladder: must be an object {"version": 1, "levels": [...]}'])
    unknown = [k for k in data if k not in ("version", "levels")]
    if unknown:
        errors.append(
            f"ladder: unknown key(s) {', '.join(map(repr, unknown))}; known: version, levels"
        )
    version = data.get("version", LADDER_DATA_VERSION)
    if version != LADDER_DATA_VERSION or not _is_int(version):
        errors.append(f"version: must be {LADDER_DATA_VERSION}")
    raw_levels = data.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        errors.append("levels: must be a non-empty list of levels")
        raise LadderError(errors)
    levels: list[Level] = []
    for index, raw in enumerate(raw_levels):
        level = _level_from_data(raw, f"levels[{index}]", errors)
        if level is not None:
            levels.append(level)
    if errors:
        raise LadderError(errors)
    return Ladder(tuple(levels))


def _level_from_data(raw: object, path: str, errors: list[str]) -> Level | None:
    if not isinstance(raw, dict):
        errors.append(f"{path}: a level must be an object with acr, level and rule")
        return None
    before = len(errors)
    unknown = [k for k in raw if k not in _LEVEL_KEYS]
    if unknown:
        errors.append(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(_LEVEL_KEYS)}"
        )
    missing = [k for k in ("acr", "level", "rule") if k not in raw]
    if missing:
        errors.append(f"{path}: missing {', '.join(missing)}")
        return None
    acr = raw["acr"]
    if not isinstance(acr, str) or not _ACR.fullmatch(acr):
        errors.append(f"{path}.acr: must be 1-255 visible ASCII characters without spaces")
    number = raw["level"]
    if not _is_int(number) or not 0 <= number <= 1000:
        errors.append(f"{path}.level: must be an integer from 0 to 1000")
    description = raw.get("description", "")
    if not isinstance(description, str):
        errors.append(f"{path}.description: must be a string")
    lifetime = _lifetime_from_data(raw.get("lifetime"), f"{path}.lifetime", errors)
    rule = _rule_from_data(raw["rule"], f"{path}.rule", errors)
    if len(errors) != before or rule is None:
        return None
    return Level(
        acr=str(acr),
        level=int(number),
        rule=rule,
        lifetime=lifetime,
        description=str(description),
    )


def ladder_to_data(ladder: Ladder) -> dict[str, Any]:
    """The JSON-compatible form of ``ladder``; ``ladder_from_data`` reads it back."""
    return {
        "version": LADDER_DATA_VERSION,
        "levels": [
            {
                "acr": level.acr,
                "level": level.level,
                "description": level.description,
                "lifetime": lifetime_to_data(level.lifetime),
                "rule": level.rule.to_data(),
            }
            for level in ladder.levels
        ],
    }


#: The default ladder as data; the storage layer seeds it. Treat it as read-only
#: (``default_ladder_data()`` returns a copy to edit).
DEFAULT_LADDER_DATA: Final[dict[str, Any]] = {
    "version": LADDER_DATA_VERSION,
    "levels": [
        {
            "acr": "urn:belay:acr:1fa",
            "level": 1,
            "description": "One authentication factor: any single event.",
            # No level lifetime: the session's own bounds apply.
            "lifetime": None,
            "rule": [[{"min_events": 1}]],
        },
        {
            "acr": "urn:belay:acr:2fa",
            "level": 2,
            "description": (
                "Two factors from different categories (never two knowledge factors), "
                "or one passkey with user verification."
            ),
            "lifetime": {"idle_seconds": 3600, "absolute_seconds": 86400},
            "rule": [[{"distinct_categories": 2}], [{"method": "passkey", "uv": True}]],
        },
        {
            "acr": "urn:belay:acr:phr",
            "level": 3,
            "description": "Phishing-resistant: a passkey with user verification.",
            "lifetime": {"idle_seconds": 900, "absolute_seconds": 43200},
            "rule": [[{"method": "passkey", "uv": True}]],
        },
        {
            "acr": "urn:belay:acr:phrh",
            "level": 4,
            "description": (
                "Phishing-resistant, hardware-bound: a device-bound passkey "
                "(backup-eligible flag clear) with user verification."
            ),
            "lifetime": {"idle_seconds": 900, "absolute_seconds": 43200},
            "rule": [[{"method": "passkey", "uv": True, "backup_eligible": False}]],
        },
    ],
}


def default_ladder_data() -> dict[str, Any]:
    """A fresh, mutable copy of :data:`DEFAULT_LADDER_DATA` (plain dicts and lists)."""
    return copy.deepcopy(DEFAULT_LADDER_DATA)


def default_ladder() -> Ladder:
    """The default ladder: 1fa < 2fa < phr < phrh (docs/design.md, "The ladder")."""
    return ladder_from_data(default_ladder_data())
