"""Flask helper: catch a resource server's step-up challenge, send the user to
the OP, and come back to what they were doing.

Import this module explicitly; the rest of the kit does not import Flask.

    flow = StepUpFlow(
        authorization_endpoint="https://login.example.com/authorize",
        client_id="bank", redirect_uri="https://bank.example.com/step-up/callback",
        scope="openid", expected_issuer="https://login.example.com",
    )
    flow.init_app(app)

    @app.post("/transfer")
    def transfer():
        api = requests.post(API, data=request.form, headers=bearer())
        flow.raise_for_step_up(api)          # 401 + insufficient_user_authentication ⇒ redirect
        ...

    @app.get("/step-up/callback")
    def step_up_callback():
        pending = flow.complete()             # checks state (and iss), forgets the attempt
        tokens = exchange(pending.code, pending.code_verifier)   # your OIDC client
        id_claims = verify_id_token(tokens["id_token"], nonce=pending.nonce)
        check_authentication(id_claims, requirement=pending.requirement,
                             requested_at=pending.requested_at, now=int(time.time()))
        store_tokens_server_side(tokens)
        return flow.resume(pending)           # GET: redirect; POST: a "Continue" form

What is kept between the two requests — the original method, path and form
fields, ``state``, ``nonce``, ``code_verifier``, the requirement — lives in
``flask.session`` under one key and is removed by :meth:`StepUpFlow.complete`.
Tokens are never put there. Flask's default session is a *signed, readable*
cookie: if the forms you protect carry anything the user should not be able
to read back, use a server-side session interface.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, Response, redirect, request, session
from markupsafe import escape
from werkzeug.wrappers import Response as BaseResponse

from provider.relying_party.authorization import build_authorization_request
from provider.relying_party.errors import StepUpFlowError
from provider.relying_party.step_up import StepUpRequirement, step_up_requirement
from provider.relying_party.www_authenticate import parse_www_authenticate

__all__ = ["PendingStepUp", "StepUpFlow", "StepUpRequired"]

#: How many step-ups may be in flight per session (several tabs).
MAX_PENDING = 3


class _HttpResponse(Protocol):
    """``requests.Response``, ``httpx.Response``, Werkzeug's test response…"""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class StepUpRequired(Exception):
    """Raised in a view to start a step-up; :meth:`StepUpFlow.init_app` handles it."""

    def __init__(self, requirement: StepUpRequirement) -> None:
        super().__init__("step-up authentication required")
        self.requirement = requirement


@dataclass(frozen=True)
class PendingStepUp:
    """A step-up coming back: the code to redeem and what to resume."""

    code: str
    state: str
    nonce: str
    code_verifier: str
    requirement: StepUpRequirement
    requested_at: int
    method: str
    path: str
    form: tuple[tuple[str, str], ...]


def _safe_path(path: str) -> bool:
    # Only a path on this site: never "//host", "/\\host" or a scheme (open redirect).
    return (
        path.startswith("/")
        and not path.startswith(("//", "/\\"))
        and "\r" not in path
        and "\n" not in path
    )


