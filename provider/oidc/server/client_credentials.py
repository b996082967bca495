"""The client credentials grant (RFC 6749 §4.4): confidential clients only,
never a scope the client is not registered for."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from provider.oidc.server.client_auth import CONFIDENTIAL_METHODS

__all__ = ["ClientCredentialsGrant"]


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_requested_scope(self) -> None:
        # Authlib would issue any requested scope here: never more than registered.
        requested = set((self.request.payload.scope or "").split())
        if not requested <= set(self.request.client.model.scope.split()):
            raise InvalidScopeError("The client is not registered for this scope.")
