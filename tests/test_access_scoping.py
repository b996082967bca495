"""Who may see what (docs/security.md case 56): introspection only by the token's
client or its audience (RFC 7662 §4); `resource` (RFC 8707) only as registered
for the client; /metrics not public by default; /register validates redirect
URIs."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.conftest import Actions

API = "https://api.example.test/"
IAT = "initial-access-token-for-tests"
REGISTRATION = pytest.mark.settings(
    REGISTRATION_ENABLED=True, REGISTRATION_INITIAL_ACCESS_TOKEN=IAT
)


def _introspect(actions: Actions, token: str, client_id: str, secret: str) -> dict[str, Any]:
    if ":" in client_id:  # a URI as client_id: client_secret_post
        response = actions.client.post(
            "/introspect",
            data={"token": token, "client_id": client_id, "client_secret": secret},
        )
    else:
        response = actions.client.post(
            "/introspect", data={"token": token}, auth=(client_id, secret)
        )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.get_json()
    return body


def _redirect_error(response: Any) -> str | None:
    assert response.status_code == 302, response.text[:300]
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return query.get("error", [None])[0]


# -- introspection -------------------------------------------------------------------


def test_a_client_cannot_introspect_another_clients_tokens(actions: Actions) -> None:
    actions.create_user()
    rp = actions.create_client("rp")
    other = actions.create_client("other")
    assert rp and other
    tokens = actions.exchange(actions.code_flow("rp"), "rp", rp).get_json()
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert _introspect(actions, token, "other", other) == {"active": False}
        assert _introspect(actions, token, "rp", rp)["active"] is True
    # The refused look changed nothing: the tokens still work for their client.
    assert (
        actions.client.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 200
    )


def test_the_tokens_audience_may_introspect_its_access_token(actions: Actions) -> None:
    actions.create_user()
    rp = actions.create_client("rp", metadata={"resources": [API]})
    api = actions.create_client(
        API,
        redirect_uris=[],
        grant_types=["client_credentials"],
        auth_method="client_secret_post",
    )
    bystander = actions.create_client("bystander")
    assert rp and api and bystander
    tokens = actions.exchange(actions.code_flow("rp", resource=API), "rp", rp).get_json()
    seen = _introspect(actions, tokens["access_token"], API, api)
    assert seen["active"] is True and seen["aud"] == API and seen["client_id"] == "rp"
    # The audience is for the access token; the refresh token stays the client's.
    assert _introspect(actions, tokens["refresh_token"], API, api) == {"active": False}
    assert _introspect(actions, tokens["access_token"], "bystander", bystander) == {"active": False}


def test_client_credentials_tokens_are_their_clients_only(actions: Actions) -> None:
    one = actions.create_client("one", redirect_uris=[], grant_types=["client_credentials"])
    two = actions.create_client("two", redirect_uris=[], grant_types=["client_credentials"])
    assert one and two
    token = actions.token({"grant_type": "client_credentials"}, auth=("one", one)).get_json()
    assert _introspect(actions, token["access_token"], "two", two) == {"active": False}
    assert _introspect(actions, token["access_token"], "one", one)["active"] is True


# -- resource (RFC 8707) per client ------------------------------------------------------


def test_resource_must_be_registered_for_the_client(actions: Actions) -> None:
    actions.create_user()
    actions.create_client("plain")
    actions.create_client("scoped", metadata={"resources": [API]})
    assert _redirect_error(actions.authorize("plain", resource=API)) == "invalid_target"
    assert (
        _redirect_error(actions.authorize("scoped", resource="https://other.example.test/"))
        == "invalid_target"
    )
    assert _redirect_error(actions.authorize("scoped", resource=API + "x")) == "invalid_target"
    allowed = actions.authorize("scoped", resource=API)
    assert allowed.status_code == 302 and "/login" in allowed.headers["Location"]


def test_client_metadata_from_the_cli(actions: Actions, app: Flask, runner: Any) -> None:
    from provider.storage import clients as client_store

    created = runner.invoke(
        args=[
            "client",
            "create",
            "cli-rp",
            "--redirect-uri",
            Actions.REDIRECT,
            "--metadata",
            json.dumps({"resources": [API]}),
        ]
    )
    assert created.exit_code == 0, created.output
    with app.app_context():
        assert client_store.get_client("cli-rp").registration_metadata == {"resources": [API]}
    other = "https://ledger.example.test/"
    updated = runner.invoke(
        args=["client", "update", "cli-rp", "--metadata", json.dumps({"resources": [API, other]})]
    )
    assert updated.exit_code == 0, updated.output
    with app.app_context():
        assert client_store.get_client("cli-rp").registration_metadata == {
            "resources": [API, other]
        }
    actions.create_user()
    assert actions.authorize("cli-rp", resource=other).status_code == 302
    assert _redirect_error(actions.authorize("cli-rp", resource=other)) is None
    cleared = runner.invoke(
        args=["client", "update", "cli-rp", "--metadata", json.dumps({"resources": None})]
    )
    assert cleared.exit_code == 0, cleared.output
    assert _redirect_error(actions.authorize("cli-rp", resource=other)) == "invalid_target"


@pytest.mark.parametrize(
    "metadata",
    [
        "not json",
        "[]",
        json.dumps({"resources": "https://api.example.test/"}),
        json.dumps({"resources": ["relative/path"]}),
        json.dumps({"resources": ["https://api.example.test/#frag"]}),
        json.dumps({"resources": ["https://api.example.test/\r\nx"]}),
        json.dumps({"resources": [f"https://api{i}.example.test/" for i in range(51)]}),
        json.dumps({"resourcez": [API]}),
    ],
)
def test_bad_client_metadata_is_refused(runner: Any, metadata: str) -> None:
    created = runner.invoke(
        args=["client", "create", "m", "--redirect-uri", Actions.REDIRECT, "--metadata", metadata]
    )
    assert created.exit_code != 0 and "Traceback" not in created.output
    ok = runner.invoke(args=["client", "create", "m", "--redirect-uri", Actions.REDIRECT])
    assert ok.exit_code == 0
    updated = runner.invoke(args=["client", "update", "m", "--metadata", metadata])
    assert updated.exit_code != 0 and "Traceback" not in updated.output


# -- /metrics -------------------------------------------------------------------------


def test_metrics_answer_only_this_host_by_default(client: Any) -> None:
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    for environ in ({"REMOTE_ADDR": "203.0.113.9"}, {"REMOTE_ADDR": "10.0.0.2"}):
        response = client.get("/metrics", environ_base=environ)
        assert response.status_code == 403
        assert "belay_http_requests_total" not in response.text
    # A request relayed by a proxy on this host came from elsewhere.
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        relayed = client.get("/metrics", headers={header: "203.0.113.9"})
        assert relayed.status_code == 403, header


@pytest.mark.settings(TRUSTED_PROXIES=1)
def test_metrics_behind_a_trusted_proxy_check_the_real_client(client: Any) -> None:
    relayed = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 403


@pytest.mark.settings(METRICS_TOKEN="metrics-secret")
def test_metrics_with_a_token_ask_everyone_for_it(client: Any) -> None:
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", environ_base=remote).status_code == 401
    good = {"Authorization": "Bearer metrics-secret"}
    assert client.get("/metrics", environ_base=remote, headers=good).status_code == 200
    bad = {"Authorization": "Bearer metrics-secreT"}
    assert client.get("/metrics", environ_base=remote, headers=bad).status_code == 401


# -- /register redirect URIs ------------------------------------------------------------


def _register(client: Any, body: dict[str, Any]) -> Any:
    return client.post("/register", json=body, headers={"Authorization": f"Bearer {IAT}"})


BAD_REDIRECT_URIS = [
    "https://rp.example.test/cb\r\nSet-Cookie: x=1",
    "https://rp.example.test/cb\n",
    "https://rp.example.test/c b",
    "https://rp.example.test/cb\t",
    "https://rp.example.test/cb\x00",
    "about:blank",
    "blob:https://rp.example.test/uuid",
    "myapp:/callback",
    "javascript:alert(1)",
    "https://rp.example.test/cb#frag",
    "https://rp.example.test/" + "a" * 2000,
    "http://rp.example.test/cb",
    "",
]


@REGISTRATION
@pytest.mark.parametrize("uri", BAD_REDIRECT_URIS)
def test_register_refuses_bad_redirect_uris(client: Any, uri: str) -> None:
    for key in ("redirect_uris", "post_logout_redirect_uris"):
        body = {"redirect_uris": ["https://rp.example.test/ok"], key: [uri]}
        response = _register(client, body)
        assert response.status_code == 400, (key, uri, response.text)
        # A NUL is refused with the whole body by the one JSON reader, before any
        # field is read (docs/security.md case 53); every other URI by its rule.
        expected = "invalid_client_metadata" if "\x00" in uri else "invalid_redirect_uri"
        assert response.get_json()["error"] == expected


@REGISTRATION
def test_register_caps_the_number_of_redirect_uris(client: Any) -> None:
    many = [f"https://rp.example.test/cb{i}" for i in range(21)]
    response = _register(client, {"redirect_uris": many})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_redirect_uri"
    huge = [f"https://rp.example.test/cb{i}" for i in range(30_000)]
    response = _register(client, {"redirect_uris": huge})
    assert response.status_code in (400, 413)
    assert _register(client, {"redirect_uris": many[:20]}).status_code == 201


@REGISTRATION
def test_register_accepts_native_and_loopback_redirect_uris(client: Any) -> None:
    body = {
        "redirect_uris": [
            "com.example.app:/callback",
            "http://127.0.0.1:8976/callback",
            "http://[::1]:8976/callback",
            "https://rp.example.test/cb?x=1",
        ],
        "token_endpoint_auth_method": "none",
    }
    response = _register(client, body)
    assert response.status_code == 201, response.text


def test_the_cli_refuses_the_same_redirect_uris(runner: Any) -> None:
    for uri in BAD_REDIRECT_URIS[:-1]:
        result = runner.invoke(args=["client", "create", "web", "--redirect-uri", uri])
        assert result.exit_code != 0, uri
