"""``id_token_hint`` at /authorize (OIDC Core §3.1.2.1/§3.1.2.2,
docs/security.md case 52).

A valid hint is an ID token this provider issued to the requesting client,
signed by a key it publishes or is retiring; expired is fine. A hint naming
someone other than the signed-in user: ``login_required`` for ``prompt=none``,
else the login page — and when someone other than the hinted user then signs
in, ``login_required``. Anything else offered as a hint is ``invalid_request``
at the redirect URI.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey

from provider import clock
from tests.conftest import Actions, pkce_pair

ISSUER = "http://localhost"
REDIRECT = Actions.REDIRECT


def _query(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?"), location
    return parse_qs(urlsplit(location).query, keep_blank_values=True)


def _assert_error(response: Any, error: str) -> dict[str, list[str]]:
    query = _query(response)
    assert query.get("error") == [error], query
    assert query["iss"] == [ISSUER], query
    assert "code" not in query, query
    return query


def _id_token(app: Flask, username: str, client_id: str = "rp") -> str:
    """An ID token for ``username``, obtained through a real code flow in a fresh browser."""
    browser = Actions(app, app.test_client())
    verifier, challenge = pkce_pair()
    page = browser.follow(
        browser.authorize(client_id, code_challenge=challenge, code_challenge_method="S256")
    )
    tx = parse_qs(urlsplit(page.request.url).query)["tx"][0]
    done = browser.follow(browser.login(username, tx=tx))
    callback = {k: v[0] for k, v in parse_qs(urlsplit(done.headers["Location"]).query).items()}
    callback["code_verifier"] = verifier
    tokens = browser.exchange(callback, client_id, SECRETS[client_id])
    assert tokens.status_code == 200, tokens.text
    return str(tokens.get_json()["id_token"])


#: the clients' secrets (set by the ``world`` fixture)
SECRETS: dict[str, str] = {}


@pytest.fixture
def world(app: Flask, actions: Actions) -> dict[str, Any]:
    """alice signed in to this browser; bob and alice exist; clients rp and other."""
    SECRETS.clear()
    alice = actions.create_user("alice")
    bob = actions.create_user("bob")
    SECRETS["rp"] = str(actions.create_client("rp"))
    SECRETS["other"] = str(actions.create_client("other"))
    assert actions.login("alice").status_code == 302
    return {"alice": alice, "bob": bob}


def _sub_of(actions: Actions, callback: dict[str, list[str]]) -> str:
    tokens = actions.token(
        {"grant_type": "authorization_code", "code": callback["code"][0], "redirect_uri": REDIRECT},
        auth=("rp", SECRETS["rp"]),
    )
    assert tokens.status_code == 200, tokens.text
    return str(actions.decode(tokens.get_json()["id_token"])["sub"])


# -- the signed-in user is not the hinted one ------------------------------------------


def test_prompt_none_with_another_users_hint_is_login_required(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    bobs = _id_token(app, "bob")
    _assert_error(actions.authorize(prompt="none", id_token_hint=bobs), "login_required")
    with app.app_context():
        from provider.extensions import db
        from provider.storage.models import AuditEvent

        reasons = [r.reason for r in db.session.scalars(db.select(AuditEvent))]
    assert "id_token_hint names another user" in reasons


def test_prompt_none_with_the_users_own_hint_issues_a_code(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    alices = _id_token(app, "alice")
    query = _query(actions.authorize(prompt="none", id_token_hint=alices))
    assert query["iss"] == [ISSUER] and len(query["code"]) == 1
    assert _sub_of(actions, query) == str(world["alice"])


def test_another_users_hint_without_prompt_none_asks_for_a_new_login(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    bobs = _id_token(app, "bob")
    response = actions.authorize(id_token_hint=bobs)
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login", response.headers["Location"]
    page = actions.follow(response)
    assert 'id="login-form"' in page.text
    tx = parse_qs(urlsplit(page.request.url).query)["tx"][0]
    # The hinted user signs in: a code for bob.
    query = _query(actions.follow(actions.login("bob", tx=tx)))
    assert _sub_of(actions, query) == str(world["bob"])


def test_someone_else_signing_in_for_a_hint_is_login_required(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    bobs = _id_token(app, "bob")
    page = actions.follow(actions.authorize(id_token_hint=bobs, state="st-h"))
    tx = parse_qs(urlsplit(page.request.url).query)["tx"][0]
    # alice signs in again instead of bob.
    query = _assert_error(actions.follow(actions.login("alice", tx=tx)), "login_required")
    assert query["state"] == ["st-h"]


def test_no_session_and_a_hint_with_prompt_none_is_login_required(
    app: Flask, world: dict[str, Any]
) -> None:
    bobs = _id_token(app, "bob")
    fresh = Actions(app, app.test_client())
    _assert_error(fresh.authorize(prompt="none", id_token_hint=bobs), "login_required")


def test_no_session_and_a_hint_logs_the_hinted_user_in(app: Flask, world: dict[str, Any]) -> None:
    bobs = _id_token(app, "bob")
    fresh = Actions(app, app.test_client())
    page = fresh.follow(fresh.authorize(id_token_hint=bobs))
    tx = parse_qs(urlsplit(page.request.url).query)["tx"][0]
    _query(fresh.follow(fresh.login("bob", tx=tx)))
    other = Actions(app, app.test_client())
    page = other.follow(other.authorize(id_token_hint=bobs))
    tx = parse_qs(urlsplit(page.request.url).query)["tx"][0]
    _assert_error(other.follow(other.login("alice", tx=tx)), "login_required")


# -- what counts as a hint ---------------------------------------------------------------


def test_an_expired_hint_is_accepted(app: Flask, actions: Actions, world: dict[str, Any]) -> None:
    alices = _id_token(app, "alice")
    clock.set_offset(app.config["ID_TOKEN_TTL"] + 60)
    assert actions.decode(alices)["exp"] < clock.now()
    actions.login("alice")
    query = _query(actions.authorize(prompt="none", id_token_hint=alices))
    assert len(query["code"]) == 1


def test_a_hint_signed_by_a_retiring_key_is_accepted(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    alices = _id_token(app, "alice")
    with app.app_context():
        from provider.oidc.keys import rotate_keys

        rotate_keys(app.extensions["belay_data_key"], publish_delay=0)
        app.extensions["belay_keys"].invalidate()
    clock.set_offset(1)
    query = _query(actions.authorize(prompt="none", id_token_hint=alices))
    assert len(query["code"]) == 1


def test_a_hint_signed_by_a_key_no_longer_published_is_invalid(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    alices = _id_token(app, "alice")
    with app.app_context():
        from provider.oidc.keys import rotate_keys

        rotate_keys(app.extensions["belay_data_key"], publish_delay=0)
        app.extensions["belay_keys"].invalidate()
    # the retired key leaves the JWKS once every token it signed has expired
    clock.set_offset(app.config["ID_TOKEN_TTL"] + app.config["REFRESH_TOKEN_TTL"] + 86400 * 400)
    actions.login("alice")
    with app.app_context():
        kids = {k["kid"] for k in app.extensions["belay_keys"].jwks()["keys"]}
    from joserfc import jws

    assert jws.extract_compact(alices.encode()).protected["kid"] not in kids
    _assert_error(actions.authorize(prompt="none", id_token_hint=alices), "invalid_request")


def test_a_hint_issued_to_another_client_is_invalid(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    alices_for_other = _id_token(app, "alice", "other")
    query = _assert_error(
        actions.authorize(prompt="none", id_token_hint=alices_for_other), "invalid_request"
    )
    assert "client" in query["error_description"][0]


def _forged(app: Flask, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """A token signed by our own current key (what only we can make) with chosen contents."""
    with app.app_context():
        kid, key = app.extensions["belay_keys"].signing_key("ES256")
    protected = {"alg": "ES256", "kid": kid, "typ": "JWT", **(header or {})}
    return jwt.encode({k: v for k, v in protected.items() if v is not None}, claims, key)


def _garbage(app: Flask, world: dict[str, Any], alices: str) -> dict[str, str]:
    now = clock.now()
    good = {"iss": ISSUER, "aud": "rp", "sub": str(world["alice"]), "iat": now, "exp": now + 60}
    header, payload, signature = alices.split(".")
    stranger = ECKey.generate_key("P-256", private=True)
    with app.app_context():
        kid, _ = app.extensions["belay_keys"].signing_key("ES256")
    return {
        "garbage": "not-a-token",
        "three dots": "a.b.c",
        "empty parts": "..",
        "JWE shape": "a.b.c.d.e",
        "alg none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + payload + ".",
        "bad signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "payload swapped": f"{header}.{_forged(app, good).split('.')[1]}.{signature}",
        "stranger's key, our kid": jwt.encode(
            {"alg": "ES256", "kid": kid, "typ": "JWT"}, good, stranger
        ),
        "unknown kid": jwt.encode({"alg": "ES256", "kid": "nope", "typ": "JWT"}, good, stranger),
        "another issuer": _forged(app, {**good, "iss": "https://evil.example"}),
        "no sub": _forged(app, {k: v for k, v in good.items() if k != "sub"}),
        "numeric sub": _forged(app, {**good, "sub": 1}),
        "no aud": _forged(app, {k: v for k, v in good.items() if k != "aud"}),
        "access token type": _forged(app, good, {"typ": "at+jwt"}),
        "re-auth token type": _forged(app, good, {"typ": "reauth+jwt"}),
        "no kid": _forged(app, good, {"kid": None}),
        "huge": "a" * 9000 + ".b.c",
        "non-ASCII": "é.é.é",
    }


def test_invalid_hints_are_invalid_request(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    alices = _id_token(app, "alice")
    for label, hint in _garbage(app, world, alices).items():
        for prompt in ("none", None):
            query = _assert_error(
                actions.authorize(prompt=prompt, id_token_hint=hint, state="s-bad"),
                "invalid_request",
            )
            assert query["state"] == ["s-bad"], label
            assert "id_token_hint" in query["error_description"][0], (label, query)


def test_an_access_token_of_ours_is_not_a_hint(
    app: Flask, actions: Actions, world: dict[str, Any]
) -> None:
    browser = Actions(app, app.test_client())
    callback = browser.code_flow("rp", login=True)
    access = browser.exchange(callback, "rp", SECRETS["rp"]).get_json()["access_token"]
    assert actions.decode(access)["aud"]  # a JWT signed by our key
    _assert_error(actions.authorize(prompt="none", id_token_hint=access), "invalid_request")


def test_invalid_hint_without_a_session(app: Flask, world: dict[str, Any]) -> None:
    fresh = Actions(app, app.test_client())
    _assert_error(fresh.authorize(id_token_hint="garbage"), "invalid_request")


def test_logout_still_takes_a_hint(app: Flask, actions: Actions, world: dict[str, Any]) -> None:
    alices = _id_token(app, "alice")
    page = actions.client.get("/logout?" + f"id_token_hint={alices}")
    assert page.status_code == 200
    other = _id_token(app, "alice", "other")
    refused = actions.client.get(f"/logout?client_id=rp&id_token_hint={other}")
    assert refused.status_code == 400
