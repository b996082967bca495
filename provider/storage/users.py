"""Users: by id and by username (matched case-insensitively by its key,
provider/storage/usernames.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.exc import IntegrityError

from provider.extensions import db
from provider.storage import first, read_row
from provider.storage.models import User
from provider.storage.usernames import MAX_KEY_LENGTH, lookup_key

__all__ = ["active_claims", "active_user", "add_user", "get_user", "user_by_name"]

# What an ID token and userinfo say of a user, built once (issue 20).
_CLAIMS = select(
    User.id, User.username, User.name, User.email, User.email_verified_at, User.disabled_at
).where(User.id == bindparam("user_id"))


def get_user(user_id: int | None) -> User | None:
    return db.session.get(User, user_id) if user_id else None


def active_user(user_id: int | None) -> User | None:
    """The user while the account may be used (it exists and is not
    disabled): sign-in, a session, a code or refresh token redeemed."""
    user = get_user(user_id)
    return user if user is not None and user.disabled_at is None else None


def active_claims(user_id: int | None) -> Row[Any] | None:
    """As :func:`active_user`, read only: a Core row of ``id``, ``username``, ``name``,
    ``email``, ``email_verified_at`` and ``disabled_at`` (no ORM object)."""
    if not user_id:
        return None
    row = read_row(_CLAIMS, {"user_id": user_id})
    return row if row is not None and row.disabled_at is None else None


def user_by_name(username: str) -> User | None:
    if not username or len(username) > 150 or "\x00" in username:  # PostgreSQL refuses NUL
        return None
    key = lookup_key(username)
    if len(key) > MAX_KEY_LENGTH:
        return None
    return first(db.select(User).where(User.username_key == key))


def add_user(user: User) -> bool:
    """Save a new user; False (nothing saved) when another user's name has the
    same key: a creation that raced with this one and won (the unique index
    decides, on SQLite and PostgreSQL alike)."""
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True
