"""Passkeys with a software authenticator: every case of docs/security.md section C
(14-20), the policy they feed (amr, acr, AAGUID allow-lists) and the account
page, without a browser (tests/browser/test_passkeys.py drives real Chromium).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider import clock
from provider.extensions import db
from provider.storage.models import AuditEvent, Passkey, WebAuthnChallenge
from tests.conftest import Actions, answer_confirmation, pkce_pair
from tests.webauthn_soft import SoftAuthenticator, TestCA, b64url

pytestmark = pytest.mark.settings(ORIGINS="http://localhost", RP_ID="localhost")

PHR = "urn:belay:acr:phr"
PHRH = "urn:belay:acr:phrh"
TWO_FA = "urn:belay:acr:2fa"
PIN = "480975"
AAGUID = "2fc0579f-8113-47ea-b116-bb5a8db9202a"
AAGUID_BYTES = bytes.fromhex(AAGUID.replace("-", ""))


# -- helpers -------------------------------------------------------------------------


def csrf(actions: Actions, path: str = "/login") -> str:
    html = actions.client.get(path).text
    match = re.search(r'data-csrf="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def post(actions: Actions, path: str, body: Any, token: str | None = None) -> Any:
    token = token or csrf(actions)
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return actions.client.post(
        path, data=data, headers={"X-CSRF-Token": token, "Content-Type": "application/json"}
    )


def register(actions: Actions, auth: SoftAuthenticator, name: str = "Laptop", **kw: Any) -> Any:
    options = post(actions, "/webauthn/register/options", {})
    assert options.status_code == 200, options.text
    credential = auth.create(options.get_json(), **kw)
    return post(actions, "/webauthn/register/verify", {"credential": credential, "name": name})


def confirm_with(actions: Actions, auth: SoftAuthenticator) -> None:
    """Confirm access on the account page with a passkey."""
    token = csrf(actions, "/account")
    options = post(actions, "/webauthn/step-up/options", {"tx": ""}, token)
    assert options.status_code == 200, options.text
    done = post(
        actions,
        "/webauthn/step-up/verify",
        {"credential": auth.get(options.get_json()), "tx": ""},
        token,
    )
    assert done.status_code == 200, done.text


def login_options(actions: Actions, tx: str = "") -> dict[str, Any]:
    response = post(actions, "/webauthn/login/options", {"tx": tx})
    assert response.status_code == 200, response.text
    return dict(response.get_json())


def login_verify(actions: Actions, credential: dict[str, Any], tx: str = "") -> Any:
    return post(actions, "/webauthn/login/verify", {"credential": credential, "tx": tx})


def passkey_login(actions: Actions, auth: SoftAuthenticator, tx: str = "", **kw: Any) -> Any:
    return login_verify(actions, auth.get(login_options(actions, tx), **kw), tx)


def fresh_browser(actions: Actions) -> None:
    actions.client.get("/logout")
    actions.client.delete_cookie("belay_session")


@pytest.fixture
def user(actions: Actions) -> int:
    user_id = actions.create_user()
    actions.login()
    return int(user_id)


@pytest.fixture
def auth() -> SoftAuthenticator:
    return SoftAuthenticator(aaguid=AAGUID_BYTES)


@pytest.fixture
def enrolled(actions: Actions, user: int, auth: SoftAuthenticator) -> SoftAuthenticator:
    """alice with one device-bound passkey (UV-capable), signed out."""
    response = register(actions, auth)
    assert response.status_code == 200, response.text
    fresh_browser(actions)
    return auth


def audits(app: Flask, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == event)))


def stored(app: Flask) -> list[Passkey]:
    with app.app_context():
        return list(db.session.scalars(db.select(Passkey).order_by(Passkey.id)))


def tx_of(response: Any) -> str:
    match = re.search(r'name="tx" value="([^"]+)"', response.text) or re.search(
        r'data-tx="([^"]+)"', response.text
    )
    assert match, response.text[:400]
    return match.group(1)


def authorize(actions: Actions, client_id: str = "rp", **params: Any) -> tuple[Any, str]:
    verifier, challenge = pkce_pair()
    response = actions.follow(
        actions.authorize(
            client_id, code_challenge=challenge, code_challenge_method="S256", **params
        )
    )
    return response, verifier


def tokens(actions: Actions, response: Any, verifier: str, secret: str) -> dict[str, Any]:
    from urllib.parse import parse_qs, urlsplit

    assert response.status_code == 302, response.text[:400]
    query = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    assert "code" in query, query
    exchanged = actions.exchange({**query, "code_verifier": verifier}, "rp", secret)
    assert exchanged.status_code == 200, exchanged.text
    return dict(actions.decode(exchanged.get_json()["id_token"]))


@pytest.fixture
def rp(actions: Actions) -> str:
    secret = actions.create_client("rp", secret="rp-secret-0123456789")
    assert secret
    return secret


# -- registration and the happy paths ---------------------------------------------------


def test_registration_stores_the_credential(
    actions: Actions, app: Flask, user: int, auth: SoftAuthenticator
) -> None:
    options = post(actions, "/webauthn/register/options", {}).get_json()
    assert options["rp"] == {"id": "localhost", "name": "Belay"}
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["excludeCredentials"] == []
    credential = auth.create(options)
    response = post(
        actions, "/webauthn/register/verify", {"credential": credential, "name": "  My  key "}
    )
    assert response.status_code == 200, response.text
    (row,) = stored(app)
    assert row.user_id == user and row.name == "My key"
    assert row.credential_id == b64url(auth.credential_id)
    assert row.aaguid == AAGUID and row.transports == ["internal"]
    assert (row.backup_eligible, row.backup_state, row.sign_count) == (False, False, 0)
    assert row.created_at and row.last_used_at is None and not row.attested
    # The new passkey is now the strongest factor: confirming access needs it.
    assert post(actions, "/webauthn/register/options", {}).status_code == 403
    confirm_with(actions, auth)
    again = post(actions, "/webauthn/register/options", {}).get_json()
    assert again["excludeCredentials"][0]["id"] == b64url(auth.credential_id)
    assert again["user"]["id"] == options["user"]["id"]  # a stable random user handle
    assert audits(app, "factor_enrolled")[-1].method == "passkey"


def test_packed_self_attestation_registers(actions: Actions, app: Flask, user: int) -> None:
    assert register(actions, SoftAuthenticator(), fmt="packed").status_code == 200
    assert stored(app)[0].attestation_fmt == "packed"


def test_passkey_login_alone_reaches_phrh_with_amr(
    actions: Actions, app: Flask, rp: str, enrolled: SoftAuthenticator
) -> None:
    response = passkey_login(actions, enrolled)
    assert response.status_code == 200, response.text
    assert response.get_json()["redirect"].endswith("/account")
    assert stored(app)[0].sign_count == 1 and stored(app)[0].last_used_at
    page, verifier = authorize(actions, acr_values=PHRH)
    claims = tokens(actions, page, verifier, rp)
    assert claims["acr"] == PHRH
    assert set(claims["amr"]) == {"hwk", "user", "mfa"}


def test_passkey_login_from_the_console_returns_to_it(
    actions: Actions, enrolled: SoftAuthenticator
) -> None:
    """`/admin` sends a signed-out admin to `/login?next=/admin/...`; a passkey
    sign-in goes back there like a password one, and never to another site."""
    page = actions.client.get("/login?next=/admin/users")
    assert "/webauthn/login/verify?next=/admin/users" in page.text.replace("%2F", "/")
    credential = enrolled.get(login_options(actions))
    done = post(actions, "/webauthn/login/verify?next=/admin/users", {"credential": credential})
    assert done.status_code == 200, done.text
    assert done.get_json()["redirect"] == "/admin/users"
    fresh_browser(actions)
    credential = enrolled.get(login_options(actions))
    evil = "/webauthn/login/verify?next=https://evil.example/admin"
    elsewhere = post(actions, evil, {"credential": credential})
    assert elsewhere.status_code == 200, elsewhere.text
    assert elsewhere.get_json()["redirect"].endswith("/account")


def test_passkey_login_inside_an_authorization(
    actions: Actions, rp: str, enrolled: SoftAuthenticator
) -> None:
    page, verifier = authorize(actions, acr_values=PHR)
    assert 'id="passkey-login"' in page.text
    tx = tx_of(page)
    response = passkey_login(actions, enrolled, tx=tx)
    assert response.status_code == 200, response.text
    assert f"tx={tx}" in response.get_json()["redirect"]
    done = actions.follow(actions.client.get(response.get_json()["redirect"]))
    claims = tokens(actions, done, verifier, rp)
    assert claims["acr"] == PHR and {"hwk", "user", "mfa"} <= set(claims["amr"])


def test_step_up_to_phr_from_a_password_session(
    actions: Actions, app: Flask, rp: str, enrolled: SoftAuthenticator
) -> None:
    actions.login()
    page, verifier = authorize(actions, acr_values=PHR)
    assert 'id="passkey-form"' in page.text and 'id="passkey-button"' in page.text
    tx = tx_of(page)
    options = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
    assert options["userVerification"] == "required"
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(enrolled.credential_id)]
    before = actions.client.get_cookie("belay_session").value
    response = post(
        actions, "/webauthn/step-up/verify", {"credential": enrolled.get(options), "tx": tx}
    )
    assert response.status_code == 200, response.text
    assert actions.client.get_cookie("belay_session").value != before  # rotated (D.28)
    done = actions.follow(actions.client.get(response.get_json()["redirect"]))
    claims = tokens(actions, done, verifier, rp)
    assert claims["acr"] == PHR
    assert {"pwd", "hwk", "user", "mfa"} <= set(claims["amr"])


def test_a_passkey_step_up_can_remember_the_browser(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator
) -> None:
    secret = actions.create_client(
        "rp",
        secret="rp-secret-0123456789",
        client_policy={"minimum_acr": TWO_FA, "remember_device_days": 30},
    )
    assert secret

    def step_up(remember: Any) -> Any:
        actions.login()
        page, verifier = authorize(actions)
        assert 'id="passkey-form"' in page.text and 'name="remember_device"' in page.text
        tx = tx_of(page)
        options = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
        body = {"credential": enrolled.get(options), "tx": tx, "remember_device": remember}
        done = post(actions, "/webauthn/step-up/verify", body)
        assert done.status_code == 200, done.text
        return tokens(
            actions,
            actions.follow(actions.client.get(done.get_json()["redirect"])),
            verifier,
            secret,
        )

    assert step_up("yes")["acr"] == PHRH  # only JSON true asks to remember
    assert actions.client.get_cookie("belay_device") is None
    fresh_browser(actions)
    assert step_up(True)["acr"] == PHRH
    assert actions.client.get_cookie("belay_device") is not None
    fresh_browser(actions)

    clock.set_offset(120)
    actions.login()
    response, verifier = authorize(actions)
    claims = tokens(actions, response, verifier, secret)  # no challenge this time
    # The remembered passkey meets the client's minimum; it never claims phrh again.
    assert claims["acr"] == TWO_FA and {"pwd", "hwk"} <= set(claims["amr"])
    replayed = audits(app, "device_replayed")
    assert len(replayed) == 1 and replayed[0].method == "passkey"


def test_passkey_without_uv_plus_pin_reaches_2fa(actions: Actions, app: Flask, user: int) -> None:
    secret = actions.create_client(
        "rp",
        secret="rp-secret-0123456789",
        client_policy={"passkey_user_verification": "discouraged"},
    )
    assert secret
    with app.app_context():
        app.extensions["belay_factors"].get("pin").set_pin(user, PIN, PIN)
    auth = SoftAuthenticator(user_verifying=False)
    assert register(actions, auth).status_code == 200
    fresh_browser(actions)
    page, verifier = authorize(actions, acr_values=TWO_FA)
    tx = tx_of(page)
    options = login_options(actions, tx)
    assert options["userVerification"] == "discouraged"
    response = login_verify(actions, auth.get(options), tx)
    assert response.status_code == 200, response.text
    challenge = actions.follow(actions.client.get(response.get_json()["redirect"]))
    assert 'id="pin-form"' in challenge.text  # a passkey without UV is one factor
    token = re.search(r'name="csrf_token" value="([^"]+)"', challenge.text)
    assert token
    done = actions.follow(
        actions.client.post(
            f"/challenge?tx={tx}",
            data={"csrf_token": token.group(1), "tx": tx, "method": "pin", "pin": PIN},
        )
    )
    claims = tokens(actions, done, verifier, secret)
    assert claims["acr"] == TWO_FA
    assert set(claims["amr"]) == {"hwk", "pin", "mfa"}


def test_the_challenge_form_path_cannot_submit_a_passkey(
    actions: Actions, rp: str, enrolled: SoftAuthenticator
) -> None:
    actions.login()
    page, _ = authorize(actions, acr_values=PHR)
    tx = tx_of(page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    options = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
    forged = actions.client.post(
        f"/challenge?tx={tx}",
        data={
            "csrf_token": token.group(1),
            "tx": tx,
            "method": "passkey",
            "credential": json.dumps(enrolled.get(options)),
            "challenge": options["challenge"],
        },
    )
    assert forged.status_code == 401 and 'class="error"' in forged.text


# -- C.14 challenges ----------------------------------------------------------------------


def test_14_challenge_is_stored_server_side_and_single_use(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator
) -> None:
    options = login_options(actions)
    with app.app_context():
        (row,) = db.session.scalars(db.select(WebAuthnChallenge)).all()
        assert row.ceremony == "authentication" and row.expires_at - row.created_at == 120
    credential = enrolled.get(options)
    assert login_verify(actions, credential).status_code == 200
    with app.app_context():
        assert db.session.scalars(db.select(WebAuthnChallenge)).all() == []
    replay = login_verify(actions, enrolled.get(options))
    assert replay.status_code == 400
    assert replay.get_json()["error"] == "invalid_passkey"


def test_14_a_failed_attempt_uses_up_the_challenge(
    actions: Actions, enrolled: SoftAuthenticator
) -> None:
    options = login_options(actions)
    assert (
        login_verify(actions, enrolled.get(options, origin="https://evil.test")).status_code == 400
    )
    assert login_verify(actions, enrolled.get(options)).status_code == 400


def test_14_challenge_is_bound_to_the_session(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator
) -> None:
    options = login_options(actions)  # issued to this browser
    other = Actions(app, app.test_client())
    other.client.get("/login")
    login_options(other)  # the other browser has its own challenge
    stolen = login_verify(other, enrolled.get(options))
    assert stolen.status_code == 400
    # and the original browser's challenge is untouched by the other's attempt
    assert login_verify(actions, enrolled.get(options)).status_code == 200


def test_14_challenge_is_bound_to_the_ceremony(
    actions: Actions, rp: str, enrolled: SoftAuthenticator
) -> None:
    actions.login()
    page, _ = authorize(actions, acr_values=PHR)
    tx = tx_of(page)
    step_up_options = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
    # a step-up challenge is no login challenge
    assert login_verify(actions, enrolled.get(step_up_options)).status_code == 400
    login = login_options(actions)
    # nor is a login challenge a step-up one (the step-up challenge is still there)
    misuse = post(
        actions, "/webauthn/step-up/verify", {"credential": enrolled.get(login), "tx": tx}
    )
    assert misuse.status_code == 400


def test_14_challenge_expires(actions: Actions, enrolled: SoftAuthenticator) -> None:
    options = login_options(actions)
    clock.set_offset(121)
    assert login_verify(actions, enrolled.get(options)).status_code == 400


def test_14_a_challenge_not_issued_here_is_refused(
    actions: Actions, enrolled: SoftAuthenticator
) -> None:
    login_options(actions)
    forged = enrolled.get({"challenge": b64url(b"\x01" * 32)})
    assert login_verify(actions, forged).status_code == 400


# -- C.15 origin, RP ID, type, crossOrigin ---------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://localhost",
        "http://localhost:8080",
        "http://evil.localhost",
        "http://localhost.evil",
    ],
)
def test_15_wrong_origin_is_refused(
    actions: Actions, enrolled: SoftAuthenticator, origin: str
) -> None:
    response = passkey_login(actions, enrolled, origin=origin)
    assert response.status_code == 400


def test_15_origin_comes_from_configuration_not_headers(
    actions: Actions, enrolled: SoftAuthenticator
) -> None:
    options = login_options(actions)
    response = actions.client.post(
        "/webauthn/login/verify",
        data=json.dumps({"credential": enrolled.get(options, origin="https://evil.test")}),
        headers={
            "X-CSRF-Token": csrf(actions),
            "Content-Type": "application/json",
            "Origin": "https://evil.test",
            "Host": "evil.test",
            "X-Forwarded-Host": "evil.test",
        },
    )
    assert response.status_code in (400, 403)


def test_15_wrong_rp_id_hash_is_refused(actions: Actions, enrolled: SoftAuthenticator) -> None:
    assert passkey_login(actions, enrolled, rp_id="evil.test").status_code == 400


def test_15_create_data_in_a_get_is_refused(actions: Actions, enrolled: SoftAuthenticator) -> None:
    assert passkey_login(actions, enrolled, type="webauthn.create").status_code == 400


@pytest.mark.parametrize("value", [True, "true", "false", 1])
def test_15_cross_origin_is_refused(
    actions: Actions, enrolled: SoftAuthenticator, value: Any
) -> None:
    assert passkey_login(actions, enrolled, cross_origin=value).status_code == 400


def test_15_cross_origin_false_is_fine(actions: Actions, enrolled: SoftAuthenticator) -> None:
    assert passkey_login(actions, enrolled, cross_origin=False).status_code == 200


def test_15_registration_checks_origin_rp_id_and_type(
    actions: Actions, app: Flask, user: int
) -> None:
    for bad in (
        {"origin": "http://localhost:5000"},
        {"rp_id": "evil.test"},
        {"type": "webauthn.get"},
        {"cross_origin": True},
    ):
        assert register(actions, SoftAuthenticator(), **bad).status_code == 400, bad
    assert stored(app) == []


# -- C.16 user presence and verification ---------------------------------------------------


def test_16_user_presence_is_required(actions: Actions, app: Flask, user: int) -> None:
    assert register(actions, SoftAuthenticator(), up=False).status_code == 400
    auth = SoftAuthenticator()
    assert register(actions, auth).status_code == 200
    fresh_browser(actions)
    assert passkey_login(actions, auth, up=False).status_code == 400


def test_16_user_verification_where_required(
    actions: Actions, rp: str, enrolled: SoftAuthenticator
) -> None:
    response = passkey_login(actions, enrolled, uv=False)
    assert response.status_code == 400
    assert "verify" in response.get_json()["error_description"]
    actions.login()
    page, _ = authorize(actions, acr_values=PHR)
    tx = tx_of(page)
    options = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
    refused = post(
        actions,
        "/webauthn/step-up/verify",
        {"credential": enrolled.get(options, uv=False), "tx": tx},
    )
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_passkey"


def test_16_preferred_accepts_uv_zero_but_it_is_not_phr(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator
) -> None:
    actions.create_client(
        "rp",
        secret="rp-secret-0123456789",
        client_policy={"passkey_user_verification": "preferred"},
    )
    page, _ = authorize(actions, acr_values=PHR)
    tx = tx_of(page)
    options = login_options(actions, tx)
    assert options["userVerification"] == "preferred"
    response = login_verify(actions, enrolled.get(options, uv=False), tx)
    assert response.status_code == 200
    after = actions.follow(actions.client.get(response.get_json()["redirect"]))
    assert 'id="passkey-form"' in after.text  # phr still needs a passkey with UV


# -- C.17 sign counter ---------------------------------------------------------------------------


@pytest.mark.parametrize("presented", [10, 5])
def test_17_sign_count_regression_is_refused_and_audited(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator, presented: int
) -> None:
    assert passkey_login(actions, enrolled, sign_count=10).status_code == 200
    fresh_browser(actions)
    response = passkey_login(actions, enrolled, sign_count=presented)
    assert response.status_code == 400
    assert "counter" in response.get_json()["error_description"]
    (row,) = audits(app, "passkey_sign_count_regression")
    assert row.result == "refused" and row.details["stored"] == 10
    assert row.details["presented"] == presented
    assert stored(app)[0].sign_count == 10
    assert passkey_login(actions, enrolled, sign_count=11).status_code == 200


def test_17_counterless_authenticators_stay_at_zero(
    actions: Actions, app: Flask, user: int
) -> None:
    auth = SoftAuthenticator(counts=False)
    assert register(actions, auth).status_code == 200
    for _ in range(2):
        fresh_browser(actions)
        assert passkey_login(actions, auth).status_code == 200
    assert stored(app)[0].sign_count == 0
    fresh_browser(actions)
    assert passkey_login(actions, auth, sign_count=3).status_code == 200
    fresh_browser(actions)
    assert passkey_login(actions, auth, sign_count=0).status_code == 400  # 3 -> 0


# -- C.18 backup flags --------------------------------------------------------------------------


def test_18_be_clear_with_bs_set_is_refused(actions: Actions, app: Flask, user: int) -> None:
    assert register(actions, SoftAuthenticator(), be=False, bs=True).status_code == 400
    auth = SoftAuthenticator()
    assert register(actions, auth).status_code == 200
    fresh_browser(actions)
    assert passkey_login(actions, auth, be=False, bs=True).status_code == 400


def test_18_be_must_not_change_since_registration(
    actions: Actions, enrolled: SoftAuthenticator
) -> None:
    assert passkey_login(actions, enrolled, be=True, bs=True).status_code == 400
    fresh_browser(actions)
    assert passkey_login(actions, enrolled).status_code == 200


def test_18_a_synced_passkey_never_yields_phrh(
    actions: Actions, app: Flask, rp: str, user: int
) -> None:
    synced = SoftAuthenticator(backup_eligible=True, backup_state=True)
    assert register(actions, synced).status_code == 200
    fresh_browser(actions)
    assert passkey_login(actions, synced).status_code == 200
    page, verifier = authorize(actions, acr_values=f"{PHRH} {PHR}")
    claims = tokens(actions, page, verifier, rp)
    assert claims["acr"] == PHR
    assert "swk" in claims["amr"] and "hwk" not in claims["amr"]
    essential = json.dumps({"id_token": {"acr": {"essential": True, "values": [PHRH]}}})
    refused, _ = authorize(actions, claims=essential)
    # Nothing this user has can reach phrh: an error, never a passkey prompt.
    assert refused.status_code == 302
    assert "error=unmet_authentication_requirements" in refused.headers["Location"]


# -- C.19 registration refusals --------------------------------------------------------------


def test_19_duplicate_credential_id_is_refused(
    actions: Actions, app: Flask, user: int, auth: SoftAuthenticator
) -> None:
    assert register(actions, auth).status_code == 200
    confirm_with(actions, auth)
    assert register(actions, auth).status_code == 400
    fresh_browser(actions)
    actions.create_user("bob")
    actions.login("bob")
    copy = SoftAuthenticator(credential_id=auth.credential_id)
    response = register(actions, copy)
    assert response.status_code == 400
    assert "already registered" in response.get_json()["error_description"]
    assert len(stored(app)) == 1


def test_19_credential_id_over_1023_bytes_is_refused(
    actions: Actions, app: Flask, user: int
) -> None:
    assert register(actions, SoftAuthenticator(credential_id=b"\x07" * 1024)).status_code == 400
    assert register(actions, SoftAuthenticator(credential_id=b"\x07" * 1023)).status_code == 200


@pytest.mark.parametrize("alg", [-35, -36, -37, -65535])
def test_19_disallowed_algorithm_is_refused(
    actions: Actions, app: Flask, user: int, alg: int
) -> None:
    response = register(actions, SoftAuthenticator(), alg=alg)
    assert response.status_code == 400
    assert stored(app) == []


def test_19_registration_needs_confirmed_access(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator
) -> None:
    actions.login()  # password only: below the passkey's level
    clock.set_offset(10)
    options = post(actions, "/webauthn/register/options", {})
    assert options.status_code == 403
    assert options.get_json()["error"] == "confirm_access"
    verify = post(
        actions,
        "/webauthn/register/verify",
        {"credential": SoftAuthenticator().create({"challenge": b64url(b"x" * 32)}), "name": "x"},
    )
    assert verify.status_code == 403
    assert len(stored(app)) == 1
    fresh_browser(actions)
    anonymous = post(actions, "/webauthn/register/options", {})
    assert anonymous.status_code == 401


def test_19_confirm_access_with_a_passkey_then_register_another(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator
) -> None:
    actions.login()
    page = actions.client.get("/account")
    assert 'id="passkey-button"' in page.text  # confirm at the passkey's level
    options = post(actions, "/webauthn/step-up/options", {"tx": ""}, csrf(actions, "/account"))
    assert options.status_code == 200, options.text
    confirmed = post(
        actions,
        "/webauthn/step-up/verify",
        {"credential": enrolled.get(options.get_json()), "tx": ""},
        csrf(actions, "/account"),
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.get_json()["redirect"].endswith("/account")
    second = SoftAuthenticator()
    assert register(actions, second, name="Phone").status_code == 200
    assert [r.name for r in stored(app)] == ["Laptop", "Phone"]


# -- C.20 fuzzing ------------------------------------------------------------------------------


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    auth_data=st.binary(max_size=80),
    client_data=st.one_of(st.binary(max_size=120), st.text(max_size=60).map(str.encode)),
    signature=st.binary(max_size=80),
    user_handle=st.one_of(st.none(), st.text(max_size=20), st.integers()),
)
def test_20_fuzzed_assertions_are_4xx(
    actions: Actions,
    enrolled: SoftAuthenticator,
    auth_data: bytes,
    client_data: bytes,
    signature: bytes,
    user_handle: Any,
) -> None:
    options = login_options(actions)
    credential = enrolled.get(options)
    credential["response"].update(
        authenticatorData=b64url(auth_data),
        clientDataJSON=b64url(client_data),
        signature=b64url(signature),
        userHandle=user_handle,
    )
    response = login_verify(actions, credential)
    assert 400 <= response.status_code < 500


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    attestation=st.one_of(
        st.binary(max_size=200),
        st.dictionaries(
            st.sampled_from(["fmt", "attStmt", "authData", "x"]),
            st.one_of(st.binary(max_size=80), st.text(max_size=10), st.integers(), st.none()),
        ).map(lambda d: __import__("cbor2").dumps(d)),
    ),
    client_data=st.binary(max_size=120),
)
def test_20_fuzzed_registrations_are_4xx(
    actions: Actions, user: int, attestation: bytes, client_data: bytes
) -> None:
    options = post(actions, "/webauthn/register/options", {}).get_json()
    credential = SoftAuthenticator().create(options)
    credential["response"]["attestationObject"] = b64url(attestation)
    if client_data:
        credential["response"]["clientDataJSON"] = b64url(client_data)
    response = post(actions, "/webauthn/register/verify", {"credential": credential, "name": "x"})
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[]",
        "null",
        '{"credential": "a string"}',
        '{"credential": {}}',
        '{"credential": {"id": 1, "rawId": [], "response": null}}',
        '{"credential": {"id": "AA", "rawId": "AA", "type": "public-key", "response": {}}}',
        '{"credential": {"id": "!!", "rawId": "!!", "type": "public-key", "response": '
        '{"clientDataJSON": "!!", "authenticatorData": "", "signature": ""}}}',
        '{"tx": 5, "credential": {}}',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_20_malformed_bodies_are_4xx(
    actions: Actions, rp: str, enrolled: SoftAuthenticator, body: str
) -> None:
    login_options(actions)
    for path in ("/webauthn/login/verify", "/webauthn/login/options"):
        assert 400 <= post(actions, path, body).status_code < 500 or path.endswith("options")
    actions.login()
    for path in ("/webauthn/step-up/verify", "/webauthn/register/verify"):
        response = post(actions, path, body)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert "error" in response.get_json()
    # options ignore what they do not read, but never fail with a 500
    assert post(actions, "/webauthn/step-up/options", body).status_code < 500


@pytest.mark.parametrize(
    ("path", "body", "status", "error", "description"),
    [
        ("/webauthn/login/options", "[]", 400, "invalid_request", "Send a JSON object."),
        ("/webauthn/login/options", "not json", 400, "invalid_request", None),
        ("/webauthn/login/options", '{"tx": 5}', 400, "invalid_request", '"tx" must be a string.'),
        (
            "/webauthn/login/options",
            '{"tx": "gone"}',
            400,
            "expired",
            "This sign-in has expired. Go back to the application.",
        ),
        (
            "/webauthn/login/verify",
            '{"credential": "a string"}',
            400,
            "invalid_request",
            'Send the passkey response as "credential".',
        ),
        ("/webauthn/register/options", "{}", 401, "login_required", "Sign in first."),
    ],
)
def test_refusals_are_mapped_json_errors(
    actions: Actions,
    rp: str,
    path: str,
    body: str,
    status: int,
    error: str,
    description: str | None,
) -> None:
    """Every refusal is a BelayError answered by the one mapping
    (provider/web/errors.py): JSON, the error's status, not cached."""
    login_options(actions)  # a browser session with a passkey challenge
    response = post(actions, path, body)
    assert response.status_code == status, response.text
    assert response.headers["Cache-Control"] == "no-store"
    payload = response.get_json()
    assert payload["error"] == error
    if description is not None:
        assert payload["error_description"] == description


