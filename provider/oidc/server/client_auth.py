"""Client lookup and client authentication at the token endpoints.

- ``client_secret_basic`` (RFC 6749 §2.3.1), hardened against malformed headers;
- ``private_key_jwt`` (RFC 7523 §2.2, OIDC Core §9) with single-use ``jti``.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.errors import InvalidClientError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import current_app
from joserfc import jwk

from provider import clock
from provider.oidc.clients import OAuthClient
from provider.storage import clients as client_store
from provider.storage import grants as store

__all__ = ["CONFIDENTIAL_METHODS", "PrivateKeyJWT", "client_secret_basic", "query_client"]

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


def query_client(client_id: Any) -> OAuthClient | None:
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 200 or "\x00" in client_id:
        return None
    model = client_store.get_client(client_id)
    return OAuthClient(model) if model else None


class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt`` client authentication (RFC 7523 §2.2, OIDC Core §9)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self) -> list[str]:
        issuer = current_app.config["ISSUER"]
        return [issuer, f"{issuer}/token"]

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti:
            return False
        expires = claims.get("exp")
        expires_at = int(expires) if isinstance(expires, int | float) else clock.now() + 3600
        # The column is a 64-bit integer: a far-future exp is remembered "forever".
        expires_at = min(expires_at, 2**62)
        return store.remember_assertion_jti(str(claims.get("sub")), jti, expires_at)

    def resolve_client_public_key(self, client: OAuthClient) -> jwk.KeySet:
        if not client.model.jwks:
            raise InvalidClientError(description="The client has no registered keys.")
        return jwk.KeySet.import_key_set(client.model.jwks)  # type: ignore[arg-type]


def client_secret_basic(query_client: Any, request: Any) -> OAuthClient | None:
    """Authlib's ``client_secret_basic``, except that a malformed ``Authorization``
    header (``Basic`` and blanks, non-ASCII base64, credentials that are not
    UTF-8) fails the method — ``invalid_client`` — instead of raising a 500."""
    try:
        extract_basic_authorization(request.headers)
    except ValueError:  # UnicodeDecodeError included
        return None
    client: OAuthClient | None = authenticate_client_secret_basic(query_client, request)
    return client
