"""Queries for passkeys: credentials, user handles, challenges, attestation roots.

- Challenges are consumed with one ``DELETE … RETURNING`` on (session,
  ceremony) (docs/security.md C.14): the first attempt to use a challenge deletes
  it, pass or fail, and of any number of racing attempts exactly one gets it,
  on SQLite and PostgreSQL alike.
- The sign count is advanced with a conditional ``UPDATE … WHERE … RETURNING``
  (C.17): an assertion whose counter is not above the stored one never moves
  it, even when two race.
- Credential ids are unique across users (a unique index on their SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from provider.extensions import db
from provider.storage import first, transaction
from provider.storage.models import (
    AttestationRoot,
    Client,
    Passkey,
    PasskeyUserHandle,
    WebAuthnChallenge,
)

__all__ = [
    "ConsumedChallenge",
    "CredentialExists",
    "add_root",
    "advance_sign_count",
    "any_client_restricts_aaguids",
    "consume_challenge",
    "credential_hash",
    "delete_passkey",
    "find_by_credential_id",
    "get_for_user",
    "list_for_user",
    "list_roots",
    "rename_passkey",
    "save_challenge",
    "save_passkey",
    "user_for_handle",
    "user_handle",
]


class CredentialExists(Exception):
    """The credential id is already registered (to this user or another)."""


@dataclass(frozen=True)
class ConsumedChallenge:
    """A challenge taken out of the database (it no longer exists there)."""

    challenge: str
    ceremony: str
    session_id: int
    user_id: int | None
    context: dict[str, Any]
    expires_at: int


def credential_hash(credential_id: str) -> str:
    """SHA-256 (hex) of a base64url credential id, the unique lookup key."""
    return hashlib.sha256(credential_id.encode("ascii", "replace")).hexdigest()


# -- user handles -----------------------------------------------------------------


def user_handle(user_id: int) -> str:
    """The user's WebAuthn user handle (base64url of 64 random bytes), made once."""
    for attempt in range(2):
        existing = first(
            select(PasskeyUserHandle.handle).where(PasskeyUserHandle.user_id == user_id)
        )
        if existing is not None:
            return existing
        try:
            with transaction():
                handle = base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()
                db.session.add(PasskeyUserHandle(user_id=user_id, handle=handle))
            return handle
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def user_for_handle(handle: str) -> int | None:
    value = first(select(PasskeyUserHandle.user_id).where(PasskeyUserHandle.handle == handle))
    return value


# -- credentials ------------------------------------------------------------------


_FOR_USER = select(Passkey).where(Passkey.user_id == bindparam("user_id")).order_by(Passkey.id)


def list_for_user(user_id: int) -> list[Passkey]:
    return list(db.session.scalars(_FOR_USER, {"user_id": user_id}))


def get_for_user(user_id: int, passkey_id: int) -> Passkey | None:
    row = first(select(Passkey).where(Passkey.user_id == user_id, Passkey.id == passkey_id))
    return row


def find_by_credential_id(credential_id: str) -> Passkey | None:
    row = first(select(Passkey).where(Passkey.credential_id_hash == credential_hash(credential_id)))
    if row is not None and row.credential_id != credential_id:
        return None  # pragma: no cover - a SHA-256 collision
    return row


def save_passkey(
    *,
    user_id: int,
    credential_id: str,
    public_key: bytes,
    sign_count: int,
    transports: Sequence[str],
    aaguid: str,
    attestation_fmt: str,
    attested: bool,
    backup_eligible: bool,
    backup_state: bool,
    name: str,
    now: int,
) -> Passkey:
    """Store a new credential; :class:`CredentialExists` when its id is taken."""
    row = Passkey(
        user_id=user_id,
        credential_id=credential_id,
        credential_id_hash=credential_hash(credential_id),
        public_key=public_key,
        sign_count=sign_count,
        transports=list(transports),
        aaguid=aaguid,
        attestation_fmt=attestation_fmt,
        attested=attested,
        backup_eligible=backup_eligible,
        backup_state=backup_state,
        name=name,
        created_at=now,
        last_used_at=None,
    )
    try:
        with transaction():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        raise CredentialExists(credential_id) from None
    return row


