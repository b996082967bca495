"""Every error becomes a page or a JSON body here — never a stack trace.

The one module that turns a :class:`provider.errors.BelayError` into an HTTP
answer (docs/design.md convention 2). Three shapes:

- an OAuth error redirect: ``/authorize`` builds it itself
  (provider/flows/authorize/outcomes.py ``error_redirect``) — not here;
- JSON ``{"error", "error_description"[, "retry_after"]}`` (not cached) for
  the API and XHR endpoints (:func:`wants_json`), an ``error.html`` page for
  everything else: :func:`error_response`, which the handler registered by
  :func:`init_app` answers with when a view lets a ``BelayError`` propagate;
- the in-form error: the view's own form shown again with the error's
  description and its per-field messages (:func:`form_error`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from provider.crypto import DataKeyError
from provider.errors import N_, BelayError
from provider.flows import service

__all__ = ["error_response", "form_error", "init_app", "wants_json"]

log = logging.getLogger(__name__)

#: Paths whose errors are JSON (the API, XHR and protocol endpoints).
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


def wants_json() -> bool:
    """Is this request answered in JSON (else an HTML page)?"""
    return request.path.startswith(_JSON_PATHS)


#: The short titles of Belay's own pages for HTTP errors (Werkzeug's
#: sentences are the JSON description, and the page's text below the title).
_HTTP_PAGES = {
    400: (N_("Bad request"), N_("The request could not be read. Start again from the home page.")),
    404: (N_("Page not found"), N_("There is no page at this address.")),
    405: (
        N_("Not available this way"),
        N_("This address only answers a form sent from its page. Start again from the home page."),
    ),
    413: (N_("Too large"), N_("What was sent is too large.")),
    500: (
        N_("Something went wrong"),
        N_("Something went wrong on our side. Try again in a moment."),
    ),
}


def _respond(
    status: int,
    error: str,
    description: str,
    body: dict[str, Any] | None = None,
    *,
    title: str | None = None,
) -> Response:
    """JSON for the API and protocol paths (:func:`wants_json`), else
    ``error.html``: ``title`` (``description`` when not given) over
    ``description``, with a link home."""
    if wants_json():
        response = jsonify(body or {"error": error, "error_description": description})
    else:
        response = make_response(
            render_template(
                "error.html",
                title=title or description,
                error=error,
                description=description if title else "",
                home=True,
            )
        )
    response.status_code = status
    return response


def error_response(
    exc: BelayError, *, status: int | None = None, retry_after: int | None = None
) -> Response:
    """``exc`` as JSON or an HTML page (:func:`wants_json`), with its
    ``status_code`` unless ``status`` is given, and its ``Retry-After``.

    ``retry_after`` announces a wait the error itself does not carry."""
    body = exc.get_body()
    headers = exc.get_headers()
    if retry_after is not None and exc.retry_after is None:
        body["retry_after"] = retry_after
        headers["Retry-After"] = str(retry_after)
    response = _respond(status or exc.status_code, exc.error, exc.description, body)
    if response.is_json:
        headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    response.headers.update(headers)
    return response


def form_error(
    page: Callable[..., Any], exc: BelayError, *, status: int | None = None, **context: Any
) -> Any:
    """The in-form error: ``page(status, error=exc.description, **context)`` —
    the view's own renderer shows the form again, with the error's
    ``status_code`` unless ``status`` is given — and ``errors=`` the messages
    to show next to the fields at fault when the error names some
    (:meth:`BelayError.field_errors`). Nothing half-done is kept (a rollback,
    as for any error)."""
    service.rollback()
    fields = exc.field_errors()
    if fields:
        context.setdefault("errors", fields)
    return page(status or exc.status_code, error=exc.description, **context)


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return _respond(
            403,
            "csrf",
            N_("The form expired or was not sent from this site. Reload the page and try again."),
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
        title, text = _HTTP_PAGES.get(code, (exc.name, exc.description or exc.name))
        if wants_json():
            text = exc.description or exc.name
        response = _respond(code, names.get(code, "error"), text, title=title)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110 §15.5.6
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(BelayError)
    def belay_error(exc: BelayError) -> Any:
        # Nothing half-done is kept: e.g. UnstorableText (docs/security.md case
        # 53), NUL or a lone surrogate that reached the database layer (refused
        # before any statement ran) -- the client's input, a 400.
        service.rollback()
        return error_response(exc)

    @app.errorhandler(SQLAlchemyError)
    def database_error(exc: SQLAlchemyError) -> Any:
        # Fail closed: a database fault during a check is never a success.
        log.error("database error on %s %s: %s", request.method, request.path, type(exc).__name__)
        service.rollback()
        response = _respond(
            503,
            "temporarily_unavailable",
            N_("The service is briefly unavailable. Try again in a moment."),
        )
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(DataKeyError)
    def data_key_error(exc: DataKeyError) -> Any:
        # A secret stored under another data key (docs/security.md case 57): the
        # deployment is misconfigured, which the user cannot fix by retrying soon.
        log.error("data key error on %s %s: %s", request.method, request.path, exc)
        service.rollback()
        return _respond(
            503,
            "temporarily_unavailable",
            N_(
                "The service is misconfigured and cannot check this right now. "
                "Contact the administrator."
            ),
        )

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        title, text = _HTTP_PAGES[500]
        return _respond(500, "server_error", text, title=title)
