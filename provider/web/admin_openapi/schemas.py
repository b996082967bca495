"""The admin API's schemas, built from the field definitions the flows check
(CLIENT_FIELDS, POLICY_FIELDS, METHODS, …), so the document names every field
and value the API accepts (tests/test_admin_openapi.py compares them)."""

from __future__ import annotations

from typing import Any

from provider.flows.admin.client_fields import CLIENT_FIELDS
from provider.flows.admin.users import USER_FACTORS
from provider.flows.clients import GRANT_TYPES, MAX_RESOURCES
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS
from provider.policy import METHODS, POLICY_FIELDS
from provider.web.admin_openapi.builders import NULL_INT, NULL_STR, ref

__all__ = ["CLIENT_ID_SCHEMA", "schemas"]

#: A client_id in a path.
CLIENT_ID_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": "^[A-Za-z0-9._~-]+$",
}


def schemas() -> dict[str, Any]:
    """The document's ``components.schemas``."""
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
    lifetime = {
        "type": ["object", "null"],
        "properties": {"idle_seconds": NULL_INT, "absolute_seconds": NULL_INT},
    }
    policy_props: dict[str, Any] = {
        "minimum_acr": NULL_STR,
        "default_acr_values": {"type": "array", "items": {"type": "string"}},
        "default_max_age": NULL_INT,
        "require_auth_time": {"type": "boolean"},
        "acr_enforcement": {"enum": ["strict", "voluntary"]},
        "step_up_methods": {"type": "array", "items": {"enum": list(METHODS)}},
        "passkey_user_verification": {"enum": ["required", "preferred", "discouraged"]},
        "allowed_aaguids": {"type": "array", "items": {"type": "string"}},
        "min_pin_length": NULL_INT,
        "level_lifetimes": {"type": "object", "additionalProperties": lifetime},
        "remember_device_days": {"type": "integer", "minimum": 0, "maximum": 365},
        "pin_login": {"type": "boolean"},
        "passwordless_login": {"type": "boolean"},
    }
    event = {
        "type": "object",
        "required": ["id", "at", "event", "result"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "integer"},
            "event": {"type": "string"},
            "result": {"type": "string"},
            "user_id": NULL_INT,
            "username": NULL_STR,
            "client_id": NULL_STR,
            "method": NULL_STR,
            "acr": NULL_STR,
            "reason": NULL_STR,
            "ip": NULL_STR,
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
                "client_id": CLIENT_ID_SCHEMA,
                **client_props,
                "policy": ref("PolicyUpdate"),
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
            "properties": {"client": ref("Client"), "client_secret": NULL_STR},
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
                "email": NULL_STR,
                "name": NULL_STR,
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
                "acr": NULL_STR,
                "amr": {"type": "array", "items": {"type": "string"}},
                "auth_time": NULL_INT,
                "target_acr": NULL_STR,
                "methods": {"type": "array", "items": {"type": "string"}},
                "error": NULL_STR,
                "error_description": NULL_STR,
                "session_acr": NULL_STR,
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