def test_passkey_login_without_a_session_has_expired(actions: Actions, rp: str) -> None:
    """An anonymous login page opens no session (case 55): a passkey answer
    without the options call that opens one has nothing to answer."""
    response = post(actions, "/webauthn/login/verify", {"credential": {}})
    assert response.status_code == 400, response.text
    assert response.get_json() == {
        "error": "expired",
        "error_description": "This passkey request expired or was already used. Try again.",
    }


def test_json_endpoints_need_csrf(actions: Actions, enrolled: SoftAuthenticator) -> None:
    response = actions.client.post(
        "/webauthn/login/options", json={}, headers={"X-CSRF-Token": "nope"}
    )
    assert response.status_code == 403
    assert response.get_json()["error"] == "csrf"


# -- ownership and user handles -----------------------------------------------------------------


def test_user_handle_must_be_the_owners(
    actions: Actions, app: Flask, enrolled: SoftAuthenticator
) -> None:
    assert passkey_login(actions, enrolled, user_handle=b"\x00" * 64).status_code == 400
    assert passkey_login(actions, enrolled, user_handle=None).status_code == 400
    assert passkey_login(actions, enrolled).status_code == 200


def test_a_passkey_of_another_user_cannot_step_up(
    actions: Actions, app: Flask, rp: str, enrolled: SoftAuthenticator
) -> None:
    actions.create_user("bob")
    actions.login("bob")
    bob_key = SoftAuthenticator()
    assert register(actions, bob_key).status_code == 200
    fresh_browser(actions)
    actions.login()  # alice
    page, _ = authorize(actions, acr_values=PHR)
    tx = tx_of(page)
    options = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
    response = post(
        actions, "/webauthn/step-up/verify", {"credential": bob_key.get(options), "tx": tx}
    )
    assert response.status_code == 400
    assert "another account" in response.get_json()["error_description"]


