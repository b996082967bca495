"""First-party step-up API (``/api/step-up/…``).

For the OP's own pages and first-party apps that share its session: verify a
factor inside the current session (session cookie + CSRF header), add the
event, rotate the session id, and return a short-lived signed re-auth token
bound to the user and the session. No new session is ever created.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_wtf.csrf import generate_csrf
from werkzeug.wrappers import Response

from provider.errors import BelayError, LoginRequired
from provider.factors.base import Busy, FactorError, Locked
from provider.flows import account as account_flow
from provider.flows import step_up
from provider.storage.models import User, WebSession
from provider.web import session as web_session
from provider.web.errors import error_response
from provider.web.json_body import read_json

bp = Blueprint("api", __name__, url_prefix="/api/step-up")


def _signed_in() -> tuple[WebSession, User]:
    signed_in = web_session.signed_in()
    if signed_in is None:
        raise LoginRequired()
    return signed_in


def _usable_methods(user: User) -> tuple[str, ...]:
    return tuple(m.method for m in step_up.factors().enrolled(user.id) if not m.locked)


def _enrolled_methods(user: User) -> tuple[str, ...]:
    """Locked ones included: checking them answers ``locked`` (docs/security.md A.4)."""
    return tuple(m.method for m in step_up.factors().enrolled(user.id))


@bp.get("/methods")
def methods() -> Response:
    """What the signed-in user can confirm with, and the CSRF token to send back."""
    row, user = _signed_in()
    previous_seen_at = web_session.previous_seen_at()
    # What "Confirm access" asks: the level of the strongest *enrolled* factor,
    # locked or not, and the recovery path while a factor it needs is locked
    # (docs/security.md case 44).
    access = account_flow.check_access(user, row, previous_seen_at, None)
    response = jsonify(
        {
            "methods": list(_usable_methods(user)),
            "acr": account_flow.current_acr(row, previous_seen_at),
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


def _failed(exc: FactorError) -> Response:
    """A failed check: a wrong value is a 401, a lock a 429 and a busy server a
    503 (both with the wait, 0 when locked until reset), anything else a 400."""
    if exc.error == "invalid_code":
        return error_response(exc, status=401)
    if isinstance(exc, Locked):
        return error_response(exc, retry_after=0)
    if isinstance(exc, Busy):
        return error_response(exc)
    return error_response(exc, status=400)


@bp.post("/verify")
def verify() -> Response:
    row, user = _signed_in()
    body = read_json()
    if not isinstance(body, dict) or not isinstance(body.get("method"), str):
        raise BelayError('Send a JSON object with "method" and its fields.')
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
    except FactorError as exc:
        return _failed(exc)
    web_session.rotate_cookie(done.cookie_token)
    reauth = account_flow.issue_reauth_token(user, row)
    response = jsonify(
        {
            "verified": True,
            "acr": reauth.acr,
            "amr": reauth.amr,
            "auth_time": reauth.auth_time,
            "reauth_token": reauth.token,
            # The step-up rotated the CSRF token with the session (docs/security.md case 54).
            "csrf_token": generate_csrf(),
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
