"""Issue 10: PIN as a first factor (per-client ``pin_login``) and remembered
devices (per-client ``remember_device_days``), driven through the pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from provider import clock
from provider.extensions import db
from provider.storage.models import AuditEvent, RememberedDevice
from tests.conftest import Actions, csrf_from, pkce_pair
from tests.test_account_and_step_up import enrol_pin, enrol_totp

ONE_FA = "urn:belay:acr:1fa"
TWO_FA = "urn:belay:acr:2fa"
PIN = "480975"
PASSWORD = "correct horse battery"


def _start(actions: Actions, client_id: str, **params: Any) -> tuple[Any, str]:
    verifier, challenge = pkce_pair()
    page = actions.follow(
        actions.authorize(
            client_id, code_challenge=challenge, code_challenge_method="S256", **params
        )
    )
    return page, verifier


def _tx(page: Any) -> str:
    return parse_qs(urlsplit(page.request.url).query)["tx"][0]


def _pin_login(actions: Actions, page: Any, username: str, pin: str) -> Any:
    tx = _tx(page)
    return actions.client.post(
        f"/login?tx={tx}",
        data={"csrf_token": csrf_from(page.text), "username": username, "pin": pin},
    )


def _claims(actions: Actions, response: Any, verifier: str, client_id: str, secret: str) -> dict:
    assert response.status_code == 302, response.text[:600]
    callback = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    assert "code" in callback, callback
    body = actions.exchange({**callback, "code_verifier": verifier}, client_id, secret).get_json()
    return actions.decode(body["id_token"])


@pytest.fixture
def pin_clients(actions: Actions) -> dict[str, str]:
    """alice with a PIN; "kiosk" allows PIN sign-in, "rp" does not."""
    actions.create_user()
    secrets = {
        "rp": actions.create_client("rp"),
        "kiosk": actions.create_client("kiosk", client_policy={"pin_login": True}),
    }
    actions.login()
    assert enrol_pin(actions).status_code == 302
    page = actions.client.get("/logout")
    actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    return {k: v or "" for k, v in secrets.items()}


# -- PIN sign-in -------------------------------------------------------------------


def test_pin_login_for_a_client_with_pin_login(actions: Actions, pin_clients) -> None:
    page, verifier = _start(actions, "kiosk")
    assert 'id="pin-login-form"' in page.text and 'id="login-form"' in page.text
    done = actions.follow(_pin_login(actions, page, "alice", PIN))
    claims = _claims(actions, done, verifier, "kiosk", pin_clients["kiosk"])
    assert claims["acr"] == ONE_FA
    assert claims["amr"] == ["pin"]
    assert claims["auth_time"] >= clock.now() - 2
    with actions.app.app_context():
        row = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.event == "login").order_by(AuditEvent.id.desc())
        ).first()
        assert (row.result, row.method, row.client_id) == ("success", "pin", "kiosk")


def test_pin_login_matches_the_username_whatever_its_case(actions: Actions, pin_clients) -> None:
    """Usernames match case-insensitively (docs/admin.md "Usernames"): a phone
    keyboard's "Alice" signs alice in; the token keeps the name as created."""
    page, verifier = _start(actions, "kiosk", scope="openid profile")
    done = actions.follow(_pin_login(actions, page, "ALICE", PIN))
    claims = _claims(actions, done, verifier, "kiosk", pin_clients["kiosk"])
    assert claims["amr"] == ["pin"]
    with actions.app.app_context():
        row = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.event == "login").order_by(AuditEvent.id.desc())
        ).first()
        assert (row.result, row.username) == ("success", "alice")


def test_pin_login_refused_for_other_clients(actions: Actions, pin_clients) -> None:
    page, _ = _start(actions, "rp")
    assert 'id="login-form"' in page.text
    assert 'id="pin-login-form"' not in page.text
    refused = _pin_login(actions, page, "alice", PIN)
    assert refused.status_code == 401
    assert 'class="error"' in refused.text
    assert actions.client.get("/account").status_code == 302  # not signed in
    # Nor without an authorization request.
    plain = actions.client.get("/login")
    assert 'id="pin-login-form"' not in plain.text
    again = actions.client.post(
        "/login", data={"csrf_token": csrf_from(plain.text), "username": "alice", "pin": PIN}
    )
    assert again.status_code == 401


