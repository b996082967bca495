"""Interactive pages: security headers, CSRF on every form, the session cookie,
and RP-initiated logout (docs/security.md case 38)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from provider import clock
from tests.conftest import Actions, csrf_from, pkce_pair

COOKIE = "belay_session"
PRE_COOKIE = "belay_session_pre"
LOGGED_OUT = "https://rp.example.test/logged-out"


def _assert_secure_headers(response: Any, label: Any = None) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (label, csp)
    assert response.headers.get("Referrer-Policy") == "no-referrer", label
    assert response.headers.get("X-Content-Type-Options") == "nosniff", label


def _tx(response: Any) -> str:
    return parse_qs(urlsplit(response.request.url).query)["tx"][0]


def _set_cookie_header(response: Any, name: str = COOKIE) -> str | None:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return str(header)
    return None


def _cookie_attributes(header: str) -> dict[str, str]:
    attributes = {}
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


def _signed_in(client: FlaskClient) -> bool:
    response = client.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    return False


def _authorize_url(client_id: str = "rp", **extra: str) -> str:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": Actions.REDIRECT,
        "scope": "openid profile",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/authorize?" + urlencode(params)


@pytest.fixture
def rp(actions: Actions) -> str:
    actions.create_user()
    secret = actions.create_client("rp", post_logout_redirect_uris=[LOGGED_OUT])
    assert secret
    return secret


def _consent_page(actions: Actions) -> Any:
    actions.create_client("third", first_party=False)
    page = actions.follow(actions.client.get(_authorize_url("third")))
    tx = _tx(page)
    page = actions.follow(actions.login(tx=tx))
    assert 'id="consent-form"' in page.text
    return page


def _challenge_page(actions: Actions) -> Any:
    actions.login()
    clock.set_offset(5)
    page = actions.follow(actions.client.get(_authorize_url(max_age="0")))
    assert page.status_code == 200 and 'id="password-form"' in page.text, page.text[:300]
    return page


# -- headers ----------------------------------------------------------------------


def test_security_headers_on_every_page(actions: Actions, rp: str) -> None:
    client = actions.client
    pages = {
        "login": client.get("/login"),
        "logout": client.get("/logout"),
        "error-unknown-client": client.get(_authorize_url("nobody")),
        "error-bad-redirect": client.get(
            _authorize_url(redirect_uri="https://rp.example.test/callback/")
        ),
        "error-expired-tx": client.get("/login?tx=does-not-exist"),
        "error-404": client.get("/no-such-page"),
        "error-csrf": client.post("/login", data={"username": "a", "password": "b"}),
        "error-bad-logout": client.get(
            "/logout?"
            + urlencode({"client_id": "rp", "post_logout_redirect_uri": "https://x.test/"})
        ),
    }
    assert pages["login"].status_code == 200
    for name in (
        "error-unknown-client",
        "error-bad-redirect",
        "error-expired-tx",
        "error-bad-logout",
    ):
        assert pages[name].status_code == 400, name
    assert pages["error-404"].status_code == 404
    assert pages["error-csrf"].status_code == 403
    pages["consent"] = _consent_page(actions)
    pages["challenge"] = _challenge_page(actions)
    pages["account"] = client.get("/account")
    assert pages["account"].status_code == 200
    for name, response in pages.items():
        _assert_secure_headers(response, name)
        assert response.mimetype == "text/html", name
        assert "no-store" in response.headers.get("Cache-Control", ""), name


def test_security_headers_on_protocol_responses(actions: Actions, rp: str) -> None:
    """Redirects and JSON get them too (harmless, and nothing is framed)."""
    redirect = actions.client.get(_authorize_url(response_type="token"))
    assert redirect.status_code == 302
    _assert_secure_headers(redirect, "redirect")
    token = actions.token({"grant_type": "password"}, auth=("rp", rp))
    _assert_secure_headers(token, "token")


# -- CSRF ---------------------------------------------------------------------------

BAD_TOKENS = [None, "", "not-a-token", "x" * 5000]


def _other_browsers_token(app: Flask) -> str:
    other = app.test_client()
    return csrf_from(other.get("/login").text)


def test_login_without_csrf_is_403(actions: Actions, app: Flask, rp: str) -> None:
    actions.client.get("/login")  # this browser has a session (and a token) now
    for token in [*BAD_TOKENS, _other_browsers_token(app)]:
        data = {"username": "alice", "password": "correct horse battery"}
        if token is not None:
            data["csrf_token"] = token
        response = actions.client.post("/login", data=data)
        assert response.status_code == 403, (token and token[:20], response.status_code)
        _assert_secure_headers(response)
        assert _set_cookie_header(response) is None
    assert not _signed_in(actions.client)
    # The control: with the page's token the same POST signs in.
    assert actions.login().status_code == 302
    assert _signed_in(actions.client)


def test_consent_without_csrf_is_403(actions: Actions, rp: str) -> None:
    page = _consent_page(actions)
    tx = _tx(page)
    for token in BAD_TOKENS:
        data = {"decision": "allow", "tx": tx}
        if token is not None:
            data["csrf_token"] = token
        response = actions.client.post(f"/consent?tx={tx}", data=data)
        assert response.status_code == 403, token
        assert "Location" not in response.headers
    # Consent was not recorded: the page is still asked for.
    again = actions.client.get(f"/consent?tx={tx}")
    assert 'id="consent-form"' in again.text
    allowed = actions.client.post(
        f"/consent?tx={tx}",
        data={"decision": "allow", "tx": tx, "csrf_token": csrf_from(again.text)},
    )
    assert allowed.status_code == 302


def test_challenge_without_csrf_is_403(actions: Actions, rp: str) -> None:
    page = _challenge_page(actions)
    tx = _tx(page)
    for token in BAD_TOKENS:
        for data in (
            {"method": "password", "password": "correct horse battery", "tx": tx},
            {"cancel": "1", "tx": tx},
        ):
            if token is not None:
                data = {**data, "csrf_token": token}
            response = actions.client.post(f"/challenge?tx={tx}", data=data)
            assert response.status_code == 403, (token, data)
            assert "Location" not in response.headers
    # Neither confirmed nor cancelled: the challenge is still pending.
    again = actions.follow(actions.client.get(f"/challenge?tx={tx}"))
    assert 'id="password-form"' in again.text
    confirmed = actions.client.post(
        f"/challenge?tx={tx}",
        data={
            "method": "password",
            "password": "correct horse battery",
            "tx": tx,
            "csrf_token": csrf_from(again.text),
        },
    )
    assert confirmed.status_code == 302


def test_logout_without_csrf_is_403(actions: Actions, rp: str) -> None:
    actions.login()
    for token in BAD_TOKENS:
        data = {"post_logout_redirect_uri": LOGGED_OUT, "client_id": "rp", "state": "s"}
        if token is not None:
            data["csrf_token"] = token
        response = actions.client.post("/logout", data=data)
        assert response.status_code == 403, token
        assert "Location" not in response.headers
        assert _signed_in(actions.client)


def _session_ids(page: str) -> list[str]:
    return re.findall(r'name="session_id" value="([^"]+)"', page)


def test_session_revoke_without_csrf_is_403(actions: Actions, app: Flask, rp: str) -> None:
    actions.login()
    other = Actions(app, app.test_client())
    other.login()
    assert _signed_in(other.client)
    page = actions.client.get("/account").text
    (other_id,) = _session_ids(page)
    for token in BAD_TOKENS:
        data = {"session_id": other_id}
        if token is not None:
            data["csrf_token"] = token
        response = actions.client.post("/account/sessions/revoke", data=data)
        assert response.status_code == 403, token
        assert _signed_in(other.client)
    # The control: with the token the other browser is signed out.
    response = actions.client.post(
        "/account/sessions/revoke", data={"session_id": other_id, "csrf_token": csrf_from(page)}
    )
    assert response.status_code == 302
    assert not _signed_in(other.client)
    assert _signed_in(actions.client)


def test_csrf_token_is_bound_to_the_session(actions: Actions, app: Flask, rp: str) -> None:
    """A token from another browser's page does not work here."""
    actions.login()
    foreign = _other_browsers_token(app)
    response = actions.client.post("/logout", data={"csrf_token": foreign})
    assert response.status_code == 403
    assert _signed_in(actions.client)


