"""The OpenAPI 3.1 document of the admin REST API (served at
``/api/admin/openapi.json``; tests/test_admin_api.py runs Schemathesis against
it, so it stays true)."""

from __future__ import annotations

from typing import Any

from flask import current_app

from provider.flows.admin.client_fields import CLIENT_FIELDS
from provider.flows.admin.users import USER_FACTORS
from provider.flows.clients import GRANT_TYPES, MAX_RESOURCES
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS
from provider.policy import METHODS, POLICY_FIELDS

__all__ = ["openapi_document"]

_NULL_STR = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS: dict[str, Any] = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
}
_BAD = {"400": {"$ref": "#/components/responses/BadRequest"}}
_NOT_FOUND = {"404": {"$ref": "#/components/responses/NotFound"}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _op(
    op_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "responses": {**responses, **_ERRORS},
    }
    if body is not None:
        operation["requestBody"] = _body(body)
        operation["responses"].update(_BAD)
    if params:
        operation["parameters"] = params
    return operation


_CLIENT_ID = {
    "name": "client_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[A-Za-z0-9._~-]+$"},
}
_USER_ID = {
    "name": "user_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
}


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "maxLength": 200},
    }


_AUDIT_PARAMS = [
    _query("user", "username or user id"),
    _query("client_id", "client id"),
    _query("event", "event type, e.g. step_up"),
    _query("result", "success, failure, refused, …"),
    _query("since", "YYYY-MM-DD, ISO 8601 time or epoch seconds"),
    _query("until", "YYYY-MM-DD, ISO 8601 time or epoch seconds"),
    _query("limit", "1-10000 (default 200)"),
]


