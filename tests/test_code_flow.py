"""The authorization-code flow end to end through the Flask test client."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from provider import clock
from tests.conftest import Actions, pkce_pair


def _claims_unverified(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _header(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def test_confidential_client_gets_id_and_access_tokens(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("rp")
    login_time = clock.now()
    callback = actions.code_flow("rp", nonce="nonce-123", state="state-abc")
    assert callback["state"] == "state-abc"
    assert callback["iss"] == "http://localhost"

    response = actions.exchange(callback, "rp", secret)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"]

    id_token = actions.decode(body["id_token"])
    assert id_token["iss"] == "http://localhost"
    assert id_token["aud"] == "rp"
    assert id_token["nonce"] == "nonce-123"
    assert id_token["amr"] == ["pwd"]
    assert id_token["acr"] == "urn:belay:acr:1fa"
    assert abs(id_token["auth_time"] - login_time) <= 2
    assert id_token["sid"]
    assert id_token["at_hash"]
    assert id_token["preferred_username"] == "alice"
    assert _header(body["id_token"])["alg"] == "ES256"

    access = actions.decode(body["access_token"])
    assert _header(body["access_token"])["typ"] == "at+jwt"
    assert access["client_id"] == "rp"
    assert access["sub"] == id_token["sub"]
    assert access["auth_time"] == id_token["auth_time"]
    assert access["amr"] == ["pwd"]
    assert access["acr"] == "urn:belay:acr:1fa"
    assert access["jti"]
    assert access["scope"] == "openid profile"


def test_public_client_with_pkce(actions: Actions) -> None:
    actions.create_user()
    actions.create_client("spa", public=True)
    callback = actions.code_flow("spa")
    response = actions.exchange(callback, "spa")
    assert response.status_code == 200, response.text
    assert "id_token" in response.get_json()


def test_public_client_without_pkce_is_refused(actions: Actions) -> None:
    actions.create_user()
    actions.create_client("spa", public=True)
    response = actions.authorize("spa", state="s1")
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert query["state"] == ["s1"]
    assert query["iss"] == ["http://localhost"]


def test_auth_time_is_the_login_time_not_the_code_time(actions: Actions) -> None:
    """docs/security.md case 24: a code redeemed two minutes after login."""
    actions.create_user()
    secret = actions.create_client("rp")
    login_time = clock.now()
    actions.code_flow("rp")  # logs in
    clock.set_offset(120)
    callback = actions.code_flow("rp")  # silent: session already there
    clock.set_offset(150)
    body = actions.exchange(callback, "rp", secret).get_json()
    claims = actions.decode(body["id_token"])
    assert abs(claims["auth_time"] - login_time) <= 2
    assert claims["iat"] >= login_time + 150


def test_opaque_access_tokens_are_introspectable(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("rp", token_format="opaque")
    body = actions.exchange(actions.code_flow("rp"), "rp", secret).get_json()
    assert body["access_token"].count(".") == 0
    result = actions.client.post(
        "/introspect", data={"token": body["access_token"]}, auth=("rp", secret)
    ).get_json()
    assert result["active"] is True
    assert result["acr"] == "urn:belay:acr:1fa"
    assert result["amr"] == ["pwd"]
    assert isinstance(result["auth_time"], int)
    assert result["client_id"] == "rp"


def test_userinfo(actions: Actions) -> None:
    actions.create_user(email="alice@example.test")
    secret = actions.create_client("rp")
    body = actions.exchange(actions.code_flow("rp", scope="openid email"), "rp", secret).get_json()
    response = actions.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 200
    assert response.get_json()["email"] == "alice@example.test"
    bad = actions.client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert "invalid_token" in bad.headers["WWW-Authenticate"]


def test_refresh_rotation_keeps_authentication_context(actions: Actions) -> None:
    """docs/security.md cases 27 and 35."""
    actions.create_user()
    secret = actions.create_client("rp")
    first = actions.exchange(actions.code_flow("rp"), "rp", secret).get_json()
    original = actions.decode(first["id_token"])
    clock.set_offset(300)
    second = actions.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=("rp", secret),
    )
    assert second.status_code == 200, second.text
    refreshed = second.get_json()
    assert refreshed["refresh_token"] != first["refresh_token"]
    access = actions.decode(refreshed["access_token"])
    assert access["auth_time"] == original["auth_time"]
    assert access["acr"] == original["acr"]
    assert access["amr"] == original["amr"]
    new_id = actions.decode(refreshed["id_token"])
    assert new_id["auth_time"] == original["auth_time"]

    # Reusing the rotated refresh token revokes the whole family.
    reuse = actions.token(
        {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=("rp", secret),
    )
    assert reuse.status_code == 400
    assert reuse.get_json()["error"] == "invalid_grant"
    newest = actions.token(
        {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=("rp", secret),
    )
    assert newest.get_json()["error"] == "invalid_grant"
    introspected = actions.client.post(
        "/introspect", data={"token": refreshed["access_token"]}, auth=("rp", secret)
    ).get_json()
    assert introspected == {"active": False}


def test_code_replay_revokes_tokens(actions: Actions) -> None:
    """docs/security.md case 34."""
    actions.create_user()
    secret = actions.create_client("rp")
    callback = actions.code_flow("rp")
    first = actions.exchange(callback, "rp", secret)
    assert first.status_code == 200
    second = actions.exchange(callback, "rp", secret)
    assert second.status_code == 400
    assert second.get_json()["error"] == "invalid_grant"
    result = actions.client.post(
        "/introspect", data={"token": first.get_json()["access_token"]}, auth=("rp", secret)
    ).get_json()
    assert result == {"active": False}


def test_code_expires_after_60_seconds(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("rp")
    callback = actions.code_flow("rp")
    clock.set_offset(61)
    response = actions.exchange(callback, "rp", secret)
    assert response.get_json()["error"] == "invalid_grant"


def test_code_bound_to_client_and_redirect_uri(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("rp")
    other_secret = actions.create_client("other")
    callback = actions.code_flow("rp")
    stolen = actions.exchange(callback, "other", other_secret)
    assert stolen.get_json()["error"] == "invalid_grant"
    wrong_uri = actions.token(
        {
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": "https://rp.example.test/other",
            "code_verifier": callback["code_verifier"],
        },
        auth=("rp", secret),
    )
    assert wrong_uri.get_json()["error"] == "invalid_grant"


def test_client_credentials(actions: Actions) -> None:
    secret = actions.create_client("service")
    response = actions.token(
        {"grant_type": "client_credentials", "scope": "openid"}, auth=("service", secret)
    )
    assert response.status_code == 200, response.text
    token = actions.decode(response.get_json()["access_token"])
    assert token["sub"] == "service"
    assert "acr" not in token and "auth_time" not in token
    assert "refresh_token" not in response.get_json()


def test_revocation(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("rp")
    body = actions.exchange(actions.code_flow("rp"), "rp", secret).get_json()
    response = actions.client.post(
        "/revoke", data={"token": body["refresh_token"]}, auth=("rp", secret)
    )
    assert response.status_code == 200
    result = actions.client.post(
        "/introspect", data={"token": body["access_token"]}, auth=("rp", secret)
    ).get_json()
    assert result == {"active": False}
    # Revoking an unknown token is not an error (RFC 7009 §2.2).
    assert (
        actions.client.post("/revoke", data={"token": "unknown"}, auth=("rp", secret)).status_code
        == 200
    )


def test_resource_sets_access_token_audience(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("rp", metadata={"resources": ["https://api.example.test/"]})
    callback = actions.code_flow("rp", resource="https://api.example.test/")
    body = actions.exchange(callback, "rp", secret).get_json()
    assert actions.decode(body["access_token"])["aud"] == "https://api.example.test/"


def test_consent_page_for_third_party_clients(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("third", first_party=False)
    response = actions.follow(
        actions.authorize("third", code_challenge=pkce_pair()[1], code_challenge_method="S256")
    )
    tx = parse_qs(urlsplit(response.request.url).query)["tx"][0]
    response = actions.follow(actions.login(tx=tx))
    assert 'id="consent-form"' in response.text
    from tests.conftest import csrf_from

    denied = actions.client.post(
        f"/consent?tx={tx}",
        data={"csrf_token": csrf_from(response.text), "decision": "deny", "tx": tx},
    )
    query = parse_qs(urlsplit(denied.headers["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["iss"] == ["http://localhost"]
    assert secret


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_id_token_algorithm_per_client(actions: Actions, alg: str) -> None:
    actions.create_user()
    secret = actions.create_client("rp")
    from provider import storage
    from provider.storage import clients as client_store

    with actions.app.app_context():
        client = client_store.get_client("rp")
        client.id_token_signed_response_alg = alg
        storage.commit()
    body = actions.exchange(actions.code_flow("rp"), "rp", secret).get_json()
    assert _header(body["id_token"])["alg"] == alg
    assert actions.decode(body["id_token"])["aud"] == "rp"
    assert _claims_unverified(body["id_token"])["sub"]


@pytest.mark.settings(REFRESH_TOKEN_TTL=100)
def test_rotation_never_extends_the_grant(actions: Actions) -> None:
    actions.create_user()
    secret = actions.create_client("rp")
    body = actions.exchange(actions.code_flow("rp"), "rp", secret).get_json()
    clock.set_offset(60)
    rotated = actions.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth=("rp", secret)
    ).get_json()
    assert "refresh_token" in rotated
    clock.set_offset(101)
    expired = actions.token(
        {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        auth=("rp", secret),
    )
    assert expired.get_json()["error"] == "invalid_grant"
