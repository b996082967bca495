"""The Authlib authorization server, one module per part of the protocol:

- :mod:`~provider.oidc.server.tokens`: the authenticated :class:`Subject`,
  access and refresh tokens (RFC 6749 §5, RFC 9068) and JWT signing;
- :mod:`~provider.oidc.server.claims`: user claims and the ID token (OIDC Core);
- :mod:`~provider.oidc.server.authorization_code`: the code grant with PKCE
  (RFC 6749 §4.1, RFC 7636);
- :mod:`~provider.oidc.server.refresh_token`: refresh with rotation (RFC 6749 §6);
- :mod:`~provider.oidc.server.client_credentials`: RFC 6749 §4.4;
- :mod:`~provider.oidc.server.client_auth`: client authentication (RFC 6749
  §2.3, RFC 7523);
- :mod:`~provider.oidc.server.endpoints`: introspection (RFC 7662) and
  revocation (RFC 7009).

This package's public names (what the app, the views and the flows use) are
exported here.
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Flask

from provider.oidc.server.authorization_code import BelayOpenIDCode, CodeGrant, S256CodeChallenge
from provider.oidc.server.claims import user_claims
from provider.oidc.server.client_auth import PrivateKeyJWT, client_secret_basic, query_client
from provider.oidc.server.client_credentials import ClientCredentialsGrant
from provider.oidc.server.endpoints import Introspection, Revocation
from provider.oidc.server.refresh_token import RefreshGrant
from provider.oidc.server.tokens import Subject, TokenGenerator, save_token, sign_jwt

__all__ = ["BelayAuthorizationServer", "Subject", "create_server", "sign_jwt", "user_claims"]


class BelayAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def get_error_uri(self, request: Any, error: Any) -> None:
        return None


def create_server(app: Flask) -> BelayAuthorizationServer:
    server = BelayAuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=save_token)
    server.register_token_generator("default", TokenGenerator())
    server.register_grant(CodeGrant, [S256CodeChallenge(required=True), BelayOpenIDCode()])
    server.register_grant(RefreshGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_client_auth_method("client_secret_basic", client_secret_basic)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    return server
