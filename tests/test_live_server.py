"""A real server process and a client library that is not ours (Authlib's
requests client): discovery, login, code + PKCE, tokens, ID token verified
against /jwks.json, userinfo, refresh."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urljoin

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import Actions, LiveServer

REDIRECT = "http://127.0.0.1:8976/callback"


def browser_login(browser: requests.Session, url: str, username: str, password: str) -> str:
    """Follow the OP's pages like a browser until the redirect to the RP."""
    response = browser.get(url, allow_redirects=False)
    for _ in range(10):
        if response.status_code in (301, 302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(REDIRECT):
                return location
            response = browser.get(location, allow_redirects=False)
            continue
        assert response.status_code == 200, response.text[:300]
        assert 'id="login-form"' in response.text, response.text[:300]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', response.text).group(1)
        response = browser.post(
            response.url,
            data={"csrf_token": csrf, "username": username, "password": password},
            allow_redirects=False,
        )
    raise AssertionError("never reached the redirect URI")


def test_code_flow_with_a_third_party_client(actions: Actions, live_server: LiveServer) -> None:
    actions.create_user("alice", "correct horse battery")
    secret = actions.create_client("rp", redirect_uris=[REDIRECT])
    metadata = requests.get(f"{live_server.url}/.well-known/openid-configuration", timeout=5).json()
    assert metadata["issuer"] == live_server.url
    assert metadata["authorization_response_iss_parameter_supported"] is True

    oauth = OAuth2Session(
        "rp",
        secret,
        scope="openid profile",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(48)
    nonce = secrets.token_urlsafe(8)
    url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = browser_login(requests.Session(), url, "alice", "correct horse battery")
    assert f"iss={live_server.url.replace(':', '%3A').replace('/', '%2F')}" in callback

    token = oauth.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
    )
    keys = KeySet.import_key_set(requests.get(metadata["jwks_uri"], timeout=5).json())
    id_token = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
    claims = id_token.claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": live_server.url},
        aud={"essential": True, "value": "rp"},
        nonce={"essential": True, "value": nonce},
        auth_time={"essential": True},
    ).validate(claims)
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:belay:acr:1fa"

    userinfo = oauth.get(metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["preferred_username"] == "alice"

    refreshed = oauth.refresh_token(metadata["token_endpoint"])
    assert refreshed["access_token"] != token["access_token"]
    again = jwt.decode(refreshed["id_token"], keys, algorithms=["ES256"]).claims
    assert again["auth_time"] == claims["auth_time"]
