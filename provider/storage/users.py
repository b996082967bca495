"""Users: by id and by username."""

from __future__ import annotations

from provider.extensions import db
from provider.storage import first
from provider.storage.models import User

__all__ = ["active_user", "get_user", "user_by_name"]


def get_user(user_id: int | None) -> User | None:
    return db.session.get(User, user_id) if user_id else None


def active_user(user_id: int | None) -> User | None:
    """The user while the account may be used (it exists and is not
    disabled): sign-in, a session, a code or refresh token redeemed."""
    user = get_user(user_id)
    return user if user is not None and user.disabled_at is None else None


def user_by_name(username: str) -> User | None:
    if not username or len(username) > 150 or "\x00" in username:  # PostgreSQL refuses NUL
        return None
    return first(db.select(User).where(User.username == username))
