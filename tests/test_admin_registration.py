"""Dynamic client registration (RFC 7591) and management (RFC 7592)."""

from __future__ import annotations

import pytest

from tests.conftest import Actions

IAT = "initial-access-token-for-tests"
ON = pytest.mark.settings(REGISTRATION_ENABLED=True, REGISTRATION_INITIAL_ACCESS_TOKEN=IAT)
TWO_FA = "urn:belay:acr:2fa"


def _register(client, body, token=IAT):
    return client.post("/register", json=body, headers={"Authorization": f"Bearer {token}"})


def test_registration_is_off_by_default(client) -> None:
    assert "registration_endpoint" not in client.get("/.well-known/openid-configuration").json
    assert _register(client, {"redirect_uris": ["https://rp.test/cb"]}).status_code == 404


@ON
def test_discovery_names_the_endpoint_when_enabled(client) -> None:
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["registration_endpoint"] == "http://localhost/register"


@ON
def test_an_initial_access_token_is_required(client) -> None:
    body = {"redirect_uris": ["https://rp.test/cb"]}
    assert client.post("/register", json=body).status_code == 401
    assert _register(client, body, token="wrong").status_code == 401


@ON
def test_register_with_policy_fields_then_read_update_delete(app, client, actions: Actions) -> None:
    created = _register(
        client,
        {
            "redirect_uris": ["https://rp.test/cb"],
            "client_name": "Dyn",
            "default_acr_values": [TWO_FA],
            "default_max_age": 300,
            "require_auth_time": True,
            "contacts": ["ops@rp.test"],
            "logo_uri": "https://rp.test/logo.png",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json
    assert body["client_secret"] and body["registration_access_token"]
    assert body["default_acr_values"] == [TWO_FA] and body["default_max_age"] == 300
    assert body["require_auth_time"] is True and body["contacts"] == ["ops@rp.test"]
    client_id = body["client_id"]
    uri = body["registration_client_uri"].removeprefix("http://localhost")
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    with app.app_context():
        from provider.storage import clients as client_store

        stored = client_store.get_client(client_id)
        assert stored.policy["default_acr_values"] == [TWO_FA]
        assert stored.policy["default_max_age"] == 300
    read = client.get(uri, headers=auth)
    assert read.status_code == 200 and read.json["client_name"] == "Dyn"
    assert client.get(uri, headers={"Authorization": "Bearer nope"}).status_code == 401
    updated = client.put(
        uri,
        json={
            "client_id": client_id,
            "redirect_uris": ["https://rp.test/new"],
            "default_max_age": 60,
        },
        headers=auth,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json["redirect_uris"] == ["https://rp.test/new"]
    assert updated.json["default_max_age"] == 60 and updated.json["default_acr_values"] == []
    assert client.delete(uri, headers=auth).status_code == 204
    assert client.get(uri, headers=auth).status_code == 401


@ON
@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"redirect_uris": ["http://evil.test/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": "https://rp.test/cb"}, "invalid_client_metadata"),
        (
            {"redirect_uris": ["https://rp.test/cb"], "response_types": ["token"]},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": ["https://rp.test/cb"], "default_acr_values": ["urn:nope"]},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": ["https://rp.test/cb"], "default_max_age": "soon"},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": ["https://rp.test/cb"], "scope": "openid belay:admin"},
            "invalid_client_metadata",
        ),
        (
            {"redirect_uris": ["https://rp.test/cb"], "token_endpoint_auth_method": "magic"},
            "invalid_client_metadata",
        ),
        ([], "invalid_client_metadata"),
    ],
)
def test_bad_metadata(client, body, error) -> None:
    response = _register(client, body)
    assert response.status_code == 400 and response.json["error"] == error
