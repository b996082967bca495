"""The pages in a real browser: login, consent, errors, step-up."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

from tests.browser.conftest import CALLBACK, other_way, shot
from tests.conftest import Actions, pkce_pair


def authorize_url(op_url: str, client_id: str = "rp", **params: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "browser-state",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }
    query.update(params)
    return f"{op_url}/authorize?{urlencode(query)}"


def sign_in(page, username: str = "alice", password: str = "correct horse battery") -> None:
    page.fill("#login-form input[name=username]", username)
    page.fill("#login-form input[name=password]", password)
    page.click("#login-form button[type=submit]")


def test_password_login_and_consent(actions: Actions, op, page) -> None:
    actions.create_user()
    actions.create_client("third", redirect_uris=[CALLBACK], first_party=False)
    page.goto(authorize_url(op.url, "third"))
    page.wait_for_selector("#login-form")
    shot(page, "login")
    sign_in(page, password="not my password")
    page.wait_for_selector(".error")
    assert "did not work" in page.inner_text(".error")
    shot(page, "login-error")
    sign_in(page)
    page.wait_for_selector("#consent-form")
    shot(page, "consent")
    page.click("#consent-form button[value=allow]")
    page.wait_for_url(f"{CALLBACK}*")
    query = parse_qs(urlsplit(page.url).query)
    assert query["state"] == ["browser-state"] and query["code"] and query["iss"] == [op.url]


def test_error_page_for_unregistered_redirect_uri(actions: Actions, op, page) -> None:
    actions.create_client("rp", redirect_uris=[CALLBACK])
    page.goto(authorize_url(op.url, redirect_uri="http://localhost:8976/other"))
    assert page.url.startswith(op.url)
    assert "redirect_uri" in page.inner_text(".error")
    shot(page, "error-redirect-uri")


def test_works_without_javascript(actions: Actions, op, browser) -> None:
    actions.create_user()
    actions.create_client("rp", redirect_uris=[CALLBACK])
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.route(f"{CALLBACK}*", lambda route: route.fulfill(status=200, body="ok"))
    page.goto(authorize_url(op.url))
    sign_in(page)
    page.wait_for_url(f"{CALLBACK}*")
    assert "code=" in page.url
    context.close()


def _account_ready(page, op_url: str) -> None:
    page.goto(f"{op_url}/account")
    page.wait_for_selector("#pin-enrol-form")


def test_pin_and_totp_enrolment_then_step_up(actions: Actions, op, page) -> None:
    import pyotp

    actions.create_user()
    actions.create_client("rp", redirect_uris=[CALLBACK])
    page.goto(f"{op.url}/login")
    sign_in(page)
    _account_ready(page, op.url)
    page.fill("#pin-enrol-form input[name=pin]", "480975")
    page.fill("#pin-enrol-form input[name=pin_confirm]", "480975")
    page.click("#pin-enrol-form button[type=submit]")
    page.wait_for_selector("text=Your PIN is set.")
    page.click("#totp-begin-form button")
    page.wait_for_selector("#totp-enrol-form")
    secret = page.inner_text("#totp-secret")
    shot(page, "account-totp-setup")
    page.fill("#totp-enrol-form input[name=code]", pyotp.TOTP(secret).now())
    page.click("#totp-enrol-form button[type=submit]")
    page.wait_for_selector("text=Your authenticator app is set up.")
    import time

    # Enrolling is no sign-in (docs/security.md case 45): the account is now
    # 2fa and this session 1fa, so further changes need Confirm access with the
    # app (the next time step: the enrolment code is spent).
    page.wait_for_selector("#totp-form")
    page.fill("#totp-form input[name=code]", pyotp.TOTP(secret).at(time.time() + 30))
    page.click("#totp-form button[type=submit]")
    page.click("#backup-codes-form button")
    page.wait_for_selector("#backup-codes")
    backup_code = page.locator("#backup-codes code").first.inner_text()
    shot(page, "account")

    # A new login (password only), then a client asks for 2fa: TOTP is offered.
    page.goto(f"{op.url}/logout")
    page.click("#logout-form button")
    page.goto(authorize_url(op.url, acr_values="urn:belay:acr:2fa"))
    sign_in(page)
    page.wait_for_selector("#totp-form")
    assert page.locator("#pin-form").count() == 0  # PIN + password is never 2fa
    shot(page, "challenge-totp")
    page.fill("#totp-form input[name=code]", "000000")
    page.click("#totp-form button[type=submit]")
    page.wait_for_selector(".error")
    shot(page, "challenge-error")
    # The enrolment and Confirm access used this time step and the next: a
    # backup code completes the step-up.
    other_way(page, "#backup-form")  # the app is the way just tried: primary
    page.fill("#backup-form input[name=code]", backup_code)
    page.click("#backup-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")

    # Later, the bank asks for a fresh 2fa confirmation: the PIN is enough.
    page.goto(authorize_url(op.url, acr_values="urn:belay:acr:2fa", max_age="0"))
    page.wait_for_selector("#pin-form")
    shot(page, "challenge-pin")
    page.fill("#pin-form input[name=pin]", "480975")
    page.click("#pin-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")
    assert "code=" in page.url


def test_account_page_at_375px(actions: Actions, op, browser) -> None:
    actions.create_user()
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_selector("#pin-enrol-form")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width
    shot(page, "account-375")
    context.close()
