"""The admin REST API: bearer tokens of admin clients only, the same
operations as the console, and an OpenAPI document kept true by Schemathesis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from provider import policy
from provider.flows.admin.client_fields import CLIENT_FIELDS
from tests.conftest import Actions

TWO_FA = "urn:belay:acr:2fa"


@pytest.fixture(autouse=True)
def _restore_ladder(app: Flask) -> Iterator[None]:
    yield
    with app.app_context():
        from provider.storage.ladder import save_ladder

        save_ladder(policy.default_ladder_data())


def admin_token(app: Flask, actions: Actions, client_id: str = "ops") -> str:
    from provider.flows.admin import clients as admin_clients

    with app.app_context():
        _client, secret = admin_clients.create_client(
            {"client_id": client_id, "grant_types": ["client_credentials"], "is_admin": True},
            actor="test",
        )
    response = actions.token(
        {"grant_type": "client_credentials", "scope": "belay:admin"}, auth=(client_id, secret)
    )
    assert response.status_code == 200, response.text
    return str(response.get_json()["access_token"])


@pytest.fixture
def api(app: Flask, actions: Actions):
    token = admin_token(app, actions)
    headers = {"Authorization": f"Bearer {token}"}

    class Api:
        def get(self, path: str, **kw):
            return actions.client.get("/api/admin" + path, headers=headers, **kw)

        def post(self, path: str, json=None, **kw):
            return actions.client.post("/api/admin" + path, headers=headers, json=json, **kw)

        def patch(self, path: str, json=None):
            return actions.client.patch("/api/admin" + path, headers=headers, json=json)

        def put(self, path: str, json=None):
            return actions.client.put("/api/admin" + path, headers=headers, json=json)

        def delete(self, path: str):
            return actions.client.delete("/api/admin" + path, headers=headers)

    return Api()


def test_no_token_bad_token_and_non_admin_tokens_are_refused(app: Flask, actions: Actions) -> None:
    missing = actions.client.get("/api/admin/clients")
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    bad = actions.client.get("/api/admin/clients", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    # A client not marked for administration cannot even get the scope ...
    secret = actions.create_client("plain", grant_types=["client_credentials"], redirect_uris=[])
    refused = actions.token(
        {"grant_type": "client_credentials", "scope": "belay:admin"}, auth=("plain", secret)
    )
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope"
    # ... and its ordinary token is not an admin token.
    plain = actions.token({"grant_type": "client_credentials"}, auth=("plain", secret))
    token = plain.get_json()["access_token"]
    forbidden = actions.client.get(
        "/api/admin/clients", headers={"Authorization": f"Bearer {token}"}
    )
    assert forbidden.status_code == 403
    assert 'error="insufficient_scope"' in forbidden.headers["WWW-Authenticate"]


def test_unmarking_the_admin_client_revokes_its_access(app: Flask, actions: Actions, api) -> None:
    assert api.get("/clients").status_code == 200
    from provider.flows.admin import clients as admin_clients

    with app.app_context():
        admin_clients.update_client("ops", {"is_admin": False}, actor="test")
    assert api.get("/clients").status_code == 403


def test_clients_crud_and_policy(app: Flask, api) -> None:
    created = api.post(
        "/clients",
        {"client_id": "shop", "redirect_uris": ["https://shop.test/cb"], "name": "Shop"},
    )
    assert created.status_code == 201, created.text
    assert created.get_json()["client_secret"]
    assert created.get_json()["client"]["client_type"] == "confidential"
    bad = api.post("/clients", {"client_id": "x", "redirect_uris": ["http://evil.test/"]})
    assert bad.status_code == 400 and "redirect_uris" in bad.get_json()["errors"]
    patched = api.patch("/clients/shop", {"first_party": True, "access_token_format": "opaque"})
    assert patched.get_json()["client"]["first_party"] is True
    assert api.patch("/clients/shop", {"first_party": "yes"}).get_json()["errors"] == {
        "first_party": "must be true or false"
    }
    policy_set = api.patch("/clients/shop/policy", {"minimum_acr": TWO_FA})
    assert (
        policy_set.status_code == 200 and policy_set.get_json()["policy"]["minimum_acr"] == TWO_FA
    )
    invalid = api.put("/clients/shop/policy", {"default_max_age": -1, "nope": 1})
    assert invalid.status_code == 400
    assert set(invalid.get_json()["errors"]) == {"default_max_age", "nope"}
    replaced = api.put("/clients/shop/policy", {"default_max_age": 60})
    assert replaced.get_json()["policy"]["minimum_acr"] is None
    rotated = api.post("/clients/shop/secret")
    assert rotated.status_code == 200 and rotated.get_json()["client_secret"]
    assert api.patch("/clients/nobody", {"resources": []}).status_code == 404
    assert api.patch("/clients/shop", {"resourcez": []}).get_json()["errors"] == {
        "resourcez": "unknown field; known fields: " + ", ".join(CLIENT_FIELDS)
    }
    assert api.delete("/clients/shop").status_code == 204
    assert api.get("/clients/shop").status_code == 404
    with app.app_context():
        from provider.storage import admin as store

        changes = store.audit_events(event="client_policy_changed")
    assert [c.details["by"] for c in changes] == ["api:ops"] * 2
    assert changes[-1].details["before"]["minimum_acr"] is None
    assert changes[-1].details["after"]["minimum_acr"] == TWO_FA


def test_users_ladder_audit_simulate_stats(app: Flask, api) -> None:
    created = api.post("/users", {"username": "dave", "password": "long enough pw"})
    assert created.status_code == 201
    user_id = created.get_json()["user"]["id"]
    assert api.post("/users", {"username": "dave"}).get_json()["errors"]["username"]
    assert [u["username"] for u in api.get("/users?q=dav").get_json()["users"]] == ["dave"]
    assert api.post(f"/users/{user_id}/unlock", {"factor": "pin"}).status_code == 200
    assert api.post(f"/users/{user_id}/unlock", {"factor": "eye"}).status_code == 400
    for factor in ("email_otp", "sms_otp", None):  # documented, as the flows take them
        assert api.post(f"/users/{user_id}/unlock", {"factor": factor}).status_code == 200
    assert api.post("/users/999999/unlock", {"factor": "pin"}).status_code == 404
    # is_admin is checked by the flow (the console and the CLI pass a bool)
    not_bool = api.post("/users", {"username": "erin", "is_admin": "yes"})
    assert not_bool.status_code == 400
    assert not_bool.get_json()["errors"] == {"is_admin": "must be true or false"}
    assert api.post(f"/users/{user_id}/reset-factors").get_json() == {"removed": []}
    assert api.post(f"/users/{user_id}/revoke-sessions").get_json() == {"revoked": 0}
    events = api.get(f"/users/{user_id}/events").get_json()["events"]
    assert {e["event"] for e in events} >= {"user_created", "unlock", "factors_reset"}
    ladder = api.get("/ladder").get_json()
    assert api.put("/ladder", {"version": 1, "levels": []}).status_code == 400
    assert api.put("/ladder", ladder).status_code == 200
    assert api.get("/audit?event=ladder_changed").get_json()["events"][0]["details"]["by"] == (
        "api:ops"
    )
    assert api.get("/audit?since=never").status_code == 400
    assert api.get("/audit.csv?event=user_created").text.startswith("id,at,time,event")
    api.post("/clients", {"client_id": "rp", "redirect_uris": ["https://rp.test/cb"]})
    decision = api.post(
        "/simulate",
        {
            "client_id": "rp",
            "enrolled": ["password", "totp"],
            "events": [{"method": "password", "seconds_ago": 5}],
            "acr_values": TWO_FA,
        },
    ).get_json()
    assert decision["outcome"] == "step_up" and decision["methods"] == ["totp"]
    assert decision["reason"] == "acr_not_met"
    assert api.get("/stats").get_json()["days"].__len__() == 7


def test_openapi_document_is_served_and_covers_every_route(app: Flask, client) -> None:
    document = client.get("/api/admin/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method.upper())
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    routes = {
        (
            rule.rule.removeprefix("/api/admin")
            .replace("<path:client_id>", "{client_id}")
            .replace("<int:user_id>", "{user_id}"),
            method,
        )
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin_api.") and rule.endpoint != "admin_api.openapi"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert routes == documented


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    app: Flask, actions: Actions
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    token = admin_token(app, actions)
    actions.create_client("rp")
    alice = actions.create_user("alice")
    calls: list[int] = []
    schema = schemathesis.openapi.from_wsgi("/api/admin/openapi.json", app)
    checks = [
        schemathesis.checks.not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    statuses: list[int] = []
    operations = 0

    def fuzz(operation) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def run(case) -> None:
            # Every other case names objects that exist, so the fuzzing goes
            # past the 404s; the caller's own client is never changed.
            calls.append(1)
            known = len(calls) % 2 == 0
            params = case.path_parameters or {}
            if "client_id" in params and (known or params["client_id"] == "ops"):
                params["client_id"] = "rp"
            if "user_id" in params and known:
                params["user_id"] = alice
            if isinstance(case.body, dict) and "client_id" in case.body and known:
                case.body["client_id"] = "rp" if operation.path == "/simulate" else "fresh"
            try:
                response = case.call_and_validate(headers=headers, checks=checks)
                statuses.append(response.status_code)
            except Exception as exc:
                failures.append(f"{operation.method.upper()} {operation.path}: {exc}")

        run()

    for result in schema.get_all_operations():
        operations += 1
        fuzz(result.ok())
    assert operations >= 20
    assert failures == [], "\n\n".join(failures[:5])
    # It really ran: requests were answered, mostly past authentication.
    assert len(statuses) >= operations * 5
    assert sum(s < 300 for s in statuses) >= operations


def test_client_resources_are_readable_and_settable_like_the_cli(
    app: Flask, actions: Actions, api
) -> None:
    """RFC 8707 resources per client (docs/security.md case 56) through the
    admin API: read, set, validated like ``belay client update --metadata``,
    cleared; the console's client page shows them."""
    api_uri = "https://api.example.test/"
    created = api.post(
        "/clients",
        {"client_id": "shop", "redirect_uris": [actions.REDIRECT], "resources": [api_uri]},
    )
    assert created.status_code == 201, created.text
    assert created.get_json()["client"]["resources"] == [api_uri]
    assert api.get("/clients/shop").get_json()["client"]["resources"] == [api_uri]
    # The resource is honoured at /authorize; another is refused.
    allowed = actions.authorize("shop", resource=api_uri)
    assert "error=" not in allowed.headers.get("Location", "")
    other = "https://other.example.test/"
    refused = actions.authorize("shop", resource=other)
    assert "error=invalid_target" in refused.headers["Location"]

    patched = api.patch("/clients/shop", {"resources": [api_uri, other, other]})
    assert patched.status_code == 200, patched.text
    assert patched.get_json()["client"]["resources"] == [api_uri, other]
    assert "error=" not in actions.authorize("shop", resource=other).headers.get("Location", "")

    for bad in ("https://api.example.test/", ["relative/path"], ["https://a.test/#frag"], [1]):
        answer = api.patch("/clients/shop", {"resources": bad})
        assert answer.status_code == 400, bad
        assert set(answer.get_json()["errors"]) == {"resources"}
    too_many = [f"https://r{i}.example.test/" for i in range(51)]
    assert api.patch("/clients/shop", {"resources": too_many}).status_code == 400
    assert api.get("/clients/shop").get_json()["client"]["resources"] == [api_uri, other]

    with app.app_context():
        from provider.storage import admin as store

        change = store.audit_events(event="client_updated")[0]
    assert change.details["by"] == "api:ops"
    assert change.details["after"]["resources"] == [api_uri, other]

    cleared = api.patch("/clients/shop", {"resources": None})
    assert cleared.get_json()["client"]["resources"] == []
    assert "error=invalid_target" in actions.authorize("shop", resource=api_uri).headers["Location"]
    assert api.patch("/clients/shop", {"resources": []}).status_code == 200
    assert api.get("/openapi.json").get_json()["components"]["schemas"]["Client"]["properties"][
        "resources"
    ]