# -- the session cookie ------------------------------------------------------------


def test_session_cookie_flags_on_local_http(actions: Actions, rp: str) -> None:
    # An anonymous login page: only the signed pre-session cookie (case 55) ...
    page = actions.client.get("/login")
    pre = _set_cookie_header(page, PRE_COOKIE)
    assert pre and _set_cookie_header(page) is None, page.headers.getlist("Set-Cookie")
    # ... a transaction needs a server-side session, which login rotates.
    started = actions.client.get(_authorize_url())
    first = _set_cookie_header(started)
    assert first, started.headers.getlist("Set-Cookie")
    tx = parse_qs(urlsplit(started.headers["Location"]).query)["tx"][0]
    response = actions.login(tx=tx)
    assert response.status_code == 302
    rotated = _set_cookie_header(response)
    assert rotated, "login must send a new session cookie"
    assert rotated.split(";")[0] != first.split(";")[0], "the session id is rotated at login"
    for header in (pre, first, rotated):
        attributes = _cookie_attributes(header)
        assert "httponly" in attributes, header
        assert attributes.get("samesite") == "Lax", header
        assert attributes.get("path") == "/", header
        assert "domain" not in attributes, header
        # http://localhost is local development: no Secure flag there.
        assert "secure" not in attributes, header


@pytest.mark.settings(ISSUER="https://op.example.test")
def test_session_cookie_is_secure_for_an_https_issuer(actions: Actions, rp: str) -> None:
    base = "https://op.example.test"
    page = actions.client.get("/login", base_url=base)
    assert page.status_code == 200
    response = actions.client.post(
        "/login",
        base_url=base,
        data={
            "csrf_token": csrf_from(page.text),
            "username": "alice",
            "password": "correct horse battery",
        },
    )
    assert response.status_code == 302, response.text[:300]
    for header in (_set_cookie_header(page, PRE_COOKIE), _set_cookie_header(response)):
        assert header
        attributes = _cookie_attributes(header)
        assert "secure" in attributes, header
        assert "httponly" in attributes, header
        assert attributes.get("samesite") == "Lax", header


