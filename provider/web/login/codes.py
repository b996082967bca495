"""``/login/code`` and ``/login/code/verify``: sign in with a one-time code by
email or SMS (clients with ``passwordless_login``), bound to this browser
session and transaction."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, session, url_for

from provider.errors import N_
from provider.factors import otp
from provider.flows import authorize as flow
from provider.flows import code_login
from provider.web.login import pages
from provider.web.login.pages import bp
from provider.web.oidc import expired_page

__all__ = ["send_login_code", "verify_login_code"]


def _sign_in_context(tx: flow.Loaded) -> str:
    """A sign-in code's context: this browser session and this transaction."""
    return otp.sign_in_context(tx.tx.session_id, tx.id)


def _offered(tx: flow.Loaded, channel: str) -> bool:
    """Does this transaction's client offer sign-in with a code by ``channel``?"""
    return channel in {c["channel"] for c in pages.code_channels(tx)}


@bp.post("/login/code")
def send_login_code() -> Any:
    """Send a sign-in code (clients with ``passwordless_login``), bound to this
    browser session and transaction. The answer reads the same whether or not
    the account exists, has a verified destination, may receive a code now or
    could be sent one: it says what happens *if* (docs/security.md case 50)."""
    tx = pages.transaction()
    if tx is None:
        return expired_page()
    username = pages.field("username", 150).strip()
    channel = pages.field("channel", 10)
    if not _offered(tx, channel):
        return pages.render_login(
            tx,
            error=N_("Sign-in with a code is not available here."),
            username=username,
            status=400,
        )
    if not username:
        return pages.render_login(tx, error=N_("Enter your username."), username="", status=400)
    code_login.send_login_code(
        username,
        channel,
        context=_sign_in_context(tx),
        ip=request.remote_addr,
        client_id=tx.client_id,
    )
    session[pages.CODE_LOGIN_KEY] = {"tx": tx.id, "username": username, "channel": channel}
    flash(code_login.sent_notice(username, channel), "notice")
    return redirect(url_for("login.login", tx=tx.id), 303)


@bp.post("/login/code/verify")
def verify_login_code() -> Any:
    tx = pages.transaction()
    if tx is None:
        return expired_page()
    pending = pages.pending_code(tx)
    if pending is None or not _offered(tx, pending["channel"]):
        return pages.render_login(
            tx,
            error=N_("Ask for a sign-in code first."),
            username=pages.field("username", 150),
            status=400,
        )
    code = pages.field("code", 64)
    if not code.strip():
        return pages.render_login(
            tx, error=N_("Enter the code we sent you."), username=pending["username"], status=400
        )
    result = code_login.verify_login_code(
        pending["username"],
        pending["channel"],
        code,
        context=_sign_in_context(tx),
        ip=request.remote_addr,
        client_id=tx.client_id,
    )
    if result.user is None or result.verified is None:
        return pages.render_login(
            tx, error=code_login.FAILURE_MESSAGE, username=pending["username"], status=401
        )
    session.pop(pages.CODE_LOGIN_KEY, None)
    return pages.sign_in(tx, result.user, result.verified)
