"""Passkeys from the admin's side: the attestation roots an authenticator's
attestation may chain to (docs/passkeys.md), and a user's registered passkeys."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from provider import clock
from provider.factors.passkey import load_pem_roots
from provider.storage import audit
from provider.storage import passkeys as store
from provider.storage.models import AttestationRoot, Passkey, User

__all__ = ["TrustedRoot", "attestation_roots", "trust_roots", "user_passkeys"]


@dataclass(frozen=True)
class TrustedRoot:
    fingerprint: str
    subject: str
    #: False when the root was trusted already
    added: bool


def trust_roots(pem: bytes, formats: Sequence[str], *, actor: str) -> list[TrustedRoot]:
    """Trust the root certificate(s) in ``pem`` for ``formats`` (every format
    when empty); each new one is audited. Raises ValueError for a bad PEM file."""
    result = []
    for fingerprint, subject, cert in load_pem_roots(pem):
        added = store.add_root(
            fingerprint=fingerprint,
            subject=subject,
            pem=cert.decode(),
            formats=formats,
            now=clock.now(),
        )
        if added:
            audit.record(
                "attestation_root_added",
                "success",
                details={"fingerprint": fingerprint, "subject": subject, "by": actor},
            )
        result.append(TrustedRoot(fingerprint, subject, added))
    return result


def attestation_roots() -> list[AttestationRoot]:
    return store.list_roots()


def user_passkeys(user: User) -> list[Passkey]:
    return store.list_for_user(user.id)
