"""OpenID Connect claims: the user's claims per scope (OIDC Core §5.4) and the
ID token (§2), signed with the client's algorithm."""

from __future__ import annotations

from typing import Any

from authlib.oidc.core.util import create_half_hash
from flask import current_app

from provider import clock
from provider.oidc.clients import OAuthClient
from provider.oidc.server.tokens import ClaimsSource, Subject, sign_jwt

__all__ = ["id_token", "user_claims"]


def user_claims(user: ClaimsSource, scope: str) -> dict[str, Any]:
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": str(user.id)}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = user.email_verified_at is not None
    return claims


def id_token(subject: Subject, client: OAuthClient, scope: str, access_token: str | None) -> str:
    config = current_app.config
    alg = client.id_token_signed_response_alg or config["DEFAULT_SIGNING_ALG"]
    now = clock.now()
    claims: dict[str, Any] = {
        "iss": config["ISSUER"],
        "aud": client.get_client_id(),
        "iat": now,
        "exp": now + config["ID_TOKEN_TTL"],
        "auth_time": subject.auth_time,
        "amr": subject.amr,
        "azp": client.get_client_id(),
    }
    if subject.acr:
        claims["acr"] = subject.acr
    if subject.sid:
        claims["sid"] = subject.sid
    if subject.nonce:
        claims["nonce"] = subject.nonce
    if access_token:
        at_hash = create_half_hash(access_token, alg)
        if at_hash is not None:
            claims["at_hash"] = at_hash.decode()
    claims.update(user_claims(subject.user, scope))
    return sign_jwt(claims, alg=alg, typ="JWT")
