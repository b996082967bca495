"""``/register``: RFC 7591 dynamic client registration and the RFC 7592
client configuration endpoint (``/register/<client_id>``). Off unless
``REGISTRATION_ENABLED``; every request needs a bearer token (the initial
access token, then the registration access token)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from provider.crypto import constant_time_equals, sha256_hex
from provider.flows import registration as flow
from provider.storage import accounts, audit
from provider.storage.models import Client
from provider.web.json_body import JSONBodyError, read_json

bp = Blueprint("registration", __name__)

__all__ = ["bp"]


def _json(body: Any, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _bearer() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _invalid_token() -> Response:
    response = _json({"error": "invalid_token", "error_description": "Bearer token required."}, 401)
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def _enabled() -> None:
    if not current_app.config["REGISTRATION_ENABLED"]:
        abort(404)


def _error(exc: flow.RegistrationError) -> Response:
    return _json({"error": exc.error, "error_description": exc.description}, 400)


def _body_error(exc: JSONBodyError) -> Response:
    """A body that is not acceptable JSON (provider/web/json_body.py) is
    ``invalid_client_metadata`` (RFC 7591 §3.2.2); one too large, a 413."""
    error = "invalid_client_metadata" if exc.status == 400 else exc.error
    return _json({"error": error, "error_description": exc.description}, exc.status)


def _uri(client: Client) -> str:
    return f"{current_app.config['ISSUER']}/register/{client.client_id}"


@bp.post("/register")
def register() -> Response:
    _enabled()
    expected = str(current_app.config["REGISTRATION_INITIAL_ACCESS_TOKEN"] or "")
    token = _bearer()
    if (
        not expected
        or not token
        or not constant_time_equals(sha256_hex(token), sha256_hex(expected))
    ):
        audit.record(
            "client_registered", "refused", reason="initial_access_token", ip=request.remote_addr
        )
        return _invalid_token()
    try:
        client, secret, access_token = flow.register(read_json())
    except JSONBodyError as exc:
        return _body_error(exc)
    except flow.RegistrationError as exc:
        return _error(exc)
    body = flow.client_metadata(client)
    if secret:
        body["client_secret"] = secret
    body["registration_access_token"] = access_token
    body["registration_client_uri"] = _uri(client)
    return _json(body, 201)


def _managed(client_id: str) -> Client | Response:
    _enabled()
    client = accounts.get_client(client_id)
    token = _bearer()
    if (
        client is None
        or client.registration_access_token_hash is None
        or not token
        or not constant_time_equals(client.registration_access_token_hash, sha256_hex(token))
    ):
        # RFC 7592 §2: an unknown client and a wrong token answer the same.
        return _invalid_token()
    return client


@bp.get("/register/<path:client_id>")
def read(client_id: str) -> Response:
    client = _managed(client_id)
    if isinstance(client, Response):
        return client
    return _json({**flow.client_metadata(client), "registration_client_uri": _uri(client)}, 200)


@bp.put("/register/<path:client_id>")
def update(client_id: str) -> Response:
    client = _managed(client_id)
    if isinstance(client, Response):
        return client
    try:
        flow.update(client, read_json())
    except JSONBodyError as exc:
        return _body_error(exc)
    except flow.RegistrationError as exc:
        return _error(exc)
    return _json({**flow.client_metadata(client), "registration_client_uri": _uri(client)}, 200)


@bp.delete("/register/<path:client_id>")
def delete(client_id: str) -> Response:
    client = _managed(client_id)
    if isinstance(client, Response):
        return client
    flow.delete(client)
    return Response(status=204)
