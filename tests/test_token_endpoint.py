"""The token, introspection and revocation endpoints: client authentication
(docs/security.md case 39), single-use codes and refresh tokens under concurrency
against a real server process (cases 34 and 35), and malformed bodies."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from werkzeug.datastructures import MultiDict

from provider import clock
from tests.conftest import Actions, LiveServer, csrf_from, pkce_pair

ISSUER = "http://localhost"
TOKEN_URL = f"{ISSUER}/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    value = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


def _assert_invalid_client(response: Any, *, basic: bool, label: Any = None) -> None:
    assert response.status_code in ((401,) if basic else (400, 401)), (label, response.status_code)
    assert response.mimetype == "application/json", label
    body = response.get_json()
    assert body["error"] == "invalid_client", (label, body)
    assert "access_token" not in body and "active" not in body
    if response.status_code == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Basic"), label


def _tokens(actions: Actions, secret: str, client_id: str = "rp") -> dict[str, Any]:
    response = actions.exchange(actions.code_flow(client_id), client_id, secret)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.get_json()
    return body


def _active(actions: Actions, token: str, auth: tuple[str, str]) -> bool:
    response = actions.client.post("/introspect", data={"token": token}, auth=auth)
    assert response.status_code == 200, response.text
    return bool(response.get_json()["active"])


# -- case 39: confidential clients authenticate everywhere -------------------------


@pytest.fixture
def two_clients(actions: Actions) -> dict[str, str]:
    actions.create_user()
    return {
        "rp": actions.create_client("rp") or "",
        "other": actions.create_client("other") or "",
    }


def _bad_credentials(
    secrets_by_client: dict[str, str],
) -> list[tuple[str, dict[str, str], dict[str, str], bool]]:
    """(label, headers, extra form fields, sent via basic) for client "rp"."""
    rp, other = secrets_by_client["rp"], secrets_by_client["other"]
    return [
        ("none", {}, {"client_id": "rp"}, False),
        ("nothing-at-all", {}, {}, False),
        ("wrong-secret-basic", _basic("rp", rp + "x"), {}, True),
        ("empty-secret-basic", _basic("rp", ""), {"client_id": "rp"}, True),
        ("other-secret-basic", _basic("rp", other), {}, True),
        ("unknown-client-basic", _basic("nobody", rp), {}, True),
        ("wrong-secret-post", {}, {"client_id": "rp", "client_secret": rp + "x"}, False),
        ("other-secret-post", {}, {"client_id": "rp", "client_secret": other}, False),
        # The right secret, but rp is registered for client_secret_basic.
        ("post-for-basic-client", {}, {"client_id": "rp", "client_secret": rp}, False),
        ("bearer-header", {"Authorization": f"Bearer {rp}"}, {"client_id": "rp"}, False),
        ("basic-garbage", {"Authorization": "Basic !!!not-base64"}, {"client_id": "rp"}, True),
    ]


def test_token_endpoint_requires_client_authentication(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    for label, headers, extra, basic in _bad_credentials(two_clients):
        callback = actions.code_flow("rp")
        data = {
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": Actions.REDIRECT,
            "code_verifier": callback["code_verifier"],
            **extra,
        }
        _assert_invalid_client(
            actions.client.post("/token", data=data, headers=headers), basic=basic, label=label
        )
    for label, headers, extra, basic in _bad_credentials(two_clients):
        _assert_invalid_client(
            actions.client.post(
                "/token", data={"grant_type": "client_credentials", **extra}, headers=headers
            ),
            basic=basic,
            label=("client_credentials", label),
        )


def test_refresh_requires_client_authentication(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    tokens = _tokens(actions, two_clients["rp"])
    for label, headers, extra, basic in _bad_credentials(two_clients):
        data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **extra}
        _assert_invalid_client(
            actions.client.post("/token", data=data, headers=headers), basic=basic, label=label
        )
    # None of the attempts consumed the refresh token.
    ok = actions.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("rp", two_clients["rp"]),
    )
    assert ok.status_code == 200, ok.text


def test_introspection_requires_client_authentication(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    tokens = _tokens(actions, two_clients["rp"])
    for label, headers, extra, basic in _bad_credentials(two_clients):
        for token in (tokens["access_token"], tokens["refresh_token"]):
            response = actions.client.post(
                "/introspect", data={"token": token, **extra}, headers=headers
            )
            _assert_invalid_client(response, basic=basic, label=label)
    assert _active(actions, tokens["access_token"], ("rp", two_clients["rp"]))


def test_revocation_requires_client_authentication(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    tokens = _tokens(actions, two_clients["rp"])
    for label, headers, extra, basic in _bad_credentials(two_clients):
        for token in (tokens["access_token"], tokens["refresh_token"]):
            response = actions.client.post(
                "/revoke", data={"token": token, **extra}, headers=headers
            )
            _assert_invalid_client(response, basic=basic, label=label)
    # Nothing was revoked by the failed attempts.
    assert _active(actions, tokens["access_token"], ("rp", two_clients["rp"]))
    assert _active(actions, tokens["refresh_token"], ("rp", two_clients["rp"]))


def test_a_client_cannot_revoke_another_clients_tokens(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    tokens = _tokens(actions, two_clients["rp"])
    for token in (tokens["refresh_token"], tokens["access_token"]):
        response = actions.client.post(
            "/revoke", data={"token": token}, auth=("other", two_clients["other"])
        )
        assert response.status_code < 500
    assert _active(actions, tokens["access_token"], ("rp", two_clients["rp"]))
    assert _active(actions, tokens["refresh_token"], ("rp", two_clients["rp"]))


def test_client_secret_post_client_cannot_use_basic(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("poster", auth_method="client_secret_post")
    assert secret
    callback = actions.code_flow("poster")
    data = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": Actions.REDIRECT,
        "code_verifier": callback["code_verifier"],
    }
    _assert_invalid_client(
        actions.client.post("/token", data=data, auth=("poster", secret)), basic=True
    )
    ok = actions.client.post(
        "/token", data={**data, "client_id": "poster", "client_secret": secret}
    )
    assert ok.status_code == 200, ok.text


def test_public_clients_cannot_introspect(actions: Actions) -> None:
    actions.create_user()
    actions.create_client("spa", public=True)
    secret = actions.create_client("rp")
    assert secret
    spa_tokens = actions.exchange(actions.code_flow("spa"), "spa").get_json()
    rp_tokens = _tokens(actions, secret)
    for token in (
        spa_tokens["access_token"],
        spa_tokens["refresh_token"],
        rp_tokens["access_token"],
    ):
        response = actions.client.post("/introspect", data={"token": token, "client_id": "spa"})
        _assert_invalid_client(response, basic=False)
        response = actions.client.post("/introspect", data={"token": token}, auth=("spa", ""))
        assert response.status_code in (400, 401)
        assert response.get_json()["error"] == "invalid_client"


def test_public_client_cannot_use_client_credentials(actions: Actions) -> None:
    actions.create_client("spa", public=True)
    response = actions.token({"grant_type": "client_credentials", "client_id": "spa"})
    assert response.status_code in (400, 401)
    assert response.get_json()["error"] in {"invalid_client", "unauthorized_client"}
    assert "access_token" not in response.get_json()


def test_public_client_may_revoke_its_own_tokens(actions: Actions) -> None:
    """RFC 7009 §2.1 allows public clients at the revocation endpoint; this is the
    control showing the endpoint is not simply closed."""
    actions.create_user()
    actions.create_client("spa", public=True)
    secret = actions.create_client("rs")
    assert secret
    tokens = actions.exchange(actions.code_flow("spa"), "spa").get_json()
    response = actions.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": "spa"}
    )
    assert response.status_code == 200
    assert not _active(actions, tokens["access_token"], ("rs", secret))


def test_public_client_cannot_redeem_a_confidential_clients_code(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    """A confidential client's id with no secret (auth method "none") is refused."""
    callback = actions.code_flow("rp")
    response = actions.exchange(callback, "rp", None)
    _assert_invalid_client(response, basic=False)


