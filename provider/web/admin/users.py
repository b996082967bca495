"""The console's users: search, create, and an admin's actions on one user
(unlock, reset factors, revoke sessions). An unknown user is a 404 (the flows'
:class:`~provider.flows.admin.errors.NotFound`)."""

from __future__ import annotations

import functools
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from provider.flows.admin import audit_log as admin_audit
from provider.flows.admin import users as admin_users
from provider.flows.admin.errors import AdminError
from provider.i18n import _, ngettext_
from provider.storage.models import User
from provider.web import confirmation
from provider.web.admin.gate import actor, admin_required, bp
from provider.web.errors import form_error

__all__ = ["users"]


@bp.get("/users")
@admin_required
def users(user: User) -> Any:
    return _users_page(user)


def _users_page(user: User, status: int = 200, **extra: Any) -> Any:
    query = request.args.get("q", "")[:150]
    found = admin_users.search_users(query)
    return render_template(
        "admin/users.html",
        user=user,
        query=query,
        users=found,
        locks=admin_users.locks_of(found),
        **extra,
    ), status


@bp.post("/users")
@admin_required
def create_user(user: User) -> Any:
    form = request.form
    try:
        created = admin_users.create_user(
            form.get("username", "")[:200],
            password=form.get("password", "")[:2000] or None,
            is_admin=form.get("is_admin") == "on",
            email=form.get("email", "")[:400] or None,
            name=form.get("name", "")[:300] or None,
            actor=actor(user),
        )
    except AdminError as exc:
        return form_error(functools.partial(_users_page, user), exc, form=form)
    flash(_("User %(name)s created.", name=created.username), "notice")
    return redirect(url_for("admin.user_detail", user_id=created.id))


@bp.get("/users/<int:user_id>")
@admin_required
def user_detail(user: User, user_id: int) -> Any:
    return _user_page(user, user_id)


def _user_page(user: User, user_id: int, status: int = 200, **extra: Any) -> Any:
    target = admin_users.find_user(user_id)
    return render_template(
        "admin/user.html",
        user=user,
        target=admin_users.user_to_dict(target, detail=True),
        events=admin_audit.user_events(target, limit=50),
        **extra,
    ), status


@bp.post("/users/<int:user_id>/unlock")
@admin_required
def unlock_user(user: User, user_id: int) -> Any:
    target = admin_users.find_user(user_id)
    factor = request.form.get("factor", "")[:30] or None
    try:
        admin_users.unlock_user(target, factor, actor=actor(user))
    except AdminError as exc:
        return form_error(functools.partial(_user_page, user, user_id), exc)
    flash(
        _("Unlocked %(factor)s.", factor=factor) if factor else _("Unlocked every factor."),
        "notice",
    )
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.post("/users/<int:user_id>/reset-factors")
@admin_required
def reset_factors(user: User, user_id: int) -> Any:
    target = admin_users.find_user(user_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            confirmation.Question(
                title=_("Reset %(name)s's second factors?", name=target.username),
                consequence=_(
                    "Their PIN, authenticator app, backup codes, passkeys and code "
                    "destinations are removed and every lock cleared; they keep only "
                    "their password until they enrol again."
                ),
                button=_("Reset second factors"),
                cancel_url=url_for("admin.user_detail", user_id=user_id),
            )
        )
    removed = admin_users.reset_factors(target, actor=actor(user))
    methods = ", ".join(removed) or _("nothing")
    flash(_("Removed: %(methods)s; every lock cleared.", methods=methods), "notice")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.post("/users/<int:user_id>/revoke-sessions")
@admin_required
def revoke_sessions(user: User, user_id: int) -> Any:
    target = admin_users.find_user(user_id)
    if not confirmation.confirmed():
        return confirmation.ask(
            confirmation.Question(
                title=_("Sign %(name)s out everywhere?", name=target.username),
                consequence=(
                    _(
                        "Every browser session of %(name)s ends, including this one: "
                        "you will be signed out.",
                        name=target.username,
                    )
                    if target.id == user.id
                    else _("Every browser session of %(name)s ends.", name=target.username)
                ),
                button=_("Revoke sessions"),
                cancel_url=url_for("admin.user_detail", user_id=user_id),
            )
        )
    count = admin_users.revoke_sessions(target, actor=actor(user))
    flash(ngettext_("Revoked %(num)d session.", "Revoked %(num)d sessions.", count), "notice")
    if target.id == user.id:
        return redirect(url_for("login.login"))
    return redirect(url_for("admin.user_detail", user_id=user_id))
