"""Who gets into the console: the blueprint, the admin check and the admin's
step-up (Confirm access at ``ADMIN_ACR`` within ``ADMIN_MAX_AGE``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, url_for

from provider.errors import N_, BelayError
from provider.flows import account as account_flow
from provider.flows.admin import access as admin_access
from provider.storage.models import User, WebSession
from provider.web import account as account_web
from provider.web import factor_forms
from provider.web import session as web_session
from provider.web.errors import form_error

bp = Blueprint("admin", __name__, url_prefix="/admin")

__all__ = ["access_check", "actor", "admin_required", "bp", "console_path"]

#: Flask-session key: when the console started asking for a step-up
_STARTED = "admin_confirm_started_at"


def access_check(row: WebSession, user: User) -> account_flow.AccessCheck:
    """Has this admin's session reached ADMIN_ACR within ADMIN_MAX_AGE?

    The same door as the account's Confirm access
    (:func:`provider.web.account.track_access`): while a step-up is in
    progress, an event made since it started counts; a stale start is dropped."""
    target, max_age = admin_access.admin_target()
    return account_web.track_access(
        _STARTED,
        max_age,
        lambda started: account_flow.check_level(
            user,
            row,
            web_session.previous_seen_at(),
            started,
            target=target,
            max_age=max_age,
            at_least_enrolled=True,  # a locked factor never lowers it (docs/security.md case 44)
        ),
    )


def actor(user: User) -> str:
    """Who the audit log says made a change from the console."""
    return f"admin:{user.username}"


def _admins_only() -> Any:
    return render_template(
        "error.html",
        title=N_("Administrators only"),
        error="forbidden",
        description=N_("This page is for administrators."),
    ), 403


def _step_up_page(
    row: WebSession,
    user: User,
    access: account_flow.AccessCheck,
    status: int = 403,
    **extra: Any,
) -> Any:
    factors = factor_forms.arrange(
        factor_forms.offered(user.id, access.methods),
        # The locked-factor message points at the backup code: show it first.
        prefer="backup_code" if access.recovery == "backup_code" else None,
    )
    return render_template(
        "admin/confirm.html",
        user=user,
        access=access,
        factors=factors,
        action=url_for("admin.confirm", next=_next_target()),
        tx="admin",
        max_age=admin_access.admin_target()[1],
        **extra,
    ), status


def _next_target() -> str:
    """Where to go after the step-up: a path of the console, else the dashboard.

    Never a header injection nor an open redirect (docs/security.md case 53):
    no control character (CR/LF), no backslash, no ``//``, no scheme or host.
    """
    target = request.args.get("next") or (request.full_path if request.method == "GET" else "")
    target = target.rstrip("?")
    if not console_path(target):
        return url_for("admin.dashboard")
    return target


def console_path(target: str) -> bool:
    """Is ``target`` a path of the console (never a header injection nor an
    open redirect: docs/security.md case 53)?"""
    path = target.partition("?")[0]
    if len(target) > 2000 or (path != "/admin" and not path.startswith("/admin/")):
        return False
    if "//" in target or "\\" in target or any(c < " " or c == "\x7f" for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``view(user, **kwargs)`` for an admin whose session is strong and
    fresh enough; a non-admin gets 403, an admin below the level a step-up."""

    @functools.wraps(view)
    def guarded(**kwargs: Any) -> Any:
        signed_in = web_session.signed_in()
        if signed_in is None:
            # Back to this console page after the sign-in (a GET; else the dashboard).
            return redirect(url_for("login.login", next=_next_target()))
        row, user = signed_in
        if not user.is_admin:
            return _admins_only()
        access = access_check(row, user)
        if not access.confirmed:
            if request.method == "POST":
                return _step_up_page(
                    row, user, access, error=N_("Confirm it's you first; nothing was changed.")
                )
            return _step_up_page(row, user, access)
        return view(user, **kwargs)

    return guarded


@bp.post("/confirm")
def confirm() -> Any:
    """The admin step-up: one factor check inside this session."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    if not user.is_admin:
        return _admins_only()
    access = access_check(row, user)
    try:
        account_web.confirm_in_session(row, user, access, purpose="admin_step_up")
    except BelayError as exc:  # a FactorError: the check failed
        return form_error(functools.partial(_step_up_page, row, user, access), exc, status=401)
    return redirect(_next_target())
