"""Protocol endpoints: discovery, JWKS, authorize, token, userinfo,
introspection, revocation and RP-initiated logout."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from provider import i18n
from provider.errors import N_
from provider.flows import authorize as flow
from provider.flows import devices, protocol
from provider.i18n import _
from provider.oidc import hints
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS
from provider.web import session as web_session
from provider.web.i18n import note_ui_locales

bp = Blueprint("oidc", __name__)

__all__ = ["bp", "expired_page", "load_transaction", "render_outcome", "resume"]


def _server() -> Any:
    return current_app.extensions["belay_server"]


def _ladder_values() -> list[str]:
    return [level.acr for level in protocol.acr_levels()]


def metadata() -> dict[str, Any]:
    issuer = current_app.config["ISSUER"]
    data: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks.json",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "EdDSA"],
        "introspection_endpoint_auth_methods_supported": [m for m in AUTH_METHODS if m != "none"],
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "amr",
            "nonce",
            "sid",
            "azp",
            "at_hash",
            "name",
            "preferred_username",
            "email",
            "email_verified",
        ],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": _ladder_values(),
        # Extension: the ladder's order, so resource servers can accept "this
        # level or above" (provider.resource_server).
        "belay_acr_levels": [
            {"acr": level.acr, "level": level.level} for level in protocol.acr_levels()
        ],
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "frontchannel_logout_supported": False,
        "ui_locales_supported": list(i18n.LANGUAGES),
    }
    if current_app.config["REGISTRATION_ENABLED"]:
        data["registration_endpoint"] = f"{issuer}/register"
    return data


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
def discovery() -> Response:
    response = jsonify(metadata())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/jwks.json")
def jwks() -> Response:
    response = jsonify(current_app.extensions["belay_keys"].jwks())
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def expired_page(title: str = N_("This sign-in has expired")) -> tuple[str, int]:
    """A transaction that is gone, expired or belongs to another browser: the
    page names this browser's application and links to it (where known) and
    to the account page -- never a dead end."""
    row = web_session.current_row()
    app = flow.app_of(request.values.get("tx"), row.id if row is not None else None)
    if app is not None:
        description = _("Go back to %(app)s and start again.", app=app.name)
    else:
        description = N_("Go back to the application and start again.")
    return render_template(
        "error.html",
        title=title,
        error="expired",
        description=description,
        app=app,
        account_link=True,
    ), 400


def render_outcome(outcome: flow.Outcome) -> Any:
    if isinstance(outcome, flow.ErrorPage):
        return (
            render_template(
                "error.html",
                title=N_("This sign-in request cannot continue"),
                error=outcome.error,
                description=outcome.description,
            ),
            outcome.status,
        )
    if isinstance(outcome, flow.Redirect):
        return redirect(outcome.location, 302)
    if isinstance(outcome, flow.ShowLogin):
        return redirect(url_for("login.login", tx=outcome.tx_id))
    if isinstance(outcome, flow.ShowStepUp):
        return redirect(url_for("login.challenge", tx=outcome.tx_id))
    return redirect(url_for("login.consent", tx=outcome.tx_id))


def _previous_seen() -> int | None:
    return web_session.previous_seen_at()


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    source = request.args if request.method == "GET" else request.form
    multi = {k: source.getlist(k) for k in source}
    validated = flow.validate(multi)
    if not isinstance(validated, flow.AuthorizeRequest):
        return render_outcome(validated)
    outcome = flow.evaluate(
        validated,
        row=web_session.current_row(),
        previous_seen_at=_previous_seen(),
        tx=None,
        ensure_row=web_session.ensure_row,
        device_token=request.cookies.get(devices.COOKIE),
        on_rotate=web_session.rotate_cookie,
    )
    return render_outcome(outcome)


def load_transaction(tx_id: str | None) -> flow.Loaded | None:
    """This browser's live transaction ``tx_id`` (None: show it as expired)."""
    row = web_session.current_row()
    loaded = flow.load(tx_id, row.id if row else None)
    if loaded is not None:
        note_ui_locales(loaded.request.ui_locales)
    return loaded