# -- RP-initiated logout -------------------------------------------------------------


UNREGISTERED_TARGETS = [
    "https://evil.example/",
    LOGGED_OUT + "/",
    LOGGED_OUT + "?x=1",
    LOGGED_OUT + "#f",
    "https://RP.example.test/logged-out",
    "http://rp.example.test/logged-out",
    "https://rp.example.test/logged-out@evil.example",
    Actions.REDIRECT,  # a redirect URI, not a post-logout one
]


def test_unregistered_post_logout_redirect_uri_is_a_400_page(actions: Actions, rp: str) -> None:
    actions.login()
    token = csrf_from(actions.client.get("/logout").text)
    for target in UNREGISTERED_TARGETS:
        query = {"client_id": "rp", "post_logout_redirect_uri": target, "state": "s"}
        page = actions.client.get("/logout?" + urlencode(query))
        assert page.status_code == 400, target
        assert "Location" not in page.headers
        assert 'class="error"' in page.text
        # Posting it directly (as a forged form would) is refused the same way.
        posted = actions.client.post("/logout", data={**query, "csrf_token": token})
        assert posted.status_code == 400, target
        assert "Location" not in posted.headers
        assert _signed_in(actions.client)


def test_post_logout_redirect_uri_needs_a_client(actions: Actions, rp: str) -> None:
    page = actions.client.get("/logout?" + urlencode({"post_logout_redirect_uri": LOGGED_OUT}))
    assert page.status_code == 400
    assert "Location" not in page.headers
    other = actions.create_client("other")
    assert other
    wrong_client = actions.client.get(
        "/logout?" + urlencode({"client_id": "other", "post_logout_redirect_uri": LOGGED_OUT})
    )
    assert wrong_client.status_code == 400


