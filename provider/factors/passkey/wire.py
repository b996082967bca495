"""What a WebAuthn ceremony carries, and the checks on its shape.

base64url, the credential JSON, ``clientDataJSON`` (never cross-origin:
WebAuthn §7.2 step 13 leaves it to the RP, and we are never embedded),
credential descriptors, who we are (:class:`RelyingParty`) and the refusals
(:class:`PasskeyRejected`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    UserVerificationRequirement,
)

from provider.errors import N_
from provider.factors.base import FactorError, Verified
from provider.storage.models import Passkey

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MAX_CREDENTIAL_ID_BYTES",
    "MAX_NAME_LENGTH",
    "TRANSPORTS",
    "Assertion",
    "PasskeyRejected",
    "PasskeySubmission",
    "RelyingParty",
    "SignCountRegression",
    "UserVerification",
    "b64url_decode",
    "b64url_encode",
    "check_cross_origin",
    "client_data",
    "descriptor",
    "parse_json",
    "text",
    "trusted_aaguid",
    "uv_requirement",
]

UserVerification = Literal["required", "preferred", "discouraged"]

#: ES256, EdDSA, RS256 (COSE algorithm identifiers -7, -8, -257), in preference order
ALLOWED_ALGORITHMS: tuple[COSEAlgorithmIdentifier, ...] = (
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
)
MAX_CREDENTIAL_ID_BYTES = 1023
MAX_NAME_LENGTH = 100
TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)

REJECTED_MESSAGE = N_("That passkey could not be checked. Try again.")
UV_MESSAGE = N_(
    "Your passkey did not verify it's you (no fingerprint, face or device PIN). "
    "Use a passkey that asks for one."
)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: str) -> bytes:
    """Strict base64url (no padding needed); ``ValueError`` otherwise."""
    if not isinstance(value, str) or not value.isascii():
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


class PasskeyRejected(FactorError):
    """The passkey response failed a check (the reason goes to the audit log)."""

    code = "invalid_passkey"

    def __init__(self, message: str = REJECTED_MESSAGE, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class SignCountRegression(PasskeyRejected):
    """The signature counter went backwards: the authenticator may be cloned."""

    code = "invalid_passkey"


@dataclass(frozen=True)
class RelyingParty:
    """Who we are to authenticators; from configuration only."""

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]


class PasskeySubmission(dict[str, str]):
    """A ``navigator.credentials.get()`` response together with the challenge the
    web layer consumed for it. Only server code builds one."""

    def __init__(
        self,
        *,
        credential: str,
        challenge: str,
        user_verification: UserVerification,
        allowed_credential_ids: Sequence[str] | None,
    ) -> None:
        super().__init__(credential=credential)
        self.challenge = challenge
        self.user_verification: UserVerification = user_verification
        self.allowed_credential_ids = (
            tuple(allowed_credential_ids) if allowed_credential_ids is not None else None
        )


@dataclass(frozen=True)
class Assertion:
    """A verified assertion: whose it is and the event it makes."""

    user_id: int
    verified: Verified


def uv_requirement(value: str) -> UserVerificationRequirement:
    return {
        "required": UserVerificationRequirement.REQUIRED,
        "preferred": UserVerificationRequirement.PREFERRED,
        "discouraged": UserVerificationRequirement.DISCOURAGED,
    }.get(value, UserVerificationRequirement.REQUIRED)


def parse_json(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        raise PasskeyRejected(reason="malformed") from None
    if not isinstance(value, dict):
        raise PasskeyRejected(reason="malformed")
    return value


def client_data(credential: Mapping[str, Any]) -> dict[str, Any]:
    response = credential.get("response")
    if not isinstance(response, dict):
        raise PasskeyRejected(reason="malformed")
    raw = response.get("clientDataJSON")
    if not isinstance(raw, str):
        raise PasskeyRejected(reason="malformed")
    try:
        data = json.loads(b64url_decode(raw))
    except (ValueError, TypeError, RecursionError, UnicodeDecodeError):
        raise PasskeyRejected(reason="malformed") from None
    if not isinstance(data, dict):
        raise PasskeyRejected(reason="malformed")
    return data


def check_cross_origin(client_data: Mapping[str, Any]) -> None:
    # Only an absent or literally false crossOrigin is same-origin (py_webauthn
    # would read the string "false" as true and never refuses either way).
    if client_data.get("crossOrigin", False) is not False:
        raise PasskeyRejected(reason="cross_origin")
    if client_data.get("topOrigin") is not None:
        raise PasskeyRejected(reason="cross_origin")


def text(value: object) -> str:
    """An enum member's value, or the string py_webauthn left unconverted."""
    return str(getattr(value, "value", value))


def trusted_aaguid(row: Passkey) -> str | None:
    """The AAGUID the policy may rely on: only an attested one (verified against
    a root the admin supplied). Without attestation an AAGUID is only the
    authenticator's claim, so no AAGUID allow-list counts it."""
    return row.aaguid if row.attested else None


def descriptor(credential_id: str, transports: Sequence[str]) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=b64url_decode(credential_id),
        transports=[AuthenticatorTransport(t) for t in transports if t in TRANSPORTS] or None,
    )
