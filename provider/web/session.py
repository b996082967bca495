"""A Flask ``SessionInterface`` that keeps every session server-side.

``flask.session`` is a dict backed by the ``web_sessions`` row (Flask-WTF keeps
its CSRF token there); authentication state is on the row itself. The cookie is
an opaque random value, HttpOnly, SameSite=Lax, Secure outside local http.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response, g
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from provider.storage import sessions as store
from provider.storage.models import User, WebSession

__all__ = [
    "ServerSession",
    "ServerSessionInterface",
    "current_row",
    "end",
    "ensure_row",
    "previous_seen_at",
    "rotate_cookie",
    "signed_in",
]


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None, row_id: int | None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.row_id = row_id
        self.modified = False
        self.new_token: str | None = None
        self.ended = False
        # When the browser was last seen *before* this request (per-level idle timeouts).
        self.previous_seen_at: int | None = None


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(app.config["SESSION_COOKIE_NAME"], "")
        row = store.find(token, idle_timeout=app.config["SESSION_IDLE_TIMEOUT"]) if token else None
        if row is None:
            return ServerSession(None, None)
        session = ServerSession(dict(row.data or {}), row.id)
        session.previous_seen_at = row.last_seen_at
        g.belay_session_row = row
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = app.config["SESSION_COOKIE_NAME"]
        if session.ended:
            response.delete_cookie(name, path="/")
            return
        row = g.get("belay_session_row")
        if row is None and session.modified and session:
            row, session.new_token = store.create(
                absolute_timeout=app.config["SESSION_ABSOLUTE_TIMEOUT"], user_agent=None
            )
        if row is None:
            return
        store.record_activity(row, dict(session) if session.modified else None)
        if session.new_token:
            response.set_cookie(
                name,
                session.new_token,
                httponly=True,
                secure=app.config["SESSION_COOKIE_SECURE"],
                samesite="Lax",
                path="/",
            )
        response.vary.add("Cookie")


def _session() -> ServerSession:
    from flask import session

    assert isinstance(session, ServerSession)
    return session


def current_row() -> WebSession | None:
    row: WebSession | None = g.get("belay_session_row")
    return row


def ensure_row() -> WebSession:
    """The session's row, created now if this browser has none yet."""
    from flask import current_app, request

    row = current_row()
    if row is None:
        session = _session()
        row, session.new_token = store.create(
            absolute_timeout=current_app.config["SESSION_ABSOLUTE_TIMEOUT"],
            user_agent=request.headers.get("User-Agent"),
        )
        if session:
            store.record_activity(row, dict(session))
        session.row_id = row.id
        g.belay_session_row = row
    return row


def rotate_cookie(token: str) -> None:
    """Send the session's new cookie value with this response."""
    _session().new_token = token


def end() -> None:
    _session().ended = True
    g.belay_session_row = None


def previous_seen_at() -> int | None:
    """When this browser was last seen before the current request."""
    return _session().previous_seen_at


def signed_in() -> tuple[WebSession, User] | None:
    """This browser's session and its (enabled) user, or None."""
    from provider.storage import accounts

    row = current_row()
    user = accounts.get_user(row.user_id) if row is not None else None
    if row is None or user is None or user.disabled_at is not None:
        return None
    return row, user
