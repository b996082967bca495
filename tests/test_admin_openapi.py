"""The admin API's OpenAPI document agrees with the field definitions the flows
check and with the API's routes (provider/web/admin_openapi/): a field, a value
or a route added on one side and not on the other fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from provider.flows.admin import audit_log, dashboard, simulator, users
from provider.flows.admin.client_fields import CLIENT_FIELDS
from provider.flows.admin.errors import AdminError
from provider.flows.clients import GRANT_TYPES, MAX_RESOURCES
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS
from provider.policy import METHODS, POLICY_FIELDS
from provider.storage.models import AuditEvent
from provider.web.admin_openapi import openapi_document
from tests.conftest import Actions


def _document(app: Flask) -> dict[str, Any]:
    with app.app_context():
        return openapi_document()


def _schemas(app: Flask) -> dict[str, Any]:
    schemas: dict[str, Any] = _document(app)["components"]["schemas"]
    return schemas


def test_the_client_schemas_name_every_client_field(app: Flask) -> None:
    schemas = _schemas(app)
    assert set(schemas["ClientUpdate"]["properties"]) == set(CLIENT_FIELDS)
    assert set(schemas["ClientCreate"]["properties"]) == {*CLIENT_FIELDS, "client_id", "policy"}
    fields = schemas["ClientUpdate"]["properties"]
    assert fields["token_endpoint_auth_method"]["enum"] == [*AUTH_METHODS, None]
    assert fields["grant_types"]["items"]["enum"] == list(GRANT_TYPES)
    assert fields["id_token_signed_response_alg"]["enum"] == [*SUPPORTED_ALGS, None]
    assert fields["resources"]["maxItems"] == MAX_RESOURCES


def test_the_policy_schemas_name_every_policy_field(app: Flask) -> None:
    schemas = _schemas(app)
    assert set(schemas["Policy"]["properties"]) == set(POLICY_FIELDS)
    assert set(schemas["Policy"]["required"]) == set(POLICY_FIELDS)
    assert set(schemas["PolicyUpdate"]["properties"]) == set(POLICY_FIELDS)
    step_up = schemas["Policy"]["properties"]["step_up_methods"]
    assert step_up["items"]["enum"] == list(METHODS)


def test_the_answers_match_what_the_flows_return(app: Flask, actions: Actions) -> None:
    schemas = _schemas(app)
    assert set(schemas["Simulation"]["properties"]) == set(
        simulator.Simulation("fail", "x").to_dict()
    )
    row = AuditEvent(id=1, at=0, event="login", result="success")
    assert set(schemas["AuditEvent"]["properties"]) == set(audit_log.audit_to_dict(row))
    user_id = actions.create_user()
    with app.app_context():
        shown = users.user_to_dict(users.find_user(int(user_id)), detail=True)
        figures = dashboard.dashboard()
    assert set(schemas["User"]["properties"]) == set(shown)
    factor = schemas["User"]["properties"]["factors"]["items"]
    assert factor["properties"]["method"]["enum"] == list(users.USER_FACTORS)
    assert [f["method"] for f in shown["factors"]] == list(users.USER_FACTORS)
    assert set(factor["properties"]) == set(shown["factors"][0])
    assert set(schemas["Stats"]["properties"]) == set(figures)


def test_the_unlock_factors_are_those_the_flows_accept(app: Flask, actions: Actions) -> None:
    """POST /users/{user_id}/unlock documents each factor ``unlock_user`` takes
    (the codes by email and SMS too, not only the factors a user's state lists),
    and null for every factor; any other name is refused."""
    operation = _document(app)["paths"]["/users/{user_id}/unlock"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    documented = schema["properties"]["factor"]["enum"]
    assert documented == [*users.UNLOCKABLE_FACTORS, None]
    assert {"email_otp", "sms_otp"} < set(documented)
    # The console's per-factor buttons (its factor table) name only unlockable factors.
    assert set(users.USER_FACTORS) < set(users.UNLOCKABLE_FACTORS)
    user_id = actions.create_user()
    with app.app_context():
        user = users.find_user(int(user_id))
        for factor in documented:
            assert isinstance(users.unlock_user(user, factor, actor="test"), int)
        for refused in ("retina", "otp", "email", ""):
            with pytest.raises(AdminError) as raised:
                users.unlock_user(user, refused, actor="test")
            assert set(raised.value.errors) == {"factor"}


def test_every_route_has_one_operation_and_no_more(app: Flask) -> None:
    documented = {
        (path, method.upper())
        for path, item in _document(app)["paths"].items()
        for method in item
        if method != "parameters"
    }
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin_api.") and rule.endpoint != "admin_api.openapi":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/admin"))
            routes.update((path, m) for m in rule.methods or () if m not in ("HEAD", "OPTIONS"))
    assert documented == routes