def test_pin_login_errors_do_not_enumerate(actions: Actions, pin_clients) -> None:
    actions.create_user("bob")  # no PIN
    page, _ = _start(actions, "kiosk")
    texts = []
    for username, pin in (("alice", "000001"), ("nobody", PIN), ("bob", PIN)):
        response = _pin_login(actions, page, username, pin)
        assert response.status_code == 401
        texts.append(response.text.split('role="alert">')[1].split("<")[0])
    assert len(set(texts)) == 1


@pytest.mark.settings(PIN_DELAY_AFTER=100, PIN_MAX_FAILURES=3)
def test_pin_login_shares_the_pin_lockout(actions: Actions, pin_clients) -> None:
    # Two wrong PINs at the step-up (challenge) and one at sign-in lock the PIN.
    actions.login()
    clock.set_offset(10)
    page, _ = _start(actions, "rp", max_age="0")
    for _ in range(2):
        tx = _tx(page)
        wrong = actions.client.post(
            f"/challenge?tx={tx}",
            data={"csrf_token": csrf_from(page.text), "tx": tx, "method": "pin", "pin": "000001"},
        )
        assert wrong.status_code == 401
    page = actions.client.get("/logout")
    actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    page, _ = _start(actions, "kiosk")
    assert _pin_login(actions, page, "alice", "000001").status_code == 401
    # Locked: the right PIN is refused exactly like a wrong one.
    locked = _pin_login(actions, page, "alice", PIN)
    wrong = _pin_login(actions, page, "alice", "000001")
    assert locked.status_code == wrong.status_code == 401
    assert (
        locked.text.split('role="alert">')[1].split("<")[0]
        == (wrong.text.split('role="alert">')[1].split("<")[0])
    )
    # ... and the lock holds for PIN step-up too.
    actions.login()
    clock.set_offset(20)
    page, _ = _start(actions, "rp", max_age="0")
    assert 'id="pin-form"' not in page.text


def test_pin_login_honours_min_pin_length(actions: Actions, pin_clients) -> None:
    actions.create_client("strict-kiosk", client_policy={"pin_login": True, "min_pin_length": 8})
    page, _ = _start(actions, "strict-kiosk")
    assert _pin_login(actions, page, "alice", PIN).status_code == 401


# -- remembered devices -------------------------------------------------------------


def _logout(actions: Actions) -> None:
    page = actions.client.get("/logout")
    actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})


def _challenge(actions: Actions, page: Any, method: str, **fields: str) -> Any:
    tx = _tx(page)
    return actions.follow(
        actions.client.post(
            f"/challenge?tx={tx}",
            data={"csrf_token": csrf_from(page.text), "tx": tx, "method": method, **fields},
        )
    )


@pytest.fixture
def remembering(actions: Actions) -> dict[str, Any]:
    """alice with TOTP; "rp" requires 2fa and remembers browsers for 30 days."""
    actions.create_user()
    secret = actions.create_client(
        "rp", client_policy={"minimum_acr": TWO_FA, "remember_device_days": 30}
    )
    actions.login()
    totp = enrol_totp(actions)
    _logout(actions)
    return {"secret": secret or "", "totp": totp}


def _remember_this_browser(actions: Actions, remembering: dict[str, Any]) -> None:
    actions.login()
    clock.set_offset(31)
    page, verifier = _start(actions, "rp")
    assert 'id="totp-form"' in page.text
    assert 'name="remember_device"' in page.text
    code = pyotp.TOTP(remembering["totp"]).at(clock.now())
    done = _challenge(actions, page, "totp", code=code, remember_device="1")
    claims = _claims(actions, done, verifier, "rp", remembering["secret"])
    assert claims["acr"] == TWO_FA
    assert actions.client.get_cookie("belay_device") is not None
    with actions.app.app_context():
        device = db.session.scalars(db.select(RememberedDevice)).one()
        assert device.token_hash != actions.client.get_cookie("belay_device").value
        assert len(device.token_hash) == 64


def _device_cookie_header(response: Any) -> str:
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("belay_device=")]
    return header