def advance_sign_count(passkey_id: int, *, new_count: int, backup_state: bool, now: int) -> bool:
    """Record a use: the new counter only when it is above the stored one (or both
    are zero, an authenticator without a counter). False when it was not."""
    with transaction():
        result = db.session.execute(
            update(Passkey)
            .where(
                Passkey.id == passkey_id,
                or_(
                    Passkey.sign_count < new_count,
                    and_(Passkey.sign_count == 0, new_count == 0),  # type: ignore[arg-type]
                ),
            )
            .values(sign_count=new_count, backup_state=backup_state, last_used_at=now)
            .returning(Passkey.id)
        )
        return result.first() is not None


def rename_passkey(user_id: int, passkey_id: int, name: str) -> bool:
    with transaction():
        result = db.session.execute(
            update(Passkey)
            .where(Passkey.user_id == user_id, Passkey.id == passkey_id)
            .values(name=name)
            .returning(Passkey.id)
        )
        return result.first() is not None


def delete_passkey(user_id: int, passkey_id: int) -> bool:
    with transaction():
        result = db.session.execute(
            delete(Passkey)
            .where(Passkey.user_id == user_id, Passkey.id == passkey_id)
            .returning(Passkey.id)
        )
        return result.first() is not None


# -- challenges -------------------------------------------------------------------


def save_challenge(
    *,
    session_id: int,
    ceremony: str,
    challenge: str,
    user_id: int | None,
    context: dict[str, Any],
    now: int,
    ttl: int,
) -> None:
    """Store the session's challenge for ``ceremony``, replacing an older one."""
    for attempt in range(2):
        try:
            with transaction():
                db.session.execute(
                    delete(WebAuthnChallenge).where(
                        or_(
                            and_(
                                WebAuthnChallenge.session_id == session_id,
                                WebAuthnChallenge.ceremony == ceremony,
                            ),
                            WebAuthnChallenge.expires_at <= now,
                        )
                    )
                )
                db.session.add(
                    WebAuthnChallenge(
                        session_id=session_id,
                        ceremony=ceremony,
                        challenge=challenge,
                        user_id=user_id,
                        context=dict(context),
                        created_at=now,
                        expires_at=now + ttl,
                    )
                )
            return
        except IntegrityError:
            if attempt:
                raise


def consume_challenge(session_id: int, ceremony: str) -> ConsumedChallenge | None:
    """Take the session's challenge for ``ceremony`` out of the database (whether
    or not it is still valid: the caller checks ``expires_at``)."""
    with transaction():
        result = db.session.execute(
            delete(WebAuthnChallenge)
            .where(
                WebAuthnChallenge.session_id == session_id,
                WebAuthnChallenge.ceremony == ceremony,
            )
            .returning(
                WebAuthnChallenge.challenge,
                WebAuthnChallenge.user_id,
                WebAuthnChallenge.context,
                WebAuthnChallenge.expires_at,
            )
        )
        row = result.first()
    if row is None:
        return None
    return ConsumedChallenge(
        challenge=str(row[0]),
        ceremony=ceremony,
        session_id=session_id,
        user_id=row[1],
        context=dict(row[2] or {}),
        expires_at=int(row[3]),
    )


# -- attestation roots --------------------------------------------------------------


def add_root(*, fingerprint: str, subject: str, pem: str, formats: Sequence[str], now: int) -> bool:
    """Store a root certificate; False when it is already there."""
    try:
        with transaction():
            db.session.add(
                AttestationRoot(
                    fingerprint=fingerprint,
                    subject=subject[:500],
                    pem=pem,
                    formats=list(formats),
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def list_roots() -> list[AttestationRoot]:
    return list(db.session.scalars(select(AttestationRoot).order_by(AttestationRoot.id)))


def any_client_restricts_aaguids() -> bool:
    """Whether some client's policy has a non-empty ``allowed_aaguids``."""
    return any(
        isinstance(policy, dict) and policy.get("allowed_aaguids")
        for policy in db.session.scalars(select(Client.policy))
    )
