"""Users as an admin sees them: search, read (with each factor's state),
create, unlock, reset their factors, end their sessions. Factor changes go
through the kernel (:mod:`provider.flows.assurance.lifecycle`, by an admin)."""

from __future__ import annotations

from typing import Any

from provider import clock
from provider.flows import step_up
from provider.flows.admin.errors import AdminError, NotFound
from provider.flows.assurance import lifecycle
from provider.storage import admin as store
from provider.storage import audit
from provider.storage import sessions as session_store
from provider.storage import users as user_store
from provider.storage.models import User
from provider.storage.usernames import MAX_KEY_LENGTH, lookup_key

__all__ = [
    "UNLOCKABLE_FACTORS",
    "USER_FACTORS",
    "create_user",
    "find_user",
    "locks_of",
    "reset_factors",
    "revoke_sessions",
    "search_users",
    "unlock_user",
    "user_named",
    "user_to_dict",
]

#: The factors an admin sees the state of (the console, the API, ``belay user show``).
USER_FACTORS = ("password", "pin", "totp", "backup_code", "passkey")
#: The factors an admin may unlock one by one (:func:`unlock_user`): those above
#: and the codes by email or SMS, whose failures lock them too.
UNLOCKABLE_FACTORS = tuple(lifecycle.UNLOCKABLE)
#: The largest user id (a 32-bit integer column).
_MAX_ID = 2**31 - 1
#: the refusal of a name another user has, whatever its case (docs/admin.md "Usernames")
_TAKEN = "this username is taken (usernames match whatever their case)"


def search_users(query: str = "", *, limit: int = 100) -> list[User]:
    return store.search_users(query[:150], limit=limit)


def locks_of(users: list[User]) -> dict[int, list[str]]:
    """Each listed user's locked factors (the users list's lock state), as
    :func:`user_to_dict` sees them; only users with failures are looked at."""
    suspects = store.users_with_failures([u.id for u in users])
    found: dict[int, list[str]] = {}
    for user in users:
        if user.id in suspects:
            locked = [
                f["method"] for f in user_to_dict(user, detail=True)["factors"] if f["locked"]
            ]
            if locked:
                found[user.id] = locked
    return found


def user_named(username: str) -> User | None:
    """The user called ``username`` (a username only, never an id), or None."""
    return user_store.user_by_name(username) if 0 < len(username) <= 150 else None


def find_user(key: str | int) -> User:
    """A user by id (digits) or username; :class:`NotFound` otherwise, also for
    an id no row can have (never a query with an out-of-range integer)."""
    user = None
    number = key if isinstance(key, int) else int(key) if key.isdigit() and len(key) < 12 else 0
    if 0 < number <= _MAX_ID:
        user = user_store.get_user(number)
    if user is None and isinstance(key, str):
        user = user_store.user_by_name(key)
    if user is None:
        raise NotFound(f"no user {key!r}")
    return user


def user_to_dict(user: User, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "is_admin": bool(user.is_admin),
        "disabled": user.disabled_at is not None,
        "created_at": user.created_at,
    }
    if detail:
        enrolled = step_up.factors().enrolled(user.id)
        counters = {c.factor: c for c in store.counters_for_user(user.id)}
        factors = []
        for method in USER_FACTORS:
            rows = [m for m in enrolled if m.method == method]
            counter = counters.get(method)
            factors.append(
                {
                    "method": method,
                    "enrolled": bool(rows) or (method == "password" and bool(user.password_hash)),
                    "count": len(rows),
                    "locked": any(m.locked for m in rows) or bool(counter and counter.locked),
                    "failures": counter.failures if counter else 0,
                }
            )
        data["factors"] = factors
        data["sessions"] = len(session_store.list_for_user(user.id))
    return data


def create_user(
    username: str,
    *,
    password: str | None,
    is_admin: bool = False,
    email: str | None = None,
    name: str | None = None,
    actor: str,
) -> User:
    errors: dict[str, str] = {}
    if (
        not isinstance(username, str)
        or not 1 <= len(username) <= 150
        or any(c.isspace() or c == "\x00" for c in username)
    ):
        errors["username"] = "a username is 1-150 characters without spaces"
    elif len(lookup_key(username)) > MAX_KEY_LENGTH:
        errors["username"] = "this username is too long once normalised; choose a shorter one"
    elif user_store.user_by_name(username):
        # Names match case-insensitively (docs/admin.md "Usernames").
        errors["username"] = _TAKEN
    if not isinstance(is_admin, bool):
        errors["is_admin"] = "must be true or false"
    problem = lifecycle.password_problem(password) if password is not None else None
    if problem is not None:
        errors["password"] = problem
    if email is not None and (not isinstance(email, str) or len(email) > 320 or "@" not in email):
        errors["email"] = "must be an email address"
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        errors["name"] = "must be text of at most 200 characters"
    if errors:
        raise AdminError(errors)
    user = User(
        username=username,
        password_hash=lifecycle.hash_password(password) if password is not None else None,
        is_admin=bool(is_admin),
        email=email or None,
        name=name or None,
        created_at=clock.now(),
    )
    if not user_store.add_user(user):
        raise AdminError({"username": _TAKEN})  # a creation racing with this one won
    audit.record(
        "user_created",
        "success",
        user_id=user.id,
        username=username,
        reason=actor,
        details={"by": actor, "is_admin": bool(is_admin)},
    )
    return user


def unlock_user(user: User, factor: str | None, *, actor: str) -> int:
    """Clear ``factor``'s (or every factor's) failure counters and locks."""
    try:
        return lifecycle.unlock(user, factor, actor=lifecycle.by_admin(actor))
    except lifecycle.Rejected as exc:
        raise AdminError({exc.field: exc.message}) from None


def reset_factors(user: User, *, actor: str) -> list[str]:
    """Remove every second factor (PIN, TOTP, codes by email or SMS, backup codes,
    passkeys) and clear every lock; the password stays. The user enrols again
    after signing in."""
    return lifecycle.reset_factors(user, actor=lifecycle.by_admin(actor))


def revoke_sessions(user: User, *, actor: str) -> int:
    count = store.delete_sessions(user.id)
    audit.record(
        "sessions_revoked", "success", user_id=user.id, details={"by": actor, "sessions": count}
    )
    return count
