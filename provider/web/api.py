"""First-party step-up API (``/api/step-up/…``).

For the OP's own pages and first-party apps that share its session: verify a
factor inside the current session (session cookie + CSRF header), add the
event, rotate the session id, and return a short-lived signed re-auth token
bound to the user and the session. No new session is ever created.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from provider import clock, policy
from provider.crypto import random_token
from provider.factors.base import Busy, FactorError, Locked
from provider.flows import account as account_flow
from provider.flows import step_up
from provider.flows.assurance import events
from provider.oidc.server import sign_jwt
from provider.storage.ladder import current_ladder
from provider.storage.models import User
from provider.web import session as web_session
from provider.web.json_body import JSONBodyError, read_json

bp = Blueprint("api", __name__, url_prefix="/api/step-up")


def _error(status: int, error: str, description: str, retry_after: int | None = None) -> Response:
    body: dict[str, Any] = {"error": error, "error_description": description}
    if retry_after is not None:
        body["retry_after"] = retry_after
    response = jsonify(body)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _usable_methods(user: User) -> tuple[str, ...]:
    return tuple(m.method for m in step_up.factors().enrolled(user.id) if not m.locked)


def _enrolled_methods(user: User) -> tuple[str, ...]:
    """Locked ones included: checking them answers ``locked`` (docs/security.md A.4)."""
    return tuple(m.method for m in step_up.factors().enrolled(user.id))


@bp.get("/methods")
def methods() -> Response:
    """What the signed-in user can confirm with, and the CSRF token to send back."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return _error(401, "login_required", "Sign in first.")
    row, user = signed_in
    previous_seen_at = web_session.previous_seen_at()
    # What "Confirm access" asks: the level of the strongest *enrolled* factor,
    # locked or not, and the recovery path while a factor it needs is locked
    # (docs/security.md case 44).
    access = account_flow.check_access(user, row, previous_seen_at, None)
    response = jsonify(
        {
            "methods": list(_usable_methods(user)),
            "acr": step_up.current_acr(row, previous_seen_at, current_ladder()),
            "confirm_acr": access.target_acr,
            "confirmed": access.confirmed,
            "confirm_methods": list(access.methods),
            "locked": list(access.locked),
            "recovery": access.recovery,
            "csrf_token": generate_csrf(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/verify")
def verify() -> Response:
    signed_in = web_session.signed_in()
    if signed_in is None:
        return _error(401, "login_required", "Sign in first.")
    row, user = signed_in
    try:
        body = read_json()
    except JSONBodyError as exc:
        return _error(exc.status, exc.error, exc.description)
    if not isinstance(body, dict) or not isinstance(body.get("method"), str):
        return _error(400, "invalid_request", 'Send a JSON object with "method" and its fields.')
    submitted = {k: v for k, v in body.items() if isinstance(v, str) and len(v) <= 4096}
    try:
        done = step_up.verify_in_session(
            user=user,
            row=row,
            method=body["method"][:30],
            submitted=submitted,
            allowed=_enrolled_methods(user),
            client_id=None,
            purpose="step_up_api",
            ip=request.remote_addr,
        )
    except Locked as exc:
        return _error(429, exc.code, exc.message, exc.retry_after or 0)
    except Busy as exc:
        return _error(503, exc.code, exc.message, exc.retry_after)
    except FactorError as exc:
        return _error(401 if exc.code == "invalid_code" else 400, exc.code, exc.message)
    web_session.rotate_cookie(done.cookie_token)
    now = clock.now()
    # The OP's own view: a remembered browser never counts here (case 47).
    own = policy.ClientPolicy()
    state = events.client_state(row, None, own, now)
    assert state is not None
    acr = policy.session_acr(state, own, current_ladder(), now)
    amr = list(policy.session_amr(state.events))
    auth_time = policy.client_auth_time(state.events, own)
    config = current_app.config
    reauth = sign_jwt(
        {
            "iss": config["ISSUER"],
            "aud": config["ISSUER"],
            "sub": str(user.id),
            "sid": row.sid,
            "iat": now,
            "exp": now + int(config["REAUTH_TOKEN_TTL"]),
            "jti": random_token(16),
            "acr": acr,
            "amr": amr,
            "auth_time": auth_time,
        },
        alg=config["DEFAULT_SIGNING_ALG"],
        typ="reauth+jwt",
    )
    response = jsonify(
        {
            "verified": True,
            "acr": acr,
            "amr": amr,
            "auth_time": auth_time,
            "reauth_token": reauth,
            # The step-up rotated the CSRF token with the session (docs/security.md case 54).
            "csrf_token": generate_csrf(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
