"""parse_requirement(): OIDC Core §3.1.2.1 / §5.5 parameters and client defaults."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provider.policy import (
    ClientPolicy,
    Requirement,
    RequirementError,
    default_ladder,
    parse_requirement,
)

LADDER = default_ladder()
A1, A2, PHR, PHRH = LADDER.acr_values


def parse(params: dict[str, Any], policy: ClientPolicy | None = None) -> Requirement:
    return parse_requirement(params, policy or ClientPolicy(), LADDER, transaction_started_at=7)


def claims(member: str = "id_token", **acr: Any) -> str:
    return json.dumps({member: {"acr": acr}})


@pytest.mark.parametrize(
    "max_age",
    [
        "-1",
        "abc",
        "1e309",
        "2^63",
        "9223372036854775808",
        "2147483648",
        " 5",
        "5 ",
        "",
        "+5",
        "5.0",
        "0x10",
        "1_000",
        "\u0665",  # ARABIC-INDIC DIGIT FIVE: str.isdigit() is True
        "\u00b2",
        "5\n",
        "1" * 5000,
    ],
)
def test_invalid_max_age(max_age: str) -> None:
    with pytest.raises(RequirementError) as info:
        parse({"max_age": max_age})
    assert info.value.error == "invalid_request"
    assert "max_age" in info.value.description


@pytest.mark.parametrize(
    ("max_age", "expected"),
    [("0", 0), ("1", 1), ("10000", 10000), ("007", 7), ("2147483647", 2**31 - 1)],
)
def test_valid_max_age(max_age: str, expected: int) -> None:
    requirement = parse({"max_age": max_age})
    assert requirement.max_age == expected


@pytest.mark.parametrize(
    "prompt",
    ["none login", "login none", "none consent", "none select_account", "create", "none bogus"],
)
def test_invalid_prompt(prompt: str) -> None:
    with pytest.raises(RequirementError) as info:
        parse({"prompt": prompt})
    assert info.value.error == "invalid_request"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("", frozenset()),
        ("none", {"none"}),
        ("login", {"login"}),
        ("login consent", {"login", "consent"}),
        ("select_account", {"select_account"}),
        ("consent  login", {"login", "consent"}),
    ],
)
def test_valid_prompt(prompt: str, expected: set[str]) -> None:
    assert parse({"prompt": prompt}).prompt == frozenset(expected)


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "{",
        "[]",
        '"acr"',
        "null",
        "1",
        "[" * 100_000,
        json.dumps({"id_token": []}),
        json.dumps({"id_token": "acr"}),
        json.dumps({"userinfo": 5}),
        json.dumps({"id_token": {"acr": "x"}}),
        json.dumps({"id_token": {"acr": []}}),
        claims(essential="true"),
        claims(essential=1),
        claims(value=5),
        claims(value=[A2]),
        claims(values=A2),
        claims(values=[A2, 5]),
        claims(values=None),
        claims(value=A2, values=[A2]),
        claims("userinfo", essential="yes"),
        json.dumps({"id_token": {"auth_time": {"essential": "true"}}}),
        json.dumps({"id_token": {"auth_time": 1}}),
    ],
)
def test_invalid_claims(value: str) -> None:
    with pytest.raises(RequirementError) as info:
        parse({"claims": value})
    assert info.value.error == "invalid_request"
    assert "claims" in info.value.description


def test_acr_values_preference_order_and_unknown_values() -> None:
    requirement = parse({"acr_values": f"{PHR}  urn:x:unknown {A2} {PHR}"})
    assert requirement.acr_values == (PHR, A2)
    assert requirement.unknown_acr_values == ("urn:x:unknown",)
    assert requirement.acr_source == "request"
    assert not requirement.essential_acr


def test_claims_essential_acr() -> None:
    requirement = parse({"claims": claims(essential=True, values=[PHRH, "urn:x:no", PHR])})
    assert requirement.essential_acr
    assert requirement.essential_acr_values == (PHRH, PHR)
    assert requirement.unknown_essential_acr_values == ("urn:x:no",)
    assert requirement.acr_values == ()


def test_claims_essential_single_value_in_userinfo() -> None:
    requirement = parse({"claims": claims("userinfo", essential=True, value=A2)})
    assert requirement.essential_acr_values == (A2,)


def test_claims_voluntary_acr_joins_acr_values() -> None:
    requirement = parse({"acr_values": A2, "claims": claims(values=[PHR, A2])})
    assert requirement.acr_values == (A2, PHR)
    assert not requirement.essential_acr


def test_claims_null_members_and_other_claims_ignored() -> None:
    value = json.dumps({"id_token": {"acr": None, "email": {"essential": True}}, "userinfo": None})
    requirement = parse({"claims": value})
    assert requirement == parse({})


def test_claims_auth_time_essential() -> None:
    requirement = parse({"claims": json.dumps({"id_token": {"auth_time": {"essential": True}}})})
    assert requirement.max_age is None


def test_client_defaults_merge() -> None:
    policy = ClientPolicy(default_acr_values=(A2,), default_max_age=300, require_auth_time=True)
    merged = parse({}, policy)
    assert merged.acr_values == (A2,)
    assert merged.acr_source == "default"
    assert merged.max_age == 300
    # Request values win, even a larger max_age (OIDC Registration: "overrides").
    explicit = parse({"acr_values": A1, "max_age": "900"}, policy)
    assert explicit.acr_values == (A1,)
    assert explicit.acr_source == "request"
    assert explicit.max_age == 900


def test_empty_parameters_count_as_absent() -> None:
    requirement = parse({"acr_values": "", "prompt": "", "claims": ""})
    assert requirement == Requirement(transaction_started_at=7)


def test_without_openid_scope() -> None:
    requirement = parse_requirement({"acr_values": A2, "max_age": "60"}, ClientPolicy(), LADDER)
    assert requirement.acr_values == (A2,)
    assert requirement.max_age == 60
    assert requirement.transaction_started_at is None


def test_non_string_parameter_is_invalid() -> None:
    with pytest.raises(RequirementError):
        parse({"max_age": 5})
