"""Property tests: whatever arrives at /authorize or /token, the answer is never
a server error, and the authorization endpoint never redirects anywhere but to
the registered redirect URI (or to its own pages)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import Actions, pkce_pair

ISSUER = "http://localhost"
REDIRECT = Actions.REDIRECT
OWN_PAGES = ("/login", "/challenge", "/consent", "/authorize/resume")
VERIFIER, CHALLENGE = pkce_pair()

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

INTERESTING = [
    "",
    " ",
    "\x00",
    "A" * 10_240,
    "%00",
    "%ff",
    "null",
    "[]",
    "{}",
    "-1",
    "1e309",
    str(2**64),
    "none login",
    "code token",
    "openid openid",
    '{"id_token":{"acr":{"essential":true,"values":[]}}}',
    '{"id_token":{"acr":null}}',
    '{"userinfo":[]}',
    "urn:belay:acr:2fa urn:unknown",
    "https://rp.example.test/callback/",
    "https://user@rp.example.test/callback",
    "javascript:alert(1)",
    "\u202e\u200b😀ü",
    '"\\<>',
]

VALID: dict[str, list[str]] = {
    "response_type": ["code"],
    "client_id": ["rp"],
    "redirect_uri": [REDIRECT],
    "scope": ["openid profile", "openid", "profile email offline_access"],
    "state": ["s-1"],
    "nonce": ["n-1"],
    "prompt": ["none", "login", "consent", "select_account"],
    "max_age": ["0", "10", "100000"],
    "acr_values": ["urn:belay:acr:1fa", "urn:belay:acr:2fa", "urn:belay:acr:1fa urn:belay:acr:2fa"],
    "claims": [
        json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:belay:acr:1fa"]}}}),
        json.dumps({"id_token": {"auth_time": {"essential": True}}}),
    ],
    "code_challenge": [CHALLENGE],
    "code_challenge_method": ["S256", "plain"],
    "resource": ["https://api.example.test/"],
}
AUTHORIZE_PARAMS = list(VALID)


FUZZ_VALUES = st.one_of(
    st.text(max_size=60),
    st.binary(max_size=24),  # raw bytes: invalid UTF-8 once percent-encoded
    st.sampled_from(INTERESTING),
)


def _pairs(
    draw: st.DrawFn, valid: dict[str, list[str]], names: list[str], required: set[str]
) -> list[tuple[str, Any]]:
    """Valid values (required ones almost always present), then 0-3 fuzzed
    parameters, sometimes a repeated or unknown one, in any order."""
    pairs: dict[str, Any] = {}
    for name in names:
        present = draw(st.integers(0, 19)) > 0 if name in required else draw(st.booleans())
        if present and valid.get(name):
            pairs[name] = draw(st.sampled_from(valid[name]))
    for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
        pairs[name] = draw(FUZZ_VALUES)
    result = list(pairs.items())
    extra_names = st.sampled_from([*names, "request", "request_uri", "response_mode"])
    for _ in range(draw(st.integers(0, 4)) // 3):
        result.append((draw(extra_names), draw(FUZZ_VALUES)))
    return draw(st.permutations(result))


@st.composite
def authorize_queries(draw: st.DrawFn) -> list[tuple[str, Any]]:
    return _pairs(draw, VALID, AUTHORIZE_PARAMS, {"client_id", "redirect_uri", "response_type"})


def _check_authorize_response(response: Any, query: list[tuple[str, Any]]) -> None:
    assert response.status_code < 500, (query, response.status_code, response.text[:500])
    assert response.status_code in (200, 302, 400), (query, response.status_code)
    if response.status_code != 302:
        assert "Location" not in response.headers
        event(f"page {response.status_code}")
        return
    location = response.headers["Location"]
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        own = f"{parts.scheme}://{parts.netloc}" == ISSUER and parts.path.startswith(OWN_PAGES)
        if not own:
            assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT, (query, location)
            assert not parts.fragment, location
            params = parse_qs(parts.query, keep_blank_values=True)
            assert params["iss"] == [ISSUER], (query, location)
            assert ("code" in params) != ("error" in params), location
            event("code" if "code" in params else f"error {params['error'][0]}")
    else:
        assert parts.path.startswith(OWN_PAGES), (query, location)
    if parts.path.startswith(OWN_PAGES):
        event(f"own page {parts.path}")
    # Whatever happened, the redirect URI the request named was the registered one.
    if parts.path == urlsplit(REDIRECT).path:
        assert [v for k, v in query if k == "redirect_uri"] == [REDIRECT], query


@pytest.fixture
def fuzz_actions(actions: Actions) -> Actions:
    actions.create_user()
    actions.create_client("rp", metadata={"resources": ["https://api.example.test/"]})
    actions.create_client("spa", public=True)
    return actions


@FUZZ
@given(query=authorize_queries())
def test_authorize_never_fails_anonymous(
    fuzz_actions: Actions, query: list[tuple[str, Any]]
) -> None:
    fuzz_actions.client.delete_cookie("belay_session")
    response = fuzz_actions.client.get("/authorize?" + urlencode(query))
    _check_authorize_response(response, query)


@FUZZ
@given(query=authorize_queries())
def test_authorize_never_fails_with_a_session(
    fuzz_actions: Actions, query: list[tuple[str, Any]]
) -> None:
    if fuzz_actions.client.get("/account").status_code != 200:
        assert fuzz_actions.login().status_code == 302
    response = fuzz_actions.client.get("/authorize?" + urlencode(query))
    _check_authorize_response(response, query)


@FUZZ
@given(query=authorize_queries())
def test_authorize_post_never_fails(fuzz_actions: Actions, query: list[tuple[str, Any]]) -> None:
    response = fuzz_actions.client.post(
        "/authorize",
        data=urlencode(query),
        content_type="application/x-www-form-urlencoded",
    )
    _check_authorize_response(response, query)


# -- /token --------------------------------------------------------------------------

TOKEN_PARAMS = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion_type",
    "client_assertion",
    "resource",
]
TOKEN_VALID: dict[str, list[str]] = {
    "grant_type": ["authorization_code", "refresh_token", "client_credentials", "password"],
    "redirect_uri": [REDIRECT],
    "code_verifier": [VERIFIER],
    "scope": ["openid", "openid profile", "admin"],
    "client_id": ["rp", "spa", "nobody"],
    "client_assertion_type": ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
    "client_assertion": ["eyJhbGciOiJub25lIn0.eyJzdWIiOiJycCJ9.", "a.b.c"],
    "resource": ["https://api.example.test/"],
}


@st.composite
def token_requests(
    draw: st.DrawFn, live: dict[str, list[str]]
) -> tuple[list[tuple[str, Any]], str]:
    pairs = _pairs(draw, {**TOKEN_VALID, **live}, TOKEN_PARAMS, {"grant_type"})
    auth = draw(st.sampled_from(["none", "basic", "basic", "basic-wrong", "basic-garbage"]))
    return pairs, auth


@pytest.fixture
def token_setup(actions: Actions) -> dict[str, Any]:
    actions.create_user()
    secret = actions.create_client("rp", metadata={"resources": ["https://api.example.test/"]})
    actions.create_client("spa", public=True)
    assert secret
    codes, refresh = [], []
    for _ in range(3):
        callback = actions.code_flow("rp", code_challenge=CHALLENGE)
        codes.append(callback["code"])
    body = actions.exchange(
        {"code": codes.pop(), "code_verifier": VERIFIER}, "rp", secret
    ).get_json()
    refresh.append(body["refresh_token"])
    return {"secret": secret, "live": {"code": codes, "refresh_token": refresh}}


def _token_headers(auth: str, secret: str) -> dict[str, str]:
    import base64

    if auth == "basic":
        value = base64.b64encode(f"rp:{secret}".encode()).decode()
    elif auth == "basic-wrong":
        value = base64.b64encode(b"rp:wrong").decode()
    elif auth == "basic-garbage":
        value = "%%%not base64"
    else:
        return {}
    return {"Authorization": f"Basic {value}"}


@FUZZ
@given(data=st.data())
def test_token_never_fails(
    actions: Actions, token_setup: dict[str, Any], data: st.DataObject
) -> None:
    pairs, auth = data.draw(token_requests(token_setup["live"]))
    response = actions.client.post(
        "/token",
        data=urlencode(pairs),
        content_type="application/x-www-form-urlencoded",
        headers=_token_headers(auth, token_setup["secret"]),
    )
    assert response.status_code < 500, (pairs, auth, response.status_code, response.text[:500])
    assert response.mimetype == "application/json", (pairs, response.mimetype)
    body = response.get_json()
    assert response.headers.get("Cache-Control") == "no-store"
    event(f"{response.status_code} {body.get('error', 'tokens')}")
    if response.status_code == 200:
        grant_types = [v for k, v in pairs if k == "grant_type"]
        assert grant_types in (
            ["authorization_code"],
            ["refresh_token"],
            ["client_credentials"],
        ), pairs
        # Only the confidential client with its secret, or the public client,
        # ever gets tokens; a wrong or garbage secret never does.
        assert auth in ("basic", "none"), (pairs, auth)
        if grant_types == ["client_credentials"]:
            assert auth == "basic", pairs
        assert body["token_type"] == "Bearer"
        granted = set(body.get("scope", "").split())
        assert granted <= {"openid", "profile", "email", "offline_access"}, body
    else:
        assert 400 <= response.status_code < 500
        assert isinstance(body.get("error"), str) and body["error"], body
        assert "access_token" not in body
