"""Authorization codes and issued tokens: atomic consumption and revocation.

Single-use values are consumed with a conditional ``UPDATE … RETURNING``,
atomic on SQLite and PostgreSQL alike (docs/security.md cases 34 and 35).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from provider import clock
from provider.crypto import sha256_hex
from provider.extensions import db
from provider.storage import first, insert_row, read_row, row_values
from provider.storage.models import AuthorizationCode, ClientAssertionJti, Token, User

__all__ = [
    "claim_code",
    "claim_refresh_token",
    "code_replayed",
    "code_was_used",
    "find_token",
    "find_token_by_refresh",
    "introspection_row",
    "mark_code_replayed",
    "remember_assertion_jti",
    "revoke_family",
    "revoke_token",
    "revoke_tokens_from_code",
    "revoked_now",
    "save_code",
    "save_token",
    "userinfo_row",
]

# The hot statements, built once (issue 20): no construction or cache key per request.
# (An UPDATE's bind names must differ from its columns'.)
_CLAIM_CODE = (
    update(AuthorizationCode)
    .where(
        AuthorizationCode.code_hash == bindparam("b_code_hash"),
        AuthorizationCode.client_id == bindparam("b_client_id"),
        AuthorizationCode.used_at.is_(None),
        AuthorizationCode.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("now"))
    .returning(*AuthorizationCode.__table__.columns)
)
_CODE_REPLAYED_AT = select(AuthorizationCode.replayed_at).where(
    AuthorizationCode.id == bindparam("code_id")
)
_BY_ACCESS_HASH = select(Token).where(Token.access_token_hash == bindparam("token_hash"))
_BY_REFRESH_HASH = select(Token).where(Token.refresh_token_hash == bindparam("token_hash"))
_INSERT_CODE = insert(AuthorizationCode)
_INSERT_TOKEN = insert(Token)
# /introspect: the token's columns and its user's name (None when the user is gone).
_INTROSPECT_ACCESS = (
    select(Token.__table__, User.username)
    .outerjoin(User, User.id == Token.user_id)
    .where(Token.access_token_hash == bindparam("token_hash"))
)
_INTROSPECT_REFRESH = (
    select(Token.__table__, User.username)
    .outerjoin(User, User.id == Token.user_id)
    .where(Token.refresh_token_hash == bindparam("token_hash"))
)
# /userinfo: the token's state and its user's claims in one read.
_USERINFO = (
    select(
        Token.revoked_at,
        Token.access_expires_at,
        Token.user_id,
        Token.scope,
        User.id,
        User.username,
        User.name,
        User.email,
        User.email_verified_at,
    )
    .outerjoin(User, User.id == Token.user_id)
    .where(Token.access_token_hash == bindparam("token_hash"))
)


def save_code(code: AuthorizationCode) -> None:
    """Inserted in the request's transaction (a Core ``INSERT``: nothing reads the row
    back): the authorize flow commits it with its audit row right after."""
    insert_row(_INSERT_CODE, row_values(code))


def claim_code(code: str, client_id: str) -> Row[Any] | None:
    """Mark a live code used and return it; None when unknown, expired or already used.

    Not committed here: the token endpoint commits the claim with the tokens it
    issues, or alone when the request fails after the claim (a code is spent by
    its first redemption either way). Until then the row is locked, so a
    concurrent redemption waits and then finds the code used. The row comes back
    as a Core row (its columns by name), read only: no ORM object is made.
    """
    now = clock.now()
    return read_row(
        _CLAIM_CODE, {"b_code_hash": sha256_hex(code), "b_client_id": client_id, "now": now}
    )


def code_was_used(code: str, client_id: str) -> AuthorizationCode | None:
    row = first(
        db.select(AuthorizationCode).where(
            AuthorizationCode.code_hash == sha256_hex(code),
            AuthorizationCode.client_id == client_id,
            AuthorizationCode.used_at.is_not(None),
        )
    )
    return row


def mark_code_replayed(code_id: int) -> None:
    db.session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.id == code_id)
        .values(replayed_at=clock.now())
    )
    db.session.commit()


def code_replayed(code_id: int) -> bool:
    return db.session.scalar(_CODE_REPLAYED_AT, {"code_id": code_id}) is not None


def revoke_tokens_from_code(code_id: int) -> int:
    """RFC 6749 §4.1.2: a replayed code revokes the tokens issued from it."""
    families = list(db.session.scalars(db.select(Token.family_id).where(Token.code_id == code_id)))
    count = 0
    for family in set(families):
        count += revoke_family(family, commit=False)
    db.session.commit()
    return count


def save_token(token: Token) -> None:
    """Insert (a Core ``INSERT``: nothing reads the row back) and commit."""
    insert_row(_INSERT_TOKEN, row_values(token))
    db.session.commit()


def find_token(access_token: str) -> Token | None:
    row: Token | None = db.session.scalar(_BY_ACCESS_HASH, {"token_hash": sha256_hex(access_token)})
    return row


def find_token_by_refresh(refresh_token: str) -> Token | None:
    row: Token | None = db.session.scalar(
        _BY_REFRESH_HASH, {"token_hash": sha256_hex(refresh_token)}
    )
    return row


def introspection_row(token: str, *, refresh: bool) -> Row[Any] | None:
    """For /introspect, read only: the token row by its access or refresh value, with
    ``username`` (None when the user is gone); None for an unknown token."""
    statement = _INTROSPECT_REFRESH if refresh else _INTROSPECT_ACCESS
    return read_row(statement, {"token_hash": sha256_hex(token)})


def userinfo_row(access_token: str) -> Row[Any] | None:
    """For /userinfo, read only: the access token's ``revoked_at``,
    ``access_expires_at``, ``user_id`` and ``scope``, with its user's ``id``,
    ``username``, ``name``, ``email`` and ``email_verified_at`` (None when the user
    is gone); None for an unknown token."""
    return read_row(_USERINFO, {"token_hash": sha256_hex(access_token)})


def claim_refresh_token(token_id: int) -> bool:
    """Consume a refresh token for rotation; False when someone else already did."""
    now = clock.now()
    row = db.session.execute(
        update(Token)
        .where(Token.id == token_id, Token.refresh_used_at.is_(None), Token.revoked_at.is_(None))
        .values(refresh_used_at=now)
        .returning(Token.id)
    ).first()
    db.session.commit()
    return row is not None


def revoke_family(family_id: str, *, commit: bool = True) -> int:
    result = db.session.execute(
        update(Token)
        .where(Token.family_id == family_id, Token.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    if commit:
        db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_token(token: Token, *, whole_family: bool) -> None:
    if whole_family:
        revoke_family(token.family_id)
        return
    db.session.execute(
        update(Token)
        .where(Token.id == token.id, or_(Token.revoked_at.is_(None)))
        .values(revoked_at=clock.now())
    )
    db.session.commit()


def revoked_now(token: Token) -> bool:
    """Whether ``token`` is revoked, as the database says now (the row is read again)."""
    db.session.refresh(token)
    return token.revoked_at is not None


def remember_assertion_jti(client_id: str, jti: str, expires_at: int) -> bool:
    """Record a client-assertion ``jti``; False if it was seen before (replay)."""
    now = clock.now()
    db.session.execute(db.delete(ClientAssertionJti).where(ClientAssertionJti.expires_at < now))
    try:
        with db.session.begin_nested():
            db.session.add(
                ClientAssertionJti(client_id=client_id, jti=jti[:200], expires_at=expires_at)
            )
    except IntegrityError:
        db.session.commit()
        return False
    db.session.commit()
    return True
