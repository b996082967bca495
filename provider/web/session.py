"""A Flask ``SessionInterface`` that keeps every session server-side.

``flask.session`` is a dict backed by the ``web_sessions`` row (Flask-WTF keeps
its CSRF token there); authentication state is on the row itself. The cookie is
an opaque random value, HttpOnly, SameSite=Lax, Secure outside local http.

An anonymous browser that only needs a CSRF token (it shows the login form)
gets no row: its token travels in a short-lived signed *pre-session* cookie
until it signs in or starts something that must be stored (an authorize
transaction, a code sent, a passkey challenge) — docs/security.md case 55.
The CSRF token is replaced whenever the session cookie is (sign-in, step-up;
case 54), so a token seen before cannot be replayed after.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response, g, has_request_context, request, session
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import CallbackDict

from provider.flows import browser_session as store
from provider.storage.models import User, WebSession

__all__ = [
    "CSRF_KEY",
    "PRE_SESSION_MAX_AGE",
    "ServerSession",
    "ServerSessionInterface",
    "current_row",
    "end",
    "ensure_row",
    "previous_seen_at",
    "rotate_cookie",
    "signed_in",
]


#: Where Flask-WTF keeps the session's raw CSRF token.
CSRF_KEY = "csrf_token"
#: How long an anonymous browser's pre-session cookie (its CSRF token) lasts:
#: Flask-WTF's own limit on a form token's age (WTF_CSRF_TIME_LIMIT).
PRE_SESSION_MAX_AGE = 3600


def _pre_session_cookie(app: Flask) -> str:
    return f"{app.config['SESSION_COOKIE_NAME']}_pre"


def _pre_session_serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="belay-pre-session")


def _pre_session_token(app: Flask, request: Request) -> str | None:
    """The CSRF token an anonymous browser carries in its signed pre-session cookie."""
    value = request.cookies.get(_pre_session_cookie(app), "")
    if not value or len(value) > 500:
        return None
    max_age = int(app.config.get("WTF_CSRF_TIME_LIMIT") or PRE_SESSION_MAX_AGE)
    try:
        token = _pre_session_serializer(app).loads(value, max_age=max_age)
    except BadSignature:  # also SignatureExpired
        return None
    return token if isinstance(token, str) and 0 < len(token) <= 200 else None


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
        # The row's user when the request began (a login as another user drops the data).
        self.opened_user_id: int | None = None


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        row = store.find(request.cookies.get(app.config["SESSION_COOKIE_NAME"], ""))
        if row is None:
            pre = _pre_session_token(app, request)
            return ServerSession({CSRF_KEY: pre} if pre else None, None)
        session = ServerSession(dict(row.data or {}), row.id)
        session.previous_seen_at = row.last_seen_at
        session.opened_user_id = row.user_id
        g.belay_session_row = row
        return session

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name = app.config["SESSION_COOKIE_NAME"]
        pre_name = _pre_session_cookie(app)
        carries_pre = pre_name in _request_cookies()
        if session.ended:
            response.delete_cookie(name, path="/")
            if carries_pre:
                response.delete_cookie(pre_name, path="/")
            return
        row = g.get("belay_session_row")
        if row is None and set(session) <= {CSRF_KEY}:
            if not (session.modified or CSRF_KEY in g):
                return
            # Only a CSRF token to keep: no row, a signed cookie (case 55),
            # renewed with every page that shows a form.
            self._save_pre_session(app, session, response, carries_pre)
            return
        if row is None and session.modified and session:
            row, session.new_token = store.open_session(user_agent=None)
        if row is None:
            return
        if carries_pre:
            response.delete_cookie(pre_name, path="/")
        store.save(row, dict(session) if session.modified else None)
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

    def _save_pre_session(
        self, app: Flask, session: ServerSession, response: Response, carries_pre: bool
    ) -> None:
        token = session.get(CSRF_KEY)
        pre_name = _pre_session_cookie(app)
        if not isinstance(token, str):
            if carries_pre:
                response.delete_cookie(pre_name, path="/")
            return
        response.set_cookie(
            pre_name,
            _pre_session_serializer(app).dumps(token),
            max_age=int(app.config.get("WTF_CSRF_TIME_LIMIT") or PRE_SESSION_MAX_AGE),
            httponly=True,
            secure=app.config["SESSION_COOKIE_SECURE"],
            samesite="Lax",
            path="/",
        )
        response.vary.add("Cookie")


def _request_cookies() -> Any:
    return request.cookies if has_request_context() else {}


def _session() -> ServerSession:
    assert isinstance(session, ServerSession)
    return session


def current_row() -> WebSession | None:
    row: WebSession | None = g.get("belay_session_row")
    return row


def ensure_row() -> WebSession:
    """The session's row, created now if this browser has none yet."""
    row = current_row()
    if row is None:
        server_session = _session()
        row, server_session.new_token = store.open_session(
            request.headers.get("User-Agent"), dict(server_session)
        )
        server_session.row_id = row.id
        g.belay_session_row = row
    return row


def rotate_cookie(token: str) -> None:
    """Send the session's new cookie value with this response, and a new CSRF
    token with it (docs/security.md case 54): a token from before a sign-in or a
    step-up is refused after it. A login as another user (or the first login)
    keeps only what the storage layer kept of the row's data."""
    session = _session()
    session.new_token = token
    row = current_row()
    if row is not None and row.user_id != session.opened_user_id:
        session.clear()
        session.update(row.data or {})
        session.opened_user_id = row.user_id
    session.pop(CSRF_KEY, None)
    g.pop(CSRF_KEY, None)  # Flask-WTF's per-request cache of the signed token
    session.modified = True


def end() -> None:
    _session().ended = True
    g.belay_session_row = None


def previous_seen_at() -> int | None:
    """When this browser was last seen before the current request."""
    return _session().previous_seen_at


def signed_in() -> tuple[WebSession, User] | None:
    """This browser's session and its (enabled) user, or None."""
    row = current_row()
    user = store.signed_in_user(row)
    if row is None or user is None:
        return None
    return row, user
