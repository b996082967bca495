"""The Authlib authorization server: grants, client authentication, token
issuance, introspection (RFC 7662) and revocation (RFC 7009).

``acr``, ``amr`` and ``auth_time`` are stamped on the authorization code from
the session's recorded events and copied from there to every token, refreshed
ones included (RFC 9068 §2.2.1, RFC 9470 §6.1) — never recomputed from "now"
or a user column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, TokenMixin, grants
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidScopeError,
    UnsupportedTokenTypeError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from flask import Flask, current_app
from joserfc import jwk, jwt

from provider import clock
from provider.crypto import random_token, sha256_hex
from provider.extensions import db
from provider.oidc.clients import AUTH_METHODS, OAuthClient
from provider.oidc.keys import KeyRing
from provider.storage import accounts, audit
from provider.storage import grants as store
from provider.storage.models import AuthorizationCode, Token, User

__all__ = ["Subject", "create_server", "sign_jwt", "user_claims"]

CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


@dataclass
class Subject:
    """The authenticated user together with how and when they authenticated.

    Authlib passes "the user" to token generators; we pass this, so the
    authentication context travels with the grant.
    """

    user: User
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


def user_claims(user: User, scope: str) -> dict[str, Any]:
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
        return db.session.get(User, self.row.user_id) if self.row.user_id else None

    def get_client(self) -> OAuthClient | None:
        return query_client(self.row.client_id)


class StoredCode(AuthorizationCodeMixin):  # type: ignore[misc]
    """Authlib's view of an authorization code row."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_acr(self) -> str | None:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return list(self.row.amr or [])


def query_client(client_id: Any) -> OAuthClient | None:
    if not isinstance(client_id, str) or not 0 < len(client_id) <= 200 or "\x00" in client_id:
        return None
    model = accounts.get_client(client_id)
    return OAuthClient(model) if model else None


def _id_token(subject: Subject, client: OAuthClient, scope: str, access_token: str | None) -> str:
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
        user = db.session.get(User, authorization_code.user_id)
        if user is None or user.disabled_at is not None:
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
        return _id_token(
            request.user, request.client, token.get("scope", ""), token.get("access_token")
        )


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: Any) -> StoredToken | None:
        if not isinstance(refresh_token, str) or len(refresh_token) > 200:
            return None
        row = store.find_token_by_refresh(refresh_token)
        if row is None:
            return None
        if row.refresh_used_at is not None and row.revoked_at is None:
            self._reuse_detected(row)
            return None
        stored = StoredToken(row, is_refresh=True)
        if stored.is_revoked() or stored.is_expired():
            return None
        return stored

    def _reuse_detected(self, row: Token) -> None:
        count = store.revoke_family(row.family_id)
        # Once more, in a statement that starts after the first one committed: a
        # rotation racing with this reuse either sees the first revocation when
        # it checks (``revoke_old_credential``) or saved its token before this
        # statement began (PostgreSQL's READ COMMITTED takes a snapshot per
        # statement, so the first one may have missed a token being saved).
        count += store.revoke_family(row.family_id)
        audit.record(
            "refresh_reuse",
            "refused",
            user_id=row.user_id,
            client_id=row.client_id,
            reason="rotated refresh token presented again; family revoked",
            details={"tokens_revoked": count},
        )

    def authenticate_user(self, refresh_token: StoredToken) -> Subject | None:
        row = refresh_token.row
        user = db.session.get(User, row.user_id) if row.user_id else None
        if user is None or user.disabled_at is not None:
            return None
        # Refresh keeps the original authentication context (RFC 9470 §6.1).
        return Subject(
            user=user,
            acr=row.acr,
            amr=list(row.amr or []),
            auth_time=row.auth_time,
            sid=row.sid,
            audience=list(row.audience or []),
            family_id=row.family_id,
            refresh_expires_at=row.refresh_expires_at,
        )

    def issue_token(self, user: Subject, refresh_token: StoredToken) -> dict[str, Any]:
        if not store.claim_refresh_token(refresh_token.row.id):
            self._reuse_detected(refresh_token.row)
            raise InvalidGrantError("The refresh token was already used.")
        token: dict[str, Any] = super().issue_token(user, refresh_token)
        if "openid" in token.get("scope", "").split():
            token["id_token"] = _id_token(
                user, self.request.client, token["scope"], token["access_token"]
            )
        return token

    def revoke_old_credential(self, refresh_token: StoredToken) -> None:
        """Already consumed atomically by :meth:`issue_token`.

        A concurrent reuse may have revoked the family between our claim and
        ``save_token``; then the tokens just saved are revoked with it.
        """
        db.session.refresh(refresh_token.row)
        if refresh_token.row.revoked_at is not None:
            store.revoke_family(refresh_token.row.family_id)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_requested_scope(self) -> None:
        # Authlib would issue any requested scope here: never more than registered.
        requested = set((self.request.payload.scope or "").split())
        if not requested <= set(self.request.client.model.scope.split()):
            raise InvalidScopeError("The client is not registered for this scope.")


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


class Introspection(_TokenTypeHint, IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> StoredToken | None:
        if not isinstance(token_string, str) or len(token_string) > 4096:
            return None
        if token_type_hint != "refresh_token":
            row = store.find_token(token_string)
            if row is not None:
                return StoredToken(row)
        row = store.find_token_by_refresh(token_string)
        if row is not None:
            return StoredToken(row, is_refresh=True)
        if token_type_hint == "refresh_token":
            row = store.find_token(token_string)
            return StoredToken(row) if row else None
        return None

    def check_permission(self, token: StoredToken, client: OAuthClient, request: Any) -> bool:
        """RFC 7662 §4: a client learns about a token only when it is the token's own
        client or, for an access token, a resource server named in its audience;
        any other client gets ``{"active": false}`` (docs/security.md case 56)."""
        client_id = client.get_client_id()
        if token.row.client_id == client_id:
            return True
        return not token.is_refresh and client_id in (token.row.audience or [])

    def introspect_token(self, token: StoredToken) -> dict[str, Any]:
        row = token.row
        user = token.get_user()
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
        if user is not None:
            payload["username"] = user.username
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
