"""What one client may count (docs/security.md cases 47 and 48), in the pure engine.

- Case 47: an event replayed from a remembered browser exists only for a client
  that accepts remembered browsers (``remember_device_days > 0``, within its own
  days): for any other client it is no acr, no ``amr``, no ``auth_time``.
- Case 48: ``max_age`` is met only by an event of a method the client accepts
  (its ``step_up_methods``, ``min_pin_length``, passkey UV rule and AAGUID
  allow-list), and the client's ``auth_time`` is the latest such event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provider.policy import (
    METHODS,
    ClientPolicy,
    Decision,
    EnrolledMethod,
    Event,
    Login,
    Satisfied,
    SessionState,
    StepUp,
    accepts_event,
    client_auth_time,
    decide,
    default_ladder,
    event_for,
    parse_requirement,
)

LADDER = default_ladder()
A1 = "urn:belay:acr:1fa"
A2 = "urn:belay:acr:2fa"
PHR = "urn:belay:acr:phr"
NOW = 1_700_000_000
STARTED = NOW - 1
YUBIKEY = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
ICLOUD = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"
DAY = 86_400

ALL = (
    EnrolledMethod("password"),
    EnrolledMethod("pin", pin_length=6),
    EnrolledMethod("totp"),
    EnrolledMethod("passkey", credential_id="hw", backup_eligible=False, aaguid=YUBIKEY),
    EnrolledMethod("backup_code"),
)
TOTP_OR_PASSKEY = {"step_up_methods": ("totp", "passkey")}


def pwd(at: int) -> Event:
    return event_for("password", at)


def totp(at: int, *, remembered: bool = False) -> Event:
    return event_for("totp", at, remembered=remembered)


def pin(at: int, length: int | None = 6) -> Event:
    return event_for("pin", at, pin_length=length)


def pk(at: int, *, uv: bool = True, aaguid: str = YUBIKEY) -> Event:
    return event_for("passkey", at, uv=uv, backup_eligible=False, aaguid=aaguid)


def run(params: Mapping[str, str], policy: Mapping[str, Any], events: Sequence[Event]) -> Decision:
    client = ClientPolicy(**policy)
    requirement = parse_requirement(params, client, LADDER, transaction_started_at=STARTED)
    state = SessionState(
        "u1", tuple(events), created_at=min(e.at for e in events), last_active_at=NOW - 5
    )
    return decide(requirement, client, LADDER, state, ALL, NOW)


def summary(decision: Decision) -> tuple[Any, ...]:
    if isinstance(decision, Satisfied):
        return ("ok", decision.acr, decision.amr, decision.auth_time)
    if isinstance(decision, StepUp):
        return ("step", decision.target_acr, decision.methods, decision.reason)
    if isinstance(decision, Login):
        return ("login", decision.reason)
    return ("fail", decision.error, decision.reason)


ROWS = [
    # --- case 47: replays exist only for clients accepting remembered browsers ---
    pytest.param(
        {},
        {},
        [pwd(NOW - 300), totp(NOW - 3000, remembered=True)],
        ("ok", A1, ("pwd",), NOW - 300),
        id="case47-replay-not-in-amr-nor-acr-for-non-remembering-client",
    ),
    pytest.param(
        {},
        {"minimum_acr": A2},
        [pwd(NOW - 300), totp(NOW - 3000, remembered=True)],
        ("step", A2, ("passkey", "totp", "backup_code"), "floor_not_met"),
        id="case47-replay-does-not-meet-floor-of-non-remembering-client",
    ),
    pytest.param(
        {},
        {"minimum_acr": A2, "remember_device_days": 30},
        [pwd(NOW - 300), totp(NOW - 3000, remembered=True)],
        ("ok", A2, ("pwd", "otp", "mfa"), NOW - 300),
        id="case47-replay-meets-floor-of-remembering-client",
    ),
    pytest.param(
        {},
        {"minimum_acr": A2, "remember_device_days": 1},
        [pwd(NOW - 300), totp(NOW - 2 * DAY, remembered=True)],
        ("step", A2, ("passkey", "totp", "backup_code"), "floor_not_met"),
        id="case47-replay-older-than-the-clients-own-days",
    ),
    pytest.param(
        {"max_age": "600"},
        {"minimum_acr": A2, "remember_device_days": 30},
        [pwd(NOW - 3000), totp(NOW - 10, remembered=True)],
        ("step", A2, ("passkey", "totp", "pin", "backup_code", "password"), "max_age"),
        id="case47-replay-never-meets-max-age",
    ),
    pytest.param(
        {},
        {"remember_device_days": 30},
        [pwd(NOW - 300), totp(NOW - 10, remembered=True)],
        ("ok", A1, ("pwd", "otp", "mfa"), NOW - 300),
        id="case47-replay-never-sets-auth-time",
    ),
    # --- case 48: freshness and auth_time follow the client's own methods ---
    pytest.param(
        {"max_age": "120"},
        TOTP_OR_PASSKEY,
        [pwd(NOW - 3000), totp(NOW - 2000), pwd(NOW - 10)],
        ("step", None, ("passkey", "totp"), "max_age"),
        id="case48-password-elsewhere-does-not-meet-max-age",
    ),
    pytest.param(
        {},
        TOTP_OR_PASSKEY,
        [pwd(NOW - 3000), totp(NOW - 2000), pwd(NOW - 10)],
        ("ok", A2, ("pwd", "otp", "mfa"), NOW - 2000),
        id="case48-password-elsewhere-does-not-move-auth-time",
    ),
    pytest.param(
        {"max_age": "120"},
        TOTP_OR_PASSKEY,
        [pwd(NOW - 3000), totp(NOW - 2000), totp(NOW - 10)],
        ("ok", A2, ("pwd", "otp", "mfa"), NOW - 10),
        id="case48-accepted-method-meets-max-age",
    ),
    pytest.param(
        {"max_age": "120"},
        {},
        [pwd(NOW - 3000), totp(NOW - 2000), pwd(NOW - 10)],
        ("ok", A2, ("pwd", "otp", "mfa"), NOW - 10),
        id="case48-all-methods-client-counts-the-password",
    ),
    pytest.param(
        {"max_age": "120"},
        {"min_pin_length": 8},
        [pwd(NOW - 3000), pin(NOW - 10, length=6)],
        ("step", None, ("passkey", "totp", "backup_code", "password"), "max_age"),
        id="case48-short-pin-does-not-meet-max-age",
    ),
    pytest.param(
        {},
        {"min_pin_length": 8},
        [pwd(NOW - 3000), pin(NOW - 10, length=None)],
        ("ok", A1, ("pwd", "pin"), NOW - 3000),
        id="case48-pin-of-unknown-length-does-not-move-auth-time",
    ),
    pytest.param(
        {"max_age": "120"},
        {},
        [pwd(NOW - 3000), pk(NOW - 10, uv=False)],
        ("step", None, ("passkey", "totp", "pin", "backup_code", "password"), "max_age"),
        id="case48-passkey-without-uv-does-not-meet-max-age-when-uv-required",
    ),
    pytest.param(
        {"max_age": "120"},
        {"passkey_user_verification": "preferred"},
        [pwd(NOW - 3000), pk(NOW - 10, uv=False)],
        ("ok", A2, ("pwd", "hwk", "mfa"), NOW - 10),
        id="case48-passkey-without-uv-counts-when-uv-preferred",
    ),
    pytest.param(
        {"max_age": "120"},
        {"allowed_aaguids": (YUBIKEY,)},
        [pwd(NOW - 3000), pk(NOW - 10, aaguid=ICLOUD)],
        ("step", None, ("passkey", "totp", "pin", "backup_code", "password"), "max_age"),
        id="case48-passkey-outside-allow-list-does-not-meet-max-age",
    ),
    pytest.param(
        {"max_age": "0"},
        {"step_up_methods": ("totp",)},
        [pwd(NOW)],
        ("step", None, ("totp",), "max_age"),
        id="case48-max-age-0-login-with-an-unaccepted-method",
    ),
]


@pytest.mark.parametrize(("params", "policy", "events", "expected"), ROWS)
def test_client_events(
    params: dict[str, str],
    policy: dict[str, Any],
    events: list[Event],
    expected: tuple[Any, ...],
) -> None:
    assert summary(run(params, policy, events)) == expected


# --- the property (case 48) ------------------------------------------------------

times = st.integers(min_value=NOW - 50_000, max_value=NOW - 100)


@st.composite
def any_event(draw: st.DrawFn, at: st.SearchStrategy[int] = times) -> Event:
    method = draw(st.sampled_from(METHODS))
    when = draw(at)
    if method == "passkey":
        return event_for(
            method,
            when,
            uv=draw(st.booleans()),
            backup_eligible=draw(st.sampled_from([None, True, False])),
            aaguid=draw(st.sampled_from([None, YUBIKEY, ICLOUD])),
            remembered=draw(st.booleans()),
        )
    length = draw(st.sampled_from([None, 4, 6, 8])) if method == "pin" else None
    return event_for(method, when, remembered=draw(st.booleans()), pin_length=length)


client_policies = st.builds(
    ClientPolicy,
    minimum_acr=st.sampled_from([None, None, A2]),
    step_up_methods=st.lists(st.sampled_from(METHODS), max_size=3, unique=True).map(tuple),
    passkey_user_verification=st.sampled_from(["required", "preferred", "discouraged"]),
    allowed_aaguids=st.sampled_from([(), (YUBIKEY,)]),
    min_pin_length=st.sampled_from([None, 6]),
    remember_device_days=st.sampled_from([0, 30]),
)


@settings(max_examples=400)
@given(
    st.lists(any_event(), min_size=1, max_size=5),
    any_event(st.integers(min_value=NOW - 99, max_value=NOW)),
    client_policies,
    st.sampled_from([None, "0", "60", "600", "100000"]),
    st.sampled_from([None, A1, A2, PHR]),
)
def test_an_unaccepted_event_never_changes_auth_time_nor_meets_max_age(
    before: list[Event],
    extra: Event,
    policy: ClientPolicy,
    max_age: str | None,
    acr: str | None,
) -> None:
    """An event of a method the client does not accept (made after the others,
    as events are) never changes that client's auth_time nor satisfies its max_age."""
    if accepts_event(extra, policy):
        return
    # A session always begins with a sign-in performed in it (never a replay).
    before = [replace(before[0], remembered=False), *before[1:]]
    params = {k: v for k, v in {"max_age": max_age, "acr_values": acr}.items() if v is not None}
    started = NOW - 100  # the transaction began before the extra event
    requirement = parse_requirement(params, policy, LADDER, transaction_started_at=started)
    first = min(e.at for e in before)
    without = SessionState("u", tuple(before), created_at=first, last_active_at=NOW - 100)
    with_extra = SessionState("u", (*before, extra), created_at=first, last_active_at=NOW - 100)
    a = decide(requirement, policy, LADDER, without, ALL, NOW)
    b = decide(requirement, policy, LADDER, with_extra, ALL, NOW)
    if isinstance(a, Satisfied) and isinstance(b, Satisfied):
        assert b.auth_time == a.auth_time
    if max_age is not None and isinstance(b, Satisfied):
        # Freshness came from an accepted event, never from the extra one.
        accepted = [e.at for e in before if accepts_event(e, policy)]
        assert accepted
        assert max(accepted) >= min(NOW - int(max_age), started)
    if isinstance(b, Satisfied) and not isinstance(a, Satisfied) and max_age is not None:
        # Adding it can raise the level, never make a stale session fresh.
        assert not (isinstance(a, StepUp) and a.reason == "max_age" and a.target_acr is None)


def test_client_auth_time_helper() -> None:
    policy = ClientPolicy(step_up_methods=("totp",))
    assert client_auth_time([pwd(10), totp(20), pwd(30)], policy) == 20
    assert client_auth_time([pwd(10), pwd(30)], policy) == 10  # the sign-in stands
    assert client_auth_time([totp(5, remembered=True)], policy) == 5