# -- private_key_jwt ----------------------------------------------------------------


def _assertion(key: Any, client_id: str = "pkj", **overrides: Any) -> str:
    now = clock.now()
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "jti": secrets.token_urlsafe(16),
        "iat": now,
        "exp": now + 60,
    }
    claims.update(overrides)
    for name in [k for k, v in overrides.items() if v is None]:
        claims.pop(name)
    alg = "RS256" if isinstance(key, RSAKey) else "ES256"
    return jwt.encode({"alg": alg, "kid": key.thumbprint()}, claims, key, algorithms=[alg])


@pytest.fixture
def pkj_key(actions: Actions) -> ECKey:
    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": key.thumbprint(), "use": "sig", "alg": "ES256"}
    secret = actions.create_client("pkj", auth_method="private_key_jwt", jwks={"keys": [public]})
    assert secret is None
    return key


def _cc(actions: Actions, assertion: str, **extra: str) -> Any:
    return actions.client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "scope": "openid",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            **extra,
        },
    )


def test_private_key_jwt_client_credentials_and_jti_replay(
    actions: Actions, pkj_key: ECKey
) -> None:
    assertion = _assertion(pkj_key)
    first = _cc(actions, assertion)
    assert first.status_code == 200, first.text
    assert actions.decode(first.get_json()["access_token"])["client_id"] == "pkj"
    again = _cc(actions, assertion)
    _assert_invalid_client(again, basic=False)
    # A fresh jti works again.
    assert _cc(actions, _assertion(pkj_key)).status_code == 200


