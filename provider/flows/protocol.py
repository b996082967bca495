"""The protocol endpoints' use-cases that are not ``/authorize``: what discovery
publishes of the ladder, the token endpoint's commit, userinfo's token check and
RP-initiated logout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from provider import clock, policy, storage
from provider.oidc.server import user_claims
from provider.storage import audit
from provider.storage import clients as client_store
from provider.storage import grants as token_store
from provider.storage import sessions as session_store
from provider.storage.ladder import current_ladder
from provider.storage.models import Client, WebSession

__all__ = [
    "UserinfoRefused",
    "acr_levels",
    "client_home",
    "finish_token_request",
    "logout_client",
    "sign_out",
    "userinfo",
]


def acr_levels() -> tuple[policy.Level, ...]:
    """The ladder in force, lowest level first (discovery publishes it)."""
    return tuple(current_ladder().levels)


def finish_token_request() -> None:
    """What the grant wrote stands whatever it answered: a code claimed before a
    failed PKCE or redirect_uri check is spent (the tokens, when issued, were
    committed with their claim already)."""
    storage.commit()


@dataclass(frozen=True)
class UserinfoRefused:
    error: str
    description: str
    status: int


def userinfo(access_token: str) -> dict[str, Any] | UserinfoRefused:
    """The claims the access token's scopes release, or why it is refused."""
    row = token_store.userinfo_row(access_token)  # the token and its user, one read
    if row is None or row.revoked_at is not None or row.access_expires_at <= clock.now():
        return UserinfoRefused("invalid_token", "The access token is invalid or expired", 401)
    if row.user_id is None or "openid" not in row.scope.split():
        return UserinfoRefused("insufficient_scope", "The token lacks the openid scope", 403)
    if row.id is None:
        return UserinfoRefused("invalid_token", "The access token is invalid or expired", 401)
    return user_claims(row, row.scope)


def logout_client(client_id: str | None) -> Client | None:
    return client_store.get_client(client_id) if client_id else None


def client_home(client: Client) -> str | None:
    """Where a page sends the user back to ``client``: its registered
    ``client_uri``, else its first post-logout redirect URI, else the origin
    of its first redirect URI (only http(s) addresses)."""
    metadata = client.registration_metadata or {}
    candidates = [metadata.get("client_uri"), *(client.post_logout_redirect_uris or [])[:1]]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.startswith(("https://", "http://")):
            return candidate
    for uri in (client.redirect_uris or [])[:1]:
        parts = urlsplit(uri)
        if parts.scheme in ("https", "http") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}/"
    return None


def sign_out(row: WebSession, client_id: str | None) -> None:
    """End this browser session (RP-initiated logout)."""
    audit.record("logout", "success", user_id=row.user_id, client_id=client_id)
    session_store.delete_session(row)