# -- errors: the one mapping's JSON, with the flows' per-field messages --------------


def test_a_bad_body_names_the_fields_at_fault(api) -> None:
    unknown = api.post("/users", {"username": "zed", "colour": "blue"})
    assert unknown.status_code == 400
    assert unknown.get_json() == {
        "error": "invalid_request",
        "error_description": "colour: unknown field",
        "errors": {"colour": "unknown field"},
    }
    assert unknown.headers["Cache-Control"] == "no-store"
    policy_refused = api.put("/clients/ops/policy", {"default_max_age": -1})
    assert policy_refused.status_code == 400
    assert set(policy_refused.get_json()["errors"]) == {"default_max_age"}
    ladder_refused = api.put("/ladder", {"version": 1, "levels": []}).get_json()
    assert ladder_refused["error"] == "invalid_request" and ladder_refused["errors"]["0"]
    assert list(ladder_refused["errors"]) == [str(i) for i in range(len(ladder_refused["errors"]))]
    simulate = api.post("/simulate", {"client_id": 7, "enrolled": "password"}).get_json()
    assert simulate["errors"] == {"client_id": "is required", "enrolled": "must be a list"}


def test_a_malformed_json_body_is_a_400_on_the_body(app: Flask, actions: Actions) -> None:
    token = admin_token(app, actions)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for body in (b'{"username": ', b"[1, 2]", b'{"a": NaN}', b"\xff\xfe"):
        response = actions.client.post("/api/admin/users", headers=headers, data=body)
        assert response.status_code == 400, body
        answer = response.get_json()
        assert answer["error"] == "invalid_request" and set(answer["errors"]) == {"body"}, answer
    as_text = actions.client.post(
        "/api/admin/clients",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        data=b"{}",
    )
    assert as_text.status_code == 400
    assert as_text.get_json()["errors"] == {"body": "Send the body as application/json."}
    too_large = actions.client.post(
        "/api/admin/clients", headers=headers, data=b'{"name": "' + b"x" * 300_000 + b'"}'
    )
    assert too_large.status_code == 413 and too_large.get_json()["error"] == "too_large"
    # An empty body is no object, except where the body is optional (unlock).
    assert actions.client.post("/api/admin/clients", headers=headers).status_code == 400


