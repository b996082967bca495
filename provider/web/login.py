"""The interactive pages of an authorization: login, step-up challenge, consent."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from provider import clock
from provider.factors import password as password_factor
from provider.factors.base import FactorError
from provider.flows import authorize as flow
from provider.flows import devices, step_up
from provider.flows import login as login_flow
from provider.storage import accounts, audit
from provider.storage import sessions as session_store
from provider.storage.models import AuthorizeTransaction
from provider.web import factor_forms
from provider.web import session as web_session
from provider.web.oidc import expired_page, render_outcome, resume

bp = Blueprint("login", __name__)


def _tx() -> AuthorizeTransaction | None:
    row = web_session.current_row()
    tx_id = request.values.get("tx")
    return accounts.get_transaction(tx_id, row.id if row else None)


def _client_name(tx: AuthorizeTransaction | None) -> str | None:
    if tx is None:
        return None
    client = accounts.get_client(tx.client_id)
    return (client.name or client.client_id) if client else None


def _field(name: str, limit: int = 1024) -> str:
    value = request.form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _after_login(tx: AuthorizeTransaction | None) -> Any:
    if tx is not None:
        return redirect(url_for("oidc.authorize_resume", tx=tx.id))
    return redirect(url_for("account.index"))


def _client_policy(tx: AuthorizeTransaction | None) -> Any:
    """The policy of the transaction's client (None without a transaction)."""
    if tx is None:
        return None
    client = accounts.get_client(tx.client_id)
    return flow.client_policy(client) if client is not None else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    tx = _tx()
    if request.values.get("tx") and tx is None:
        return expired_page()
    error = None
    username = ""
    client_policy = _client_policy(tx)
    pin_login = bool(client_policy is not None and client_policy.pin_login)
    if request.method == "POST" and "pin" in request.form and "password" not in request.form:
        username = _field("username", 150).strip()
        pin = _field("pin", 64)
        if not pin_login or tx is None:
            error = "Sign-in with a PIN is not available here."
        elif not username or not pin:
            error = "Enter your username and PIN."
        else:
            pin_result = login_flow.verify_pin_login(
                username,
                pin,
                min_pin_length=client_policy.min_pin_length,
                ip=request.remote_addr,
                client_id=tx.client_id,
            )
            if pin_result.user is not None and pin_result.verified is not None:
                verified = pin_result.verified
                row = web_session.ensure_row()
                token = session_store.login(
                    row,
                    pin_result.user,
                    session_store.NewEvent(
                        method=verified.method,
                        amr=verified.amr,
                        credential_id=verified.credential_id,
                        details=dict(verified.details),
                    ),
                    absolute_timeout=current_app.config["SESSION_ABSOLUTE_TIMEOUT"],
                )
                web_session.rotate_cookie(token)
                return _after_login(tx)
            error = login_flow.PIN_FAILURE_MESSAGE
    elif request.method == "POST":
        username = _field("username", 150).strip()
        password = _field("password")
        if not username or not password:
            error = "Enter your username and password."
        else:
            result = login_flow.verify_password(
                username,
                password,
                ip=request.remote_addr,
                client_id=tx.client_id if tx else None,
                purpose="login",
            )
            if result.user is not None:
                row = web_session.ensure_row()
                token = session_store.login(
                    row,
                    result.user,
                    session_store.NewEvent(method=password_factor.FACTOR, amr=password_factor.AMR),
                    absolute_timeout=current_app.config["SESSION_ABSOLUTE_TIMEOUT"],
                )
                web_session.rotate_cookie(token)
                return _after_login(tx)
            error = login_flow.FAILURE_MESSAGE
    status = 401 if error and request.method == "POST" else 200
    return render_template(
        "login.html",
        tx=tx.id if tx else "",
        error=error,
        username=username,
        client_name=_client_name(tx),
        pin_login=pin_login,
    ), status


