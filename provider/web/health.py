"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from provider.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers (no dependency is checked)."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """Ready to serve: the database answers and a signing key is active."""
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError:
        db.session.rollback()
        checks["database"] = "unreachable"
    if checks["database"] == "ok":
        try:
            current_app.extensions["belay_keys"].signing_key(
                current_app.config["DEFAULT_SIGNING_ALG"]
            )
            checks["signing_key"] = "ok"
        except LookupError:
            checks["signing_key"] = "missing (run 'belay init')"
    ready = all(value == "ok" for value in checks.values())
    response = jsonify({"status": "ready" if ready else "not_ready", "checks": checks})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
