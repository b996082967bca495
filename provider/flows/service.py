"""The service itself, for the web layer: is it ready to serve, and dropping
what a failed request wrote."""

from __future__ import annotations

from flask import current_app

from provider import storage

__all__ = ["readiness", "rollback"]


def rollback() -> None:
    """Nothing half-done is kept when a request fails (every error answer)."""
    storage.rollback()


def readiness() -> dict[str, str]:
    """Each check of ``/readyz`` and its state (``"ok"`` when it passes): the
    database answers, then a signing key is active."""
    if not storage.ping():
        return {"database": "unreachable"}
    checks = {"database": "ok"}
    try:
        current_app.extensions["belay_keys"].signing_key(current_app.config["DEFAULT_SIGNING_ALG"])
        checks["signing_key"] = "ok"
    except LookupError:
        checks["signing_key"] = "missing (run 'belay init')"
    return checks
