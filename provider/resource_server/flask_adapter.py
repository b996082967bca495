"""Flask integration: ``@require(...)`` on a view.

Import this module explicitly (``from provider.resource_server.flask_adapter
import require``); the rest of the kit does not import Flask.

    rs = ResourceServer(validator=validator, ladder=metadata)
    init_app(app, rs)

    @app.post("/transfers")
    @require(acr_values="urn:belay:acr:2fa", max_age=300)
    def transfer():
        return {"by": g.belay_principal.subject}

On success the :class:`Principal` is ``g.belay_principal`` and its claims
``g.token_claims``. On failure the view is not called and the answer is the
challenge's status with the RFC 9470 / RFC 6750 ``WWW-Authenticate`` header
and a small JSON body; when the OP cannot be reached, ``503``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from flask import Flask, Response, current_app, g, request

from provider.resource_server.challenge import Challenge
from provider.resource_server.check import ResourceServer
from provider.resource_server.errors import ProviderUnavailable
from provider.resource_server.principal import Principal
from provider.resource_server.requirement import Requirement

__all__ = ["EXTENSION_KEY", "current_principal", "init_app", "require"]

EXTENSION_KEY = "belay_resource_server"

F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask, server: ResourceServer) -> None:
    """Make ``server`` the default for :func:`require` in this app."""
    app.extensions[EXTENSION_KEY] = server


def _values(value: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(value.split()) if isinstance(value, str) else tuple(value)


def challenge_response(challenge: Challenge) -> Response:
    response = Response(challenge.json_body(), status=challenge.status, mimetype="application/json")
    response.headers.update(challenge.headers)
    return response


def unavailable_response() -> Response:
    response = Response(
        b'{"error": "temporarily_unavailable"}', status=503, mimetype="application/json"
    )
    response.headers["Retry-After"] = "5"
    return response


def require(
    requirement: Requirement | None = None,
    *,
    acr_values: str | Sequence[str] = (),
    min_level: str | None = None,
    max_age: int | None = None,
    scopes: str | Sequence[str] = (),
    server: ResourceServer | None = None,
) -> Callable[[F], F]:
    """Protect a view with a bearer token meeting ``requirement`` (or the keyword parts).

    RFC 9470 §3: when the token's authentication is not enough the view is not
    run and the answer is ``401`` with ``error="insufficient_user_authentication"``.
    """
    if requirement is None:
        requirement = Requirement(
            acr_values=_values(acr_values),
            min_level=min_level,
            max_age=max_age,
            scopes=_values(scopes),
        )
    elif acr_values or min_level or max_age is not None or scopes:
        raise ValueError("pass either a Requirement or its parts, not both")
    needed = requirement

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            rs = server or current_app.extensions.get(EXTENSION_KEY)
            if not isinstance(rs, ResourceServer):
                raise RuntimeError("call provider.resource_server.flask_adapter.init_app first")
            try:
                result = rs.check(request.headers.get("Authorization"), needed)
            except ProviderUnavailable:
                current_app.logger.exception("the OP could not be reached")
                return unavailable_response()
            if isinstance(result, Challenge):
                return challenge_response(result)
            g.belay_principal = result
            g.token_claims = result.claims
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def current_principal() -> Principal:
    """The principal :func:`require` put on ``flask.g`` for this request."""
    principal = g.get("belay_principal")
    if not isinstance(principal, Principal):
        raise RuntimeError("no validated bearer token in this request (missing @require?)")
    return principal