@bp.route("/challenge", methods=["GET", "POST"])
def challenge() -> Any:
    """Step-up: add the missing event to the session the user already has."""
    tx = _tx()
    row = web_session.current_row()
    user = accounts.get_user(row.user_id) if row is not None else None
    if tx is None or row is None or user is None:
        return expired_page("This confirmation has expired")
    validated = flow.validate({k: [v] for k, v in tx.params.items()})
    if not isinstance(validated, flow.Validated):
        return resume(tx.id)
    outcome = flow.evaluate(
        validated,
        row=row,
        previous_seen_at=web_session.previous_seen_at(),
        tx=tx,
        ensure_row=web_session.ensure_row,
        device_token=request.cookies.get(devices.COOKIE),
        on_rotate=web_session.rotate_cookie,
    )
    if not isinstance(outcome, flow.ShowStepUp):
        # Nothing (or something else) is needed now: evaluate() already acted on it.
        return render_outcome(outcome)
    error = None
    if request.method == "POST":
        if request.form.get("cancel"):
            audit.record("step_up", "cancelled", user_id=user.id, client_id=tx.client_id)
            return _cancel(tx, validated)
        try:
            done = step_up.verify_in_session(
                user=user,
                row=row,
                method=_field("method", 30),
                submitted=_submitted(),
                allowed=outcome.methods,
                client_id=tx.client_id,
                purpose="step_up",
                target_acr=outcome.target_acr,
                ip=request.remote_addr,
            )
        except FactorError as exc:
            error = exc.message
        else:
            web_session.rotate_cookie(done.cookie_token)
            response = redirect(url_for("oidc.authorize_resume", tx=tx.id))
            days = _remember_days(tx)
            if days and request.form.get("remember_device"):
                device_token = devices.remember(
                    user=user,
                    client_id=tx.client_id,
                    days=days,
                    method=done.verified.method,
                    amr=done.verified.amr,
                    credential_id=done.verified.credential_id,
                    details=dict(done.verified.details),
                    event_at=clock.now(),
                    user_agent=request.headers.get("User-Agent"),
                    ip=request.remote_addr,
                )
                if device_token is not None:
                    devices.set_cookie(response, device_token, days)
            return response
    return render_template(
        "challenge.html",
        tx=tx.id,
        factors=factor_forms.offered(user.id, outcome.methods),
        locked=[m.method for m in step_up.factors().enrolled(user.id) if m.locked],
        target_acr=outcome.target_acr,
        reason=outcome.reason,
        error=error,
        client_name=_client_name(tx),
        username=user.username,
        action=url_for("login.challenge", tx=tx.id),
        remember_days=_remember_days(tx),
    ), (401 if error else 200)


def _remember_days(tx: AuthorizeTransaction) -> int:
    """The client's remember_device_days (0: the browser cannot be remembered)."""
    pol = _client_policy(tx)
    return int(pol.remember_device_days) if pol is not None else 0


def _submitted() -> dict[str, str]:
    """The posted fields, bounded (a factor rejects what it does not expect)."""
    return {k: v[:4096] for k, v in request.form.items() if k not in {"csrf_token", "tx"}}


def _cancel(tx: AuthorizeTransaction, validated: flow.Validated) -> Any:
    accounts.delete_transaction(tx)
    outcome = flow.error_redirect(
        validated.redirect_uri,
        "unmet_authentication_requirements",
        "The user did not complete the required authentication.",
        validated.state,
    )
    return redirect(outcome.location)


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Any:
    tx = _tx()
    row = web_session.current_row()
    if tx is None or row is None or row.user_id is None:
        return expired_page("This request has expired")
    client = accounts.get_client(tx.client_id)
    validated = flow.validate({k: [v] for k, v in tx.params.items()})
    if client is None or not isinstance(validated, flow.Validated):
        return resume(tx.id)
    scopes = [s for s in tx.params.get("scope", "").split() if s in set(client.scope.split())]
    if request.method == "POST":
        decision = request.form.get("decision")
        if decision == "allow":
            accounts.grant_consent(row.user_id, client.client_id, set(scopes))
            tx.consent_given = True
            accounts.commit()
            audit.record("consent", "granted", user_id=row.user_id, client_id=client.client_id)
            return redirect(url_for("oidc.authorize_resume", tx=tx.id))
        if decision == "deny":
            audit.record("consent", "denied", user_id=row.user_id, client_id=client.client_id)
            accounts.delete_transaction(tx)
            outcome = flow.error_redirect(
                validated.redirect_uri, "access_denied", "The user declined.", validated.state
            )
            return redirect(outcome.location)
    return render_template(
        "consent.html",
        tx=tx.id,
        client=client,
        scopes=scopes,
        error="Choose Allow or Deny." if request.method == "POST" else None,
        now=clock.now(),
    )
