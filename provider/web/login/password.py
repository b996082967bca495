"""``/login``: sign in with a password, or with a PIN for clients whose policy
allows ``pin_login``."""

from __future__ import annotations

from typing import Any

from flask import redirect, request

from provider.errors import N_
from provider.factors import password as password_factor
from provider.factors.base import Verified
from provider.flows import authorize as flow
from provider.flows import login as login_flow
from provider.web.login import pages
from provider.web.login.pages import bp
from provider.web.oidc import expired_page

__all__ = ["cancel", "login"]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    tx = pages.transaction()
    if request.values.get("tx") and tx is None:
        return expired_page()
    error = None
    busy = False
    username = ""
    focus = ""
    client_policy = pages.client_policy(tx)
    pin_login = bool(client_policy is not None and client_policy.pin_login)
    if request.method == "POST" and "pin" in request.form and "password" not in request.form:
        username = pages.field("username", 150).strip()
        pin = pages.field("pin", 64)
        if not pin_login or tx is None or client_policy is None:
            error = N_("Sign-in with a PIN is not available here.")
        elif not username or not pin:
            error = N_("Enter your username and PIN.")
        else:
            pin_result = login_flow.verify_pin_login(
                username,
                pin,
                min_pin_length=client_policy.min_pin_length,
                ip=request.remote_addr,
                client_id=tx.client_id,
            )
            if pin_result.user is not None and pin_result.verified is not None:
                return pages.sign_in(tx, pin_result.user, pin_result.verified)
            busy = pin_result.reason == "busy"
            error = login_flow.BUSY_MESSAGE if busy else login_flow.PIN_FAILURE_MESSAGE
            focus = "pin"
    elif request.method == "POST":
        username = pages.field("username", 150).strip()
        password = pages.field("password")
        if not username or not password:
            error = N_("Enter your username and password.")
        else:
            result = login_flow.verify_password(
                username,
                password,
                ip=request.remote_addr,
                client_id=tx.client_id if tx else None,
                purpose="login",
            )
            if result.user is not None:
                event = Verified(method=password_factor.FACTOR, amr=password_factor.AMR)
                return pages.sign_in(tx, result.user, event)
            busy = result.reason == "busy"
            error = login_flow.BUSY_MESSAGE if busy else login_flow.FAILURE_MESSAGE
            # The username is kept: the password is what to type again.
            focus = "password"
    status = 401 if error and request.method == "POST" else 200
    if busy:
        # Nothing was checked or counted: the browser may simply try again.
        body, _ = pages.render_login(tx, error=error, username=username, status=503, focus=focus)
        return body, 503, {"Retry-After": "1"}
    return pages.render_login(tx, error=error, username=username, status=status, focus=focus)


@bp.post("/login/cancel")
def cancel() -> Any:
    """ "Cancel and return to the application": the client learns
    ``access_denied`` (with its ``state``) at its redirect URI."""
    tx = pages.transaction()
    if tx is None:
        return expired_page()
    return redirect(flow.cancel_login(tx).location)
