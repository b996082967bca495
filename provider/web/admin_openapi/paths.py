"""The admin API's operations, one per route of provider/web/admin_api.py
(tests/test_admin_openapi.py checks that each route has one and no more)."""

from __future__ import annotations

from typing import Any

from provider.flows.admin.users import UNLOCKABLE_FACTORS
from provider.web.admin_openapi.builders import json_response, obj, ref
from provider.web.admin_openapi.schemas import CLIENT_ID_SCHEMA

__all__ = ["paths"]


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


_CLIENT_ID = {"name": "client_id", "in": "path", "required": True, "schema": CLIENT_ID_SCHEMA}
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


def paths() -> dict[str, Any]:
    """The document's ``paths``."""
    client_ok = json_response("The client", obj(client=ref("Client")))
    with_secret = json_response("The client, and a new secret shown once", ref("ClientWithSecret"))
    policy_ok = json_response("The client's policy, every field", obj(policy=ref("Policy")))
    user_ok = json_response("The user", obj(user=ref("User")))
    events_ok = json_response(
        "Audit events, newest first",
        obj(events={"type": "array", "items": ref("AuditEvent")}),
    )
    return {
        "/clients": {
            "get": _op(
                "listClients",
                "List clients",
                {
                    "200": json_response(
                        "Clients", obj(clients={"type": "array", "items": ref("Client")})
                    )
                },
            ),
            "post": _op(
                "createClient",
                "Register a client (a generated secret is returned once)",
                {"201": with_secret},
                body=ref("ClientCreate"),
            ),
        },
        "/clients/{client_id}": {
            "parameters": [_CLIENT_ID],
            "get": _op("getClient", "Read a client", {"200": client_ok, **_NOT_FOUND}),
            "patch": _op(
                "updateClient",
                "Change a client's registration",
                {"200": with_secret, **_NOT_FOUND},
                body=ref("ClientUpdate"),
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
                    "200": json_response("The new secret", obj(client_secret={"type": "string"})),
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
                body=ref("PolicyUpdate"),
            ),
            "patch": _op(
                "updateClientPolicy",
                "Change some fields of a client's acr policy",
                {"200": policy_ok, **_NOT_FOUND},
                body=ref("PolicyUpdate"),
            ),
        },
        "/ladder": {
            "get": _op(
                "getLadder",
                "Read the acr ladder",
                {"200": json_response("The ladder", ref("Ladder"))},
            ),
            "put": _op(
                "replaceLadder",
                "Validate and store a new ladder",
                {"200": json_response("The stored ladder", ref("Ladder"))},
                body=ref("Ladder"),
            ),
        },
        "/users": {
            "get": _op(
                "searchUsers",
                "Search users by username, name or email",
                {
                    "200": json_response(
                        "Users", obj(users={"type": "array", "items": ref("User")})
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
            "post": _op("createUser", "Create a user", {"201": user_ok}, body=ref("UserCreate")),
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
                        "200": json_response("Counters cleared", obj(cleared={"type": "integer"})),
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
                                "properties": {
                                    # null (or no body): every factor
                                    "factor": {"enum": [*UNLOCKABLE_FACTORS, None]}
                                },
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
                    "200": json_response(
                        "Removed factors",
                        obj(removed={"type": "array", "items": {"type": "string"}}),
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
                    "200": json_response("Sessions revoked", obj(revoked={"type": "integer"})),
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
                {"200": json_response("The engine's decision", ref("Simulation")), **_NOT_FOUND},
                body=ref("SimulationRequest"),
            ),
        },
        "/stats": {
            "get": _op(
                "getStats",
                "Step-ups by acr and method, failures and lockouts, last 7 days",
                {"200": json_response("Figures", ref("Stats"))},
            ),
        },
    }