def test_rp_initiated_logout_redirects_with_state_and_ends_the_session(
    actions: Actions, rp: str
) -> None:
    actions.login()
    cookie = actions.client.get_cookie(COOKIE)
    assert cookie is not None
    old_value = cookie.value
    query = {"client_id": "rp", "post_logout_redirect_uri": LOGGED_OUT, "state": "bye-123"}
    page = actions.client.get("/logout?" + urlencode(query))
    assert page.status_code == 200
    assert 'id="logout-form"' in page.text
    _assert_secure_headers(page)
    # The GET itself does not sign out (a confirmation POST does).
    assert _signed_in(actions.client)
    response = actions.client.post("/logout", data={**query, "csrf_token": csrf_from(page.text)})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == LOGGED_OUT
    assert parse_qs(location.query) == {"state": ["bye-123"]}
    cleared = _set_cookie_header(response)
    assert cleared is not None and cleared.startswith(f"{COOKIE}=;")

    assert not _signed_in(actions.client)
    # The old cookie value no longer works, even sent explicitly.
    actions.client.set_cookie(COOKIE, old_value)
    assert not _signed_in(actions.client)
    silent = actions.client.get(_authorize_url(prompt="none", state="pn"))
    assert silent.status_code == 302
    assert parse_qs(urlsplit(silent.headers["Location"]).query)["error"] == ["login_required"]


def test_logout_with_id_token_hint(actions: Actions, rp: str) -> None:
    body = actions.exchange(actions.code_flow("rp"), "rp", rp).get_json()
    query = {
        "id_token_hint": body["id_token"],
        "post_logout_redirect_uri": LOGGED_OUT,
        "state": "h",
    }
    page = actions.client.get("/logout?" + urlencode(query))
    assert page.status_code == 200, page.text[:300]
    response = actions.client.post(
        "/logout", data={**query, "client_id": "rp", "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == LOGGED_OUT + "?state=h"
    assert not _signed_in(actions.client)


def test_logout_without_redirect_shows_a_page(actions: Actions, rp: str) -> None:
    actions.login()
    page = actions.client.get("/logout")
    response = actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 200
    assert "Location" not in response.headers
    _assert_secure_headers(response)
    assert not _signed_in(actions.client)


def test_pages_never_fail_on_malformed_input(actions: Actions, rp: str) -> None:
    """NUL bytes, huge and non-ASCII values (PostgreSQL refuses NUL in text)."""
    actions.login()
    token = csrf_from(actions.client.get("/logout").text)
    for value in ("\x00", "a\x00b", "x" * 10_240, "ü😀\u202e", "%ff"):
        for path in ("/login", "/consent", "/challenge", "/authorize/resume"):
            response = actions.client.get(f"{path}?" + urlencode({"tx": value}))
            assert response.status_code < 500, (path, value[:10], response.status_code)
        query = {"client_id": value, "post_logout_redirect_uri": LOGGED_OUT, "id_token_hint": value}
        response = actions.client.get("/logout?" + urlencode(query))
        assert response.status_code == 400, (value[:10], response.status_code)
        other = Actions(actions.app, actions.app.test_client())
        page = other.client.get("/login")
        response = other.client.post(
            "/login",
            data={"csrf_token": csrf_from(page.text), "username": value, "password": value},
        )
        assert response.status_code == 401, (value[:10], response.status_code)
    response = actions.client.post(
        "/account/sessions/revoke", data={"session_id": "\x00", "csrf_token": token}
    )
    assert response.status_code == 302
