"""Passkeys in real Chromium with the DevTools WebAuthn virtual authenticator:
register on /account, sign out, sign in with the passkey alone, step up to
``phr``, and a step-up without user verification refused with the reason shown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from joserfc import jwk, jwt

from tests.browser.conftest import CALLBACK, shot
from tests.browser.test_pages import sign_in
from tests.conftest import Actions, pkce_pair

PHR = "urn:belay:acr:phr"
SECRET = "browser-rp-secret-0123456789"


def virtual_authenticator(
    page: Any, *, user_verified: bool = True, autofill: bool = False
) -> tuple[Any, str]:
    """A platform authenticator that answers at once (a simulated touch).

    Chromium's virtual authenticator also answers the sign-in page's quiet
    autofill request (conditional mediation) at once, which no person's
    browser does: without ``autofill`` the page sees a browser without
    conditional mediation (feature-detected by static/js/passkey.js), so a test
    signs in the way it means to. tests/browser/test_challenge.py covers the
    autofill."""
    if not autofill:
        page.add_init_script(
            "if (window.PublicKeyCredential) "
            "{ delete PublicKeyCredential.isConditionalMediationAvailable; "
            "PublicKeyCredential.isConditionalMediationAvailable = undefined; }"
        )
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    created = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": user_verified,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, created["authenticatorId"]


def authorize(page: Any, op_url: str, **params: str) -> str:
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "passkey-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    from urllib.parse import urlencode

    page.goto(f"{op_url}/authorize?{urlencode(query)}")
    return verifier


def to_callback(page: Any, action: Any) -> str:
    """Run ``action`` and return the callback URL the browser is sent to.

    The request is caught rather than waited for as a page load: with the
    DevTools WebAuthn domain enabled, Chromium may bypass the route that
    answers the callback and report the (absent) RP as refusing.
    """
    with page.expect_request(lambda r: r.url.startswith(CALLBACK)) as caught:
        try:
            action()
        except Exception as exc:
            if "ERR_CONNECTION_REFUSED" not in str(exc):
                raise
    # Let the navigation settle (the answered callback, or Chromium's error
    # page for the refused one) so it cannot interrupt the test's next goto.
    # (Polled: wait_for_url itself raises the refused navigation's error.)
    for _ in range(200):
        if page.url.startswith((CALLBACK, "chrome-error://")):
            break
        page.wait_for_timeout(50)
    else:
        raise AssertionError(f"the browser never left {page.url} for the callback")
    return str(caught.value.url)


def id_token_claims(op_url: str, callback_url: str, verifier: str) -> dict[str, Any]:
    code = parse_qs(urlsplit(callback_url).query)["code"][0]
    response = requests.post(
        f"{op_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=("rp", SECRET),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    keys = jwk.KeySet.import_key_set(requests.get(f"{op_url}/jwks.json", timeout=10).json())
    token = jwt.decode(response.json()["id_token"], keys, algorithms=["ES256", "RS256", "EdDSA"])
    return dict(token.claims)


def register_passkey(page: Any, op_url: str, name: str = "Chromium") -> None:
    page.goto(f"{op_url}/account")
    page.wait_for_selector("#passkey-register:not([disabled])")
    shot(page, "account-passkeys")
    page.fill("#passkey-name", name)
    page.click("#passkey-register")
    page.wait_for_selector(f"text={name}")
    page.wait_for_selector("#passkey-button")  # the passkey is now the strongest factor
    shot(page, "account-passkey-registered")


def test_register_sign_in_with_passkey_and_step_up_to_phr(actions: Actions, op, page) -> None:
    actions.create_user()
    actions.create_client("rp", redirect_uris=[CALLBACK], secret=SECRET)
    virtual_authenticator(page, user_verified=True)
    page.goto(f"{op.url}/login")
    sign_in(page)
    register_passkey(page, op.url)

    page.click("#logout")
    page.click("#logout-form button[type=submit]")
    page.wait_for_load_state()
    page.context.clear_cookies()

    page.goto(f"{op.url}/login")
    page.wait_for_selector("#passkey-login:not([hidden])")
    shot(page, "login-passkey")
    page.click("#passkey-login")
    page.wait_for_url(f"{op.url}/account")
    assert "Passkey" in page.inner_text("ul.events")

    verifier, challenge = pkce_pair()
    url = to_callback(
        page, lambda: authorize(page, op.url, acr_values=PHR, code_challenge=challenge)
    )
    claims = id_token_claims(op.url, url, verifier)
    assert claims["acr"] == PHR
    assert {"user", "mfa"} <= set(claims["amr"])
    assert {"hwk", "swk"} & set(claims["amr"])
    assert "pwd" not in claims["amr"]


def _enrol_then_password_session(actions: Actions, op: Any, page: Any) -> None:
    actions.create_user()
    actions.create_client("rp", redirect_uris=[CALLBACK], secret=SECRET)
    page.goto(f"{op.url}/login")
    sign_in(page)
    register_passkey(page, op.url)
    page.context.clear_cookies()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_url(f"{op.url}/account")


def test_passkey_step_up_with_user_verification(actions: Actions, op, page) -> None:
    virtual_authenticator(page, user_verified=True)
    _enrol_then_password_session(actions, op, page)
    verifier = authorize(page, op.url, acr_values=PHR)
    page.wait_for_selector("#passkey-button:not([hidden])")
    shot(page, "challenge-passkey")
    url = to_callback(page, lambda: page.click("#passkey-button"))
    claims = id_token_claims(op.url, url, verifier)
    assert claims["acr"] == PHR
    assert {"pwd", "user", "mfa"} <= set(claims["amr"])


def test_passkey_step_up_without_user_verification_is_refused(actions: Actions, op, page) -> None:
    cdp, authenticator = virtual_authenticator(page, user_verified=True)
    _enrol_then_password_session(actions, op, page)
    cdp.send(
        "WebAuthn.setUserVerified", {"authenticatorId": authenticator, "isUserVerified": False}
    )
    authorize(page, op.url, acr_values=PHR)
    page.wait_for_selector("#passkey-button:not([hidden])")
    # The client requires UV: Chromium itself refuses an authenticator that
    # cannot verify the user, and the page says so.
    page.click("#passkey-button")
    error = page.wait_for_selector("#passkey-form .error:not([hidden])")
    assert "cancelled or timed out" in error.inner_text()
    assert page.url.startswith(f"{op.url}/challenge")
    shot(page, "challenge-passkey-no-uv")
    # (The server's own refusal of an assertion without UV is tested with the
    # software authenticator: tests/test_passkeys.py::test_16_*.)


def test_cancelled_passkey_shows_a_message(actions: Actions, op, page) -> None:
    actions.create_user()
    page.goto(f"{op.url}/login")
    # No authenticator at all: the browser times out / the user cancels.
    page.evaluate(
        "() => { navigator.credentials.get = () =>"
        " Promise.reject(new DOMException('x', 'NotAllowedError')); }"
    )
    page.click("#passkey-login")
    error = page.wait_for_selector("#passkey-login-box .error:not([hidden])")
    assert "cancelled or timed out" in error.inner_text()
    shot(page, "login-passkey-cancelled")


def test_passkey_step_up_can_remember_this_browser(actions: Actions, op, page) -> None:
    virtual_authenticator(page, user_verified=True)
    actions.create_user()
    actions.create_client(
        "rp",
        redirect_uris=[CALLBACK],
        secret=SECRET,
        client_policy={"minimum_acr": "urn:belay:acr:2fa", "remember_device_days": 30},
    )
    page.goto(f"{op.url}/login")
    sign_in(page)
    register_passkey(page, op.url)
    page.context.clear_cookies()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_url(f"{op.url}/account")

    verifier = authorize(page, op.url)
    page.wait_for_selector("#passkey-button:not([hidden])")
    page.check("#passkey-form input[name=remember_device]")
    shot(page, "challenge-passkey-remember")
    url = to_callback(page, lambda: page.click("#passkey-button"))
    assert id_token_claims(op.url, url, verifier)["acr"] == "urn:belay:acr:phrh"
    assert any(c["name"] == "belay_device" for c in page.context.cookies())

    # Sign out and in again with the password: the remembered passkey meets
    # the client's 2fa minimum, so no challenge (and no phrh claim).
    page.goto(f"{op.url}/account")
    page.click("#logout")
    page.click("#logout-form button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_url(f"{op.url}/account")
    verifier, challenge = pkce_pair()
    url = to_callback(page, lambda: authorize(page, op.url, code_challenge=challenge))
    claims = id_token_claims(op.url, url, verifier)
    assert claims["acr"] == "urn:belay:acr:2fa" and "pwd" in claims["amr"]
