"""Users: by id and by username (matched case-insensitively by its key,
provider/storage/usernames.py)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from provider.extensions import db
from provider.storage import first
from provider.storage.models import User
from provider.storage.usernames import MAX_KEY_LENGTH, lookup_key

__all__ = ["active_user", "add_user", "get_user", "user_by_name"]


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
