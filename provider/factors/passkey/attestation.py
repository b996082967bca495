"""Attestation: the roots a registration's attestation statement is checked
against (configured PEM files and ``belay passkeys add-root``), and the
registration response's verification with and without them.

A registration that is valid but not chained to a root we trust is stored
unattested: its AAGUID stays the authenticator's claim, which no AAGUID
allow-list counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from webauthn import verify_registration_response
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import AttestationFormat, RegistrationCredential
from webauthn.registration.verify_registration_response import VerifiedRegistration

from provider.errors import N_
from provider.factors.passkey.wire import (
    ALLOWED_ALGORITHMS,
    PasskeyRejected,
    RelyingParty,
    b64url_decode,
)
from provider.storage import passkeys as store

__all__ = [
    "RootPems",
    "attestation_roots",
    "load_pem_roots",
    "roots_by_format",
    "verifies_with",
    "verify_registration",
]

#: PEM roots by attestation format name, read at each use
RootPems = Callable[[], Mapping[str, list[bytes]]]


def load_pem_roots(text: bytes) -> list[tuple[str, str, bytes]]:
    """The certificates in a PEM file: (SHA-256 fingerprint, subject, PEM) each.
    ``ValueError`` when there is none or one does not parse."""
    try:
        certs = x509.load_pem_x509_certificates(text)
    except ValueError as exc:
        raise ValueError(f"not PEM certificates: {exc}") from None
    return [
        (
            cert.fingerprint(hashes.SHA256()).hex(),
            cert.subject.rfc4514_string(),
            cert.public_bytes(serialization.Encoding.PEM),
        )
        for cert in certs
    ]


def attestation_roots(paths: str) -> Callable[[], dict[str, list[bytes]]]:
    """Roots by attestation format: the configured PEM files (read once, now)
    and those stored with ``belay passkeys add-root`` (read at each use)."""
    configured: list[bytes] = []
    for path in (p.strip() for p in paths.split(",")):
        if path:
            with open(path, "rb") as fh:
                configured.extend(pem for _, _, pem in load_pem_roots(fh.read()))
    formats = [f.value for f in AttestationFormat if f is not AttestationFormat.NONE]

    def roots() -> dict[str, list[bytes]]:
        by_fmt: dict[str, list[bytes]] = {fmt: list(configured) for fmt in formats}
        for row in store.list_roots():
            for fmt in row.formats or formats:
                by_fmt.setdefault(fmt, []).append(row.pem.encode())
        return {fmt: pems for fmt, pems in by_fmt.items() if pems}

    return roots


def roots_by_format(root_pems: RootPems) -> dict[AttestationFormat, list[bytes]]:
    """The roots keyed by py_webauthn's formats (unknown format names skipped)."""
    roots: dict[AttestationFormat, list[bytes]] = {}
    for fmt, pems in root_pems().items():
        try:
            roots[AttestationFormat(fmt)] = list(pems)
        except ValueError:
            continue
    return roots


def verify_registration(
    rp: RelyingParty,
    parsed: RegistrationCredential,
    challenge: str,
    roots: Mapping[AttestationFormat, list[bytes]] | None,
) -> VerifiedRegistration:
    """py_webauthn's registration checks; :class:`PasskeyRejected` when they fail.
    Valid but not chained to ``roots``: verified again without them (unattested)."""
    try:
        return verify_registration_response(
            credential=parsed,
            expected_challenge=b64url_decode(challenge),
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            require_user_presence=True,
            require_user_verification=False,
            supported_pub_key_algs=list(ALLOWED_ALGORITHMS),
            pem_root_certs_bytes_by_fmt=roots or None,
        )
    except WebAuthnException as exc:
        if roots and verifies_with(rp, parsed, challenge, None):
            # Valid, but not chained to a root we trust: registered unattested,
            # so its AAGUID stays a claim that no allow-list counts.
            return verify_registration(rp, parsed, challenge, None)
        if "alg" in str(exc):
            raise PasskeyRejected(
                N_("Passkeys of that kind are not accepted here."), reason="algorithm"
            ) from None
        raise PasskeyRejected(reason="invalid") from None
    except Exception:  # malformed CBOR and keys raise all sorts (docs/security.md C.20)
        raise PasskeyRejected(reason="malformed") from None


def verifies_with(
    rp: RelyingParty,
    parsed: RegistrationCredential,
    challenge: str,
    roots: Mapping[AttestationFormat, list[bytes]] | None,
) -> bool:
    try:
        verify_registration_response(
            credential=parsed,
            expected_challenge=b64url_decode(challenge),
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
            supported_pub_key_algs=list(ALLOWED_ALGORITHMS),
            pem_root_certs_bytes_by_fmt=roots or None,
        )
    except Exception:
        return False
    return True