def test_an_unknown_user_or_client_is_a_404(api) -> None:
    for path in ("/users/999999", "/users/2147483648", "/users/99999999999999999999/events"):
        missing = api.get(path)
        assert missing.status_code == 404, path
        assert missing.get_json()["error"] == "not_found"
    assert api.post("/users/999999/revoke-sessions").get_json()["error_description"] == (
        "no user 999999"
    )
    gone = api.get("/clients/nobody")
    assert gone.status_code == 404
    assert gone.get_json() == {"error": "not_found", "error_description": "no client 'nobody'"}
    assert api.put("/clients/nobody/policy", {}).status_code == 404


def test_the_token_refusals_carry_their_challenge(app: Flask, actions: Actions) -> None:
    missing = actions.client.get("/api/admin/users")
    assert missing.get_json() == {
        "error": "invalid_token",
        "error_description": "A bearer access token is required.",
    }
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="belay-admin"'
    bad = actions.client.get("/api/admin/users", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "invalid_token"
    assert bad.headers["WWW-Authenticate"] == (
        'Bearer realm="belay-admin", error="invalid_token", '
        'error_description="The access token is invalid or expired."'
    )


def test_two_concurrent_updates_of_one_client_leave_one_consistent_row(
    app: Flask, actions: Actions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both updates read the client before either writes: the row ends as one
    of the two registrations, never a mix (a public admin client with the
    client_credentials grant), and the audit log's second change starts where
    the first ended."""
    import contextlib
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from provider.flows.admin import client_fields
    from provider.flows.admin import clients as admin_clients
    from provider.flows.admin.errors import AdminError

    actions.create_client("shop")
    public = {
        "client_type": "public",
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code"],
    }
    admin = {
        "grant_types": ["authorization_code", "client_credentials"],
        "is_admin": True,
        "first_party": True,
    }
    both_read = threading.Barrier(2)
    real_checked_fields = client_fields.checked_fields

    def checked_fields_after_both_reads(*args, **kwargs):
        # With the row locked, the other update cannot read yet: go on alone.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait(timeout=2)
        return real_checked_fields(*args, **kwargs)

    def update(changes: dict) -> str:
        with app.app_context():
            try:
                admin_clients.update_client("shop", changes, actor="test")
            except AdminError:  # the later one, checked against the row the first left
                return "refused"
            return "done"

    monkeypatch.setattr(admin_clients, "checked_fields", checked_fields_after_both_reads)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(update, (public, admin)))
    assert "done" in outcomes
    with app.app_context():
        row = admin_clients.client_to_dict(admin_clients.get_client("shop"))
        from provider.storage import admin as store

        changes = store.audit_events(event="client_updated")
    as_public = (row["client_type"], row["grant_types"], row["is_admin"]) == (
        "public",
        ["authorization_code"],
        False,
    )
    as_admin = (row["client_type"], row["is_admin"], row["first_party"]) == (
        "confidential",
        True,
        True,
    ) and "client_credentials" in row["grant_types"]
    assert as_public != as_admin, row
    assert len(changes) == outcomes.count("done")
    if len(changes) == 2:
        first, second = sorted(changes, key=lambda c: c.id)
        first_after = first.details["after"]
        for key, value in second.details["before"].items():
            assert first_after.get(key, value) == value, (key, first_after, second.details)
