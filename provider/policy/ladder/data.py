"""The ladder's data form: JSON-compatible dicts and lists in, validated objects out.

What an admin edits (``belay ladder set``, the admin console, the REST API) and
what the ``settings`` table stores: :func:`ladder_from_data` reports every
problem with its path in one :class:`~provider.policy.errors.LadderError`, and
:func:`ladder_to_data` writes what it reads back. The shape is documented in
docs/acr.md; :mod:`provider.policy.ladder.defaults` holds the default ladder.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

from provider.policy.errors import LadderError
from provider.policy.ladder.ladder import Ladder
from provider.policy.ladder.levels import Level
from provider.policy.ladder.rules import (
    Condition,
    DistinctCategories,
    DistinctMethods,
    EventCondition,
    ExcludeKnowledgeOnly,
    MinEvents,
    Rule,
)
from provider.policy.model import CATEGORIES, METHODS, Lifetime

__all__ = [
    "LADDER_DATA_VERSION",
    "MAX_SECONDS",
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
