"""The refresh token grant (RFC 6749 §6) with rotation and reuse detection
(RFC 9700 §4.14.2): a rotated refresh token presented again revokes its whole
family. Refreshed tokens keep the original authentication context (RFC 9470 §6.1).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import InvalidGrantError, grants

from provider.oidc.clients import AUTH_METHODS
from provider.oidc.server.claims import id_token
from provider.oidc.server.tokens import StoredToken, Subject
from provider.storage import audit
from provider.storage import grants as store
from provider.storage import users as user_store
from provider.storage.models import Token

__all__ = ["RefreshGrant"]


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
        user = user_store.active_user(row.user_id)
        if user is None:
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
            token["id_token"] = id_token(
                user, self.request.client, token["scope"], token["access_token"]
            )
        return token

    def revoke_old_credential(self, refresh_token: StoredToken) -> None:
        """Already consumed atomically by :meth:`issue_token`.

        A concurrent reuse may have revoked the family between our claim and
        ``save_token``; then the tokens just saved are revoked with it.
        """
        if store.revoked_now(refresh_token.row):
            store.revoke_family(refresh_token.row.family_id)
