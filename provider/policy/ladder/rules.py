"""The rule language: conditions on a session's events, and rules built from them.

A level's rule (docs/design.md "The ladder"), stored as JSON-compatible data
(docs/acr.md; :mod:`provider.policy.ladder.data` reads and writes it)::

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
method whose event reaches the target, so
:class:`~provider.policy.ladder.level_check.LevelCheck` scans the session's
events once and then asks these tests, not the whole rule, per method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from provider.policy.model import KNOWLEDGE, Event, categories

__all__ = [
    "Condition",
    "DistinctCategories",
    "DistinctMethods",
    "EventCondition",
    "ExcludeKnowledgeOnly",
    "MinEvents",
    "PlusOne",
    "Rule",
]


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
