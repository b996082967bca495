"""The blueprint of the sign-in pages and what they share: the request's
transaction and its client, the posted fields, the login page (password, PIN
and code forms) and signing in."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for

from provider.factors.base import Verified
from provider.flows import authorize as flow
from provider.flows import code_login
from provider.flows import login as login_flow
from provider.storage.models import User
from provider.web import session as web_session
from provider.web.oidc import load_transaction

bp = Blueprint("login", __name__)

__all__ = [
    "CODE_LOGIN_KEY",
    "after_login",
    "bp",
    "client_name",
    "client_policy",
    "code_channels",
    "field",
    "pending_code",
    "render_login",
    "sign_in",
    "transaction",
]

#: Flask-session key of a sign-in code on its way: {"tx", "username", "channel"}
CODE_LOGIN_KEY = "code_login"


def transaction() -> flow.Loaded | None:
    """This browser's live transaction the request names (``tx``); None: none, or gone."""
    return load_transaction(request.values.get("tx"))


def client_name(tx: flow.Loaded | None) -> str | None:
    return tx.client_name() if tx is not None else None


def field(name: str, limit: int = 1024) -> str:
    value = request.form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def next_path() -> str | None:
    """Where a sign-in without a transaction goes next when the request names
    it (``next``): a path of the admin console only (``/admin`` sends there
    when nobody is signed in), never another site."""
    from provider.web.admin.gate import console_path  # the console's own rule

    target = request.values.get("next", "")[:2000]
    return target if target and console_path(target) else None


def after_login(tx: flow.Loaded | None) -> Any:
    if tx is not None:
        return redirect(url_for("oidc.authorize_resume", tx=tx.id))
    return redirect(next_path() or url_for("account.index"))


def client_policy(tx: flow.Loaded | None) -> Any:
    """The policy of the transaction's client (None without a transaction)."""
    return tx.client_policy() if tx is not None else None


def sign_in(tx: flow.Loaded | None, user: User, verified: Verified) -> Any:
    """A new login in this browser (a fresh session id), then on to the authorization."""
    web_session.rotate_cookie(login_flow.sign_in(web_session.ensure_row(), user, verified))
    return after_login(tx)


def code_channels(tx: flow.Loaded | None) -> list[dict[str, str]]:
    """Channels offered for sign-in with a code (the client's ``passwordless_login``)."""
    policy = client_policy(tx)
    if policy is None or not policy.passwordless_login:
        return []
    return code_login.available_channels()


def pending_code(tx: flow.Loaded | None) -> dict[str, str] | None:
    pending = session.get(CODE_LOGIN_KEY)
    if tx is None or not isinstance(pending, dict) or pending.get("tx") != tx.id:
        return None
    return pending


def render_login(
    tx: flow.Loaded | None, *, error: str | None, username: str, status: int, focus: str = ""
) -> Any:
    """The sign-in page; ``focus``: the form whose secret field gets the focus
    ("password", "pin": it was just wrong and the username is already there),
    else the username field."""
    policy = client_policy(tx)
    return render_template(
        "login.html",
        tx=tx.id if tx else "",
        error=error,
        username=username,
        focus=focus if username else "",
        client_name=client_name(tx),
        pin_login=bool(policy is not None and policy.pin_login),
        code_channels=code_channels(tx),
        pending_code=pending_code(tx),
        next=None if tx else next_path(),
    ), status
