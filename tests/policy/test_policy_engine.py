"""decide(): one table row per rule of docs/design.md "The decision" and docs/security.md §D."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from provider.policy import (
    ClientPolicy,
    Decision,
    EnrolledMethod,
    Event,
    Fail,
    Lifetime,
    Login,
    Requirement,
    Satisfied,
    SessionState,
    StepUp,
    decide,
    default_ladder,
    default_ladder_data,
    event_for,
    ladder_from_data,
    parse_requirement,
    record_activity,
    record_event,
    session_acr,
    step_up_event,
)

LADDER = default_ladder()
A1 = "urn:belay:acr:1fa"
A2 = "urn:belay:acr:2fa"
PHR = "urn:belay:acr:phr"
PHRH = "urn:belay:acr:phrh"
NOW = 1_700_000_000
STARTED = NOW - 1  # the authorization request began 1 s ago
BEFORE = NOW - 60  # default event time: before the request
YUBIKEY = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
ICLOUD = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"
UNMET = "unmet_authentication_requirements"


def pwd(at: int = BEFORE) -> Event:
    return event_for("password", at)


def pin(at: int = BEFORE, length: int = 6) -> Event:
    return event_for("pin", at, pin_length=length)


def totp(at: int = BEFORE, *, remembered: bool = False) -> Event:
    return event_for("totp", at, remembered=remembered)


def sms(at: int = BEFORE) -> Event:
    return event_for("sms_otp", at)


def pk(
    at: int = BEFORE,
    *,
    uv: bool = True,
    be: bool | None = False,
    aaguid: str | None = YUBIKEY,
    remembered: bool = False,
) -> Event:
    return event_for(
        "passkey",
        at,
        uv=uv,
        backup_eligible=be,
        aaguid=aaguid,
        credential_id="c",
        remembered=remembered,
    )


E_PASSWORD = EnrolledMethod("password")
E_PIN = EnrolledMethod("pin", pin_length=6)
E_PIN4 = EnrolledMethod("pin", pin_length=4)
E_PIN8 = EnrolledMethod("pin", pin_length=8)
E_TOTP = EnrolledMethod("totp")
E_BACKUP = EnrolledMethod("backup_code")
E_EMAIL = EnrolledMethod("email_otp")
E_SMS = EnrolledMethod("sms_otp")
E_HW = EnrolledMethod("passkey", credential_id="hw", backup_eligible=False, aaguid=YUBIKEY)
E_HW2 = EnrolledMethod("passkey", credential_id="hw2", backup_eligible=False, aaguid=YUBIKEY)
E_SYNC = EnrolledMethod("passkey", credential_id="sync", backup_eligible=True, aaguid=ICLOUD)
ALL = (E_PASSWORD, E_PIN, E_TOTP, E_HW, E_SYNC, E_BACKUP)
KNOWLEDGE_ONLY = (E_PASSWORD, E_PIN)
ALL_NAMES = ("passkey", "totp", "pin", "backup_code", "password")
SECOND_FACTORS = ("passkey", "totp", "backup_code")


def session(events: Sequence[Event], *, idle: int = 5) -> SessionState:
    return SessionState(
        user_id="u1",
        events=tuple(events),
        created_at=min(e.at for e in events),
        last_active_at=NOW - idle,
    )


def summary(decision: Decision) -> tuple[Any, ...]:
    if isinstance(decision, Satisfied):
        return ("ok", decision.acr, decision.reason)
    if isinstance(decision, StepUp):
        return ("step", decision.target_acr, decision.methods, decision.reason)
    if isinstance(decision, Login):
        return ("login", decision.reason)
    return ("fail", decision.error, decision.reason)


def run(
    params: Mapping[str, str],
    policy: Mapping[str, Any],
    state: SessionState | Sequence[Event] | None,
    enrolled: Sequence[EnrolledMethod],
    *,
    now: int = NOW,
) -> Decision:
    client = ClientPolicy(**policy)
    requirement = parse_requirement(params, client, LADDER, transaction_started_at=STARTED)
    if state is not None and not isinstance(state, SessionState):
        state = session(state)
    return decide(requirement, client, LADDER, state, enrolled, now)


def essential(*values: str) -> str:
    import json

    acr: dict[str, Any] = {"essential": True}
    if values:
        acr["values"] = list(values)
    return json.dumps({"id_token": {"acr": acr}})


VOLUNTARY = {"acr_enforcement": "voluntary"}
FLOOR_2FA = {"minimum_acr": A2}
#: A client that accepts remembered browsers (only such a client counts a replay).
REMEMBERS = {"remember_device_days": 30}

ROWS = [
    # --- session and prompt ---------------------------------------------------------------
    pytest.param({}, {}, None, ALL, ("login", "no_session"), id="no-session-login"),
    pytest.param(
        {"prompt": "none"},
        {},
        None,
        ALL,
        ("fail", "login_required", "no_session"),
        id="prompt-none-no-session",
    ),
    pytest.param({}, {}, [pwd()], ALL, ("ok", A1, "satisfied"), id="password-session-1fa"),
    pytest.param(
        {"prompt": "login"}, {}, [pwd()], ALL, ("login", "prompt_login"), id="prompt-login"
    ),
    pytest.param(
        {"prompt": "login"},
        {},
        [pwd(STARTED)],
        ALL,
        ("ok", A1, "satisfied"),
        id="prompt-login-second-pass-no-loop",
    ),
    pytest.param(
        {"prompt": "login"},
        {},
        [pwd(), totp(NOW - 1)],
        ALL,
        ("login", "prompt_login"),
        id="prompt-login-step-up-is-not-a-login",
    ),
    pytest.param(
        {"prompt": "select_account"},
        {},
        [pwd()],
        ALL,
        ("login", "select_account"),
        id="prompt-select-account",
    ),
    pytest.param(
        {"prompt": "select_account"},
        {},
        [pwd(NOW - 1)],
        ALL,
        ("ok", A1, "satisfied"),
        id="prompt-select-account-second-pass",
    ),
    pytest.param(
        {"prompt": "consent"},
        {},
        [pwd()],
        ALL,
        ("ok", A1, "satisfied"),
        id="prompt-consent-no-auth-effect",
    ),
    pytest.param(
        {"prompt": "none"}, {}, [pwd()], ALL, ("ok", A1, "satisfied"), id="prompt-none-satisfied"
    ),
    pytest.param(
        {"prompt": "none", "acr_values": A2},
        {},
        [pwd()],
        ALL,
        ("fail", "interaction_required", "acr_not_met"),
        id="prompt-none-step-up-needed",
    ),
    pytest.param(
        {"prompt": "none", "max_age": "30"},
        {},
        [pwd()],
        ALL,
        ("fail", "login_required", "max_age"),
        id="prompt-none-max-age",
    ),
    pytest.param(
        {"prompt": "none"},
        FLOOR_2FA,
        [pwd()],
        ALL,
        ("fail", "interaction_required", "floor_not_met"),
        id="prompt-none-floor-unmet",
    ),
    # --- freshness: max_age -----------------------------------------------------------------
    pytest.param(
        {"max_age": "0"},
        {},
        [pwd()],
        ALL,
        ("step", None, ALL_NAMES, "max_age"),
        id="max-age-0-demands-new-event",
    ),
    pytest.param(
        {"max_age": "0"},
        {},
        [pwd(), pin(NOW)],
        ALL,
        ("ok", A1, "satisfied"),
        id="max-age-0-event-in-transaction-no-loop",
    ),
    pytest.param(
        {"max_age": "1"},
        {},
        [pwd(NOW - 2)],
        ALL,
        ("step", None, ALL_NAMES, "max_age"),
        id="max-age-1-after-2s",
    ),
    pytest.param(
        {"max_age": "10000"}, {}, [pwd()], ALL, ("ok", A1, "satisfied"), id="max-age-10000"
    ),
    pytest.param(
        {"max_age": "60"},
        {},
        [pwd(NOW - 60)],
        ALL,
        ("ok", A1, "satisfied"),
        id="max-age-boundary-inclusive",
    ),
    pytest.param(
        {"max_age": "59"},
        {},
        [pwd(NOW - 60)],
        ALL,
        ("step", None, ALL_NAMES, "max_age"),
        id="max-age-strict-no-grace",
    ),
    pytest.param(
        {},
        {"default_max_age": 30},
        [pwd()],
        ALL,
        ("step", None, ALL_NAMES, "max_age"),
        id="default-max-age-applies",
    ),
    pytest.param(
        {"max_age": "100"},
        {"default_max_age": 30},
        [pwd()],
        ALL,
        ("ok", A1, "satisfied"),
        id="request-max-age-overrides-default",
    ),
    pytest.param(
        {"max_age": "0", "acr_values": A2},
        {},
        [pwd(), totp()],
        ALL,
        ("step", A2, ALL_NAMES, "max_age"),
        id="max-age-with-acr-met-any-method-refreshes",
    ),
    pytest.param(
        {"max_age": "0", "acr_values": A2},
        {},
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "max_age"),
        id="max-age-and-acr-unmet-one-step",
    ),
    pytest.param(
        {"max_age": "120", "acr_values": A2},
        {"step_up_methods": ("passkey", "totp")},
        [pwd(NOW - 600), totp(NOW - 600)],
        ALL,
        ("step", A2, ("passkey", "totp"), "max_age"),
        id="bank-transfer-fresh-second-factor",
    ),
    pytest.param(
        {"max_age": "0"}, {}, [pwd()], (), ("login", "max_age"), id="max-age-nothing-enrolled"
    ),
    pytest.param(
        {"max_age": "60"},
        {**FLOOR_2FA, **REMEMBERS},
        [pwd(NOW - 120), totp(NOW - 30, remembered=True)],
        ALL,
        ("step", A2, ALL_NAMES, "max_age"),
        id="remembered-event-never-fresh",
    ),
    # --- preference order -------------------------------------------------------------------
    pytest.param(
        {"acr_values": f"{PHR} {A2}"},
        {},
        [pwd()],
        ALL,
        ("step", PHR, ("passkey",), "acr_not_met"),
        id="preference-first-reachable-not-lowest",
    ),
    pytest.param(
        {"acr_values": f"{PHR} {A2}"},
        {},
        [pwd()],
        (E_PASSWORD, E_TOTP),
        ("step", A2, ("totp",), "acr_not_met"),
        id="preference-falls-to-next-reachable",
    ),
    pytest.param(
        {"acr_values": f"{PHR} {A2}"},
        {},
        [pwd(), totp()],
        (E_PASSWORD, E_TOTP),
        ("ok", A2, "satisfied"),
        id="preference-second-already-satisfied",
    ),
    pytest.param(
        {"acr_values": f"{A2} {PHR}"},
        {},
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="preference-order-kept",
    ),
    pytest.param(
        {"acr_values": f"{A1} {A2}"},
        {},
        [pwd()],
        ALL,
        ("ok", A1, "satisfied"),
        id="preference-first-satisfied-emitted",
    ),
    pytest.param(
        {"acr_values": f"{PHR} {A2}"},
        {},
        [pwd(), totp()],
        ALL,
        ("step", PHR, ("passkey",), "acr_not_met"),
        id="preference-reachable-higher-beats-satisfied-lower",
    ),
    # --- categories -------------------------------------------------------------------------
    pytest.param(
        {"acr_values": A2},
        {},
        [pwd(), pin()],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="password-plus-pin-never-2fa",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [pwd(), pin()],
        KNOWLEDGE_ONLY,
        ("fail", UNMET, "unmet"),
        id="knowledge-only-user-cannot-reach-2fa",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [pin(), pk(uv=False)],
        ALL,
        ("ok", A2, "satisfied"),
        id="pin-plus-passkey-without-uv-is-2fa",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [pk(uv=True)],
        ALL,
        ("ok", A2, "satisfied"),
        id="uv-passkey-alone-is-2fa",
    ),
    pytest.param(
        {"acr_values": A2},
        {"passkey_user_verification": "discouraged"},
        [pin()],
        (E_PIN, E_HW),
        ("step", A2, ("passkey",), "acr_not_met"),
        id="pin-then-passkey-discouraged-uv",
    ),
    pytest.param(
        {"acr_values": A2},
        {"passkey_user_verification": "discouraged"},
        [pk(uv=False)],
        (E_PIN, E_HW, E_PASSWORD),
        ("step", A2, ("pin", "password"), "acr_not_met"),
        id="passkey-no-uv-then-pin",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [sms()],
        (E_PIN, E_SMS),
        ("step", A2, ("pin",), "acr_not_met"),
        id="sms-login-then-pin",
    ),
    pytest.param(
        {"acr_values": PHR},
        {"passkey_user_verification": "discouraged"},
        [pwd()],
        ALL,
        ("fail", UNMET, "unmet"),
        id="phr-needs-uv-discouraged-cannot",
    ),
    pytest.param(
        {"acr_values": PHR},
        {"passkey_user_verification": "preferred"},
        [pwd()],
        ALL,
        ("step", PHR, ("passkey",), "acr_not_met"),
        id="phr-uv-preferred-offers-passkey",
    ),
    pytest.param(
        {"acr_values": PHR},
        {},
        [pwd()],
        (E_EMAIL, E_SMS, E_TOTP, E_BACKUP),
        ("fail", UNMET, "unmet"),
        id="codes-never-reach-phr",
    ),
    pytest.param(
        {"acr_values": PHR}, {}, [pk()], ALL, ("ok", PHR, "satisfied"), id="uv-passkey-phr"
    ),
    pytest.param(
        {"acr_values": PHRH},
        {},
        [pwd()],
        (E_PASSWORD, E_SYNC),
        ("fail", UNMET, "unmet"),
        id="synced-passkey-never-phrh",
    ),
    pytest.param(
        {"acr_values": PHRH},
        {},
        [pk(be=True, aaguid=ICLOUD)],
        ALL,
        ("step", PHRH, ("passkey",), "acr_not_met"),
        id="synced-session-steps-up-to-device-bound",
    ),
    pytest.param(
        {"acr_values": PHRH},
        {},
        [pk(be=None)],
        (E_SYNC,),
        ("fail", UNMET, "unmet"),
        id="unknown-be-is-not-device-bound",
    ),
    pytest.param(
        {"acr_values": PHRH}, {}, [pk(be=False)], ALL, ("ok", PHRH, "satisfied"), id="phrh"
    ),
    # --- client restrictions ----------------------------------------------------------------
    pytest.param(
        {"acr_values": PHR},
        {"allowed_aaguids": (YUBIKEY,)},
        [pk(be=True, aaguid=ICLOUD)],
        ALL,
        ("step", PHR, ("passkey",), "acr_not_met"),
        id="aaguid-allow-list-other-model-does-not-count",
    ),
    pytest.param(
        {"acr_values": PHR},
        {"allowed_aaguids": (YUBIKEY,)},
        [pwd()],
        (E_PASSWORD, E_SYNC),
        ("fail", UNMET, "unmet"),
        id="aaguid-allow-list-unlisted-passkey-not-offered",
    ),
    pytest.param(
        {},
        {"allowed_aaguids": (YUBIKEY,)},
        [pk(be=True, aaguid=ICLOUD)],
        (E_PASSWORD,),
        ("step", A1, ("password",), "acr_not_met"),
        id="aaguid-allow-list-nothing-counts",
    ),
    pytest.param(
        {},
        {"allowed_aaguids": (YUBIKEY,)},
        [pk(be=True, aaguid=ICLOUD)],
        (E_SYNC,),
        ("login", "acr_not_met"),
        id="aaguid-allow-list-nothing-counts-nothing-offered",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [pwd()],
        (EnrolledMethod("totp", locked=True), EnrolledMethod("pin", locked=True)),
        ("fail", UNMET, "unmet"),
        id="locked-methods-never-offered",
    ),
    pytest.param(
        {"acr_values": A2},
        {"min_pin_length": 6},
        [pk(uv=False)],
        (E_PIN4,),
        ("fail", UNMET, "unmet"),
        id="short-pin-not-offered",
    ),
    pytest.param(
        {"acr_values": A2},
        {"min_pin_length": 6},
        [pk(uv=False)],
        (E_PIN8,),
        ("step", A2, ("pin",), "acr_not_met"),
        id="long-enough-pin-offered",
    ),
    pytest.param(
        {"acr_values": A2},
        {"min_pin_length": 6},
        [pk(uv=False), pin(length=4)],
        (E_PASSWORD,),
        ("step", A2, ("password",), "acr_not_met"),
        id="short-pin-event-does-not-count",
    ),
    pytest.param(
        {"acr_values": A2},
        {"step_up_methods": ("totp",)},
        [pwd()],
        ALL,
        ("step", A2, ("totp",), "acr_not_met"),
        id="step-up-methods-restrict-offer",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [pwd()],
        (E_SMS, E_EMAIL, E_BACKUP, E_HW, E_HW2, E_TOTP, E_PASSWORD, E_PIN),
        ("step", A2, ("passkey", "totp", "backup_code", "email_otp", "sms_otp"), "acr_not_met"),
        id="methods-stable-order-deduplicated",
    ),
    # --- strict vs voluntary, unknown and essential values ---------------------------------
    pytest.param(
        {"acr_values": PHR},
        VOLUNTARY,
        [pwd(), totp()],
        (E_PASSWORD, E_TOTP),
        ("ok", A2, "voluntary_downgrade"),
        id="voluntary-issues-actual-acr",
    ),
    pytest.param(
        {"acr_values": PHR},
        {},
        [pwd(), totp()],
        (E_PASSWORD, E_TOTP),
        ("fail", UNMET, "unmet"),
        id="strict-never-silently-downgrades",
    ),
    pytest.param(
        {"claims": essential(PHR)},
        VOLUNTARY,
        [pwd(), totp()],
        (E_PASSWORD, E_TOTP),
        ("fail", UNMET, "essential_acr_unreachable"),
        id="essential-unreachable-fails-even-voluntary",
    ),
    pytest.param(
        {"claims": essential("urn:example:unknown")},
        VOLUNTARY,
        [pwd()],
        ALL,
        ("fail", UNMET, "essential_acr_unknown"),
        id="essential-unknown",
    ),
    pytest.param(
        {"claims": essential("urn:example:unknown")},
        {},
        None,
        ALL,
        ("fail", UNMET, "essential_acr_unknown"),
        id="essential-unknown-before-login",
    ),
    pytest.param(
        {"claims": essential("urn:example:unknown", A2)},
        {},
        [pwd(), totp()],
        ALL,
        ("ok", A2, "satisfied"),
        id="essential-values-one-known",
    ),
    pytest.param(
        {"claims": essential(A2)},
        {},
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="essential-reachable-steps-up",
    ),
    pytest.param(
        {"claims": essential(), "acr_values": PHR},
        VOLUNTARY,
        [pwd()],
        (E_PASSWORD, E_TOTP),
        ("fail", UNMET, "essential_acr_unreachable"),
        id="essential-without-values-makes-acr-values-essential",
    ),
    pytest.param(
        {"acr_values": "urn:example:unknown"},
        VOLUNTARY,
        [pwd(), totp()],
        ALL,
        ("ok", A2, "satisfied"),
        id="unknown-voluntary-ignored",
    ),
    pytest.param(
        {"acr_values": "urn:example:unknown"},
        {},
        [pwd(), totp()],
        ALL,
        ("fail", UNMET, "unmet"),
        id="unknown-only-strict-unmet",
    ),
    pytest.param(
        {"acr_values": f"urn:example:unknown {A2}"},
        {},
        [pwd(), totp()],
        ALL,
        ("ok", A2, "satisfied"),
        id="unknown-skipped-known-used",
    ),
    # --- floor ------------------------------------------------------------------------------
    pytest.param(
        {},
        FLOOR_2FA,
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "floor_not_met"),
        id="floor-without-request",
    ),
    pytest.param(
        {"acr_values": A1},
        FLOOR_2FA,
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "floor_not_met"),
        id="floor-lower-request-never-lowers",
    ),
    pytest.param(
        {"acr_values": A1},
        FLOOR_2FA,
        [pwd(), totp()],
        ALL,
        ("ok", A2, "satisfied"),
        id="floor-replaces-lower-request",
    ),
    pytest.param(
        {"acr_values": "urn:example:unknown"},
        {**FLOOR_2FA, **VOLUNTARY},
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "floor_not_met"),
        id="floor-unknown-request-never-lowers",
    ),
    pytest.param(
        {},
        FLOOR_2FA,
        [pwd()],
        KNOWLEDGE_ONLY,
        ("fail", UNMET, "floor_not_met"),
        id="floor-unreachable",
    ),
    pytest.param(
        {"acr_values": PHR},
        {**FLOOR_2FA, **VOLUNTARY},
        [pwd(), totp()],
        (E_PASSWORD, E_TOTP),
        ("ok", A2, "voluntary_downgrade"),
        id="voluntary-downgrade-stops-at-floor",
    ),
    pytest.param(
        {"acr_values": PHR},
        {**FLOOR_2FA, **VOLUNTARY},
        [pwd()],
        (E_PASSWORD, E_TOTP),
        ("step", A2, ("totp",), "floor_not_met"),
        id="voluntary-downgrade-still-steps-up-to-floor",
    ),
    pytest.param(
        {"acr_values": A2},
        {"minimum_acr": PHR},
        [pwd()],
        ALL,
        ("step", PHR, ("passkey",), "floor_not_met"),
        id="floor-above-request",
    ),
    pytest.param(
        {"claims": essential(A1)},
        FLOOR_2FA,
        [pwd(), totp()],
        ALL,
        ("ok", A1, "satisfied"),
        id="essential-below-floor-emits-essential-value",
    ),
    pytest.param(
        {"claims": essential(A1)},
        FLOOR_2FA,
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="essential-below-floor-still-needs-floor",
    ),
    pytest.param(
        {},
        {"minimum_acr": "urn:example:gone"},
        [pwd()],
        ALL,
        ("fail", UNMET, "floor_not_met"),
        id="floor-not-in-ladder-fails-closed",
    ),
    # --- client defaults ----------------------------------------------------------------------
    pytest.param(
        {},
        {"default_acr_values": (A2,)},
        [pwd()],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="default-acr-values",
    ),
    pytest.param(
        {"acr_values": A1},
        {"default_acr_values": (A2,)},
        [pwd()],
        ALL,
        ("ok", A1, "satisfied"),
        id="request-acr-values-override-defaults",
    ),
    # --- lifetimes ------------------------------------------------------------------------------
    pytest.param(
        {"acr_values": A2},
        {},
        session([pwd(NOW - 4000), totp(NOW - 3700)], idle=3601),
        ALL,
        ("step", A2, ALL_NAMES, "acr_not_met"),
        id="2fa-idle-over-1h-drops",
    ),
    pytest.param(
        {},
        {},
        session([pwd(NOW - 4000), totp(NOW - 3700)], idle=3601),
        ALL,
        ("ok", A1, "satisfied"),
        id="2fa-idle-session-is-1fa",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        session([pwd(NOW - 4000), totp(NOW - 3700)], idle=3600),
        ALL,
        ("ok", A2, "satisfied"),
        id="2fa-idle-boundary",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [pwd(NOW - 1000), totp(NOW - 86_401)],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="2fa-absolute-over-24h-drops",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [pwd(NOW - 90_000), totp(NOW - 86_401)],
        ALL,
        ("step", A2, ("passkey",), "acr_not_met"),
        id="2fa-absolute-both-factors-expired-needs-uv-passkey",
    ),
    pytest.param(
        {"acr_values": PHR},
        {},
        session([pk(NOW - 1000)], idle=901),
        ALL,
        ("step", PHR, ("passkey",), "acr_not_met"),
        id="phr-idle-over-15min-drops-password-cannot-revive",
    ),
    pytest.param(
        {"acr_values": PHR},
        {},
        SessionState(
            user_id="u1",
            events=(pk(NOW - 2000), pwd(NOW - 800)),
            created_at=NOW - 2000,
            last_active_at=NOW - 800,
            idle_gaps=((NOW - 1900, NOW - 800),),
        ),
        ALL,
        ("step", PHR, ("passkey",), "acr_not_met"),
        id="phr-past-idle-gap-stays-in-force",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        SessionState(
            user_id="u1",
            events=(pwd(NOW - 9000), totp(NOW - 8000), pin(NOW - 100)),
            created_at=NOW - 9000,
            last_active_at=NOW - 100,
            idle_gaps=((NOW - 8000, NOW - 100),),
        ),
        ALL,
        ("ok", A2, "satisfied"),
        id="2fa-revived-by-one-factor-after-idle",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        session([pk(NOW - 1000)], idle=901),
        ALL,
        ("ok", A2, "satisfied"),
        id="phr-idle-still-2fa",
    ),
    pytest.param(
        {"acr_values": A2},
        {"level_lifetimes": {A2: Lifetime(idle_seconds=60, absolute_seconds=None)}},
        session([pwd(NOW - 200), totp(NOW - 150)], idle=120),
        ALL,
        ("step", A2, ALL_NAMES, "acr_not_met"),
        id="client-lifetime-override",
    ),
    # --- remembered devices ---------------------------------------------------------------------
    pytest.param(
        {},
        {**FLOOR_2FA, **REMEMBERS},
        [pwd(), totp(NOW - 5 * 86_400 + 100, remembered=True)],
        ALL,
        ("step", A2, SECOND_FACTORS, "floor_not_met"),
        id="remembered-old-event-past-lifetime",
    ),
    pytest.param(
        {},
        {**FLOOR_2FA, **REMEMBERS},
        [pwd(), totp(NOW - 3000, remembered=True)],
        ALL,
        ("ok", A2, "satisfied"),
        id="remembered-satisfies-floor",
    ),
    pytest.param(
        {},
        {"default_acr_values": (A2,), **REMEMBERS},
        [pwd(), totp(NOW - 3000, remembered=True)],
        ALL,
        ("ok", A2, "satisfied"),
        id="remembered-satisfies-default-acr",
    ),
    pytest.param(
        {"acr_values": A2},
        REMEMBERS,
        [pwd(), totp(NOW - 3000, remembered=True)],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="remembered-never-explicit-acr",
    ),
    pytest.param(
        {"acr_values": A2},
        {**FLOOR_2FA, **REMEMBERS},
        [pwd(), totp(NOW - 3000, remembered=True)],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="remembered-never-explicit-acr-equal-to-floor",
    ),
    pytest.param(
        {"acr_values": A1},
        {**FLOOR_2FA, **REMEMBERS},
        [pwd(), totp(NOW - 3000, remembered=True)],
        ALL,
        ("ok", A2, "satisfied"),
        id="remembered-floor-replacing-lower-request",
    ),
    pytest.param(
        {"claims": essential(A2)},
        REMEMBERS,
        [pwd(), totp(NOW - 3000, remembered=True)],
        ALL,
        ("step", A2, SECOND_FACTORS, "acr_not_met"),
        id="remembered-never-essential",
    ),
    pytest.param(
        {},
        {**FLOOR_2FA, **REMEMBERS},
        [pwd(), pk(NOW - 3000, remembered=True)],
        ALL,
        ("ok", A2, "satisfied"),
        id="remembered-passkey-claims-the-floor-not-phrh",
    ),
    pytest.param(
        {},
        {**FLOOR_2FA, **REMEMBERS},
        [pwd(NOW - 3000), pk(NOW - 3000, remembered=True), pk(NOW - 10)],
        ALL,
        ("ok", PHRH, "satisfied"),
        id="remembered-and-fresh-passkey-claims-phrh",
    ),
]


@pytest.mark.parametrize(("params", "policy", "state", "enrolled", "expected"), ROWS)
def test_decide(
    params: dict[str, str],
    policy: dict[str, Any],
    state: SessionState | list[Event] | None,
    enrolled: tuple[EnrolledMethod, ...],
    expected: tuple[Any, ...],
) -> None:
    assert summary(run(params, policy, state, enrolled)) == expected


def test_table_is_large_enough() -> None:
    assert len(ROWS) >= 60


def test_satisfied_carries_amr_and_auth_time_from_events() -> None:
    decision = run({"acr_values": A2}, {}, [pwd(NOW - 300), totp(NOW - 100)], ALL)
    assert decision == Satisfied(
        acr=A2, amr=("pwd", "otp", "mfa"), auth_time=NOW - 100, reason="satisfied"
    )


def test_amr_single_factor_has_no_mfa() -> None:
    decision = run({}, {}, [pwd(NOW - 300), pin(NOW - 200)], ALL)
    assert isinstance(decision, Satisfied)
    assert decision.amr == ("pwd", "pin")
    assert decision.auth_time == NOW - 200


def test_amr_uv_passkey_is_mfa() -> None:
    decision = run({}, {}, [pk(be=True, aaguid=ICLOUD)], ALL)
    assert isinstance(decision, Satisfied)
    assert decision.amr == ("swk", "user", "mfa")
    assert decision.acr == PHR


def test_auth_time_ignores_remembered_replay() -> None:
    decision = run(
        {}, {**FLOOR_2FA, **REMEMBERS}, [pwd(NOW - 300), totp(NOW - 100, remembered=True)], ALL
    )
    assert isinstance(decision, Satisfied)
    assert decision.auth_time == NOW - 300


def test_max_age_10000_keeps_auth_time() -> None:
    decision = run({"max_age": "10000"}, {}, [pwd(NOW - 5000)], ALL)
    assert isinstance(decision, Satisfied)
    assert decision.auth_time == NOW - 5000


def test_step_up_lists_only_passkeys_that_reach_target() -> None:
    decision = run({"acr_values": PHRH}, {}, [pwd()], (E_SYNC, E_HW, E_HW2, E_TOTP))
    assert isinstance(decision, StepUp)
    assert decision.methods == ("passkey",)
    assert decision.passkey_credential_ids == ("hw", "hw2")


def test_step_up_then_second_pass_is_satisfied() -> None:
    """The loop closes: the event the step-up adds satisfies the same request."""
    params = {"acr_values": A2, "max_age": "0"}
    first = run(params, {}, [pwd()], ALL)
    assert isinstance(first, StepUp)
    second = run(params, {}, [pwd(), totp(NOW)], ALL, now=NOW + 3)
    assert second == Satisfied(acr=A2, amr=("pwd", "otp", "mfa"), auth_time=NOW)


def test_prompt_none_never_returns_ui() -> None:
    for state in (None, [pwd()], [pwd(), totp()]):
        for params in ({"acr_values": PHR}, {"max_age": "0"}, {"acr_values": A2}, {}):
            decision = run({**params, "prompt": "none"}, FLOOR_2FA, state, ALL)
            assert isinstance(decision, Satisfied | Fail)


def test_works_without_openid_scope() -> None:
    client = ClientPolicy()
    requirement = parse_requirement({"acr_values": A2, "max_age": "300"}, client, LADDER)
    decision = decide(requirement, client, LADDER, session([pwd()]), ALL, NOW)
    assert summary(decision) == ("step", A2, SECOND_FACTORS, "acr_not_met")


def test_requirement_built_directly() -> None:
    """Flows can build a Requirement without parsing (e.g. "confirm access")."""
    requirement = Requirement(acr_values=(PHR,), acr_source="request", max_age=300)
    decision = decide(requirement, ClientPolicy(), LADDER, session([pk(NOW - 100)]), ALL, NOW)
    assert summary(decision) == ("ok", PHR, "satisfied")


def test_session_acr() -> None:
    client = ClientPolicy()
    assert session_acr(None, client, LADDER, NOW) is None
    assert session_acr(session([pwd(), totp()]), client, LADDER, NOW) == A2
    assert (
        session_acr(session([pwd(NOW - 5000), totp(NOW - 4500)], idle=4000), client, LADDER, NOW)
        == A1
    )


@pytest.mark.parametrize(
    ("method", "policy", "expected_uv"),
    [
        (E_HW, ClientPolicy(), True),
        (E_HW, ClientPolicy(passkey_user_verification="preferred"), True),
        (E_HW, ClientPolicy(passkey_user_verification="discouraged"), False),
    ],
)
def test_step_up_event_passkey_uv(
    method: EnrolledMethod, policy: ClientPolicy, expected_uv: bool
) -> None:
    event = step_up_event(method, policy, NOW)
    assert event is not None
    assert event.uv is expected_uv
    assert event.at == NOW


@pytest.mark.parametrize(
    ("method", "policy"),
    [
        (EnrolledMethod("totp", locked=True), ClientPolicy()),
        (EnrolledMethod("carrier_pigeon"), ClientPolicy()),
        (E_TOTP, ClientPolicy(step_up_methods=("passkey",))),
        (E_PIN4, ClientPolicy(min_pin_length=6)),
        (EnrolledMethod("pin"), ClientPolicy(min_pin_length=6)),
        (E_SYNC, ClientPolicy(allowed_aaguids=(YUBIKEY,))),
        (EnrolledMethod("passkey", credential_id="x"), ClientPolicy(allowed_aaguids=(YUBIKEY,))),
    ],
)
def test_step_up_event_not_offered(method: EnrolledMethod, policy: ClientPolicy) -> None:
    assert step_up_event(method, policy, NOW) is None


def test_empty_session_is_no_session() -> None:
    state = SessionState(user_id="u", events=(), created_at=NOW, last_active_at=NOW)
    assert summary(run({}, {}, state, ALL)) == ("login", "no_session")


def test_record_activity_keeps_idle_gaps_in_force() -> None:
    state = session([pk(NOW - 5000)], idle=1000)  # idle since NOW - 1000
    client = ClientPolicy()
    assert session_acr(state, client, LADDER, NOW) == A2  # phr idled out, 2fa not yet
    back = record_activity(state, NOW)
    assert back.last_active_at == NOW
    assert back.idle_gaps == ((NOW - 1000, NOW),)
    # Coming back does not restore phr: the gap is remembered.
    assert session_acr(back, client, LADDER, NOW + 1) == A2
    # A new passkey does.
    stepped = record_event(back, pk(NOW + 2, be=True, aaguid=ICLOUD))
    assert stepped.last_active_at == NOW + 2
    assert session_acr(stepped, client, LADDER, NOW + 3) == PHR


def test_record_activity_compacts_gaps() -> None:
    state = SessionState(user_id="u", events=(pwd(0),), created_at=0, last_active_at=0)
    for now in (100, 150, 1150, 1160):
        state = record_activity(state, now)
    # (0,100) and (100,150) are dominated by the later 1000 s gap.
    assert state.idle_gaps == ((150, 1150), (1150, 1160))
    assert record_activity(state, 1000) is state


# --- the worked examples of docs/acr.md ---------------------------------------------------


def test_doc_bank_transfer() -> None:
    policy = {"step_up_methods": ("passkey", "totp"), "minimum_acr": A2}
    params = {"acr_values": A2, "max_age": "120"}
    signed_in = [pwd(NOW - 2400), totp(NOW - 2400)]
    first = run(params, policy, session(signed_in, idle=2400), ALL)
    assert summary(first) == ("step", A2, ("passkey", "totp"), "max_age")
    second = run(params, policy, [*signed_in, totp(NOW)], ALL, now=NOW + 5)
    assert second == Satisfied(A2, ("pwd", "otp", "mfa"), NOW)
    # 70 idle minutes later, one TOTP code brings 2fa back.
    idle = SessionState("u1", (*signed_in, totp(NOW)), NOW - 2400, NOW)
    later = NOW + 4200
    requirement = Requirement(acr_values=(A2,), acr_source="request")
    client = ClientPolicy(**policy)  # type: ignore[arg-type]
    assert summary(decide(requirement, client, LADDER, idle, ALL, later)) == (
        "step",
        A2,
        ("passkey", "totp"),
        "acr_not_met",
    )
    back = record_event(idle, event_for("totp", later))
    assert summary(decide(requirement, client, LADDER, back, ALL, later + 1))[:2] == ("ok", A2)


def test_doc_admin_panel() -> None:
    policy = {"minimum_acr": PHR}
    assert summary(run({}, policy, [pwd()], ALL)) == ("step", PHR, ("passkey",), "floor_not_met")
    assert summary(run({}, policy, [pwd()], (E_PASSWORD, E_TOTP, E_PIN))) == (
        "fail",
        UNMET,
        "floor_not_met",
    )
    assert summary(run({"acr_values": A1}, policy, [pwd()], ALL)) == (
        "step",
        PHR,
        ("passkey",),
        "floor_not_met",
    )


def test_doc_passkey_plus_pin() -> None:
    policy = {
        "minimum_acr": A2,
        "passkey_user_verification": "discouraged",
        "step_up_methods": ("passkey", "pin"),
        "min_pin_length": 6,
    }
    enrolled = (E_HW, E_PIN, E_PASSWORD)
    tap = pk(uv=False)
    assert summary(run({}, policy, [tap], enrolled)) == ("step", A2, ("pin",), "floor_not_met")
    assert summary(run({}, policy, [pin()], enrolled)) == (
        "step",
        A2,
        ("passkey",),
        "floor_not_met",
    )
    done = run({}, policy, [pin(), pk(NOW - 1, uv=False)], enrolled)
    assert done == Satisfied(A2, ("pin", "hwk", "mfa"), NOW - 1)
    assert summary(run({"acr_values": PHR}, policy, [pin()], enrolled)) == (
        "fail",
        UNMET,
        "unmet",
    )
    assert summary(run({}, policy, [tap], (E_HW, E_PIN4))) == ("fail", UNMET, "floor_not_met")


def test_max_age_0_is_not_met_by_a_login_in_the_same_second_outside_a_transaction() -> None:
    """docs/security.md case 23: max_age=0 always demands a new event."""
    client = ClientPolicy()
    requirement = parse_requirement({"max_age": "0"}, client, LADDER)
    decision = decide(requirement, client, LADDER, session([pwd(NOW)]), ALL, NOW)
    assert isinstance(decision, StepUp) and decision.reason == "max_age"
    within = parse_requirement({"max_age": "0"}, client, LADDER, transaction_started_at=NOW)
    assert isinstance(decide(within, client, LADDER, session([pwd(NOW)]), ALL, NOW), Satisfied)


# --- plans: a level needing more than one new event (docs/security.md case 49) -----------

#: The default ladder plus a custom level whose rule asks for a PIN *and* a TOTP.
PIN_AND_TOTP = "urn:example:acr:pin+totp"
PLAN_LADDER = ladder_from_data(
    {
        "version": 1,
        "levels": [
            *default_ladder_data()["levels"],
            {
                "acr": PIN_AND_TOTP,
                "level": 10,
                "lifetime": None,
                "rule": [[{"method": "pin"}, {"method": "totp"}]],
            },
        ],
    }
)
LAPSED_2FA = [pwd(NOW - 90_000), totp(NOW - 86_401)]  # both too old for 2fa (24 h)
E_TOTP_LOCKED = EnrolledMethod("totp", locked=True)
PWD_TOTP = (E_PASSWORD, E_TOTP)

PLAN_ROWS = [
    pytest.param(
        {"acr_values": A2},
        {},
        LAPSED_2FA,
        PWD_TOTP,
        ("step", A2, ("totp", "password"), "acr_not_met"),
        id="lapsed-2fa-plans-two-challenges",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [*LAPSED_2FA, totp(NOW - 5)],
        PWD_TOTP,
        ("step", A2, ("password",), "acr_not_met"),
        id="lapsed-2fa-after-the-first-challenge-offers-the-second",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        [*LAPSED_2FA, totp(NOW - 5), pwd(NOW - 2)],
        PWD_TOTP,
        ("ok", A2, "satisfied"),
        id="lapsed-2fa-after-the-second-challenge-is-satisfied",
    ),
    pytest.param(
        {},
        FLOOR_2FA,
        LAPSED_2FA,
        PWD_TOTP,
        ("step", A2, ("totp", "password"), "floor_not_met"),
        id="lapsed-floor-plans-two-challenges",
    ),
    pytest.param(
        {"acr_values": A2},
        VOLUNTARY,
        LAPSED_2FA,
        PWD_TOTP,
        ("step", A2, ("totp", "password"), "acr_not_met"),
        id="lapsed-2fa-voluntary-plans-rather-than-downgrades",
    ),
    pytest.param(
        {"acr_values": A2, "prompt": "none"},
        {},
        LAPSED_2FA,
        PWD_TOTP,
        ("fail", "interaction_required", "acr_not_met"),
        id="lapsed-2fa-prompt-none-is-interaction-required",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        LAPSED_2FA,
        (E_PASSWORD, E_PIN, E_TOTP, E_BACKUP),
        ("step", A2, ("totp", "pin", "backup_code", "password"), "acr_not_met"),
        id="lapsed-2fa-offers-every-method-that-starts-a-shortest-plan",
    ),
    pytest.param(
        {"acr_values": A2, "max_age": "60"},
        {},
        LAPSED_2FA,
        PWD_TOTP,
        ("step", A2, ("totp", "password"), "max_age"),
        id="lapsed-2fa-and-max-age-plans-two-challenges",
    ),
    pytest.param(
        {"acr_values": A2},
        {"step_up_methods": ("totp", "passkey")},
        LAPSED_2FA,
        PWD_TOTP,
        ("login", "acr_not_met"),
        id="lapsed-2fa-password-not-a-step-up-method-needs-a-login",
    ),
    pytest.param(
        {"acr_values": A2, "prompt": "none"},
        {"step_up_methods": ("totp", "passkey")},
        LAPSED_2FA,
        PWD_TOTP,
        ("fail", "login_required", "acr_not_met"),
        id="lapsed-2fa-login-plan-prompt-none-is-login-required",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        LAPSED_2FA,
        (E_PASSWORD, E_TOTP_LOCKED),
        ("fail", UNMET, "unmet"),
        id="only-locked-methods-reach-it-stays-unmet",
    ),
    pytest.param(
        {"acr_values": A2},
        {"step_up_methods": ("totp", "passkey")},
        LAPSED_2FA,
        (E_PASSWORD, E_TOTP_LOCKED),
        ("fail", UNMET, "unmet"),
        id="only-locked-methods-reach-it-no-login-either",
    ),
    pytest.param(
        {"acr_values": A2},
        {},
        LAPSED_2FA,
        KNOWLEDGE_ONLY,
        ("fail", UNMET, "unmet"),
        id="knowledge-only-lapsed-2fa-no-plan-stays-unmet",
    ),
    pytest.param(
        {"acr_values": PIN_AND_TOTP},
        {},
        [pwd()],
        (E_PASSWORD, E_PIN, E_TOTP, E_BACKUP),
        ("step", PIN_AND_TOTP, ("totp", "pin"), "acr_not_met"),
        id="custom-two-factor-level-is-reached-by-a-sequence",
    ),
    pytest.param(
        {"acr_values": PIN_AND_TOTP},
        {},
        [pwd(), pin(NOW - 5)],
        (E_PASSWORD, E_PIN, E_TOTP, E_BACKUP),
        ("step", PIN_AND_TOTP, ("totp",), "acr_not_met"),
        id="custom-two-factor-level-second-step",
    ),
    pytest.param(
        {"acr_values": PIN_AND_TOTP},
        {},
        [pwd(), pin(NOW - 5), totp(NOW - 2)],
        (E_PASSWORD, E_PIN, E_TOTP, E_BACKUP),
        ("ok", PIN_AND_TOTP, "satisfied"),
        id="custom-two-factor-level-reached",
    ),
    pytest.param(
        {"acr_values": PIN_AND_TOTP},
        {"min_pin_length": 8},
        [pwd()],
        (E_PASSWORD, E_PIN, E_TOTP),
        ("fail", UNMET, "unmet"),
        id="custom-two-factor-level-short-pin-cannot-be-planned",
    ),
    pytest.param(
        {"acr_values": f"{PIN_AND_TOTP} {A2}"},
        {},
        [pwd()],
        (E_PASSWORD, E_PIN, E_TOTP),
        ("step", PIN_AND_TOTP, ("totp", "pin"), "acr_not_met"),
        id="custom-two-factor-level-preferred-over-a-one-step-lower-level",
    ),
]


@pytest.mark.parametrize(("params", "policy", "state", "enrolled", "expected"), PLAN_ROWS)
def test_decide_plans(
    params: dict[str, str],
    policy: dict[str, Any],
    state: list[Event],
    enrolled: tuple[EnrolledMethod, ...],
    expected: tuple[Any, ...],
) -> None:
    client = ClientPolicy(**policy)
    requirement = parse_requirement(params, client, PLAN_LADDER, transaction_started_at=STARTED)
    decision = decide(requirement, client, PLAN_LADDER, session(state), enrolled, NOW)
    assert summary(decision) == expected


def test_plan_offers_the_passkeys_of_a_shortest_plan() -> None:
    """A custom level needing a device-bound passkey and a TOTP: the first step offers
    the hardware passkeys (their credential ids) and the TOTP, never the synced one."""
    ladder = ladder_from_data(
        {
            "version": 1,
            "levels": [
                *default_ladder_data()["levels"],
                {
                    "acr": "urn:example:acr:hw+otp",
                    "level": 10,
                    "rule": [[{"method": "passkey", "backup_eligible": False}, {"method": "totp"}]],
                },
            ],
        }
    )
    client = ClientPolicy()
    requirement = parse_requirement({"acr_values": "urn:example:acr:hw+otp"}, client, ladder)
    enrolled = (E_PASSWORD, E_SYNC, E_HW, E_HW2, E_TOTP)
    decision = decide(requirement, client, ladder, session([pwd()]), enrolled, NOW)
    assert decision == StepUp(
        "urn:example:acr:hw+otp", ("passkey", "totp"), "acr_not_met", ("hw", "hw2")
    )


def test_plan_longer_than_the_cap_is_refused() -> None:
    """A rule needing more new events than MAX_PLAN_STEPS is not searched (a bound on
    the work of one decision): refused as before."""
    from provider.policy.engine.planning import MAX_PLAN_STEPS

    count = MAX_PLAN_STEPS + 2
    ladder = ladder_from_data(
        {
            "version": 1,
            "levels": [
                *default_ladder_data()["levels"],
                {"acr": "urn:example:many", "level": 10, "rule": [[{"min_events": count}]]},
            ],
        }
    )
    client = ClientPolicy()
    requirement = parse_requirement({"acr_values": "urn:example:many"}, client, ladder)
    enrolled = tuple(EnrolledMethod("passkey", credential_id=f"k{i}") for i in range(count))
    decision = decide(requirement, client, ladder, session([pwd()]), enrolled, NOW)
    assert summary(decision) == ("fail", UNMET, "unmet")
    # Within the cap, the same kind of rule is planned.
    fewer = ladder_from_data(
        {
            "version": 1,
            "levels": [
                *default_ladder_data()["levels"],
                {"acr": "urn:example:many", "level": 10, "rule": [[{"min_events": 3}]]},
            ],
        }
    )
    decision = decide(requirement, client, fewer, session([pwd()]), enrolled, NOW)
    assert isinstance(decision, StepUp) and decision.methods == ("passkey",)
