"""``/register``: RFC 7591 dynamic client registration and the RFC 7592
client configuration endpoint (``/register/<client_id>``). Off unless
``REGISTRATION_ENABLED``; every request needs a bearer token (the initial
access token, then the registration access token)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from provider.flows import registration as flow
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


def _enabled() -> None:
    if not current_app.config["REGISTRATION_ENABLED"]:
        abort(404)


def _body() -> Any:
    """The request's JSON body; one that is not acceptable JSON
    (provider/web/json_body.py) is ``invalid_client_metadata`` (RFC 7591
    §3.2.2), one too large a 413."""
    try:
        return read_json()
    except JSONBodyError as exc:
        if exc.status_code != 400:
            raise
        raise flow.RegistrationError("invalid_client_metadata", exc.description) from None


def _uri(client: Client) -> str:
    return f"{current_app.config['ISSUER']}/register/{client.client_id}"


@bp.post("/register")
def register() -> Response:
    _enabled()
    flow.check_initial_access_token(_bearer(), ip=request.remote_addr)
    client, secret, access_token = flow.register(_body())
    body = flow.client_metadata(client)
    if secret:
        body["client_secret"] = secret
    body["registration_access_token"] = access_token
    body["registration_client_uri"] = _uri(client)
    return _json(body, 201)


def _managed(client_id: str) -> Client:
    _enabled()
    return flow.managed_client(client_id, _bearer())


@bp.get("/register/<path:client_id>")
def read(client_id: str) -> Response:
    client = _managed(client_id)
    return _json({**flow.client_metadata(client), "registration_client_uri": _uri(client)}, 200)


@bp.put("/register/<path:client_id>")
def update(client_id: str) -> Response:
    client = _managed(client_id)
    flow.update(client, _body())
    return _json({**flow.client_metadata(client), "registration_client_uri": _uri(client)}, 200)


@bp.delete("/register/<path:client_id>")
def delete(client_id: str) -> Response:
    flow.delete(_managed(client_id))
    return Response(status=204)