def test_remembered_browser_cookie_attributes(actions: Actions, remembering) -> None:
    """The flow says what to remember; the web layer sets the cookie: HttpOnly,
    SameSite=Lax, path /, the client's remember_device_days as max-age, no
    Secure flag on http://localhost."""
    actions.login()
    clock.set_offset(31)
    page, _ = _start(actions, "rp")
    tx = _tx(page)
    code = pyotp.TOTP(remembering["totp"]).at(clock.now())
    response = actions.client.post(
        f"/challenge?tx={tx}",
        data={
            "csrf_token": csrf_from(page.text),
            "tx": tx,
            "method": "totp",
            "code": code,
            "remember_device": "1",
        },
    )
    assert response.status_code == 302, response.text[:400]
    attributes = [a.strip().lower() for a in _device_cookie_header(response).split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes
    assert "path=/" in attributes and "secure" not in attributes
    assert f"max-age={30 * 86400}" in attributes


def test_remembered_browser_cookie_is_secure_when_the_session_cookie_is(
    actions: Actions,
) -> None:
    from flask import Response

    from provider.flows.devices import DeviceCookie
    from provider.web.cookies import set_device_cookie

    actions.app.config["SESSION_COOKIE_SECURE"] = True
    response = Response()
    with actions.app.app_context():
        set_device_cookie(response, DeviceCookie(value="token", max_age=86400))
    attributes = [a.strip().lower() for a in _device_cookie_header(response).split(";")]
    assert attributes[0] == "belay_device=token"
    assert {"secure", "httponly", "samesite=lax", "path=/", "max-age=86400"} <= set(attributes)


def test_remembered_device_skips_the_second_factor_for_the_minimum(
    actions: Actions, remembering
) -> None:
    _remember_this_browser(actions, remembering)
    remembered_at = clock.now()
    _logout(actions)
    clock.set_offset(120)
    actions.login()
    response, verifier = _start(actions, "rp")
    claims = _claims(actions, response, verifier, "rp", remembering["secret"])
    assert claims["acr"] == TWO_FA
    assert claims["amr"] == ["pwd", "otp", "mfa"]  # the remembered method is listed
    assert claims["auth_time"] >= clock.now() - 2  # the password, not the replay
    with actions.app.app_context():
        replay = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.event == "device_replayed")
        ).one()
        assert replay.details["remembered"] is True and replay.method == "totp"
        assert replay.details["event_at"] <= remembered_at
    page = actions.client.get("/account")
    assert "remembered browser" in page.text and "device-revoke-form" in page.text


def test_remembered_device_never_answers_an_explicit_step_up(actions: Actions, remembering) -> None:
    _remember_this_browser(actions, remembering)
    _logout(actions)
    clock.set_offset(120)
    actions.login()
    # max_age=0: a real challenge, although the minimum alone would be met.
    page, _ = _start(actions, "rp", max_age="0")
    assert page.status_code == 200 and 'id="totp-form"' in page.text
    _logout(actions)
    clock.set_offset(180)
    actions.login()
    # acr_values above what the fresh events give: a real challenge too.
    page, _ = _start(actions, "rp", acr_values=TWO_FA)
    assert page.status_code == 200 and 'id="totp-form"' in page.text
    # The essential acr too.
    claims = '{"id_token": {"acr": {"essential": true, "value": "' + TWO_FA + '"}}}'
    page, _ = _start(actions, "rp", claims=claims)
    assert page.status_code == 200 and 'id="totp-form"' in page.text


def test_revoking_the_device_ends_it_at_once(actions: Actions, remembering) -> None:
    _remember_this_browser(actions, remembering)
    page = actions.client.get("/account")
    device_id = page.text.split("/account/devices/")[1].split("/")[0]
    revoked = actions.client.post(
        f"/account/devices/{device_id}/revoke", data={"csrf_token": csrf_from(page.text)}
    )
    assert revoked.status_code == 302
    assert "device-revoke-form" not in actions.client.get("/account").text
    _logout(actions)
    clock.set_offset(120)
    actions.login()
    page, _ = _start(actions, "rp")
    assert page.status_code == 200 and 'id="totp-form"' in page.text


def test_devices_off_by_default_and_forgotten_on_password_change(
    actions: Actions, remembering
) -> None:
    actions.create_client("plain", client_policy={"minimum_acr": TWO_FA})
    _remember_this_browser(actions, remembering)
    _logout(actions)
    clock.set_offset(120)
    actions.login()
    # A client without remember_device_days gets no replay (and no checkbox).
    page, _ = _start(actions, "plain")
    assert 'id="totp-form"' in page.text and 'name="remember_device"' not in page.text
    # A password change forgets every remembered browser.
    clock.set_offset(150)
    code = pyotp.TOTP(remembering["totp"]).at(clock.now())
    account = actions.client.get("/account")
    actions.client.post(
        "/account/confirm",
        data={"csrf_token": csrf_from(account.text), "method": "totp", "code": code},
    )
    account = actions.client.get("/account")
    changed = actions.client.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(account.text),
            "password": "a new long password",
            "password_confirm": "a new long password",
        },
    )
    assert changed.status_code == 302
    with actions.app.app_context():
        assert db.session.scalars(db.select(RememberedDevice)).first() is None