def test_unknown_credential_is_refused(actions: Actions, enrolled: SoftAuthenticator) -> None:
    assert passkey_login(actions, SoftAuthenticator(user_handle=b"x")).status_code == 400


# -- AAGUID allow-lists and attestation ----------------------------------------------------------


def test_allowed_aaguids_need_an_attested_passkey(
    actions: Actions, app: Flask, runner: Any, user: int, tmp_path: Any
) -> None:
    secret = actions.create_client(
        "rp", secret="rp-secret-0123456789", client_policy={"allowed_aaguids": [AAGUID]}
    )
    assert secret
    options = post(actions, "/webauthn/register/options", {}).get_json()
    assert options["attestation"] == "direct"
    # Without a trusted root the AAGUID is only a claim: stored, never counted.
    claimed = SoftAuthenticator(aaguid=AAGUID_BYTES)
    assert register(actions, claimed, fmt="packed").status_code == 200
    confirm_with(actions, claimed)
    ca = TestCA()
    pem = tmp_path / "root.pem"
    pem.write_bytes(ca.pem)
    result = runner.invoke(args=["passkeys", "add-root", str(pem)])
    assert result.exit_code == 0 and "Added" in result.output, result.output
    assert "Already trusted" in runner.invoke(args=["passkeys", "add-root", str(pem)]).output
    assert "Belay Test Attestation Root" in runner.invoke(args=["passkeys", "roots"]).output
    attested = SoftAuthenticator(aaguid=AAGUID_BYTES)
    assert register(actions, attested, fmt="packed", ca=ca).status_code == 200
    other_ca = TestCA("Someone else")
    untrusted = SoftAuthenticator(aaguid=AAGUID_BYTES)
    assert register(actions, untrusted, fmt="packed", ca=other_ca).status_code == 200
    rows = {r.credential_id: r for r in stored(app)}
    assert rows[b64url(attested.credential_id)].attested
    assert not rows[b64url(claimed.credential_id)].attested
    assert not rows[b64url(untrusted.credential_id)].attested
    listing = runner.invoke(args=["passkeys", "list", "alice"]).output
    assert "attested" in listing and "unattested" in listing
    # Offered for step-up: only the attested one.
    page, verifier = authorize(actions, acr_values=PHR)
    tx = tx_of(page)
    step = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
    assert [c["id"] for c in step["allowCredentials"]] == [b64url(attested.credential_id)]
    # The claimed one is refused even when presented.
    refused = post(actions, "/webauthn/step-up/verify", {"credential": claimed.get(step), "tx": tx})
    assert refused.status_code == 400
    step = post(actions, "/webauthn/step-up/options", {"tx": tx}).get_json()
    ok = post(actions, "/webauthn/step-up/verify", {"credential": attested.get(step), "tx": tx})
    assert ok.status_code == 200, ok.text
    done = actions.follow(actions.client.get(ok.get_json()["redirect"]))
    assert tokens(actions, done, verifier, secret)["acr"] == PHR


