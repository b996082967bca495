"""Every error becomes a page or a JSON body here — never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from provider.crypto import DataKeyError
from provider.extensions import db
from provider.storage.text_guard import UnstorableText

__all__ = ["init_app"]

log = logging.getLogger(__name__)

_JSON_PATHS = (
    "/token",
    "/introspect",
    "/revoke",
    "/userinfo",
    "/register",
    "/api/",
    "/webauthn/",
    "/jwks.json",
    "/.well-known/",
)


def _wants_json() -> bool:
    return request.path.startswith(_JSON_PATHS)


def _respond(status: int, error: str, description: str) -> Response:
    if _wants_json():
        response = jsonify({"error": error, "error_description": description})
    else:
        response = make_response(
            render_template("error.html", title=description, error=error, description="")
        )
    response.status_code = status
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return _respond(
            403,
            "csrf",
            "The form expired or was not sent from this site. Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = exc.code or 500
        names = {
            400: "invalid_request",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
        }
        return _respond(code, names.get(code, "error"), exc.description or exc.name)

    @app.errorhandler(UnstorableText)
    def unstorable_text(exc: UnstorableText) -> Any:
        # docs/security.md case 53: NUL or a lone surrogate reached the database
        # layer (refused before any statement ran): the client's input, a 400.
        db.session.rollback()
        return _respond(
            400, "invalid_request", "Text must not contain NUL characters or invalid Unicode."
        )

    @app.errorhandler(SQLAlchemyError)
    def database_error(exc: SQLAlchemyError) -> Any:
        # Fail closed: a database fault during a check is never a success.
        log.error("database error on %s %s: %s", request.method, request.path, type(exc).__name__)
        db.session.rollback()
        response = _respond(
            503,
            "temporarily_unavailable",
            "The service is briefly unavailable. Try again in a moment.",
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(DataKeyError)
    def data_key_error(exc: DataKeyError) -> Any:
        # A secret stored under another data key (docs/security.md case 57): the
        # deployment is misconfigured, which the user cannot fix by retrying soon.
        log.error("data key error on %s %s: %s", request.method, request.path, exc)
        db.session.rollback()
        return _respond(
            503,
            "temporarily_unavailable",
            "The service is misconfigured and cannot check this right now. "
            "Contact the administrator.",
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _respond(
            500, "server_error", "Something went wrong on our side. Try again in a moment."
        )
