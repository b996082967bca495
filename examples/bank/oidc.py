"""The web app's OpenID Connect client: code exchange and ID token validation.

- the code is redeemed with ``client_secret_basic`` and the PKCE verifier
  (RFC 6749 §4.1.3, RFC 7636 §4.5);
- the ID token is verified with the OP's published keys and checked per OIDC
  Core §3.1.3.7: ``iss``, ``aud`` (and ``azp``), ``exp``/``iat``, ``nonce``.

Keys come from the OP's JWKS through the resource-server kit's
:class:`~provider.resource_server.JwksCache` (cached, one refresh on an
unknown ``kid``); the signature check itself is joserfc's.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Any

import requests
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from provider.resource_server import InvalidToken, JwksCache, ProviderMetadata
from provider.resource_server.transport import basic_auth_header

__all__ = ["OidcClient", "OidcError", "TokenSet"]

ALGORITHMS = ("ES256", "RS256", "EdDSA")
LEEWAY = 30


class OidcError(Exception):
    """The code exchange or the ID token failed; the message is safe to show."""


@dataclass(frozen=True)
class TokenSet:
    """What the token endpoint returned, with the verified ID token's claims."""

    access_token: str
    id_token: str
    id_claims: dict[str, Any]
    expires_at: int


@dataclass
class OidcClient:
    """One confidential client at one OP."""

    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    timeout: float = 5.0

    def __post_init__(self) -> None:
        self.metadata = ProviderMetadata(self.issuer)
        self.jwks = JwksCache(metadata=self.metadata)

    def endpoint(self, name: str) -> str:
        """An endpoint from discovery (``authorization_endpoint``, ``token_endpoint``, …)."""
        return self.metadata.endpoint(name)

    def redeem(self, code: str, code_verifier: str, *, nonce: str) -> TokenSet:
        """Exchange the code and verify the ID token against ``nonce``."""
        try:
            response = requests.post(
                self.endpoint("token_endpoint"),
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "code_verifier": code_verifier,
                },
                headers={
                    "Authorization": basic_auth_header(self.client_id, self.client_secret),
                    "Accept": "application/json",
                },
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise OidcError("the sign-in service could not be reached") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", "server_error") if isinstance(body, dict) else "server_error"
            raise OidcError(f"the code exchange failed ({error})")
        access_token, id_token = body.get("access_token"), body.get("id_token")
        if not isinstance(access_token, str) or not isinstance(id_token, str):
            raise OidcError("the token response has no access_token or id_token")
        claims = self.verify_id_token(id_token, nonce=nonce)
        expires_in = body.get("expires_in")
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 300
        return TokenSet(access_token, id_token, claims, int(time.time()) + lifetime)

    def verify_id_token(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The claims of a valid ID token for us with this ``nonce``, or :class:`OidcError`."""
        try:
            header = jws.extract_compact(id_token.encode("ascii")).headers()
            alg = header.get("alg")
            if alg not in ALGORITHMS:
                raise OidcError("the ID token is signed with an unexpected algorithm")
            key = self.jwks.key_for(header.get("kid"), alg)
            token = jwt.decode(id_token, key, algorithms=[alg])
            JWTClaimsRegistry(
                leeway=LEEWAY,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
            ).validate(token.claims)
        except (JoseError, InvalidToken, ValueError, UnicodeError) as exc:
            raise OidcError(f"the ID token is not valid ({type(exc).__name__})") from exc
        claims = dict(token.claims)
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("the ID token has several audiences and another azp")
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise OidcError("the ID token's nonce does not match this sign-in")
        return claims
