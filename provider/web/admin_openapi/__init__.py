"""The OpenAPI 3.1 document of the admin REST API (served at
``/api/admin/openapi.json``; tests/test_admin_api.py runs Schemathesis against
it, so it stays true, and tests/test_admin_openapi.py checks it against the
field definitions and the routes). Its schemas (:mod:`.schemas`) are built from
the field definitions the flows check; its operations are in :mod:`.paths`."""

from __future__ import annotations

from typing import Any

from flask import current_app

from provider.web.admin_openapi.builders import ref
from provider.web.admin_openapi.paths import paths
from provider.web.admin_openapi.schemas import schemas

__all__ = ["openapi_document"]


def openapi_document() -> dict[str, Any]:
    error = {"application/json": {"schema": ref("Error")}}
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
        "paths": paths(),
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
            "schemas": schemas(),
        },
    }
