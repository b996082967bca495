"""The admin REST API (``/api/admin/…``): the console's and the CLI's
operations as JSON, described by the OpenAPI 3.1 document at
``/api/admin/openapi.json`` (provider/web/admin_openapi/; a test runs
Schemathesis against it).

Authentication: ``Authorization: Bearer <access token>`` where the token was
issued by the client_credentials grant to a confidential client marked for
administration (``is_admin``) and carries the ``belay:admin`` scope. Errors
follow RFC 6750 §3 (``invalid_token`` 401, ``insufficient_scope`` 403).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from provider import policy
from provider.flows.admin import access as admin_access
from provider.flows.admin import audit_log as admin_audit
from provider.flows.admin import client_policy
from provider.flows.admin import clients as admin_clients
from provider.flows.admin import dashboard as admin_dashboard
from provider.flows.admin import ladder as admin_ladder
from provider.flows.admin import simulator as admin_simulator
from provider.flows.admin import users as admin_users
from provider.flows.admin.errors import AdminError
from provider.web.admin_openapi import openapi_document
from provider.web.json_body import JSONBodyError, read_json

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")

__all__ = ["bp"]


def _json(body: Any, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _actor() -> str:
    """The calling admin client's actor; :class:`admin_access.TokenRefused`
    (RFC 6750 §3.1) when the bearer token is missing or refused."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise admin_access.TokenRefused(missing=True)
    return admin_access.api_actor(token.strip())


