"""The user's own page: who is signed in, their sessions and security events."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from provider.storage import accounts, audit
from provider.storage import sessions as session_store
from provider.web import session as web_session

bp = Blueprint("account", __name__)


@bp.get("/account")
def index() -> Any:
    row = web_session.current_row()
    user = accounts.get_user(row.user_id) if row else None
    if row is None or user is None:
        return redirect(url_for("login.login"))
    return render_template(
        "account.html",
        user=user,
        current=row,
        sessions=session_store.list_for_user(user.id),
        events=audit.recent(user_id=user.id, limit=20),
    )


@bp.post("/account/sessions/revoke")
def revoke_session() -> Any:
    row = web_session.current_row()
    if row is None or row.user_id is None:
        return redirect(url_for("login.login"))
    target_id = request.form.get("session_id", "")
    for other in session_store.list_for_user(row.user_id):
        if str(other.id) == target_id and other.id != row.id:
            session_store.delete_session(other)
            audit.record("session_revoked", "success", user_id=row.user_id)
    return redirect(url_for("account.index"))
