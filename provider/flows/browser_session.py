"""A browser's server-side session (provider/web/session.py keeps the cookie):
find it by its cookie value, open one, save its data, who is signed in; and
:class:`Expired`, what a browser holding on to something gone is told.
Authentication events on it: provider/flows/assurance/events.py."""

from __future__ import annotations

from typing import Any

from flask import current_app

from provider.errors import N_, BelayError
from provider.storage import sessions as store
from provider.storage import users as user_store
from provider.storage.models import User, WebSession

__all__ = ["Expired", "find", "open_session", "save", "session_user", "signed_in_user"]


class Expired(BelayError):
    """What the browser holds on to is gone: its authorize transaction (or
    the ceremony it started) expired or belongs to another session."""

    error = "expired"
    description = N_("This sign-in has expired. Go back to the application.")


def find(token: str) -> WebSession | None:
    """The live session for a cookie value (``SESSION_IDLE_TIMEOUT``), or None."""
    if not token:
        return None
    return store.find(token, idle_timeout=current_app.config["SESSION_IDLE_TIMEOUT"])


def open_session(
    user_agent: str | None, data: dict[str, Any] | None = None
) -> tuple[WebSession, str]:
    """A new anonymous session (``SESSION_ABSOLUTE_TIMEOUT``) holding ``data``,
    and its cookie value."""
    row, token = store.create(
        absolute_timeout=current_app.config["SESSION_ABSOLUTE_TIMEOUT"], user_agent=user_agent
    )
    if data:
        store.record_activity(row, data)
    return row, token


def save(row: WebSession, data: dict[str, Any] | None) -> None:
    """Note the browser's activity, and save ``data`` when given."""
    store.record_activity(row, data)


def session_user(row: WebSession | None) -> User | None:
    """The session's user, disabled or not (the authorize pipeline decides)."""
    return user_store.get_user(row.user_id) if row is not None else None


def signed_in_user(row: WebSession | None) -> User | None:
    """The session's user while it may use the session (not disabled)."""
    return user_store.active_user(row.user_id) if row is not None else None
