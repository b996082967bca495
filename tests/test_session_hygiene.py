"""Session hygiene: the CSRF token rotates with the session (docs/security.md
case 54); anonymous requests create no unbounded state — no session row for an
anonymous page, size-capped /authorize parameters, expired rows purged (case 55)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from itsdangerous import URLSafeTimedSerializer

from provider import clock
from provider.extensions import db
from provider.storage.models import (
    AddressCounter,
    AuthorizationCode,
    AuthorizeTransaction,
    ClientAssertionJti,
    OneTimeCode,
    Token,
    WebAuthnChallenge,
    WebSession,
)
from tests.conftest import Actions, csrf_from, pkce_pair

PASSWORD = "correct horse battery"
PRE_COOKIE = "belay_session_pre"


@pytest.fixture
def rp(actions: Actions) -> str:
    actions.create_user()
    secret = actions.create_client("rp")
    assert secret
    return secret


def _raw(app: Flask, token: str) -> str:
    """The session's raw CSRF value behind a form token (Flask-WTF signs it with a time)."""
    value: str = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="wtf-csrf-token").loads(
        token
    )
    return value


def _signed_in(actions: Actions) -> bool:
    return bool(actions.client.get("/account").status_code == 200)


def _logout(actions: Actions, token: str) -> Any:
    return actions.client.post("/logout", data={"csrf_token": token})


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(db.select(db.func.count()).select_from(model)) or 0)


def _tx(response: Any) -> str:
    return parse_qs(urlsplit(response.request.url).query)["tx"][0]


# -- case 54: the CSRF token rotates at sign-in and step-up ---------------------------