def resume(
    loaded: flow.Loaded, *, on_challenge_page: bool = False, replay_device: bool = True
) -> flow.Outcome:
    """Carry on with a transaction after login, step-up or consent, in this browser.

    ``replay_device=False``: a remembered device is not replayed (the passkey
    step-up's JSON calls only read what the step-up needs)."""
    return flow.resume(
        loaded,
        row=web_session.current_row(),
        previous_seen_at=_previous_seen(),
        ensure_row=web_session.ensure_row,
        device_token=request.cookies.get(devices.COOKIE) if replay_device else None,
        on_rotate=web_session.rotate_cookie if replay_device else None,
        on_challenge_page=on_challenge_page,
    )


@bp.get("/authorize/resume")
def authorize_resume() -> Any:
    loaded = load_transaction(request.args.get("tx"))
    if loaded is None:
        return expired_page()
    return render_outcome(resume(loaded))


@bp.post("/token")
def token() -> Response:
    response: Response
    if any(len(request.form.getlist(k)) > 1 for k in request.form):
        # RFC 6749 §3.2: parameters must not be included more than once.
        response = jsonify(
            {"error": "invalid_request", "error_description": "A parameter is repeated."}
        )
        response.status_code = 400
    else:
        response = _server().create_token_response()
        protocol.finish_token_request()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.post("/introspect")
def introspect() -> Response:
    response: Response = _server().create_endpoint_response("introspection")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/revoke")
def revoke() -> Response:
    response: Response = _server().create_endpoint_response("revocation")
    return response


def _bearer_error(error: str, description: str, status: int) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["WWW-Authenticate"] = (
        f'Bearer error="{error}", error_description="{description}"'
    )
    return response


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        response = jsonify({"error": "invalid_token", "error_description": "Bearer token required"})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="userinfo"'
        return response
    claims = protocol.userinfo(value.strip())
    if isinstance(claims, protocol.UserinfoRefused):
        return _bearer_error(claims.error, claims.description, claims.status)
    response = jsonify(claims)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """RP-initiated logout 1.0: only registered post_logout_redirect_uris are used."""
    source = request.args if request.method == "GET" else request.form
    target = source.get("post_logout_redirect_uri")
    state = source.get("state")
    client_id = source.get("client_id")
    hint = source.get("id_token_hint")
    if hint:
        hinted = _client_from_id_token_hint(hint)
        if client_id and hinted and hinted != client_id:
            return render_template(
                "error.html",
                title=N_("Sign-out request refused"),
                error="invalid_request",
                description=N_("id_token_hint was not issued to this client_id."),
            ), 400
        client_id = client_id or hinted
    client = protocol.logout_client(client_id)
    if target and (client is None or target not in (client.post_logout_redirect_uris or [])):
        return render_template(
            "error.html",
            title=N_("Sign-out request refused"),
            error="invalid_request",
            description=N_("post_logout_redirect_uri is not registered for this application."),
        ), 400
    if request.method == "GET":
        return render_template(
            "logout.html",
            post_logout_redirect_uri=target or "",
            state=state or "",
            client_id=client.client_id if client else "",
            signed_in=web_session.current_row() is not None,
        )
    row = web_session.current_row()
    if row is not None:
        protocol.sign_out(row, client_id)
        web_session.end()
    if target:
        from authlib.common.urls import add_params_to_uri

        return redirect(add_params_to_uri(target, [("state", state)] if state else []))
    # No registered address to return to: the page links back to the
    # application where the request named it.
    home = protocol.client_home(client) if client is not None else None
    app_name = (client.name or client.client_id) if client is not None else None
    return render_template("logged_out.html", app_name=app_name, app_url=home)


def _client_from_id_token_hint(hint: str) -> str | None:
    """The client an ID token of ours was issued to (provider/oidc/hints.py)."""
    try:
        claims = hints.decode_id_token_hint(
            hint,
            current_app.extensions["belay_keys"].public_key_set(),
            current_app.config["ISSUER"],
        )
    except hints.InvalidHint:
        return None
    audiences = hints.audiences(claims)
    return audiences[0] if len(audiences) == 1 else None
