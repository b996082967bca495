"""Signing-key rows: the private part encrypted by the data key, the public JWK,
when a key starts signing and when it was retired (provider/oidc/keys.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from provider.extensions import db
from provider.storage import first
from provider.storage.models import SigningKey

__all__ = ["KeyRow", "add_key", "commit", "has_key", "key_rows", "retire_keys"]

#: (kid, alg, activates_at, retired_at, public JWK, encrypted private JWK)
KeyRow = tuple[str, str, int, int | None, dict[str, Any], str]


def add_key(
    *,
    kid: str,
    alg: str,
    private_jwk: str,
    public_jwk: dict[str, Any],
    created_at: int,
    activates_at: int,
) -> SigningKey:
    """Add a key to the session (the caller commits with :func:`commit`)."""
    row = SigningKey(
        kid=kid,
        alg=alg,
        private_jwk=private_jwk,
        public_jwk=public_jwk,
        created_at=created_at,
        activates_at=activates_at,
    )
    db.session.add(row)
    return row


def has_key(alg: str) -> bool:
    """Whether any key (active, future or retired) exists for ``alg``."""
    return first(db.select(SigningKey.id).where(SigningKey.alg == alg).limit(1)) is not None


def retire_keys(alg: str, *, at: int) -> None:
    """Retire every not yet retired key of ``alg`` at ``at`` (not committed)."""
    db.session.execute(
        update(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.retired_at.is_(None))
        .values(retired_at=at)
    )


def commit() -> None:
    db.session.commit()


def key_rows() -> tuple[KeyRow, ...]:
    """Every key, oldest activation first."""
    rows = db.session.execute(
        db.select(
            SigningKey.kid,
            SigningKey.alg,
            SigningKey.activates_at,
            SigningKey.retired_at,
            SigningKey.public_jwk,
            SigningKey.private_jwk,
        ).order_by(SigningKey.activates_at)
    ).all()
    return tuple((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)