def test_private_key_jwt_accepts_the_issuer_as_audience(actions: Actions, pkj_key: ECKey) -> None:
    assert _cc(actions, _assertion(pkj_key, aud=ISSUER)).status_code == 200
    assert _cc(actions, _assertion(pkj_key, aud=[TOKEN_URL])).status_code == 200


def test_private_key_jwt_code_flow(actions: Actions, pkj_key: ECKey) -> None:
    actions.create_user()
    callback = actions.code_flow("pkj")
    response = actions.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": Actions.REDIRECT,
            "code_verifier": callback["code_verifier"],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(pkj_key),
        },
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert actions.decode(body["id_token"])["aud"] == "pkj"
    refresh = actions.client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(pkj_key),
        },
    )
    assert refresh.status_code == 200, refresh.text
    # Introspection and revocation take the same authentication.
    introspected = actions.client.post(
        "/introspect",
        data={
            "token": refresh.get_json()["access_token"],
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(pkj_key),
        },
    )
    assert introspected.status_code == 200, introspected.text
    assert introspected.get_json()["active"] is True


def test_private_key_jwt_refusals(actions: Actions, pkj_key: ECKey) -> None:
    other_ec = ECKey.generate_key("P-256")
    other_rsa = RSAKey.generate_key(2048)
    now = clock.now()
    cases: list[tuple[str, str]] = [
        ("wrong-ec-key", _assertion(other_ec)),
        ("wrong-rsa-key", _assertion(other_rsa)),
        ("expired", _assertion(pkj_key, iat=now - 600, exp=now - 300)),
        ("no-exp", _assertion(pkj_key, exp=None)),
        ("no-jti", _assertion(pkj_key, jti=None)),
        ("empty-jti", _assertion(pkj_key, jti="")),
        ("wrong-aud", _assertion(pkj_key, aud="https://elsewhere.example/token")),
        ("no-aud", _assertion(pkj_key, aud=None)),
        ("iss-not-sub", _assertion(pkj_key, iss="someone-else")),
        ("sub-unknown", _assertion(pkj_key, iss="nobody", sub="nobody")),
        ("sub-not-a-string", _assertion(pkj_key, iss=7, sub=7)),
        ("exp-infinite", _assertion(pkj_key, exp=float("inf"))),
        ("exp-string", _assertion(pkj_key, exp="tomorrow")),
    ]
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    payload = (
        base64.urlsafe_b64encode(
            json.dumps(
                {"iss": "pkj", "sub": "pkj", "aud": TOKEN_URL, "jti": "x", "exp": now + 60}
            ).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    cases += [
        ("alg-none", f"{header}.{payload}."),
        ("garbage", "not.a.jwt"),
        ("empty-parts", ".."),
        ("truncated", _assertion(pkj_key)[:-10]),
        (
            "json-array-payload",
            f"{header}.{base64.urlsafe_b64encode(b'[1]').decode().rstrip('=')}.sig",
        ),
    ]
    for label, assertion in cases:
        response = _cc(actions, assertion)
        assert response.status_code < 500, (label, response.text)
        _assert_invalid_client(response, basic=False, label=label)


def test_private_key_jwt_far_future_exp_is_still_single_use(
    actions: Actions, pkj_key: ECKey
) -> None:
    """A far-future ``exp`` must not break the replay store (a 64-bit column)."""
    for exp in (10**30, 2**63, 2**64 + 1):
        assertion = _assertion(pkj_key, exp=exp)
        first = _cc(actions, assertion)
        assert first.status_code < 500, (exp, first.text)
        if first.status_code == 200:
            _assert_invalid_client(_cc(actions, assertion), basic=False, label=exp)
        else:
            _assert_invalid_client(first, basic=False, label=exp)


def test_private_key_jwt_client_cannot_use_a_secret(actions: Actions, pkj_key: ECKey) -> None:
    for auth in (("pkj", ""), ("pkj", "guess")):
        response = actions.client.post(
            "/token", data={"grant_type": "client_credentials"}, auth=auth
        )
        _assert_invalid_client(response, basic=True, label=auth)
    response = actions.token(
        {"grant_type": "client_credentials", "client_id": "pkj", "client_secret": "x"}
    )
    _assert_invalid_client(response, basic=False)
    response = actions.token({"grant_type": "client_credentials", "client_id": "pkj"})
    _assert_invalid_client(response, basic=False)


def test_secret_client_cannot_use_an_assertion(actions: Actions, pkj_key: ECKey) -> None:
    """An assertion signed with pkj's key naming a secret-based client is refused."""
    secret = actions.create_client("rp")
    assert secret
    response = _cc(actions, _assertion(pkj_key, client_id="rp"))
    _assert_invalid_client(response, basic=False)


# -- malformed /token bodies ----------------------------------------------------------


def _assert_oauth_error(response: Any, label: Any) -> None:
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text[:300])
    assert response.mimetype == "application/json", (label, response.mimetype)
    body = response.get_json()
    assert isinstance(body.get("error"), str) and body["error"], (label, body)
    assert "access_token" not in body


def test_malformed_token_bodies_give_oauth_errors(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    secret = two_clients["rp"]
    auth = _basic("rp", secret)
    huge = "A" * 10_240
    callback = actions.code_flow("rp")
    forms: list[tuple[str, Any]] = [
        ("empty", {}),
        ("missing-grant-type", {"code": callback["code"], "redirect_uri": Actions.REDIRECT}),
        ("unknown-grant-type", {"grant_type": "magic"}),
        ("huge-grant-type", {"grant_type": huge}),
        (
            "huge-code",
            {"grant_type": "authorization_code", "code": huge, "redirect_uri": Actions.REDIRECT},
        ),
        ("huge-redirect", {"grant_type": "authorization_code", "code": "x", "redirect_uri": huge}),
        (
            "huge-verifier",
            {
                "grant_type": "authorization_code",
                "code": "x",
                "redirect_uri": Actions.REDIRECT,
                "code_verifier": huge,
            },
        ),
        ("huge-refresh", {"grant_type": "refresh_token", "refresh_token": huge}),
        (
            "huge-assertion",
            {
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": huge,
            },
        ),
        (
            "nul-code",
            {
                "grant_type": "authorization_code",
                "code": "a\x00b",
                "redirect_uri": Actions.REDIRECT,
            },
        ),
        ("nul-refresh", {"grant_type": "refresh_token", "refresh_token": "\x00"}),
        (
            "unicode-code",
            {
                "grant_type": "authorization_code",
                "code": "ç😀\u202e",
                "redirect_uri": "https://rp.example.test/ç",
            },
        ),
        ("unicode-grant", {"grant_type": "authorization_cödé"}),
        ("quote-grant", {"grant_type": 'a"b\\c'}),
        (
            "code-as-array",
            [
                ("grant_type", "authorization_code"),
                ("code", callback["code"]),
                ("code", "other"),
                ("redirect_uri", Actions.REDIRECT),
                ("code_verifier", callback["code_verifier"]),
            ],
        ),
        (
            "grant-type-as-array",
            [("grant_type", "authorization_code"), ("grant_type", "refresh_token")],
        ),
        ("missing-code", {"grant_type": "authorization_code", "redirect_uri": Actions.REDIRECT}),
        ("missing-redirect", {"grant_type": "authorization_code", "code": "x"}),
        ("missing-refresh", {"grant_type": "refresh_token"}),
        (
            "bad-assertion-type",
            {
                "grant_type": "client_credentials",
                "client_assertion_type": "x",
                "client_assertion": "y",
            },
        ),
    ]
    for label, form in forms:
        data = MultiDict(form)
        # An assertion next to valid Basic credentials is a second method; only
        # the assertion alone is the malformed case here.
        for headers in ({},) if "assertion" in label else (auth, {}):
            response = actions.client.post("/token", data=data, headers=headers)
            _assert_oauth_error(response, (label, bool(headers)))
    # Unknown scopes may be dropped rather than refused (RFC 6749 §3.3), but
    # never widen the grant and never break the endpoint.
    for scope in (huge, "öpenid \x00", "openid admin", "\x00", " "):
        response = actions.client.post(
            "/token", data={"grant_type": "client_credentials", "scope": scope}, headers=auth
        )
        assert response.status_code < 500, (scope[:20], response.text[:300])
        if response.status_code == 200:
            granted = set(response.get_json().get("scope", "").split())
            assert granted <= {"openid", "profile", "email", "offline_access"}, granted
        else:
            _assert_oauth_error(response, scope[:20])
    other_bodies: list[tuple[str, Any, str]] = [
        ("json-body", json.dumps({"grant_type": "client_credentials"}), "application/json"),
        ("json-array", "[1,2,3]", "application/json"),
        ("text", "grant_type=client_credentials", "text/plain"),
        ("no-type", "grant_type=client_credentials", ""),
        ("binary", b"\xff\xfe\x00grant_type=\xff", "application/x-www-form-urlencoded"),
        (
            "bad-percent",
            "grant_type=%zz&code=%&redirect_uri=%ff",
            "application/x-www-form-urlencoded",
        ),
        ("multipart-junk", "--x\r\njunk", "multipart/form-data; boundary=x"),
        (
            "huge-body",
            "grant_type=client_credentials&x=" + "A" * (2 * 1024 * 1024),
            "application/x-www-form-urlencoded",
        ),
    ]
    for label, body, content_type in other_bodies:
        headers = dict(auth)
        if content_type:
            headers["Content-Type"] = content_type
        response = actions.client.post("/token", data=body, headers=headers)
        # Only a form body counts (RFC 6749 §3.2): never tokens from the others.
        _assert_oauth_error(response, label)


def test_token_endpoint_refuses_get(actions: Actions, two_clients: dict[str, str]) -> None:
    response = actions.client.get(
        "/token?grant_type=client_credentials", auth=("rp", two_clients["rp"])
    )
    assert response.status_code == 405
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]


def test_malformed_introspection_and_revocation_bodies(
    actions: Actions, two_clients: dict[str, str]
) -> None:
    auth = _basic("rp", two_clients["rp"])
    for path in ("/introspect", "/revoke"):
        for form in (
            {},
            {"token": ""},
            {"token": "A" * 10_240},
            {"token": "\x00"},
            {"token": "ç😀"},
            {"token": "x", "token_type_hint": "ünknown"},
            {"token": "x", "token_type_hint": "A" * 5000},
            MultiDict([("token", "a"), ("token", "b")]),
        ):
            response = actions.client.post(path, data=form, headers=auth)
            assert response.status_code < 500, (path, form, response.text[:300])
            if response.status_code != 200:
                _assert_oauth_error(response, (path, form))
            elif path == "/introspect":
                assert response.get_json() == {"active": False}, form


# -- cases 34 and 35: single use under concurrency, against a real server -------------

LIVE_REDIRECT = "http://127.0.0.1:8976/callback"


def _live_code(server: LiveServer, client_id: str, challenge: str) -> str:
    """Log in through the real server's pages like a browser; return the code."""
    browser = requests.Session()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": LIVE_REDIRECT,
            "scope": "openid profile offline_access",
            "state": "live-state",
            "nonce": "live-nonce",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    response = browser.get(f"{server.url}/authorize?{query}", allow_redirects=False, timeout=10)
    for _ in range(10):
        if response.status_code in (301, 302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(LIVE_REDIRECT):
                params = parse_qs(urlsplit(location).query)
                assert params["iss"] == [server.url]
                assert params["state"] == ["live-state"]
                return params["code"][0]
            assert location.startswith(server.url), location
            response = browser.get(location, allow_redirects=False, timeout=10)
            continue
        assert response.status_code == 200, response.text[:300]
        assert 'id="login-form"' in response.text, response.text[:300]
        response = browser.post(
            response.url,
            data={
                "csrf_token": csrf_from(response.text),
                "username": "alice",
                "password": "correct horse battery",
            },
            allow_redirects=False,
            timeout=10,
        )
    raise AssertionError("never reached the redirect URI")


def _storm(count: int, send: Any) -> list[requests.Response]:
    """Send ``count`` requests released together by a barrier."""
    barrier = threading.Barrier(count)

    def one(_: int) -> requests.Response:
        session = requests.Session()
        barrier.wait(timeout=30)
        return send(session)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_parallel_code_redemption_gives_one_success(
    actions: Actions, live_server: LiveServer
) -> None:
    actions.create_user()
    secret = actions.create_client("rp", redirect_uris=[LIVE_REDIRECT])
    assert secret
    verifier, challenge = pkce_pair()
    code = _live_code(live_server, "rp", challenge)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": LIVE_REDIRECT,
        "code_verifier": verifier,
    }
    responses = _storm(
        20, lambda s: s.post(f"{live_server.url}/token", data=data, auth=("rp", secret), timeout=60)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    for response in responses:
        if response.status_code != 200:
            assert response.status_code == 400, (response.status_code, response.text[:300])
            assert response.json()["error"] == "invalid_grant"
    winner = next(r for r in responses if r.status_code == 200).json()
    # The replays revoked what the one success issued (RFC 6749 §4.1.2).
    introspected = requests.post(
        f"{live_server.url}/introspect",
        data={"token": winner["access_token"]},
        auth=("rp", secret),
        timeout=10,
    ).json()
    assert introspected == {"active": False}
    again = requests.post(
        f"{live_server.url}/token",
        data={"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]},
        auth=("rp", secret),
        timeout=10,
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_parallel_refresh_gives_at_most_one_success(
    actions: Actions, live_server: LiveServer
) -> None:
    actions.create_user()
    secret = actions.create_client("rp", redirect_uris=[LIVE_REDIRECT])
    assert secret
    verifier, challenge = pkce_pair()
    code = _live_code(live_server, "rp", challenge)
    first = requests.post(
        f"{live_server.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": LIVE_REDIRECT,
            "code_verifier": verifier,
        },
        auth=("rp", secret),
        timeout=10,
    )
    assert first.status_code == 200, first.text
    refresh_token = first.json()["refresh_token"]
    responses = _storm(
        10,
        lambda s: s.post(
            f"{live_server.url}/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=("rp", secret),
            timeout=60,
        ),
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) <= 1, statuses
    for response in responses:
        if response.status_code != 200:
            assert response.status_code == 400, (response.status_code, response.text[:300])
            assert response.json()["error"] == "invalid_grant"
    # Reuse was detected, so the family is revoked: nothing issued in the storm works.
    for response in responses:
        if response.status_code == 200:
            body = response.json()
            introspected = requests.post(
                f"{live_server.url}/introspect",
                data={"token": body["access_token"]},
                auth=("rp", secret),
                timeout=10,
            ).json()
            assert introspected == {"active": False}
            rotated = requests.post(
                f"{live_server.url}/token",
                data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]},
                auth=("rp", secret),
                timeout=10,
            )
            assert rotated.status_code == 400
            assert rotated.json()["error"] == "invalid_grant"


def test_client_credentials_never_grants_unregistered_scopes(actions: Actions) -> None:
    secret = actions.create_client("svc", scope="openid")
    assert secret
    for scope in ("openid profile", "admin", "openid openid admin"):
        response = actions.token(
            {"grant_type": "client_credentials", "scope": scope}, auth=("svc", secret)
        )
        assert response.status_code == 400, (scope, response.text)
        assert response.get_json()["error"] == "invalid_scope"
    ok = actions.token(
        {"grant_type": "client_credentials", "scope": "openid"}, auth=("svc", secret)
    )
    assert ok.status_code == 200
    assert actions.decode(ok.get_json()["access_token"])["scope"] == "openid"
