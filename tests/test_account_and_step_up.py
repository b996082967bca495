"""Second factors through the pages: enrolment on /account behind "Confirm
access", step-up on /challenge completing an authorization, and the
first-party step-up API (issue 4)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from provider import clock
from tests.conftest import Actions, csrf_from, pkce_pair

TWO_FA = "urn:belay:acr:2fa"
ONE_FA = "urn:belay:acr:1fa"
PIN = "480975"


def _post(actions: Actions, path: str, page, **data):
    return actions.client.post(path, data={"csrf_token": csrf_from(page.text), **data})


def _account(actions: Actions):
    page = actions.client.get("/account")
    assert page.status_code == 200, page.text[:300]
    return page


def enrol_pin(actions: Actions, pin: str = PIN):
    page = _account(actions)
    assert 'id="pin-enrol-form"' in page.text
    return _post(actions, "/account/pin", page, pin=pin, pin_confirm=pin)


def enrol_totp(actions: Actions) -> str:
    page = _account(actions)
    begun = _post(actions, "/account/totp/begin", page)
    assert begun.status_code == 302 and begun.headers["Location"].endswith("/account#totp-setup")
    started = _account(actions)  # the QR code and key, shown once
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    assert "<svg" in started.text
    done = _post(actions, "/account/totp/confirm", started, code=pyotp.TOTP(secret).now())
    assert done.status_code == 302, done.text[:500]
    return secret


def confirm_with_totp(actions: Actions, secret: str) -> None:
    """Confirm access with the authenticator app at a later time step (enrolling
    it did not count as an authentication, docs/security.md case 45)."""
    clock.set_offset(31)
    page = _account(actions)
    assert 'id="totp-form"' in page.text, page.text[:500]
    done = _post(
        actions, "/account/confirm", page, method="totp", code=pyotp.TOTP(secret).at(clock.now())
    )
    assert done.status_code == 302, done.text[:500]


def relogin(actions: Actions) -> None:
    """Sign out and in again with the password alone (a new login replaces events)."""
    page = actions.client.get("/logout")
    _post(actions, "/logout", page)
    assert actions.login().status_code == 302


@pytest.fixture
def rp(actions: Actions) -> str:
    actions.create_user()
    secret = actions.create_client("rp")
    actions.login()
    return secret


def _authorize(actions: Actions, **params):
    verifier, challenge = pkce_pair()
    response = actions.follow(
        actions.authorize("rp", code_challenge=challenge, code_challenge_method="S256", **params)
    )
    return response, verifier


def _tx(response) -> str:
    return parse_qs(urlsplit(response.request.url).query)["tx"][0]


def _step_up(actions: Actions, page, form_id: str, method: str, **fields):
    assert f'id="{form_id}"' in page.text, page.text[:800]
    tx = _tx(page)
    return actions.follow(
        actions.client.post(
            f"/challenge?tx={tx}",
            data={"csrf_token": csrf_from(page.text), "tx": tx, "method": method, **fields},
        )
    )


def _tokens(actions: Actions, secret: str, response, verifier: str) -> dict:
    assert response.status_code == 302, response.text[:500]
    callback = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    assert "code" in callback, callback
    body = actions.exchange({**callback, "code_verifier": verifier}, "rp", secret).get_json()
    return body


def test_totp_after_password_reaches_2fa(actions: Actions, rp: str) -> None:
    secret = enrol_totp(actions)
    relogin(actions)
    clock.set_offset(31)  # a fresh time step
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    assert 'id="pin-form"' not in page.text
    done = _step_up(actions, page, "totp-form", "totp", code=pyotp.TOTP(secret).at(clock.now()))
    claims = actions.decode(_tokens(actions, rp, done, verifier)["id_token"])
    assert claims["acr"] == TWO_FA
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["auth_time"] >= clock.now() - 2


def test_pin_after_password_stays_below_2fa(actions: Actions, rp: str) -> None:
    assert enrol_pin(actions).status_code == 302
    # Two knowledge factors never make 2fa: the PIN is not even offered for it.
    page, _ = _authorize(actions, acr_values=TWO_FA)
    assert page.status_code == 302
    assert "unmet_authentication_requirements" in page.headers["Location"]
    # For freshness (max_age) the PIN is offered, and the session stays 1fa.
    clock.set_offset(10)
    page, verifier = _authorize(actions, max_age="0")
    done = _step_up(actions, page, "pin-form", "pin", pin=PIN)
    claims = actions.decode(_tokens(actions, rp, done, verifier)["id_token"])
    assert claims["acr"] == ONE_FA
    assert claims["amr"] == ["pwd", "pin"]
    assert claims["auth_time"] >= clock.now() - 2


def test_pin_refreshes_a_2fa_session(actions: Actions, rp: str) -> None:
    """The bank story: TOTP earlier, later a PIN makes auth_time fresh at 2fa."""
    enrol_pin(actions)
    secret = enrol_totp(actions)
    relogin(actions)
    clock.set_offset(62)
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    _step_up(actions, page, "totp-form", "totp", code=pyotp.TOTP(secret).at(clock.now()))
    clock.set_offset(300)
    page, verifier = _authorize(actions, acr_values=TWO_FA, max_age="120")
    assert 'id="pin-form"' in page.text and 'id="totp-form"' in page.text
    done = _step_up(actions, page, "pin-form", "pin", pin=PIN)
    claims = actions.decode(_tokens(actions, rp, done, verifier)["id_token"])
    assert claims["acr"] == TWO_FA
    assert claims["auth_time"] >= clock.now() - 2
    assert "pin" in claims["amr"] and "mfa" in claims["amr"]


def test_wrong_pin_on_the_challenge(actions: Actions, rp: str) -> None:
    enrol_pin(actions)
    clock.set_offset(10)
    page, _ = _authorize(actions, max_age="0")
    again = _step_up(actions, page, "pin-form", "pin", pin="000001")
    assert again.status_code == 401 and 'class="error"' in again.text


def test_backup_code_step_up_works_once(actions: Actions, rp: str) -> None:
    secret = enrol_totp(actions)
    # The account is now 2fa and this session only 1fa: confirm access first.
    confirm_with_totp(actions, secret)
    page = _account(actions)
    made = _post(actions, "/account/backup-codes", page)
    assert made.status_code == 302 and made.headers["Location"].endswith("/account#backup-codes")
    generated = _account(actions)
    codes = re.findall(r"<li><code>([^<]+)</code></li>", generated.text)
    assert len(codes) == 10 and 'id="backup-codes"' in generated.text
    assert "<li><code>" not in _account(actions).text  # shown once
    relogin(actions)
    clock.set_offset(41)
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    done = _step_up(actions, page, "backup-form", "backup_code", code=codes[0])
    assert actions.decode(_tokens(actions, rp, done, verifier)["id_token"])["acr"] == TWO_FA
    clock.set_offset(51)
    page, _ = _authorize(actions, acr_values=TWO_FA, max_age="0")
    again = _step_up(actions, page, "backup-form", "backup_code", code=codes[0])
    assert again.status_code == 401


def test_account_changes_need_confirm_access(actions: Actions, rp: str) -> None:
    secret = enrol_totp(actions)
    relogin(actions)  # this session reached only 1fa
    clock.set_offset(600)  # past CONFIRM_ACCESS_MAX_AGE
    page = _account(actions)
    assert 'id="pin-enrol-form"' not in page.text
    assert 'id="totp-form"' in page.text  # confirm at the level of the strongest factor
    assert 'id="password-form"' not in page.text  # a password alone cannot reach 2fa
    refused = _post(actions, "/account/pin", page, pin=PIN, pin_confirm=PIN)
    assert refused.status_code == 302
    assert "PIN is set" not in actions.client.get("/account").text
    confirmed = _post(
        actions, "/account/confirm", page, method="totp", code=pyotp.TOTP(secret).at(clock.now())
    )
    assert confirmed.status_code == 302
    assert enrol_pin(actions).status_code == 302


def test_weak_pins_are_refused_with_a_reason(actions: Actions, rp: str) -> None:
    for pin in ("123456", "111111", "12ab56", "123"):
        response = enrol_pin(actions, pin)
        assert response.status_code == 400
        assert 'class="error"' in response.text
    mismatch = _post(actions, "/account/pin", _account(actions), pin=PIN, pin_confirm="480976")
    assert mismatch.status_code == 400


def test_step_up_api(actions: Actions, rp: str, app) -> None:
    enrol_pin(actions)
    methods = actions.client.get("/api/step-up/methods").get_json()
    assert "pin" in methods["methods"]
    token = methods["csrf_token"]
    before = actions.client.get_cookie("belay_session").value
    no_csrf = actions.client.post("/api/step-up/verify", json={"method": "pin", "pin": PIN})
    assert no_csrf.status_code == 403 and no_csrf.get_json()["error"] == "csrf"
    wrong = actions.client.post(
        "/api/step-up/verify",
        json={"method": "pin", "pin": "000001"},
        headers={"X-CSRF-Token": token},
    )
    assert wrong.status_code == 401 and wrong.get_json()["error"] == "invalid_code"
    clock.set_offset(5)
    ok = actions.client.post(
        "/api/step-up/verify", json={"method": "pin", "pin": PIN}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 200, ok.text
    body = ok.get_json()
    assert body["verified"] is True and body["acr"] == ONE_FA
    assert body["amr"] == ["pwd", "pin"] and body["auth_time"] >= clock.now() - 1
    claims = actions.decode(body["reauth_token"])
    assert claims["exp"] - claims["iat"] == 300 and claims["sid"] and claims["sub"]
    after = actions.client.get_cookie("belay_session").value
    assert after != before  # rotated, not a new session
    with app.app_context():
        from provider.extensions import db
        from provider.storage.models import WebSession

        assert db.session.scalar(db.select(db.func.count()).select_from(WebSession)) == 1


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "pin",
        {"method": 5},
        {"method": "pin"},
        {"method": "pin", "pin": ["1"]},
        {"method": "pin", "pin": "1" * 10_000},
        {"method": "nope", "pin": PIN},
        {"method": "pin", "pin": "12\x0034"},
    ],
)
def test_step_up_api_malformed(actions: Actions, rp: str, body) -> None:
    enrol_pin(actions)
    token = actions.client.get("/api/step-up/methods").get_json()["csrf_token"]
    response = actions.client.post(
        "/api/step-up/verify", json=body, headers={"X-CSRF-Token": token}
    )
    assert 400 <= response.status_code < 500
    assert response.get_json()["error"] in {"invalid_request", "invalid_code", "not_enrolled"}


def test_step_up_api_without_session(actions: Actions) -> None:
    assert actions.client.get("/api/step-up/methods").status_code == 401


def test_locked_pin_reports_retry(actions: Actions, rp: str) -> None:
    enrol_pin(actions)
    token = actions.client.get("/api/step-up/methods").get_json()["csrf_token"]
    statuses = []
    for i in range(12):
        clock.set_offset(i * 400)
        response = actions.client.post(
            "/api/step-up/verify",
            json={"method": "pin", "pin": "000001"},
            headers={"X-CSRF-Token": token},
        )
        statuses.append(response.status_code)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]


def test_amr_is_the_same_in_id_token_access_token_and_introspection(
    actions: Actions, rp: str
) -> None:
    """docs/security.md case 26: only the methods actually performed, everywhere alike."""
    secret = enrol_totp(actions)
    relogin(actions)
    clock.set_offset(31)
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    done = _step_up(actions, page, "totp-form", "totp", code=pyotp.TOTP(secret).at(clock.now()))
    body = _tokens(actions, rp, done, verifier)
    id_amr = actions.decode(body["id_token"])["amr"]
    access_amr = actions.decode(body["access_token"])["amr"]
    introspected = actions.client.post(
        "/introspect", data={"token": body["access_token"]}, auth=("rp", rp)
    ).get_json()
    assert id_amr == access_amr == introspected["amr"] == ["pwd", "otp", "mfa"]
    assert "pin" not in id_amr


def test_2fa_lapses_after_an_hour_idle(actions: Actions, rp: str) -> None:
    """docs/security.md case 29 with the default ladder: 1 h idle drops 2fa."""
    secret = enrol_totp(actions)
    # Enrolling is no authentication (docs/security.md case 45): step up for real.
    clock.set_offset(31)
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    _step_up(actions, page, "totp-form", "totp", code=pyotp.TOTP(secret).at(clock.now()))
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    assert page.status_code == 302 and "code=" in page.headers["Location"]
    clock.set_offset(3601 + 31)
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    assert 'id="totp-form"' in page.text  # a step-up is required again
    # Activity alone does not bring it back; a new factor does.
    assert 'id="totp-form"' in actions.client.get(page.request.url).text
    done = _step_up(actions, page, "totp-form", "totp", code=pyotp.TOTP(secret).at(clock.now()))
    claims = actions.decode(_tokens(actions, rp, done, verifier)["id_token"])
    assert claims["acr"] == TWO_FA


def test_challenge_page_shows_the_wait_after_repeated_failures(actions: Actions, rp: str) -> None:
    enrol_pin(actions)
    clock.set_offset(10)
    page, _ = _authorize(actions, max_age="0")
    for _ in range(5):
        page = _step_up(actions, page, "pin-form", "pin", pin="000001")
    shown = actions.client.get(page.request.url)
    # The fifth failure imposes the first wait, 1 second (said in the singular),
    # with the PIN form's button disabled until it passes (static/js/forms.js).
    assert "wait <span data-wait-words>1 second</span> before the next one" in shown.text
    assert 'data-wait="1"' in shown.text and "disabled data-wait-button" in shown.text
