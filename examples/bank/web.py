"""The bank's web app: a relying party of Belay that steps up when its API asks.

- ``/`` — "Sign in with Belay";
- ``/login`` → the OP → ``/callback`` — authorization code flow with PKCE,
  ``state`` and ``nonce``, the code redeemed with ``client_secret_basic``, the
  ID token verified against the OP's JWKS; the access token is requested for
  the API (``resource=<api url>``) and kept server-side;
- ``/account`` — the balance, read from the API;
- ``/transfer`` — a form posted to the API. When the API answers
  ``401 insufficient_user_authentication``, the relying-party kit's
  :class:`~provider.relying_party.flask_adapter.StepUpFlow` sends the browser
  to the OP with the challenge's ``acr_values`` and ``max_age``; back on
  ``/callback`` the new ID token is checked with
  :func:`~provider.relying_party.check_authentication` and the user confirms
  the remembered transfer, which now goes through;
- ``/logout`` — forgets the session and signs out at the OP.

Run it alone with ``python -m examples.bank.web`` (see :mod:`examples.bank.settings`).
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, abort, redirect, render_template, request, session
from werkzeug.wrappers import Response as BaseResponse

from examples.bank.oidc import OidcClient, OidcError, TokenSet
from examples.bank.sessions import BankSession, SessionStore
from examples.bank.settings import from_env, listen_address
from provider.relying_party import (
    StepUpFlowError,
    StepUpNotMet,
    build_authorization_request,
    check_authentication,
)
from provider.relying_party.flask_adapter import StepUpFlow, StepUpRequired
from provider.resource_server import ProviderUnavailable

__all__ = ["create_app", "main"]

SCOPE = "openid profile"
API_TIMEOUT = 5.0


def _same(a: object, b: object) -> bool:
    return isinstance(a, str) and isinstance(b, str) and hmac.compare_digest(a.encode(), b.encode())


def _money(value: object) -> str:
    """``"1250.00"`` → ``"€1,250.00"``."""
    try:
        whole, _, cents = str(value).partition(".")
        return f"€{int(whole):,}.{(cents + '00')[:2]}"
    except ValueError:
        return str(value)


def _clock(value: object) -> str:
    return time.strftime("%H:%M:%S", time.localtime(value)) if isinstance(value, int) else "—"


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The web app; ``config`` overrides the ``BANK_*`` environment settings."""
    app = Flask(__name__)
    app.config.update(from_env())
    app.config.update(
        SECRET_KEY=os.environ.get("BANK_SECRET_KEY") or secrets.token_hex(32),
        # Not Flask's default "session": the OP on another port of localhost
        # would share a cookie of that name (cookies ignore ports).
        SESSION_COOKIE_NAME="bank_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update(config or {})
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["clock"] = _clock

    issuer: str = app.config["BANK_ISSUER"]
    api_url: str = app.config["BANK_API_URL"]
    web_url: str = app.config["BANK_WEB_URL"]
    client_id: str = app.config["BANK_CLIENT_ID"]
    oidc = OidcClient(
        issuer=issuer,
        client_id=client_id,
        client_secret=app.config["BANK_CLIENT_SECRET"],
        redirect_uri=f"{web_url}/callback",
    )
    store = SessionStore()
    app.extensions["bank_sessions"] = store

    def flow() -> StepUpFlow:
        # Built per request: the authorization endpoint comes from discovery,
        # fetched lazily (the OP may start after us) and cached.
        return StepUpFlow(
            authorization_endpoint=oidc.endpoint("authorization_endpoint"),
            client_id=client_id,
            redirect_uri=oidc.redirect_uri,
            scope=SCOPE,
            expected_issuer=issuer,
        )

    def current() -> BankSession | None:
        return store.get(session.get("sid"))

    def signed_in() -> BankSession:
        record = current()
        if record is None:
            abort(redirect("/", code=303))
        return record

    def check_csrf(record: BankSession) -> None:
        if not _same(request.form.get("csrf_token"), record.csrf_token):
            abort(400, "The form expired. Go back, reload the page and try again.")

    def call_api(record: BankSession, method: str, path: str, **kw: Any) -> requests.Response:
        try:
            return requests.request(
                method,
                api_url + path,
                headers={"Authorization": f"Bearer {record.access_token}"},
                timeout=API_TIMEOUT,
                **kw,
            )
        except requests.RequestException:
            abort(503, "The bank's API could not be reached. Try again in a moment.")

    def api_refused(record: BankSession, response: requests.Response) -> BaseResponse:
        """A 401 that is not a step-up: sign in again when the token expired."""
        if time.time() >= record.expires_at - 5:
            return redirect("/login", code=303)
        app.logger.warning("API refused the token: %s", response.headers.get("WWW-Authenticate"))
        abort(502, "The bank's API did not accept this sign-in. Sign out and in again.")

    def start(record_tokens: TokenSet) -> BankSession:
        claims = record_tokens.id_claims
        return BankSession(
            subject=str(claims["sub"]),
            name=str(claims.get("name") or claims.get("preferred_username") or claims["sub"]),
            access_token=record_tokens.access_token,
            id_token=record_tokens.id_token,
            token_claims=claims,
            expires_at=record_tokens.expires_at,
        )

    @app.errorhandler(StepUpRequired)
    def step_up(error: StepUpRequired) -> BaseResponse:
        """The API wants a stronger or fresher login: off to the OP, then back here."""
        needed = error.requirement
        record = current()
        if record is not None:
            record.challenge = {
                "description": needed.error_description or "",
                "acr_values": list(needed.acr_values),
                "max_age": needed.max_age,
            }
        app.logger.info(
            "API asked for step-up: acr_values=%s max_age=%s", needed.acr_values, needed.max_age
        )
        return flow().begin(needed, extra={"resource": api_url})

    @app.errorhandler(OidcError)
    @app.errorhandler(StepUpNotMet)
    def sign_in_failed(error: Exception) -> tuple[str, int]:
        app.logger.warning("sign-in failed: %s", error)
        return render_template("error.html", title="Sign-in failed", message=str(error)), 400

    @app.errorhandler(ProviderUnavailable)
    def op_down(error: ProviderUnavailable) -> tuple[str, int]:
        app.logger.warning("OP unavailable: %s", error)
        message = "The sign-in service could not be reached. Try again in a moment."
        return render_template("error.html", title="Unavailable", message=message), 503

    @app.errorhandler(400)
    @app.errorhandler(502)
    @app.errorhandler(503)
    def http_error(error: Any) -> tuple[str, int]:
        title = {400: "Bad request", 502: "Bank error", 503: "Unavailable"}[error.code]
        return render_template("error.html", title=title, message=error.description), error.code

    @app.get("/")
    def home() -> Any:
        if current() is not None:
            return redirect("/account", code=303)
        return render_template("home.html")

    @app.get("/login")
    def login() -> BaseResponse:
        auth = build_authorization_request(
            authorization_endpoint=oidc.endpoint("authorization_endpoint"),
            client_id=client_id,
            redirect_uri=oidc.redirect_uri,
            scope=SCOPE,
            extra={"resource": api_url},
        )
        session["login"] = {
            "state": auth.state,
            "nonce": auth.nonce,
            "code_verifier": auth.code_verifier,
        }
        return redirect(auth.url, code=303)

    @app.get("/callback")
    def callback() -> Any:
        login_attempt = session.get("login")
        if isinstance(login_attempt, dict) and _same(
            login_attempt.get("state"), request.args.get("state")
        ):
            return finish_login(login_attempt)
        return finish_step_up()

    def finish_login(attempt: dict[str, Any]) -> BaseResponse:
        session.pop("login", None)
        if request.args.get("iss") != issuer:
            raise OidcError("the response does not come from the expected sign-in service")
        if request.args.get("error"):
            raise OidcError(f"the sign-in was not completed ({request.args['error']})")
        code = request.args.get("code") or ""
        tokens = oidc.redeem(code, attempt["code_verifier"], nonce=attempt["nonce"])
        store.drop(session.get("sid"))
        session.clear()  # a new session id at sign-in (no fixation)
        session["sid"] = store.create(start(tokens))
        return redirect("/account", code=303)

    def finish_step_up() -> Any:
        try:
            pending = flow().complete()
        except StepUpFlowError as exc:
            message = {
                "access_denied": "You cancelled; the transfer was not sent.",
                "unmet_authentication_requirements": (
                    "Your account has no second factor that can confirm this. "
                    "Add an authenticator app or a passkey in your Belay account "
                    "(a PIN with your password is two things you know, not two factors)."
                ),
            }.get(exc.error, f"The confirmation did not complete ({exc.error}).")
            return render_template("error.html", title="Not confirmed", message=message), 400
        record = signed_in()
        tokens = oidc.redeem(pending.code, pending.code_verifier, nonce=pending.nonce)
        if tokens.id_claims.get("sub") != record.subject:
            raise OidcError("someone else confirmed: sign out and in again")
        # RFC 9470 §4: the new login must carry what the API asked for.
        check_authentication(
            tokens.id_claims,
            requirement=pending.requirement,
            requested_at=pending.requested_at,
            now=int(time.time()),
        )
        record.access_token = tokens.access_token
        record.id_token = tokens.id_token
        record.token_claims = tokens.id_claims
        record.expires_at = tokens.expires_at
        if pending.method == "POST" and pending.path == "/transfer":
            # The remembered transfer goes out again only when the user says so.
            fields = dict(pending.form)
            return render_template("confirm.html", record=record, fields=fields)
        return flow().resume(pending)

    @app.get("/account")
    def account() -> Any:
        record = signed_in()
        response = call_api(record, "GET", "/api/balance")
        flow().raise_for_step_up(response)
        if response.status_code == 401:
            return api_refused(record, response)
        if response.status_code != 200:
            abort(502, f"The bank's API answered {response.status_code}.")
        return render_template("account.html", record=record, statement=response.json())

    @app.get("/transfer")
    def transfer_form() -> Any:
        record = signed_in()
        return render_template("transfer.html", record=record, form={}, error=None)

    @app.post("/transfer")
    def transfer() -> Any:
        record = signed_in()
        check_csrf(record)
        form = {"to": request.form.get("to", ""), "amount": request.form.get("amount", "")}
        response = call_api(record, "POST", "/api/transfers", json=form)
        flow().raise_for_step_up(response)  # 401 insufficient_user_authentication ⇒ the OP
        if response.status_code == 401:
            return api_refused(record, response)
        if response.status_code in (400, 422):
            body = response.json()
            error = body.get("error_description") or body.get("error") or "refused"
            page = render_template("transfer.html", record=record, form=form, error=error)
            return page, response.status_code
        if response.status_code != 201:
            abort(502, f"The bank's API answered {response.status_code}.")
        record.last_transfer = response.json()
        record.challenge = None
        return redirect("/transfer/done", code=303)

    @app.get("/transfer/done")
    def transfer_done() -> Any:
        record = signed_in()
        if record.last_transfer is None:
            return redirect("/account", code=303)
        return render_template("done.html", record=record, transfer=record.last_transfer)

    @app.post("/logout")
    def logout() -> BaseResponse:
        record = signed_in()
        check_csrf(record)
        store.drop(session.get("sid"))
        session.clear()
        query = urlencode(
            {
                "id_token_hint": record.id_token,
                "client_id": client_id,
                "post_logout_redirect_uri": f"{web_url}/",
            }
        )
        return redirect(f"{oidc.endpoint('end_session_endpoint')}?{query}", code=303)

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self'; "
            f"form-action 'self' {issuer}; base-uri 'none'; frame-ancestors 'none'"
        )
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def main() -> None:
    """``python -m examples.bank.web``: serve on ``BANK_WEB_HOST:BANK_WEB_PORT``."""
    from examples.bank.serving import serve

    host, port = listen_address("BANK_WEB", 5001)
    serve(create_app(), host, port, name="bank web")


if __name__ == "__main__":
    main()
