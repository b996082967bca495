"""Who may administer: the level the console asks of an admin's session, and
the access token the admin API accepts (client_credentials, an admin client,
the ``belay:admin`` scope)."""

from __future__ import annotations

from flask import current_app

from provider import clock
from provider.errors import BelayError
from provider.storage import clients as client_store
from provider.storage import grants as token_store

__all__ = ["ADMIN_SCOPE", "TokenRefused", "admin_target", "api_actor"]

#: The scope an admin client's client-credentials token carries for /api/admin.
ADMIN_SCOPE = "belay:admin"


class TokenRefused(BelayError):
    """The admin API refuses the bearer token, RFC 6750 §3.1: ``error`` is
    ``invalid_token`` (a 401: no token, or unknown, revoked, expired) or
    ``insufficient_scope`` (a 403: not an admin client's client-credentials
    token with the ``belay:admin`` scope). ``missing``: no token was sent (the
    challenge then names no error, §3.1)."""

    error = "invalid_token"
    status_code = 401

    def __init__(self, error: str = "invalid_token", *, missing: bool = False) -> None:
        self.missing = missing
        if missing:
            super().__init__("A bearer access token is required.")
        elif error == "insufficient_scope":
            super().__init__(
                "The token must come from an admin client with the belay:admin scope.",
                error=error,
                status_code=403,
            )
        else:
            super().__init__("The access token is invalid or expired.")

    def get_headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="belay-admin"'
        if self.error == "insufficient_scope":
            challenge += f', error="insufficient_scope", scope="{ADMIN_SCOPE}"'
        elif not self.missing:
            challenge += f', error="{self.error}", error_description="{self.description}"'
        return {"WWW-Authenticate": challenge}


def admin_target() -> tuple[str, int]:
    """The acr and max_age the console asks of an admin (ADMIN_ACR, ADMIN_MAX_AGE)."""
    return str(current_app.config["ADMIN_ACR"]), int(current_app.config["ADMIN_MAX_AGE"])


def api_actor(token: str) -> str:
    """The actor (``api:<client_id>``) an admin API call with this bearer token
    acts as; :class:`TokenRefused` otherwise."""
    row = token_store.find_token(token) if len(token) <= 4096 else None
    if row is None or row.revoked_at is not None or row.access_expires_at <= clock.now():
        raise TokenRefused("invalid_token")
    client = client_store.get_client(row.client_id)
    if (
        row.user_id is not None
        or ADMIN_SCOPE not in row.scope.split()
        or client is None
        or not client.is_admin
        or client.is_public
    ):
        raise TokenRefused("insufficient_scope")
    return f"api:{client.client_id}"
