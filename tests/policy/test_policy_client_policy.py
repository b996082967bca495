"""Per-client policy: dict form, validation messages, CLI KEY=VALUE assignments."""

from __future__ import annotations

import json
from typing import Any

import pytest

from provider.policy import (
    ClientPolicy,
    Lifetime,
    PolicyValidationError,
    client_policy_from_assignments,
    client_policy_from_dict,
    client_policy_to_dict,
    default_ladder,
)

LADDER = default_ladder()
A1, A2, PHR, PHRH = LADDER.acr_values
YUBIKEY = "cb69481e-8ff7-4039-93ec-0a2729a154a8"

FULL = {
    "minimum_acr": A2,
    "default_acr_values": [PHR, A2],
    "default_max_age": 120,
    "require_auth_time": True,
    "acr_enforcement": "voluntary",
    "step_up_methods": ["passkey", "totp"],
    "passkey_user_verification": "preferred",
    "allowed_aaguids": [YUBIKEY],
    "min_pin_length": 8,
    "level_lifetimes": {A2: {"idle_seconds": 600, "absolute_seconds": 3600}},
    "remember_device_days": 30,
    "pin_login": True,
    "passwordless_login": True,
}


def test_defaults() -> None:
    policy = client_policy_from_dict({}, LADDER)
    assert policy == ClientPolicy()
    assert policy.acr_enforcement == "strict"
    assert policy.passkey_user_verification == "required"
    assert client_policy_to_dict(policy) == {
        "minimum_acr": None,
        "default_acr_values": [],
        "default_max_age": None,
        "require_auth_time": False,
        "acr_enforcement": "strict",
        "step_up_methods": [],
        "passkey_user_verification": "required",
        "allowed_aaguids": [],
        "min_pin_length": None,
        "level_lifetimes": {},
        "remember_device_days": 0,
        "pin_login": False,
        "passwordless_login": False,
    }


def test_round_trip() -> None:
    policy = client_policy_from_dict(FULL, LADDER)
    assert policy.level_lifetimes[A2] == Lifetime(600, 3600)
    assert policy.default_acr_values == (PHR, A2)
    dumped = client_policy_to_dict(policy)
    assert dumped == FULL
    assert client_policy_from_dict(json.loads(json.dumps(dumped)), LADDER) == policy


def test_partial_update_keeps_base() -> None:
    base = client_policy_from_dict(FULL, LADDER)
    updated = client_policy_from_dict({"default_max_age": None}, LADDER, base=base)
    assert updated.default_max_age is None
    assert updated.minimum_acr == A2


def test_aaguids_normalized() -> None:
    policy = client_policy_from_dict({"allowed_aaguids": [YUBIKEY.upper()]}, LADDER)
    assert policy.allowed_aaguids == (YUBIKEY,)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("minimum_acr", "urn:x", "must be null or one of the ladder's acr values"),
        ("minimum_acr", 2, "must be null or one of"),
        ("default_acr_values", A2, "must be a list of acr values"),
        ("default_acr_values", ["urn:x"], "unknown acr value(s) 'urn:x'"),
        ("default_acr_values", [A2, A2], "more than once"),
        ("default_max_age", -1, "must be null or a number of seconds"),
        ("default_max_age", 2**31, "must be null or a number of seconds"),
        ("default_max_age", "60", "must be null or a number of seconds"),
        ("default_max_age", True, "must be null or a number of seconds"),
        ("require_auth_time", "yes", "must be true or false"),
        ("acr_enforcement", "lenient", "must be one of strict, voluntary"),
        ("step_up_methods", ["fax"], "unknown method(s) 'fax'"),
        ("step_up_methods", "totp", "must be a list of method names"),
        ("passkey_user_verification", "always", "must be one of required"),
        ("allowed_aaguids", ["yubikey"], "is not an AAGUID"),
        ("allowed_aaguids", [YUBIKEY, YUBIKEY.upper()], "more than once"),
        ("min_pin_length", 3, "must be null or an integer from 4 to 64"),
        ("min_pin_length", 6.0, "must be null or an integer"),
        ("level_lifetimes", [], "must be an object"),
        ("level_lifetimes", {"urn:x": {"idle_seconds": 1}}, "unknown acr value 'urn:x'"),
        ("level_lifetimes", {A2: {"idle_seconds": -5}}, "idle_seconds"),
        ("level_lifetimes", {A2: {"idle": 5}}, "unknown key(s) 'idle'"),
        ("level_lifetimes", {A2: None}, "must be an object, not null"),
        ("remember_device_days", -1, "must be a number of days from 0 (off) to 365"),
        ("remember_device_days", 366, "from 0 (off) to 365"),
        ("remember_device_days", None, "must be a number of days"),
        ("remember_device_days", True, "must be a number of days"),
        ("pin_login", "yes", "must be true or false"),
        ("passwordless_login", 1, "must be true or false"),
        ("colour", "red", "unknown field"),
    ],
)
def test_validation_messages(field: str, value: Any, message: str) -> None:
    with pytest.raises(PolicyValidationError) as info:
        client_policy_from_dict({field: value}, LADDER)
    assert list(info.value.errors) == [field]
    assert message in info.value.errors[field]