def test_attestation_roots_from_configuration(tmp_path: Any, database: str) -> None:
    from provider.app import create_app
    from tests.conftest import base_config

    ca = TestCA()
    pem = tmp_path / "roots.pem"
    pem.write_bytes(ca.pem)
    app = create_app(base_config(PASSKEY_ATTESTATION_ROOTS=str(pem), ORIGINS="http://localhost"))
    with app.app_context():
        roots = app.extensions["belay_factors"].get("passkey")._roots_by_fmt()
        assert any(ca.pem in pems for pems in roots.values())


# -- the account page ----------------------------------------------------------


def test_account_lists_renames_and_deletes_passkeys(
    actions: Actions, app: Flask, user: int, auth: SoftAuthenticator
) -> None:
    assert register(actions, auth, name="Laptop").status_code == 200
    page = actions.client.get("/account")
    assert "Laptop" in page.text and 'id="passkey-register"' not in page.text
    assert 'id="passkey-button"' in page.text  # confirm access with the passkey first
    confirm_with(actions, auth)
    page = actions.client.get("/account")
    assert 'id="passkey-register"' in page.text
    assert 'id="passkey-name"' in page.text
    (row,) = stored(app)
    token = csrf(actions, "/account")
    renamed = actions.client.post(
        f"/account/passkeys/{row.id}/rename", data={"csrf_token": token, "name": "Work laptop"}
    )
    assert renamed.status_code == 302
    assert stored(app)[0].name == "Work laptop"
    # Confirm access lapses: changes are refused until a passkey confirms again.
    clock.set_offset(400)
    refused = actions.client.post(f"/account/passkeys/{row.id}/delete", data={"csrf_token": token})
    assert refused.status_code == 302 and len(stored(app)) == 1
    assert refused.headers["Location"].endswith("/account#confirm-access")
    refused = actions.client.post(
        f"/account/passkeys/{row.id}/rename", data={"csrf_token": token, "name": "x"}
    )
    assert stored(app)[0].name == "Work laptop"
    options = post(actions, "/webauthn/step-up/options", {"tx": ""}, token)
    assert options.status_code == 200, options.text
    assert (
        post(
            actions,
            "/webauthn/step-up/verify",
            {"credential": auth.get(options.get_json()), "tx": ""},
            token,
        ).status_code
        == 200
    )
    # The step-up rotated the CSRF token (docs/security.md case 54): the page's new one.
    token = csrf(actions, "/account")
    asked = actions.client.post(f"/account/passkeys/{row.id}/delete", data={"csrf_token": token})
    assert asked.status_code == 200 and len(stored(app)) == 1  # it asks first
    deleted = answer_confirmation(actions.client, asked)
    assert deleted.status_code == 302 and stored(app) == []
    assert audits(app, "factor_removed")[-1].method == "passkey"


def test_pages_offer_passkeys_without_inline_script(
    actions: Actions, enrolled: SoftAuthenticator
) -> None:
    login = actions.client.get("/login")
    assert 'id="passkey-login"' in login.text
    assert "/static/js/passkey.js" in login.text
    assert "<script>" not in login.text and "onclick" not in login.text
    assert 'id="login-form"' in login.text  # the password form still works without JS
    js = actions.client.get("/static/js/passkey.js")
    assert js.status_code == 200 and "navigator.credentials" in js.text