@dataclass
class StepUpFlow:
    """The step-up round trip for one OP and one client."""

    authorization_endpoint: str
    client_id: str
    redirect_uri: str
    scope: str | Sequence[str] = "openid"
    expected_issuer: str | None = None
    session_key: str = "belay_step_up"
    max_form_bytes: int = 2048

    def init_app(self, app: Flask) -> None:
        """Turn :class:`StepUpRequired` raised by any view into :meth:`begin`."""

        def handle(error: StepUpRequired) -> BaseResponse:
            return self.begin(error.requirement)

        app.register_error_handler(StepUpRequired, handle)

    def requirement_from(self, response: _HttpResponse) -> StepUpRequirement | None:
        """The RFC 9470 requirement in a ``401``, or None (other statuses, other challenges).

        A malformed challenge raises :class:`ChallengeParseError`.
        """
        if response.status_code != 401:
            return None
        values = _header_values(response.headers)
        return step_up_requirement(parse_www_authenticate(values)) if values else None

    def raise_for_step_up(self, response: _HttpResponse) -> None:
        """Raise :class:`StepUpRequired` when ``response`` is a step-up challenge."""
        requirement = self.requirement_from(response)
        if requirement is not None:
            raise StepUpRequired(requirement)

    def begin(
        self, requirement: StepUpRequirement, *, extra: Mapping[str, str] | None = None
    ) -> BaseResponse:
        """Remember the current request and redirect to the OP with ``requirement``."""
        form = tuple((k, v) for k, v in request.form.items(multi=True))
        if len(json.dumps(form)) > self.max_form_bytes:
            raise StepUpFlowError("form_too_large", "the form is too large to resume after step-up")
        auth = build_authorization_request(
            authorization_endpoint=self.authorization_endpoint,
            client_id=self.client_id,
            redirect_uri=self.redirect_uri,
            scope=self.scope,
            requirement=requirement,
            extra=extra,
        )
        record: dict[str, Any] = {
            "nonce": auth.nonce,
            "code_verifier": auth.code_verifier,
            "acr_values": list(requirement.acr_values),
            "max_age": requirement.max_age,
            "requested_at": int(time.time()),
            "method": request.method,
            "path": request.full_path if request.query_string else request.path,
            "form": [list(pair) for pair in form],
        }
        pending = dict(session.get(self.session_key) or {})
        while len(pending) >= MAX_PENDING:
            pending.pop(next(iter(pending)))
        pending[auth.state] = record
        session[self.session_key] = pending
        return redirect(auth.url, code=303)

    def complete(self, args: Mapping[str, str] | None = None) -> PendingStepUp:
        """Check the callback (``state``, ``iss`` per RFC 9207, ``error``) and forget the attempt.

        Raises :class:`StepUpFlowError`; the attempt is removed either way, so a
        callback URL cannot be replayed.
        """
        params = request.args if args is None else args
        state = params.get("state") or ""
        pending = dict(session.get(self.session_key) or {})
        record = None
        for candidate in list(pending):
            if secrets.compare_digest(candidate.encode(), state.encode()):
                record = pending.pop(candidate)
        session[self.session_key] = pending
        if record is None:
            raise StepUpFlowError("invalid_state", "no step-up is pending for this state")
        if self.expected_issuer is not None and params.get("iss") != self.expected_issuer:
            raise StepUpFlowError("invalid_issuer", "the response's iss is not the expected issuer")
        if params.get("error"):
            raise StepUpFlowError(params["error"], params.get("error_description") or "")
        code = params.get("code")
        if not code:
            raise StepUpFlowError("invalid_request", "the callback has no code")
        return PendingStepUp(
            code=code,
            state=state,
            nonce=record["nonce"],
            code_verifier=record["code_verifier"],
            requirement=StepUpRequirement(
                acr_values=tuple(record["acr_values"]), max_age=record["max_age"]
            ),
            requested_at=int(record["requested_at"]),
            method=record["method"],
            path=record["path"],
            form=tuple((str(k), str(v)) for k, v in record["form"]),
        )

    def resume(self, pending: PendingStepUp) -> BaseResponse:
        """Back to the original action.

        A ``GET`` is redirected to; anything else gets a small page that posts
        the remembered form again when the user presses "Continue" — a
        browser cannot be redirected into a POST, and a state-changing request
        should not be replayed without the user seeing it.
        """
        path = pending.path if _safe_path(pending.path) else "/"
        if pending.method in ("GET", "HEAD"):
            return redirect(path, code=303)
        fields = "".join(
            f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in pending.form
        )
        html = (
            "<!doctype html><meta charset=utf-8><title>Continue</title>"
            f'<form method="post" action="{escape(path)}">{fields}'
            "<p>Your sign-in was confirmed.</p>"
            '<button type="submit" autofocus>Continue</button></form>'
        )
        response = Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response


def _header_values(headers: Mapping[str, str]) -> list[str]:
    getlist = getattr(headers, "getlist", None) or getattr(headers, "get_list", None)
    if callable(getlist):
        values = getlist("WWW-Authenticate")
        if isinstance(values, list) and all(isinstance(v, str) for v in values):
            return values
    value = headers.get("WWW-Authenticate")
    return [value] if isinstance(value, str) else []
