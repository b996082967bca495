"""Token introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import UnsupportedTokenTypeError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import current_app
from sqlalchemy import Row

from provider.oidc.clients import AUTH_METHODS, OAuthClient
from provider.oidc.server.client_auth import CONFIDENTIAL_METHODS
from provider.oidc.server.tokens import StoredToken
from provider.storage import audit
from provider.storage import grants as store

__all__ = ["IntrospectedToken", "Introspection", "Revocation", "UnsupportedTokenType"]


class UnsupportedTokenType(UnsupportedTokenTypeError):  # type: ignore[misc]
    """A 400 (RFC 7009 §2.2.1, RFC 6749 §5.2), not Authlib's 401 — a 401 without a
    ``WWW-Authenticate`` challenge, to a client that did authenticate."""

    status_code = 400


class _TokenTypeHint:
    def check_params(self, request: Any, client: Any) -> None:
        try:
            super().check_params(request, client)  # type: ignore[misc]
        except UnsupportedTokenTypeError:
            raise UnsupportedTokenType() from None


class IntrospectedToken(StoredToken):
    """A token as introspection reads it: a Core row of the token's columns and its
    user's ``username``, read only (provider/storage/grants.py ``introspection_row``)."""

    def __init__(self, row: Row[Any], *, is_refresh: bool = False) -> None:
        # The Core row has the token's columns by name, all StoredToken reads.
        super().__init__(row, is_refresh=is_refresh)  # type: ignore[arg-type]
        self.username: str | None = row.username


class Introspection(_TokenTypeHint, IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(
        self, token_string: str, token_type_hint: str | None
    ) -> IntrospectedToken | None:
        if not isinstance(token_string, str) or len(token_string) > 4096:
            return None
        if token_type_hint != "refresh_token":
            row = store.introspection_row(token_string, refresh=False)
            if row is not None:
                return IntrospectedToken(row)
        row = store.introspection_row(token_string, refresh=True)
        if row is not None:
            return IntrospectedToken(row, is_refresh=True)
        if token_type_hint == "refresh_token":
            row = store.introspection_row(token_string, refresh=False)
            return IntrospectedToken(row) if row else None
        return None

    def check_permission(self, token: IntrospectedToken, client: OAuthClient, request: Any) -> bool:
        """RFC 7662 §4: a client learns about a token only when it is the token's own
        client or, for an access token, a resource server named in its audience;
        any other client gets ``{"active": false}`` (docs/security.md case 56)."""
        client_id = client.get_client_id()
        if token.row.client_id == client_id:
            return True
        return not token.is_refresh and client_id in (token.row.audience or [])

    def introspect_token(self, token: IntrospectedToken) -> dict[str, Any]:
        row = token.row
        payload: dict[str, Any] = {
            "active": True,
            "iss": current_app.config["ISSUER"],
            "client_id": row.client_id,
            "scope": row.scope,
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
            "exp": row.refresh_expires_at if token.is_refresh else row.access_expires_at,
            "iat": row.issued_at,
            "jti": row.jti,
            "aud": row.audience[0] if len(row.audience) == 1 else row.audience,
            "sub": str(row.user_id) if row.user_id else row.client_id,
        }
        if token.username is not None:  # the user still exists
            payload["username"] = token.username
            payload["auth_time"] = row.auth_time
            payload["amr"] = row.amr
            if row.acr:
                payload["acr"] = row.acr
        return payload


class Revocation(_TokenTypeHint, RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        if not isinstance(token_string, str) or len(token_string) > 4096:
            return None
        row = store.find_token_by_refresh(token_string)
        if row is not None:
            return StoredToken(row, is_refresh=True)
        row = store.find_token(token_string)
        return StoredToken(row) if row else None

    def revoke_token(self, token: StoredToken, request: Any) -> None:
        # Revoking a refresh token ends the grant: every token of its family.
        store.revoke_token(token.row, whole_family=token.is_refresh)
        audit.record(
            "token_revoked",
            "success",
            user_id=token.row.user_id,
            client_id=token.row.client_id,
            details={"refresh": token.is_refresh},
        )
