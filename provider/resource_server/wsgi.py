"""A plain WSGI middleware for any framework (or none).

    app = BearerMiddleware(app, server=rs, requirement=lambda environ: (
        Requirement(acr_values=("urn:belay:acr:2fa",), max_age=300)
        if environ["PATH_INFO"].startswith("/transfers") else Requirement()
    ))

The requirement is a :class:`Requirement` for every request, or a function of
the environ returning one — or None to let a request through without a token.
A validated request carries its :class:`Principal` in
``environ["belay.principal"]``; a refused one never reaches the application
and gets the challenge's status and ``WWW-Authenticate`` header (RFC 9470 §3,
RFC 6750 §3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from provider.resource_server.challenge import Challenge
from provider.resource_server.check import ResourceServer
from provider.resource_server.errors import ProviderUnavailable
from provider.resource_server.requirement import Requirement

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ENVIRON_KEY", "BearerMiddleware"]

ENVIRON_KEY = "belay.principal"


class BearerMiddleware:
    """Validate ``Authorization: Bearer`` before the wrapped application runs."""

    def __init__(
        self,
        app: WSGIApplication,
        *,
        server: ResourceServer,
        requirement: Requirement | Callable[[WSGIEnvironment], Requirement | None],
    ) -> None:
        self.app = app
        self.server = server
        self.requirement = requirement

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        needed = (
            self.requirement
            if isinstance(self.requirement, Requirement)
            else self.requirement(environ)
        )
        if needed is None:
            return self.app(environ, start_response)
        try:
            result = self.server.check(environ.get("HTTP_AUTHORIZATION"), needed)
        except ProviderUnavailable:
            body = b'{"error": "temporarily_unavailable"}'
            start_response(
                "503 Service Unavailable",
                [
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                    ("Retry-After", "5"),
                ],
            )
            return [body]
        if isinstance(result, Challenge):
            body = result.json_body()
            headers = [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                *result.headers.items(),
            ]
            start_response(f"{result.status} {HTTPStatus(result.status).phrase}", headers)
            return [body]
        environ[ENVIRON_KEY] = result
        return self.app(environ, start_response)