def _schemas() -> dict[str, Any]:
    uri_list = {"type": "array", "items": {"type": "string", "maxLength": 2000}, "maxItems": 50}
    client_props: dict[str, Any] = {
        "name": {"type": "string", "maxLength": 200},
        "redirect_uris": uri_list,
        "post_logout_redirect_uris": uri_list,
        "client_type": {"enum": ["public", "confidential"]},
        "token_endpoint_auth_method": {"enum": [*AUTH_METHODS, None]},
        "access_token_format": {"enum": ["jwt", "opaque"]},
        "first_party": {"type": "boolean"},
        "is_admin": {"type": "boolean"},
        "grant_types": {"type": "array", "items": {"enum": list(GRANT_TYPES)}},
        "id_token_signed_response_alg": {"enum": [*SUPPORTED_ALGS, None]},
        "resources": {
            "type": ["array", "null"],
            "items": {"type": "string", "format": "uri", "maxLength": 2000},
            "maxItems": MAX_RESOURCES,
            "description": "RFC 8707 resource values the client may name at /authorize and "
            "/token (none unless listed); absolute URIs without a fragment. "
            "null or [] lists none.",
        },
    }
    assert set(client_props) == set(CLIENT_FIELDS)
    lifetime = {
        "type": ["object", "null"],
        "properties": {"idle_seconds": _NULL_INT, "absolute_seconds": _NULL_INT},
    }
    policy_props: dict[str, Any] = {
        "minimum_acr": _NULL_STR,
        "default_acr_values": {"type": "array", "items": {"type": "string"}},
        "default_max_age": _NULL_INT,
        "require_auth_time": {"type": "boolean"},
        "acr_enforcement": {"enum": ["strict", "voluntary"]},
        "step_up_methods": {"type": "array", "items": {"enum": list(METHODS)}},
        "passkey_user_verification": {"enum": ["required", "preferred", "discouraged"]},
        "allowed_aaguids": {"type": "array", "items": {"type": "string"}},
        "min_pin_length": _NULL_INT,
        "level_lifetimes": {"type": "object", "additionalProperties": lifetime},
        "remember_device_days": {"type": "integer", "minimum": 0, "maximum": 365},
        "pin_login": {"type": "boolean"},
        "passwordless_login": {"type": "boolean"},
    }
    assert set(policy_props) == set(POLICY_FIELDS)
    event = {
        "type": "object",
        "required": ["id", "at", "event", "result"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "integer"},
            "event": {"type": "string"},
            "result": {"type": "string"},
            "user_id": _NULL_INT,
            "username": _NULL_STR,
            "client_id": _NULL_STR,
            "method": _NULL_STR,
            "acr": _NULL_STR,
            "reason": _NULL_STR,
            "ip": _NULL_STR,
            "details": {"type": "object"},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["error", "error_description"],
            "properties": {
                "error": {"type": "string"},
                "error_description": {"type": "string"},
                "errors": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "Client": {
            "type": "object",
            "required": ["client_id", *CLIENT_FIELDS, "scope", "policy", "created_at"],
            "properties": {
                "client_id": {"type": "string"},
                **client_props,
                "token_endpoint_auth_method": {"type": "string"},
                "resources": {"type": "array", "items": {"type": "string"}},
                "scope": {"type": "string"},
                "has_secret": {"type": "boolean"},
                "dynamically_registered": {"type": "boolean"},
                "policy": {"type": "object"},
                "created_at": {"type": "integer"},
            },
        },
        "ClientCreate": {
            "type": "object",
            "required": ["client_id"],
            "additionalProperties": False,
            "properties": {
                "client_id": _CLIENT_ID["schema"],
                **client_props,
                "policy": _ref("PolicyUpdate"),
            },
        },
        "ClientUpdate": {
            "type": "object",
            "additionalProperties": False,
            "properties": client_props,
        },
        "ClientWithSecret": {
            "type": "object",
            "required": ["client", "client_secret"],
            "properties": {"client": _ref("Client"), "client_secret": _NULL_STR},
        },
        "Policy": {
            "type": "object",
            "required": list(POLICY_FIELDS),
            "properties": policy_props,
        },
        "PolicyUpdate": {
            "type": "object",
            "additionalProperties": False,
            "properties": policy_props,
        },
        "Ladder": {
            "type": "object",
            "required": ["version", "levels"],
            "properties": {
                "version": {"type": "integer"},
                "levels": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["acr", "level", "rule"],
                        "properties": {
                            "acr": {"type": "string"},
                            "level": {"type": "integer"},
                            "description": {"type": "string"},
                            "lifetime": lifetime,
                            "rule": {"type": "array"},
                        },
                    },
                },
            },
        },
        "User": {
            "type": "object",
            "required": ["id", "username", "is_admin", "disabled", "created_at"],
            "properties": {
                "id": {"type": "integer"},
                "username": {"type": "string"},
                "email": _NULL_STR,
                "name": _NULL_STR,
                "is_admin": {"type": "boolean"},
                "disabled": {"type": "boolean"},
                "created_at": {"type": "integer"},
                "sessions": {"type": "integer"},
                "factors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["method", "enrolled", "locked", "failures"],
                        "properties": {
                            "method": {"enum": list(USER_FACTORS)},
                            "enrolled": {"type": "boolean"},
                            "count": {"type": "integer"},
                            "locked": {"type": "boolean"},
                            "failures": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "UserCreate": {
            "type": "object",
            "required": ["username"],
            "additionalProperties": False,
            "properties": {
                "username": {"type": "string", "minLength": 1, "maxLength": 150},
                "password": {"type": "string", "minLength": 8, "maxLength": 200},
                "is_admin": {"type": "boolean"},
                "email": {"type": "string", "format": "email", "maxLength": 320},
                "name": {"type": "string", "maxLength": 200},
            },
        },
        "AuditEvent": event,
        "Simulation": {
            "type": "object",
            "required": ["outcome", "reason", "methods", "amr"],
            "properties": {
                "outcome": {"enum": ["satisfied", "step_up", "login", "fail"]},
                "reason": {"type": "string"},
                "acr": _NULL_STR,
                "amr": {"type": "array", "items": {"type": "string"}},
                "auth_time": _NULL_INT,
                "target_acr": _NULL_STR,
                "methods": {"type": "array", "items": {"type": "string"}},
                "error": _NULL_STR,
                "error_description": _NULL_STR,
                "session_acr": _NULL_STR,
            },
        },
        "SimulationRequest": {
            "type": "object",
            "required": ["client_id"],
            "additionalProperties": False,
            "properties": {
                "client_id": {"type": "string", "maxLength": 200},
                "enrolled": {
                    "type": "array",
                    "maxItems": 10,
                    "items": {
                        "oneOf": [
                            {"enum": list(METHODS)},
                            {
                                "type": "object",
                                "required": ["method"],
                                "properties": {
                                    "method": {"enum": list(METHODS)},
                                    "backup_eligible": {"type": "boolean"},
                                    "locked": {"type": "boolean"},
                                    "pin_length": {"type": "integer", "minimum": 0},
                                },
                            },
                        ]
                    },
                },
                "events": {
                    "type": "array",
                    "maxItems": 10,
                    "items": {
                        "type": "object",
                        "required": ["method"],
                        "properties": {
                            "method": {"enum": list(METHODS)},
                            "seconds_ago": {"type": "integer", "minimum": 0, "maximum": 10**9},
                            "uv": {"type": "boolean"},
                            "backup_eligible": {"type": "boolean"},
                        },
                    },
                },
                "acr_values": {"type": "string", "maxLength": 1000},
                "max_age": {"type": "string", "maxLength": 20},
                "claims": {"type": "string", "maxLength": 2000},
                "prompt": {"type": "string", "maxLength": 100},
                "scope": {"type": "string", "maxLength": 200},
            },
        },
        "Stats": {
            "type": "object",
            "required": [
                "days",
                "step_ups_by_acr",
                "step_ups_by_method",
                "failures_per_day",
                "lockouts_per_day",
            ],
            "properties": {
                "days": {"type": "array", "items": {"type": "string"}},
                "since": {"type": "integer"},
                "step_ups_by_acr": {"type": "object", "additionalProperties": {"type": "integer"}},
                "step_ups_by_method": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                },
                "step_ups_per_day": {"type": "array", "items": {"type": "integer"}},
                "failures_per_day": {"type": "array", "items": {"type": "integer"}},
                "lockouts_per_day": {"type": "array", "items": {"type": "integer"}},
            },
        },
    }


def _obj(**props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(props), "properties": props}


def openapi_document() -> dict[str, Any]:
    client_ok = _json_response("The client", _obj(client=_ref("Client")))
    with_secret = _json_response(
        "The client, and a new secret shown once", _ref("ClientWithSecret")
    )
    policy_ok = _json_response("The client's policy, every field", _obj(policy=_ref("Policy")))
    user_ok = _json_response("The user", _obj(user=_ref("User")))
    events_ok = _json_response(
        "Audit events, newest first",
        _obj(events={"type": "array", "items": _ref("AuditEvent")}),
    )
    paths: dict[str, Any] = {
        "/clients": {
            "get": _op(
                "listClients",
                "List clients",
                {
                    "200": _json_response(
                        "Clients", _obj(clients={"type": "array", "items": _ref("Client")})
                    )
                },
            ),
            "post": _op(
                "createClient",
                "Register a client (a generated secret is returned once)",
                {"201": with_secret},
                body=_ref("ClientCreate"),
            ),
        },
        "/clients/{client_id}": {
            "parameters": [_CLIENT_ID],
            "get": _op("getClient", "Read a client", {"200": client_ok, **_NOT_FOUND}),
            "patch": _op(
                "updateClient",
                "Change a client's registration",
                {"200": with_secret, **_NOT_FOUND},
                body=_ref("ClientUpdate"),
            ),
            "delete": _op(
                "deleteClient",
                "Delete a client",
                {"204": {"description": "Deleted"}, **_NOT_FOUND},
            ),
        },
        "/clients/{client_id}/secret": {
            "parameters": [_CLIENT_ID],
            "post": _op(
                "rotateClientSecret",
                "Rotate a confidential client's secret (returned once)",
                {
                    "200": _json_response("The new secret", _obj(client_secret={"type": "string"})),
                    **_BAD,
                    **_NOT_FOUND,
                },
            ),
        },
        "/clients/{client_id}/policy": {
            "parameters": [_CLIENT_ID],
            "get": _op(
                "getClientPolicy",
                "Read a client's acr policy",
                {"200": policy_ok, **_BAD, **_NOT_FOUND},
            ),
            "put": _op(
                "replaceClientPolicy",
                "Replace a client's acr policy (missing fields take their defaults)",
                {"200": policy_ok, **_NOT_FOUND},
                body=_ref("PolicyUpdate"),
            ),
            "patch": _op(
                "updateClientPolicy",
                "Change some fields of a client's acr policy",
                {"200": policy_ok, **_NOT_FOUND},
                body=_ref("PolicyUpdate"),
            ),
        },
        "/ladder": {
            "get": _op(
                "getLadder",
                "Read the acr ladder",
                {"200": _json_response("The ladder", _ref("Ladder"))},
            ),
            "put": _op(
                "replaceLadder",
                "Validate and store a new ladder",
                {"200": _json_response("The stored ladder", _ref("Ladder"))},
                body=_ref("Ladder"),
            ),
        },
        "/users": {
            "get": _op(
                "searchUsers",
                "Search users by username, name or email",
                {
                    "200": _json_response(
                        "Users", _obj(users={"type": "array", "items": _ref("User")})
                    ),
                    **_BAD,
                },
                params=[
                    {
                        "name": "q",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 150},
                    }
                ],
            ),
            "post": _op("createUser", "Create a user", {"201": user_ok}, body=_ref("UserCreate")),
        },
        "/users/{user_id}": {
            "parameters": [_USER_ID],
            "get": _op("getUser", "A user with factor states", {"200": user_ok, **_NOT_FOUND}),
        },
        "/users/{user_id}/unlock": {
            "parameters": [_USER_ID],
            "post": {
                **_op(
                    "unlockUser",
                    "Clear failure counters and locks (one factor, or all)",
                    {
                        "200": _json_response(
                            "Counters cleared", _obj(cleared={"type": "integer"})
                        ),
                        **_BAD,
                        **_NOT_FOUND,
                    },
                ),
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"factor": {"enum": list(USER_FACTORS)}},
                            }
                        }
                    },
                },
            },
        },
        "/users/{user_id}/reset-factors": {
            "parameters": [_USER_ID],
            "post": _op(
                "resetUserFactors",
                "Remove every second factor and clear every lock",
                {
                    "200": _json_response(
                        "Removed factors",
                        _obj(removed={"type": "array", "items": {"type": "string"}}),
                    ),
                    **_NOT_FOUND,
                },
            ),
        },
        "/users/{user_id}/revoke-sessions": {
            "parameters": [_USER_ID],
            "post": _op(
                "revokeUserSessions",
                "End every browser session of the user",
                {
                    "200": _json_response("Sessions revoked", _obj(revoked={"type": "integer"})),
                    **_NOT_FOUND,
                },
            ),
        },
        "/users/{user_id}/events": {
            "parameters": [_USER_ID],
            "get": _op(
                "getUserEvents", "The user's audit events", {"200": events_ok, **_NOT_FOUND}
            ),
        },
        "/audit": {
            "get": _op(
                "listAudit",
                "Filter the audit log",
                {"200": events_ok, **_BAD},
                params=_AUDIT_PARAMS,
            ),
        },
        "/audit.csv": {
            "get": _op(
                "exportAudit",
                "Export the filtered audit log as CSV",
                {
                    "200": {
                        "description": "CSV",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **_BAD,
                },
                params=_AUDIT_PARAMS,
            ),
        },
        "/simulate": {
            "post": _op(
                "simulatePolicy",
                "The decision /authorize would make for a made-up session",
                {"200": _json_response("The engine's decision", _ref("Simulation")), **_NOT_FOUND},
                body=_ref("SimulationRequest"),
            ),
        },
        "/stats": {
            "get": _op(
                "getStats",
                "Step-ups by acr and method, failures and lockouts, last 7 days",
                {"200": _json_response("Figures", _ref("Stats"))},
            ),
        },
    }
    error = {"application/json": {"schema": _ref("Error")}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Belay admin API",
            "version": "1",
            "description": (
                "Administration of a Belay OpenID Provider. Authenticate with an access token "
                "from the client_credentials grant of a client marked for administration, "
                "with the belay:admin scope."
            ),
        },
        "servers": [{"url": f"{current_app.config['ISSUER']}/api/admin"}],
        "security": [{"adminToken": ["belay:admin"]}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "adminToken": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": f"{current_app.config['ISSUER']}/token",
                            "scopes": {"belay:admin": "administer this provider"},
                        }
                    },
                }
            },
            "responses": {
                "BadRequest": {
                    "description": "Invalid input; errors maps fields to messages",
                    "content": error,
                },
                "Unauthorized": {
                    "description": "No valid bearer token",
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                    "content": error,
                },
                "Forbidden": {
                    "description": (
                        "The token lacks the belay:admin scope or its client is not an admin client"
                    ),
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
                    "content": error,
                },
                "NotFound": {"description": "No such client or user", "content": error},
            },
            "schemas": _schemas(),
        },
    }