def test_every_error_reported_at_once() -> None:
    with pytest.raises(PolicyValidationError) as info:
        client_policy_from_dict(
            {"minimum_acr": "x", "default_max_age": -1, "oops": 1, "min_pin_length": 100}, LADDER
        )
    assert set(info.value.errors) == {"minimum_acr", "default_max_age", "oops", "min_pin_length"}


def test_assignments() -> None:
    policy = client_policy_from_assignments(
        [
            f"minimum_acr={A2}",
            f"default_acr_values={PHR}, {A2}",
            "default_max_age=120",
            "require_auth_time=yes",
            "acr_enforcement=voluntary",
            'step_up_methods=["passkey","totp"]',
            "passkey_user_verification=preferred",
            f"allowed_aaguids={YUBIKEY}",
            "min_pin_length=8",
            "level_lifetimes=" + json.dumps(FULL["level_lifetimes"]),
            "remember_device_days=30",
            "pin_login=yes",
            "passwordless_login=on",
        ],
        LADDER,
    )
    assert client_policy_to_dict(policy) == FULL


def test_assignments_clear_and_update_base() -> None:
    base = client_policy_from_dict(FULL, LADDER)
    policy = client_policy_from_assignments(
        ["minimum_acr=none", "default_max_age=null", "step_up_methods=", "level_lifetimes={}"],
        LADDER,
        base=base,
    )
    assert policy.minimum_acr is None
    assert policy.default_max_age is None
    assert policy.step_up_methods == ()
    assert dict(policy.level_lifetimes) == {}
    assert policy.min_pin_length == 8


@pytest.mark.parametrize(
    ("assignment", "key", "message"),
    [
        ("minimum_acr", "minimum_acr", "expected KEY=VALUE"),
        ("=5", "=5", "expected KEY=VALUE"),
        ("colour=red", "colour", "unknown field"),
        ("default_max_age=soon", "default_max_age", "whole number"),
        ("default_max_age=-5", "default_max_age", "whole number"),
        ("require_auth_time=maybe", "require_auth_time", "true or false"),
        ("step_up_methods=[oops", "step_up_methods", "not valid JSON"),
        ("level_lifetimes={bad", "level_lifetimes", "not valid JSON"),
        ("minimum_acr=urn:x", "minimum_acr", "one of the ladder's acr values"),
        ("step_up_methods=totp,fax", "step_up_methods", "unknown method(s) 'fax'"),
    ],
)
def test_assignment_errors(assignment: str, key: str, message: str) -> None:
    with pytest.raises(PolicyValidationError) as info:
        client_policy_from_assignments([assignment], LADDER)
    assert message in info.value.errors[key]


def test_policy_is_immutable() -> None:
    policy = ClientPolicy(level_lifetimes={A2: Lifetime(1, 2)})
    with pytest.raises(TypeError):
        policy.level_lifetimes[A2] = Lifetime(3, 4)  # type: ignore[index]


def test_login_and_device_fields_default_off_and_assign() -> None:
    policy = client_policy_from_dict({}, LADDER)
    assert (policy.remember_device_days, policy.pin_login, policy.passwordless_login) == (
        0,
        False,
        False,
    )
    base = client_policy_from_dict({"remember_device_days": 7, "pin_login": True}, LADDER)
    updated = client_policy_from_assignments(["remember_device_days=off"], LADDER, base=base)
    assert updated.remember_device_days == 0 and updated.pin_login is True
    with pytest.raises(PolicyValidationError) as info:
        client_policy_from_assignments(["remember_device_days=week", "pin_login=maybe"], LADDER)
    assert set(info.value.errors) == {"remember_device_days", "pin_login"}
