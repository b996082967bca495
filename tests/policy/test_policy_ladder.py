"""The ladder, its rule language and lifetimes; events and amr (RFC 8176)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provider.policy import (
    DEFAULT_LADDER_DATA,
    Event,
    LadderError,
    SessionState,
    auth_time_of,
    categories,
    default_ladder,
    default_ladder_data,
    event_for,
    ladder_from_data,
    ladder_to_data,
    session_amr,
)

LADDER = default_ladder()
NOW = 1_700_000_000
A1, A2, PHR, PHRH = LADDER.acr_values
YUBIKEY = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
ICLOUD = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"


def ev(method: str, **kwargs: Any) -> Event:
    return event_for(method, NOW - 10, **kwargs)


PK_HW_UV = ev("passkey", uv=True, backup_eligible=False, aaguid=YUBIKEY)
PK_SYNC_UV = ev("passkey", uv=True, backup_eligible=True, aaguid=ICLOUD)
PK_UNKNOWN_BE_UV = ev("passkey", uv=True)
PK_HW = ev("passkey", backup_eligible=False, aaguid=YUBIKEY)


@pytest.mark.parametrize(
    ("method", "kwargs", "amr", "cats"),
    [
        ("password", {}, ("pwd",), ("knowledge",)),
        ("pin", {}, ("pin",), ("knowledge",)),
        ("totp", {}, ("otp",), ("possession",)),
        ("backup_code", {}, ("otp",), ("possession",)),
        ("email_otp", {}, ("otp",), ("possession",)),
        ("sms_otp", {}, ("sms",), ("possession",)),
        ("passkey", {"backup_eligible": False}, ("hwk",), ("possession",)),
        ("passkey", {"backup_eligible": True}, ("swk",), ("possession",)),
        ("passkey", {}, ("swk",), ("possession",)),
        (
            "passkey",
            {"backup_eligible": False, "uv": True},
            ("hwk", "user"),
            ("possession", "user_verification"),
        ),
        ("passkey", {"uv": True}, ("swk", "user"), ("possession", "user_verification")),
    ],
)
def test_event_for_amr_and_categories(
    method: str, kwargs: dict[str, Any], amr: tuple[str, ...], cats: tuple[str, ...]
) -> None:
    event = event_for(method, NOW, **kwargs)
    assert event.amr == amr
    assert categories(event) == cats


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [("carrier_pigeon", {}), ("password", {"uv": True}), ("totp", {"aaguid": YUBIKEY})],
)
def test_event_for_rejects(method: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        event_for(method, NOW, **kwargs)


@pytest.mark.parametrize(
    ("events", "amr"),
    [
        ([ev("password")], ("pwd",)),
        ([ev("password"), ev("pin")], ("pwd", "pin")),
        ([ev("password"), ev("totp"), ev("password")], ("pwd", "otp", "mfa")),
        ([PK_HW_UV], ("hwk", "user", "mfa")),
        ([PK_HW], ("hwk",)),
        ([ev("pin"), PK_HW], ("pin", "hwk", "mfa")),
    ],
)
def test_session_amr(events: list[Event], amr: tuple[str, ...]) -> None:
    assert session_amr(events) == amr


def test_auth_time_is_latest_active_event() -> None:
    events = [event_for("password", 10), event_for("totp", 30, remembered=True)]
    assert auth_time_of(events) == 10
    assert auth_time_of([event_for("totp", 30, remembered=True)]) == 30
    assert auth_time_of([]) is None


def _highest(events: list[Event], **kwargs: Any) -> str | None:
    level = LADDER.highest_satisfied(events, None, NOW, **kwargs)
    return level.acr if level else None


@pytest.mark.parametrize(
    ("events", "kwargs", "expected"),
    [
        ([], {}, None),
        ([ev("password")], {}, A1),
        ([ev("pin")], {}, A1),
        ([ev("password"), ev("pin")], {}, A1),
        ([ev("password"), ev("password")], {}, A1),
        ([ev("password"), ev("totp")], {}, A2),
        ([ev("pin"), ev("backup_code")], {}, A2),
        ([ev("sms_otp"), ev("pin")], {}, A2),
        ([ev("email_otp"), ev("totp")], {}, A1),
        ([ev("pin"), PK_HW], {}, A2),
        ([PK_HW], {}, A1),
        ([PK_SYNC_UV], {}, PHR),
        ([PK_UNKNOWN_BE_UV], {}, PHR),
        ([PK_HW_UV], {}, PHRH),
        ([PK_SYNC_UV, ev("password")], {}, PHR),
        ([PK_HW_UV], {"allowed_aaguids": (ICLOUD,)}, None),
        ([PK_HW_UV, ev("password")], {"allowed_aaguids": (ICLOUD,)}, A1),
        ([PK_HW_UV], {"allowed_aaguids": (YUBIKEY.upper(),)}, PHRH),
        ([PK_UNKNOWN_BE_UV], {"allowed_aaguids": (YUBIKEY,)}, None),
        ([ev("pin", pin_length=4), ev("totp")], {"min_pin_length": 6}, A1),
        ([ev("pin", pin_length=6), ev("totp")], {"min_pin_length": 6}, A2),
        ([ev("pin"), ev("totp")], {"min_pin_length": 6}, A1),
    ],
)
def test_highest_satisfied(events: list[Event], kwargs: dict[str, Any], expected: str) -> None:
    assert _highest(events, **kwargs) == expected


def test_satisfied_levels_and_lookup() -> None:
    levels = LADDER.satisfied_levels([PK_HW_UV], None, NOW)
    assert [lvl.acr for lvl in levels] == [A1, A2, PHR, PHRH]
    assert PHR in LADDER
    assert "urn:nope" not in LADDER
    assert LADDER.get(A2) is not None
    assert LADDER.satisfies("urn:nope", [PK_HW_UV], None, NOW) is False


@pytest.mark.parametrize(
    ("idle", "age", "expected"),
    [
        (3600, 3600, A2),
        (3600, 86_400, A2),
        (3600, 86_401, A1),
        (3601, 3601, A1),
        (900, 1000, A2),
        (0, 100, A2),
    ],
)
def test_lifetimes_drop_the_level(idle: int, age: int, expected: str) -> None:
    """Idle: the gap since the last activity; absolute: the age of the events."""
    events = (event_for("password", NOW - age), event_for("totp", NOW - age))
    state = SessionState("u", events, created_at=NOW - age, last_active_at=NOW - idle)
    assert _at(state) == expected


def _at(state: SessionState) -> str | None:
    level = LADDER.highest_satisfied(state.events, state, NOW)
    return level.acr if level else None


def test_with_lifetimes_overrides_one_level() -> None:
    from provider.policy import Lifetime

    shorter = LADDER.with_lifetimes({A2: Lifetime(idle_seconds=None, absolute_seconds=60)})
    events = [event_for("password", NOW - 120), event_for("totp", NOW - 120)]
    assert shorter.highest_satisfied(events, None, NOW) is not None
    assert [lvl.acr for lvl in shorter.satisfied_levels(events, None, NOW)] == [A1]
    assert LADDER.with_lifetimes({}) is LADDER


def test_default_data_round_trips() -> None:
    assert ladder_to_data(LADDER) == DEFAULT_LADDER_DATA
    assert ladder_from_data(json.loads(json.dumps(DEFAULT_LADDER_DATA))) == LADDER
    copy = default_ladder_data()
    copy["levels"].pop()
    assert len(DEFAULT_LADDER_DATA["levels"]) == 4


def _data(**level_overrides: Any) -> dict[str, Any]:
    level = {"acr": "urn:x:a", "level": 1, "rule": [[{"min_events": 1}]]}
    level.update(level_overrides)
    return {"levels": [level]}


def test_rule_language_extensions() -> None:
    data = {
        "version": 1,
        "levels": [
            {"acr": "urn:x:any", "level": 0, "rule": [[{"min_events": 1}]]},
            {
                "acr": "urn:x:otp-or-pin",
                "level": 1,
                "rule": [[{"methods_any": ["pin", "totp"]}, {"exclude_knowledge_only": True}]],
            },
            {
                "acr": "urn:x:two-methods",
                "level": 2,
                "rule": [[{"distinct_methods": 2}, {"amr_any": ["otp"], "count": 2}]],
            },
            {
                "acr": "urn:x:yubikey",
                "level": 3,
                "description": "a YubiKey",
                "lifetime": {"idle_seconds": 60},
                "rule": [[{"aaguid_in": [YUBIKEY.upper()], "category": "possession"}]],
            },
        ],
    }
    ladder = ladder_from_data(data)
    assert ladder.lowest.acr == "urn:x:any"
    assert ladder.highest.acr == "urn:x:yubikey"
    sat = ladder.satisfied_levels
    assert [lvl.acr for lvl in sat([ev("pin")], None, NOW)] == ["urn:x:any"]
    assert [lvl.acr for lvl in sat([ev("pin"), ev("totp")], None, NOW)] == [
        "urn:x:any",
        "urn:x:otp-or-pin",
    ]
    assert "urn:x:two-methods" in [lvl.acr for lvl in sat([ev("totp"), ev("email_otp")], None, NOW)]
    assert ladder.satisfies("urn:x:yubikey", [PK_HW], None, NOW)
    assert not ladder.satisfies("urn:x:yubikey", [PK_SYNC_UV], None, NOW)
    assert ladder_from_data(ladder_to_data(ladder)) == ladder


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be an object"),
        ({}, "levels: must be a non-empty list"),
        ({"levels": []}, "levels: must be a non-empty list"),
        ({"levels": [], "extra": 1}, "unknown key(s) 'extra'"),
        ({"version": 2, "levels": _data()["levels"]}, "version: must be 1"),
        ({"levels": ["x"]}, "levels[0]: a level must be an object"),
        (_data(acr=""), "levels[0].acr"),
        (_data(acr="has space"), "levels[0].acr"),
        (_data(acr=5), "levels[0].acr"),
        (_data(level="1"), "levels[0].level: must be an integer"),
        (_data(level=True), "levels[0].level: must be an integer"),
        (_data(level=-1), "levels[0].level"),
        (_data(description=3), "levels[0].description"),
        (_data(colour="red"), "unknown key(s) 'colour'"),
        ({"levels": [{"acr": "a", "level": 1}]}, "levels[0]: missing rule"),
        (_data(rule=[]), "levels[0].rule: a rule is a non-empty list"),
        (_data(rule={"min_events": 1}), "levels[0].rule: a rule is a non-empty list"),
        (_data(rule=[[]]), "levels[0].rule[0]: an alternative is a non-empty list"),
        (_data(rule=[{"min_events": 1}]), "levels[0].rule[0]: an alternative"),
        (_data(rule=[[{}]]), "levels[0].rule[0][0]: a condition must be a non-empty object"),
        (_data(rule=[[{"max_events": 1}]]), "unknown condition key(s) 'max_events'"),
        (_data(rule=[[{"min_events": 0}]]), "min_events: must be an integer from 1 to 100"),
        (_data(rule=[[{"min_events": "1"}]]), "min_events: must be an integer"),
        (_data(rule=[[{"min_events": 1, "method": "pin"}]]), "must be the only key"),
        (_data(rule=[[{"distinct_categories": 4}]]), "at most 3 categories"),
        (_data(rule=[[{"exclude_knowledge_only": False}]]), "must be true"),
        (_data(rule=[[{"method": "fax"}]]), "method: must be one of"),
        (_data(rule=[[{"methods_any": ["pin", "fax"]}]]), "unknown value(s) 'fax'"),
        (_data(rule=[[{"methods_any": []}]]), "methods_any: must be a non-empty list"),
        (_data(rule=[[{"method": "passkey", "uv": "yes"}]]), "uv: must be true or false"),
        (_data(rule=[[{"backup_eligible": 0}]]), "backup_eligible: must be true or false"),
        (_data(rule=[[{"aaguid_in": ["not-a-uuid"]}]]), "AAGUIDs are UUIDs"),
        (_data(rule=[[{"category": "inherence"}]]), "category: must be one of"),
        (_data(rule=[[{"count": 2}]]), "needs at least one predicate"),
        (_data(rule=[[{"method": "pin", "count": 0}]]), "count: must be an integer"),
        (_data(lifetime=3600), "lifetime: must be null or an object"),
        (_data(lifetime={"idle": 1}), "unknown key(s) 'idle'"),
        (_data(lifetime={"idle_seconds": 0}), "idle_seconds: must be null or a number"),
        (_data(lifetime={"absolute_seconds": 2**31}), "absolute_seconds"),
        (
            {
                "levels": [
                    {"acr": "a", "level": 1, "rule": [[{"min_events": 1}]]},
                    {"acr": "a", "level": 2, "rule": [[{"min_events": 1}]]},
                ]
            },
            "duplicate acr 'a'",
        ),
        (
            {
                "levels": [
                    {"acr": "a", "level": 2, "rule": [[{"min_events": 1}]]},
                    {"acr": "b", "level": 2, "rule": [[{"min_events": 1}]]},
                ]
            },
            "levels must increase strictly",
        ),
    ],
)
def test_ladder_errors(data: Any, message: str) -> None:
    with pytest.raises(LadderError) as info:
        ladder_from_data(data)
    assert message in str(info.value)


def test_ladder_error_lists_every_problem() -> None:
    data = {
        "levels": [
            {"acr": "a b", "level": 1, "rule": [[{"min_events": 1}]]},
            {"acr": "c", "level": 0, "rule": [[{"what": 1}]]},
        ]
    }
    with pytest.raises(LadderError) as info:
        ladder_from_data(data)
    assert len(info.value.errors) == 2