def test_login_rotates_the_csrf_token(actions: Actions, app: Flask, rp: str) -> None:
    before = csrf_from(actions.client.get("/login").text)
    response = actions.client.post(
        "/login", data={"csrf_token": before, "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 302
    page = actions.client.get("/account")
    assert page.status_code == 200
    after = csrf_from(page.text)
    assert _raw(app, after) != _raw(app, before)
    # The token seen before sign-in is refused now ...
    assert _logout(actions, before).status_code == 403
    assert _signed_in(actions)
    # ... and the pages after sign-in carry the new one, which works.
    assert _logout(actions, after).status_code in (200, 302)
    assert not _signed_in(actions)


def test_login_within_a_transaction_rotates_the_csrf_token(
    actions: Actions, app: Flask, rp: str
) -> None:
    """A browser that already has a session row (an authorize transaction)."""
    page = actions.follow(actions.authorize("rp"))
    tx = _tx(page)
    before = csrf_from(page.text)
    done = actions.client.post(
        f"/login?tx={tx}",
        data={"csrf_token": before, "username": "alice", "password": PASSWORD},
    )
    assert done.status_code == 302
    after = csrf_from(actions.client.get("/account").text)
    assert _raw(app, after) != _raw(app, before)
    assert _logout(actions, before).status_code == 403
    assert _signed_in(actions)


def test_step_up_rotates_the_csrf_token(actions: Actions, app: Flask, rp: str) -> None:
    actions.login()
    before = csrf_from(actions.client.get("/account").text)
    clock.set_offset(5)
    _, challenge = pkce_pair()
    page = actions.follow(
        actions.authorize("rp", max_age="0", code_challenge=challenge, code_challenge_method="S256")
    )
    assert 'id="password-form"' in page.text, page.text[:300]
    tx = _tx(page)
    assert _raw(app, csrf_from(page.text)) == _raw(app, before)
    done = actions.client.post(
        f"/challenge?tx={tx}",
        data={
            "csrf_token": csrf_from(page.text),
            "method": "password",
            "password": PASSWORD,
            "tx": tx,
        },
    )
    assert done.status_code == 302, done.text[:300]
    after = csrf_from(actions.client.get("/account").text)
    assert _raw(app, after) != _raw(app, before)
    assert _logout(actions, before).status_code == 403
    assert _signed_in(actions)
    assert _logout(actions, after).status_code in (200, 302)
    assert not _signed_in(actions)


def test_the_step_up_api_rotates_the_csrf_token(actions: Actions, app: Flask, rp: str) -> None:
    actions.login()
    before = actions.client.get("/api/step-up/methods").get_json()["csrf_token"]
    clock.set_offset(5)

    def verify(token: str, password: str = PASSWORD) -> Any:
        return actions.client.post(
            "/api/step-up/verify",
            json={"method": "password", "password": password},
            headers={"X-CSRF-Token": token},
        )

    done = verify(before)
    assert done.status_code == 200, done.text
    after = done.get_json()["csrf_token"]
    assert _raw(app, after) != _raw(app, before)
    assert verify(before).status_code == 403
    assert verify(after, "wrong wrong wrong").status_code == 401  # the token passed
    assert verify(after).status_code == 200


def test_another_users_login_keeps_nothing_of_the_session(
    actions: Actions, app: Flask, rp: str
) -> None:
    bob = actions.create_user("bob")
    actions.login()
    actions.client.get("/account")
    with app.app_context():
        (row,) = db.session.scalars(db.select(WebSession))
        row.data = {**row.data, "left_behind": "alice's"}
        db.session.commit()
        alices_token = row.data["csrf_token"]
    actions.login("bob")
    actions.client.get("/account")
    with app.app_context():
        (row,) = db.session.scalars(db.select(WebSession))
        assert row.user_id == bob
        assert "left_behind" not in row.data
        assert row.data["csrf_token"] != alices_token


# -- case 55: no session row for an anonymous page -------------------------------------


def test_anonymous_login_pages_create_no_session_rows(actions: Actions, app: Flask) -> None:
    actions.create_user()
    for _ in range(20):
        page = actions.client.get("/login")
        assert page.status_code == 200
    fresh = app.test_client()
    for _ in range(5):
        fresh.get("/login")
        fresh.get("/authorize")  # no client: an error page, nothing stored
    wrong = actions.client.post(
        "/login",
        data={
            "csrf_token": csrf_from(actions.client.get("/login").text),
            "username": "alice",
            "password": "wrong wrong wrong",
        },
    )
    assert wrong.status_code in (200, 401)
    assert _count(app, WebSession) == 0
    assert actions.client.get_cookie("belay_session") is None
    assert actions.client.get_cookie(PRE_COOKIE) is not None
    # The login form is still CSRF-protected: the pre-session cookie carries its token.
    assert actions.login().status_code == 302
    assert _count(app, WebSession) == 1
    assert actions.client.get_cookie(PRE_COOKIE) is None  # replaced by the session


@pytest.mark.parametrize("cookie", [None, "", "garbage", "x" * 600, "ImFiYyI.forged.sig"])
def test_the_login_form_needs_its_pre_session_cookie(
    actions: Actions, app: Flask, cookie: str | None
) -> None:
    actions.create_user()
    token = csrf_from(actions.client.get("/login").text)
    if cookie is None:
        actions.client.delete_cookie(PRE_COOKIE)
    else:
        actions.client.set_cookie(PRE_COOKIE, cookie)
    response = actions.client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert not _signed_in(actions)


def test_a_pre_session_cookie_from_another_browser_does_not_fit(
    actions: Actions, app: Flask
) -> None:
    actions.create_user()
    other = app.test_client()
    other.get("/login")
    token = csrf_from(actions.client.get("/login").text)
    actions.client.set_cookie(PRE_COOKIE, other.get_cookie(PRE_COOKIE).value)
    response = actions.client.post(
        "/login", data={"csrf_token": token, "username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 403


# -- case 55: /authorize parameters are size-capped --------------------------------------


def _error(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(Actions.REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_a_huge_nonce_is_refused_and_nothing_is_stored(
    actions: Actions, app: Flask, rp: str
) -> None:
    _, challenge = pkce_pair()
    data = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": Actions.REDIRECT,
        "scope": "openid",
        "state": "s",
        "nonce": "n" * 900_000,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = actions.client.post("/authorize", data=data)
    error = _error(response)
    assert error["error"] == "invalid_request" and "nonce" in error["error_description"]
    assert error["state"] == "s"
    assert _count(app, AuthorizeTransaction) == 0
    assert _count(app, WebSession) == 0


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        ("nonce", 512),
        ("state", 2048),
        ("acr_values", 1024),
        ("claims", 4096),
        ("login_hint", 512),
        ("ui_locales", 256),
        ("claims_locales", 256),
        ("display", 32),
        ("an_extension", 256),
    ],
)
def test_each_parameter_has_a_documented_cap(
    actions: Actions, app: Flask, rp: str, name: str, limit: int
) -> None:
    from provider.flows.authorize import OTHER_PARAMETER_LIMIT, PARAMETER_LIMITS

    assert PARAMETER_LIMITS.get(name, OTHER_PARAMETER_LIMIT) == limit
    too_long = actions.authorize("rp", **{name: "a" * (limit + 1)})
    error = _error(too_long)
    assert error["error"] == "invalid_request" and name in error["error_description"]
    if name == "state":
        assert "state" not in error  # too long to echo
    assert _count(app, AuthorizeTransaction) == 0
    if name in {"nonce", "state", "login_hint", "an_extension"}:
        # At the limit the request goes on (to the login page).
        fits = actions.authorize("rp", **{name: "a" * limit})
        assert fits.status_code == 302 and "/login" in fits.headers["Location"], fits.headers


def test_too_many_parameters_are_refused(actions: Actions, rp: str) -> None:
    extra = {f"x{i}": "1" for i in range(40)}
    assert _error(actions.authorize("rp", **extra))["error"] == "invalid_request"


def test_the_caps_are_documented() -> None:
    from pathlib import Path

    from provider.flows.authorize import MAX_PARAMETERS, MAX_TOTAL_LENGTH, PARAMETER_LIMITS

    text = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()
    for name, limit in PARAMETER_LIMITS.items():
        assert f"| `{name}` | {limit} |" in text, name
    assert str(MAX_PARAMETERS) in text and str(MAX_TOTAL_LENGTH) in text


# -- case 55: expired rows are purged ----------------------------------------------------


def _expired_rows(app: Flask, user_id: int) -> dict[str, Any]:
    """One expired and one live row of every purged kind; returns the live ids."""
    from provider.crypto import random_token

    now = clock.now()
    with app.app_context():
        old = WebSession(
            token_hash=random_token(),
            sid=random_token(),
            data={},
            created_at=now - 100_000,
            last_seen_at=now - 90_000,
            expires_at=now - 10,
        )
        idle = WebSession(
            token_hash=random_token(),
            sid=random_token(),
            data={},
            created_at=now - 40_000,
            last_seen_at=now - app.config["SESSION_IDLE_TIMEOUT"] - 1,
            expires_at=now + 1000,
        )
        live = WebSession(
            token_hash=random_token(),
            sid=random_token(),
            data={},
            created_at=now,
            last_seen_at=now,
            expires_at=now + 1000,
        )
        db.session.add_all([old, idle, live])
        db.session.flush()
        for session_id, expires in ((live.id, now - 1), (live.id, now + 900)):
            db.session.add(
                AuthorizeTransaction(
                    id=random_token(),
                    session_id=session_id,
                    client_id="rp",
                    params={},
                    created_at=now - 1000,
                    expires_at=expires,
                )
            )
        db.session.add(
            AuthorizeTransaction(
                id=random_token(),
                session_id=old.id,
                client_id="rp",
                params={"nonce": "n" * 500},
                created_at=now - 1000,
                expires_at=now + 900,  # goes with its session
            )
        )
        for ceremony, expires in (("login", now - 1), ("register", now + 100)):
            db.session.add(
                WebAuthnChallenge(
                    session_id=live.id,
                    ceremony=ceremony,
                    challenge="c",
                    context={},
                    created_at=now - 200,
                    expires_at=expires,
                )
            )
        for created in (now - 100_000, now - 60):
            db.session.add(
                OneTimeCode(
                    user_id=user_id,
                    channel="email",
                    purpose="login",
                    destination="a@example.test",
                    code_hash=random_token(),
                    created_at=created,
                    expires_at=created + 300,
                )
            )
        for expires in (now - 2 * 24 * 3600, now - 60):
            db.session.add(
                AuthorizationCode(
                    code_hash=random_token(),
                    client_id="rp",
                    user_id=user_id,
                    redirect_uri=Actions.REDIRECT,
                    auth_time=now,
                    created_at=expires - 60,
                    expires_at=expires,
                    used_at=expires - 30,
                )
            )
        day = 24 * 3600
        # (access expiry, refresh expiry): only the first is gone for good; an
        # expired access token whose refresh token still lives stays, and so
        # does one expired less than a day ago.
        for access, refresh in (
            (now - 2 * day, now - 2 * day + 60),
            (now - 2 * day, now + day),
            (now - 60, None),
        ):
            db.session.add(
                Token(
                    client_id="rp",
                    user_id=user_id,
                    jti=random_token(),
                    access_token_hash=random_token(),
                    refresh_token_hash=random_token() if refresh else None,
                    family_id=random_token(),
                    issued_at=access - 600,
                    access_expires_at=access,
                    refresh_expires_at=refresh,
                )
            )
        for expires in (now - 1, now + 600):
            db.session.add(
                ClientAssertionJti(client_id="rp", jti=random_token(), expires_at=expires)
            )
        for address, ends in (("203.0.113.1", now - 1), ("203.0.113.2", now + 300)):
            db.session.add(AddressCounter(address=address, attempts=3, window_ends_at=ends))
        db.session.commit()
        return {"live_session": live.id}


PURGED = {
    "sessions": 2,
    "authorize_transactions": 1,
    "webauthn_challenges": 1,
    "one_time_codes": 1,
    "authorization_codes": 1,
    "tokens": 1,
    "assertion_jtis": 1,
    "address_counters": 1,
}


def test_belay_purge_deletes_expired_rows_and_keeps_live_ones(
    actions: Actions, app: Flask, runner: Any, rp: str
) -> None:
    import json

    from provider.storage import users as user_store

    with app.app_context():
        user_id = user_store.user_by_name("alice").id
    ids = _expired_rows(app, user_id)
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == PURGED
    with app.app_context():
        assert [s.id for s in db.session.scalars(db.select(WebSession))] == [ids["live_session"]]
    assert _count(app, AuthorizeTransaction) == 1
    assert _count(app, WebAuthnChallenge) == 1
    assert _count(app, OneTimeCode) == 1
    assert _count(app, AuthorizationCode) == 1
    assert _count(app, Token) == 2
    assert _count(app, ClientAssertionJti) == 1
    assert _count(app, AddressCounter) == 1
    again = runner.invoke(args=["purge"])
    assert json.loads(again.output) == dict.fromkeys(PURGED, 0)


def test_a_purge_round_is_bounded(actions: Actions, app: Flask, rp: str) -> None:
    from provider.crypto import random_token
    from provider.flows.purge import purge_all, purge_once

    now = clock.now()
    with app.app_context():
        for _ in range(5):
            db.session.add(
                WebSession(
                    token_hash=random_token(),
                    sid=random_token(),
                    data={},
                    created_at=now - 100,
                    last_seen_at=now - 100,
                    expires_at=now - 1,
                )
            )
        db.session.commit()
        assert purge_once(app.config, batch=2)["sessions"] == 2
    assert _count(app, WebSession) == 3
    with app.app_context():
        assert purge_all(app.config, batch=2)["sessions"] == 3
    assert _count(app, WebSession) == 0


@pytest.mark.settings(PURGE_EVERY_REQUESTS=3)
def test_the_server_purges_every_n_requests(actions: Actions, app: Flask, rp: str) -> None:
    from provider.storage import users as user_store

    with app.app_context():
        user_id = user_store.user_by_name("alice").id
    _expired_rows(app, user_id)
    actions.client.get("/healthz")
    actions.client.get("/healthz")
    assert _count(app, ClientAssertionJti) == 2
    actions.client.get("/healthz")  # the third request purges as it ends
    assert _count(app, ClientAssertionJti) == 1
    assert _count(app, WebSession) == 1
