"""The authorization code grant (RFC 6749 §4.1) with PKCE S256 only (RFC 7636,
RFC 9700 §2.1.1) and OpenID Connect's ID token (OIDC Core §3.1).

A code is consumed atomically when it is redeemed; a second redemption
revokes every token issued from it (RFC 6749 §4.1.2, docs/security.md case 34).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from flask import current_app
from sqlalchemy import Row

from provider import clock
from provider.crypto import random_token, sha256_hex
from provider.oidc.clients import AUTH_METHODS, OAuthClient
from provider.oidc.server.claims import id_token, user_claims
from provider.oidc.server.tokens import Subject
from provider.storage import audit
from provider.storage import grants as store
from provider.storage import users as user_store
from provider.storage.models import AuthorizationCode

__all__ = ["BelayOpenIDCode", "CodeGrant", "S256CodeChallenge", "StoredCode"]


class StoredCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """Authlib's view of a claimed authorization code: the Core row the claim's
    ``UPDATE … RETURNING`` gave back (its columns by name; no ORM object)."""

    def __init__(self, row: Row[Any]) -> None:
        self.row = row
        self.code_challenge: str | None = row.code_challenge
        self.code_challenge_method: str | None = row.code_challenge_method
        self.redirect_uri: str = row.redirect_uri
        self.scope: str = row.scope
        self.nonce: str | None = row.nonce
        self.auth_time: int = row.auth_time
        self.acr: str | None = row.acr
        self.amr: list[str] = list(row.amr or [])

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr)


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE with S256 only (RFC 9700 §2.1.1): ``plain`` is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("code_challenge_method must be S256 ('plain' is not allowed)")
        super().validate_code_challenge(grant, redirect_uri)
        if grant.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must use PKCE (code_challenge with S256)")

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        # docs/security.md case 33: a missing verifier for a code issued with a
        # challenge is invalid_grant (Authlib says invalid_request).
        request = grant.request
        if request.authorization_code.code_challenge and not request.form.get("code_verifier"):
            raise InvalidGrantError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def generate_authorization_code(self) -> str:
        # 256 bits in one read of the OS generator (Authlib draws 48 characters
        # one by one from SystemRandom: 48 reads).
        return random_token(32)

    def save_authorization_code(self, code: str, request: Any) -> None:
        subject: Subject = request.user
        data = request.payload.data
        now = clock.now()
        row = AuthorizationCode(
            code_hash=sha256_hex(code),
            client_id=request.client.get_client_id(),
            user_id=subject.user.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            acr=subject.acr,
            amr=list(subject.amr),
            auth_time=subject.auth_time,
            sid=subject.sid,
            resource=list(subject.audience),
            created_at=now,
            expires_at=now + current_app.config["AUTHORIZATION_CODE_TTL"],
        )
        store.save_code(row)

    def query_authorization_code(self, code: Any, client: OAuthClient) -> StoredCode | None:
        if not isinstance(code, str) or len(code) > 200:
            return None
        row = store.claim_code(code, client.get_client_id())
        if row is None:
            used = store.code_was_used(code, client.get_client_id())
            if used is not None:
                store.mark_code_replayed(used.id)
                revoked = store.revoke_tokens_from_code(used.id)
                audit.record(
                    "code_replay",
                    "refused",
                    user_id=used.user_id,
                    client_id=client.get_client_id(),
                    reason="authorization code used twice; tokens revoked",
                    details={"tokens_revoked": revoked},
                )
            return None
        return StoredCode(row)

    def delete_authorization_code(self, authorization_code: StoredCode) -> None:
        """Already consumed atomically by :meth:`query_authorization_code`."""

    def authenticate_user(self, stored: StoredCode) -> Subject | None:
        authorization_code = stored.row
        user = user_store.active_claims(authorization_code.user_id)
        if user is None:
            return None
        return Subject(
            user=user,
            acr=authorization_code.acr,
            amr=list(authorization_code.amr or []),
            auth_time=authorization_code.auth_time,
            sid=authorization_code.sid,
            audience=list(authorization_code.resource or []),
            nonce=authorization_code.nonce,
            code_id=authorization_code.id,
        )


class BelayOpenIDCode(OpenIDCode):  # type: ignore[misc]
    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False

    def generate_user_info(self, user: Subject, scope: str) -> dict[str, Any]:
        return user_claims(user.user, scope)

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        return id_token(
            request.user, request.client, token.get("scope", ""), token.get("access_token")
        )