def api_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate, then run ``view(actor, **kwargs)``. Every refusal is a
    :class:`provider.errors.BelayError` answered by provider/web/errors.py:
    ``{"error", "error_description"[, "errors"]}`` with the flows' per-field
    messages (``errors``)."""

    @functools.wraps(view)
    def wrapped(**kwargs: Any) -> Any:
        return view(_actor(), **kwargs)

    return wrapped


def _body(*, optional: bool = False) -> dict[str, Any]:
    """The JSON object sent; ``{}`` for no body when ``optional``. A body that
    is not JSON is an :class:`AdminError` on the field ``body`` (with the
    status the reader gave: 400, or 413 when too large)."""
    try:
        data = read_json()
    except JSONBodyError as exc:
        raise AdminError(
            {"body": exc.description}, error=exc.error, status_code=exc.status_code
        ) from None
    if data is None and optional:
        return {}
    if not isinstance(data, dict):
        raise AdminError({"body": "must be a JSON object"})
    return data


@bp.get("/openapi.json")
def openapi() -> Response:
    return _json(openapi_document())


# -- clients -----------------------------------------------------------------------


@bp.get("/clients")
@api_view
def list_clients(actor: str) -> Response:
    return _json(
        {"clients": [admin_clients.client_to_dict(c) for c in admin_clients.list_clients()]}
    )


@bp.post("/clients")
@api_view
def create_client(actor: str) -> Response:
    client, secret = admin_clients.create_client(_body(), actor=actor)
    return _json({"client": admin_clients.client_to_dict(client), "client_secret": secret}, 201)


@bp.get("/clients/<path:client_id>")
@api_view
def get_client(actor: str, client_id: str) -> Response:
    return _json({"client": admin_clients.client_to_dict(admin_clients.get_client(client_id))})


@bp.patch("/clients/<path:client_id>")
@api_view
def update_client(actor: str, client_id: str) -> Response:
    admin_clients.get_client(client_id)
    client, secret = admin_clients.update_client(client_id, _body(), actor=actor)
    return _json({"client": admin_clients.client_to_dict(client), "client_secret": secret})


@bp.delete("/clients/<path:client_id>")
@api_view
def delete_client(actor: str, client_id: str) -> Response:
    admin_clients.delete_client(client_id, actor=actor)
    return Response(status=204)


@bp.post("/clients/<path:client_id>/secret")
@api_view
def rotate_secret(actor: str, client_id: str) -> Response:
    return _json({"client_secret": admin_clients.rotate_secret(client_id, actor=actor)})


@bp.get("/clients/<path:client_id>/policy")
@api_view
def get_policy(actor: str, client_id: str) -> Response:
    return _json({"policy": client_policy.effective_policy(client_id)})


@bp.put("/clients/<path:client_id>/policy")
@api_view
def replace_policy(actor: str, client_id: str) -> Response:
    admin_clients.get_client(client_id)
    body = _body()
    return _json(
        {"policy": client_policy.update_policy(client_id, data=body, replace=True, actor=actor)}
    )


@bp.patch("/clients/<path:client_id>/policy")
@api_view
def patch_policy(actor: str, client_id: str) -> Response:
    admin_clients.get_client(client_id)
    body = _body()
    return _json({"policy": client_policy.update_policy(client_id, data=body, actor=actor)})


# -- the ladder --------------------------------------------------------------------


@bp.get("/ladder")
@api_view
def get_ladder(actor: str) -> Response:
    return _json(admin_ladder.ladder_data())


@bp.put("/ladder")
@api_view
def put_ladder(actor: str) -> Response:
    ladder = admin_ladder.save_ladder(_body(), actor=actor)
    return _json(policy.ladder_to_data(ladder))


# -- users -------------------------------------------------------------------------


@bp.get("/users")
@api_view
def list_users(actor: str) -> Response:
    query = request.args.get("q", "")
    if len(query) > 150:
        raise AdminError({"q": "at most 150 characters"})
    return _json({"users": [admin_users.user_to_dict(u) for u in admin_users.search_users(query)]})


@bp.post("/users")
@api_view
def create_user(actor: str) -> Response:
    body = _body()
    unknown = sorted(set(body) - {"username", "password", "is_admin", "email", "name"})
    if unknown:
        raise AdminError({k: "unknown field" for k in unknown})
    user = admin_users.create_user(
        body.get("username"),  # type: ignore[arg-type]
        password=body.get("password"),
        is_admin=body.get("is_admin", False),
        email=body.get("email"),
        name=body.get("name"),
        actor=actor,
    )
    return _json({"user": admin_users.user_to_dict(user, detail=True)}, 201)


@bp.get("/users/<int:user_id>")
@api_view
def get_user(actor: str, user_id: int) -> Response:
    return _json({"user": admin_users.user_to_dict(admin_users.find_user(user_id), detail=True)})


@bp.post("/users/<int:user_id>/unlock")
@api_view
def unlock_user(actor: str, user_id: int) -> Response:
    user = admin_users.find_user(user_id)
    body = _body(optional=True)
    factor = body.get("factor")
    if factor is not None and not isinstance(factor, str):
        raise AdminError({"factor": "must be a factor name"})
    return _json({"cleared": admin_users.unlock_user(user, factor, actor=actor)})


@bp.post("/users/<int:user_id>/reset-factors")
@api_view
def reset_factors(actor: str, user_id: int) -> Response:
    return _json(
        {"removed": admin_users.reset_factors(admin_users.find_user(user_id), actor=actor)}
    )


@bp.post("/users/<int:user_id>/revoke-sessions")
@api_view
def revoke_sessions(actor: str, user_id: int) -> Response:
    return _json(
        {"revoked": admin_users.revoke_sessions(admin_users.find_user(user_id), actor=actor)}
    )


@bp.get("/users/<int:user_id>/events")
@api_view
def user_events(actor: str, user_id: int) -> Response:
    rows = admin_audit.user_events(admin_users.find_user(user_id), limit=100)
    return _json({"events": [admin_audit.audit_to_dict(r) for r in rows]})


# -- audit, simulator, stats ---------------------------------------------------------


@bp.get("/audit")
@api_view
def audit_log(actor: str) -> Response:
    filters = admin_audit.parse_audit_filter(request.args)
    return _json(
        {"events": [admin_audit.audit_to_dict(r) for r in admin_audit.list_audit(filters)]}
    )


@bp.get("/audit.csv")
@api_view
def audit_csv(actor: str) -> Response:
    filters = admin_audit.parse_audit_filter(request.args)
    return Response(
        admin_audit.audit_csv(admin_audit.list_audit(filters)),
        mimetype="text/csv",
        headers={"Cache-Control": "no-store"},
    )


@bp.post("/simulate")
@api_view
def simulate(actor: str) -> Response:
    body = _body()
    client_id = body.get("client_id")
    enrolled = body.get("enrolled", [])
    events = body.get("events", [])
    errors: dict[str, str] = {}
    if not isinstance(client_id, str):
        errors["client_id"] = "is required"
    if not isinstance(enrolled, list):
        errors["enrolled"] = "must be a list"
    if not isinstance(events, list):
        errors["events"] = "must be a list"
    unknown = sorted(
        set(body)
        - {"client_id", "enrolled", "events", "acr_values", "max_age", "claims", "prompt", "scope"}
    )
    errors.update({k: "unknown field" for k in unknown})
    if errors:
        raise AdminError(errors)
    params: dict[str, Any] = {
        k: body[k] for k in ("acr_values", "max_age", "claims", "prompt", "scope") if k in body
    }
    result = admin_simulator.simulate(
        str(client_id), enrolled=enrolled, events=events, params=params
    )
    return _json(result.to_dict())


@bp.get("/stats")
@api_view
def stats(actor: str) -> Response:
    return _json(admin_dashboard.dashboard())
