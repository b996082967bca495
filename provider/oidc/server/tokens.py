"""Issuing tokens: the authenticated subject, access and refresh tokens, storage.

``acr``, ``amr`` and ``auth_time`` are stamped on the authorization code from
the session's recorded events and copied from there to every token, refreshed
ones included (RFC 9068 §2.2.1, RFC 9470 §6.1) — never recomputed from "now"
or a user column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from authlib.oauth2.rfc6749 import TokenMixin
from flask import current_app
from joserfc import jwt

from provider import clock
from provider.crypto import random_token, sha256_hex
from provider.oidc.clients import OAuthClient
from provider.oidc.keys import KeyRing
from provider.oidc.server.client_auth import query_client
from provider.storage import grants as store
from provider.storage import users as user_store
from provider.storage.models import Token, User

__all__ = ["ClaimsSource", "StoredToken", "Subject", "TokenGenerator", "save_token", "sign_jwt"]


class ClaimsSource(Protocol):
    """A user as tokens and claims see it: the user row, or a Core row of its
    columns (provider/storage/users.py ``active_claims``)."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def email_verified_at(self) -> int | None: ...


@dataclass
class Subject:
    """The authenticated user together with how and when they authenticated.

    Authlib passes "the user" to token generators; we pass this, so the
    authentication context travels with the grant.
    """

    user: ClaimsSource
    acr: str | None
    amr: list[str]
    auth_time: int | None
    sid: str | None
    audience: list[str] = field(default_factory=list)
    nonce: str | None = None
    code_id: int | None = None
    family_id: str | None = None
    # Rotation never extends a grant: every refresh token of a family expires
    # when the first one would have.
    refresh_expires_at: int | None = None

    def get_user_id(self) -> str:
        return str(self.user.id)


def _keyring() -> KeyRing:
    ring: KeyRing = current_app.extensions["belay_keys"]
    return ring


def sign_jwt(claims: dict[str, Any], *, alg: str, typ: str) -> str:
    kid, key = _keyring().signing_key(alg)
    return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, algorithms=[alg])


class StoredToken(TokenMixin):  # type: ignore[misc]
    def __init__(self, row: Token, *, is_refresh: bool = False) -> None:
        self.row = row
        self.is_refresh = is_refresh

    def check_client(self, client: OAuthClient) -> bool:
        return bool(self.row.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, self.row.access_expires_at - clock.now())

    def is_expired(self) -> bool:
        expires = self.row.refresh_expires_at if self.is_refresh else self.row.access_expires_at
        return expires is None or expires <= clock.now()

    def is_revoked(self) -> bool:
        if self.is_refresh and self.row.refresh_used_at is not None:
            return True
        return self.row.revoked_at is not None

    def get_user(self) -> User | None:
        return user_store.get_user(self.row.user_id)

    def get_client(self) -> OAuthClient | None:
        return query_client(self.row.client_id)


class TokenGenerator:
    """Access tokens as RFC 9068 JWTs or opaque values, per client; refresh tokens."""

    def __call__(
        self,
        grant_type: str,
        client: OAuthClient,
        user: Subject | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        config = current_app.config
        now = clock.now()
        ttl = expires_in or config["ACCESS_TOKEN_TTL"]
        jti = random_token(18)
        scope = scope or ""
        audience = (user.audience if user else []) or [
            config.get("DEFAULT_AUDIENCE") or client.get_client_id()
        ]
        if client.model.access_token_format == "opaque":
            access_token = random_token(32)
        else:
            claims: dict[str, Any] = {
                "iss": config["ISSUER"],
                "sub": user.get_user_id() if user else client.get_client_id(),
                "aud": audience[0] if len(audience) == 1 else audience,
                "exp": now + ttl,
                "iat": now,
                "jti": jti,
                "client_id": client.get_client_id(),
                "scope": scope,
            }
            if user is not None:
                claims["auth_time"] = user.auth_time
                claims["amr"] = user.amr
                if user.acr:
                    claims["acr"] = user.acr
                if user.sid:
                    claims["sid"] = user.sid
            access_token = sign_jwt(claims, alg=config["DEFAULT_SIGNING_ALG"], typ="at+jwt")
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access_token,
            "expires_in": ttl,
            "scope": scope,
        }
        refresh_token = None
        if include_refresh_token and user is not None:
            refresh_token = random_token(32)
            token["refresh_token"] = refresh_token
        token["_meta"] = {"jti": jti, "audience": audience, "refresh_token": refresh_token}
        return token


def save_token(token: dict[str, Any], request: Any) -> None:
    meta = token.pop("_meta")
    subject: Subject | None = request.user if isinstance(request.user, Subject) else None
    now = clock.now()
    row = Token(
        client_id=request.client.get_client_id(),
        user_id=subject.user.id if subject else None,
        scope=token.get("scope", ""),
        jti=meta["jti"],
        access_token_hash=sha256_hex(token["access_token"]),
        refresh_token_hash=sha256_hex(meta["refresh_token"]) if meta["refresh_token"] else None,
        family_id=(subject.family_id if subject and subject.family_id else random_token(18)),
        code_id=subject.code_id if subject else None,
        acr=subject.acr if subject else None,
        amr=subject.amr if subject else [],
        auth_time=subject.auth_time if subject else None,
        sid=subject.sid if subject else None,
        audience=meta["audience"],
        issued_at=now,
        access_expires_at=now + int(token["expires_in"]),
        refresh_expires_at=(
            (subject.refresh_expires_at if subject and subject.refresh_expires_at else None)
            or now + current_app.config["REFRESH_TOKEN_TTL"]
            if meta["refresh_token"]
            else None
        ),
    )
    store.save_token(row)
    if subject and subject.code_id and store.code_replayed(subject.code_id):
        # The code was replayed while these tokens were being issued.
        store.revoke_family(row.family_id)
