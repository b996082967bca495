"""Who may administer: the level the console asks of an admin's session, and
the access token the admin API accepts (client_credentials, an admin client,
the ``belay:admin`` scope)."""

from __future__ import annotations

from flask import current_app

from provider import clock
from provider.storage import accounts
from provider.storage import grants as token_store

__all__ = ["ADMIN_SCOPE", "TokenRefused", "admin_target", "api_actor"]

#: The scope an admin client's client-credentials token carries for /api/admin.
ADMIN_SCOPE = "belay:admin"


class TokenRefused(Exception):
    """The admin API refuses this token: ``error`` is ``invalid_token`` (unknown,
    revoked, expired) or ``insufficient_scope`` (not an admin client's
    client-credentials token with the ``belay:admin`` scope), RFC 6750 §3.1."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


def admin_target() -> tuple[str, int]:
    """The acr and max_age the console asks of an admin (ADMIN_ACR, ADMIN_MAX_AGE)."""
    return str(current_app.config["ADMIN_ACR"]), int(current_app.config["ADMIN_MAX_AGE"])


def api_actor(token: str) -> str:
    """The actor (``api:<client_id>``) an admin API call with this bearer token
    acts as; :class:`TokenRefused` otherwise."""
    row = token_store.find_token(token) if len(token) <= 4096 else None
    if row is None or row.revoked_at is not None or row.access_expires_at <= clock.now():
        raise TokenRefused("invalid_token")
    client = accounts.get_client(row.client_id)
    if (
        row.user_id is not None
        or ADMIN_SCOPE not in row.scope.split()
        or client is None
        or not client.is_admin
        or client.is_public
    ):
        raise TokenRefused("insufficient_scope")
    return f"api:{client.client_id}"
