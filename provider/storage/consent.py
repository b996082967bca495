"""The scopes each user has granted each client."""

from __future__ import annotations

from provider import clock
from provider.extensions import db
from provider.storage.models import Consent

__all__ = ["consented_scopes", "grant_consent"]


def consented_scopes(user_id: int, client_id: str) -> set[str]:
    row = db.session.scalar(
        db.select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    return set(row.scope.split()) if row else set()


def grant_consent(user_id: int, client_id: str, scopes: set[str]) -> None:
    row = db.session.scalar(
        db.select(Consent).where(Consent.user_id == user_id, Consent.client_id == client_id)
    )
    if row is None:
        row = Consent(user_id=user_id, client_id=client_id, scope="", granted_at=clock.now())
        db.session.add(row)
    row.scope = " ".join(sorted(set(row.scope.split()) | scopes))
    row.granted_at = clock.now()
    db.session.commit()
