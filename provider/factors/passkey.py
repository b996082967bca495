"""Passkeys (WebAuthn Level 3): ``amr`` ``hwk``/``swk`` (+ ``user`` with UV).

py_webauthn checks the challenge, origin, rpIdHash, UP, UV when asked, the
signature and the attestation statement. docs/security.md section C lists what it
does not do, which we do here:

- the credential belongs to the user (and, for a discoverable login, the
  ``userHandle`` is the owner's: WebAuthn §7.2 step 6 "verify that the user
  account identified by response.userHandle … owns the credential");
- ``clientDataJSON.crossOrigin`` is not true (we are never embedded: §7.2
  step 13 leaves it to the RP; ``frame-ancestors 'none'``);
- the sign count never goes backwards (§7.2 step 22: "this is a signal that
  the authenticator may be cloned"): refused and audited, with an atomic
  conditional UPDATE;
- the BE flag never changes after registration (§6.1.3: "the value of the BE
  flag … will not change") and BE=0 with BS=1 is refused (§6.1 "If BE is not
  set, then BS MUST NOT be set");
- credential ids are unique and at most 1023 bytes (§5.1.3 / §7.1 step 23:
  "If credentialId is longer than 1023 bytes, RP SHOULD fail");
- only ES256, EdDSA and RS256 keys (COSE -7, -8, -257).

Challenges (single-use, per session and ceremony, short-lived) are consumed by
the caller before anything here runs; a :class:`PasskeySubmission` carries the
consumed challenge in. A plain form post is never one, so the generic
``/challenge`` form path cannot choose its own challenge.

The origin and RP ID come from configuration (``RP_ID``, ``ORIGINS``), never
from request headers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_attestation_object,
    parse_authentication_credential_json,
    parse_authenticator_data,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from provider import clock
from provider.factors.base import FactorError, NotEnrolled, Verified
from provider.policy import POSSESSION, EnrolledMethod, event_for
from provider.storage import audit
from provider.storage import passkeys as store
from provider.storage.models import Passkey

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MAX_CREDENTIAL_ID_BYTES",
    "Assertion",
    "PasskeyFactor",
    "PasskeyRejected",
    "PasskeySubmission",
    "RelyingParty",
    "SignCountRegression",
    "UserVerification",
    "attestation_roots",
    "b64url_decode",
    "b64url_encode",
    "load_pem_roots",
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
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)

REJECTED_MESSAGE = "That passkey could not be checked. Try again."
UV_MESSAGE = (
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


def _user_verification(value: str) -> UserVerificationRequirement:
    return {
        "required": UserVerificationRequirement.REQUIRED,
        "preferred": UserVerificationRequirement.PREFERRED,
        "discouraged": UserVerificationRequirement.DISCOURAGED,
    }.get(value, UserVerificationRequirement.REQUIRED)


def _parse_json(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        raise PasskeyRejected(reason="malformed") from None
    if not isinstance(value, dict):
        raise PasskeyRejected(reason="malformed")
    return value


def _client_data(credential: Mapping[str, Any]) -> dict[str, Any]:
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


def _check_cross_origin(client_data: Mapping[str, Any]) -> None:
    # Only an absent or literally false crossOrigin is same-origin (py_webauthn
    # would read the string "false" as true and never refuses either way).
    if client_data.get("crossOrigin", False) is not False:
        raise PasskeyRejected(reason="cross_origin")
    if client_data.get("topOrigin") is not None:
        raise PasskeyRejected(reason="cross_origin")


def load_pem_roots(text: bytes) -> list[tuple[str, str, bytes]]:
    """The certificates in a PEM file: (SHA-256 fingerprint, subject, PEM) each.
    ``ValueError`` when there is none or one does not parse."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

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


def _text(value: object) -> str:
    """An enum member's value, or the string py_webauthn left unconverted."""
    return str(getattr(value, "value", value))


def _trusted_aaguid(row: Passkey) -> str | None:
    """The AAGUID the policy may rely on: only an attested one (verified against
    a root the admin supplied). Without attestation an AAGUID is only the
    authenticator's claim, so no AAGUID allow-list counts it."""
    return row.aaguid if row.attested else None


class PasskeyFactor:
    """WebAuthn credentials, any number per user."""

    method = "passkey"
    #: every value a passkey event can carry (the event's own come from event_for)
    amr: tuple[str, ...] = ("hwk", "swk", "user")
    category = POSSESSION
    form_id = "passkey-form"
    fields: tuple[str, ...] = ("credential",)
    label = "Passkey"

    def __init__(
        self,
        *,
        relying_party: RelyingParty,
        root_pems: Callable[[], Mapping[str, list[bytes]]] | None = None,
        timeout_ms: int = 120_000,
        now: Callable[[], int] = clock.now,
    ) -> None:
        self.rp = relying_party
        self._root_pems = root_pems or (lambda: {})
        self.timeout_ms = timeout_ms
        self._now = now

    # -- registration ---------------------------------------------------------------

    def registration_options(
        self,
        *,
        user_id: int,
        user_name: str,
        display_name: str | None,
        challenge: bytes,
        attestation: Literal["none", "direct"],
    ) -> dict[str, Any]:
        """``PublicKeyCredentialCreationOptions`` as JSON (residentKey preferred, the
        user's credentials excluded, only the allowed algorithms)."""
        handle = store.user_handle(user_id)
        options = generate_registration_options(
            rp_id=self.rp.rp_id,
            rp_name=self.rp.rp_name,
            user_name=user_name,
            user_id=b64url_decode(handle),
            user_display_name=display_name or user_name,
            challenge=challenge,
            timeout=self.timeout_ms,
            attestation=AttestationConveyancePreference(attestation),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                self._descriptor(row.credential_id, row.transports)
                for row in store.list_for_user(user_id)
            ],
            supported_pub_key_algs=list(ALLOWED_ALGORITHMS),
        )
        return options_to_json_dict(options)

    def register(
        self,
        *,
        user_id: int,
        credential: str | Mapping[str, Any],
        challenge: str,
        name: str,
    ) -> Passkey:
        """Verify a ``navigator.credentials.create()`` response and store the passkey.

        Raises :class:`PasskeyRejected` (reason in ``.reason``).
        """
        body = _parse_json(credential)
        _check_cross_origin(_client_data(body))
        raw_id = body.get("rawId") if isinstance(body.get("rawId"), str) else body.get("id")
        if not isinstance(raw_id, str):
            raise PasskeyRejected(reason="malformed")
        try:
            id_bytes = b64url_decode(raw_id)
        except ValueError:
            raise PasskeyRejected(reason="malformed") from None
        if len(id_bytes) > MAX_CREDENTIAL_ID_BYTES:
            raise PasskeyRejected(
                "That passkey's id is too long to register.", reason="credential_id_too_long"
            )
        try:
            parsed = parse_registration_credential_json(body)
        except Exception:
            raise PasskeyRejected(reason="malformed") from None
        roots = self._roots_by_fmt()
        verified = self._verify_registration(parsed, challenge, roots)
        attested = False
        if roots.get(verified.fmt):
            statement = parse_attestation_object(verified.attestation_object).att_stmt
            # Verified against the admin's roots (an x5c chain, not self-attestation).
            attested = bool(statement.x5c) and self._verifies_with(parsed, challenge, roots)
        if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
            raise PasskeyRejected(
                "That passkey's id is too long to register.", reason="credential_id_too_long"
            )
        credential_id = b64url_encode(verified.credential_id)
        if credential_id != b64url_encode(id_bytes):
            raise PasskeyRejected(reason="credential_id_mismatch")
        be = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
        bs = bool(verified.credential_backed_up)
        transports = [
            _text(t) for t in (parsed.response.transports or []) if _text(t) in _TRANSPORTS
        ]
        clean_name = " ".join(name.split())[:MAX_NAME_LENGTH] or "Passkey"
        try:
            return store.save_passkey(
                user_id=user_id,
                credential_id=credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=transports,
                aaguid=verified.aaguid.lower(),
                attestation_fmt=_text(verified.fmt),
                attested=attested,
                backup_eligible=be,
                backup_state=bs,
                name=clean_name,
                now=self._now(),
            )
        except store.CredentialExists:
            raise PasskeyRejected(
                "That passkey is already registered.", reason="credential_exists"
            ) from None

    # -- authentication ---------------------------------------------------------------

    def authentication_options(
        self,
        *,
        challenge: bytes,
        user_verification: UserVerification,
        passkey_ids: Sequence[int] | None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """``PublicKeyCredentialRequestOptions`` as JSON. ``passkey_ids`` None:
        discoverable credentials (empty ``allowCredentials``)."""
        allow: list[PublicKeyCredentialDescriptor] = []
        if passkey_ids is not None and user_id is not None:
            wanted = set(passkey_ids)
            allow = [
                self._descriptor(row.credential_id, row.transports)
                for row in store.list_for_user(user_id)
                if row.id in wanted
            ]
        options = generate_authentication_options(
            rp_id=self.rp.rp_id,
            challenge=challenge,
            timeout=self.timeout_ms,
            allow_credentials=allow,
            user_verification=_user_verification(user_verification),
        )
        return options_to_json_dict(options)

    def authenticate(
        self,
        *,
        credential: str | Mapping[str, Any],
        challenge: str,
        user_verification: UserVerification,
        expected_user_id: int | None,
        allowed_credential_ids: Sequence[str] | None = None,
        client_id: str | None = None,
    ) -> Assertion:
        """Verify a ``navigator.credentials.get()`` response.

        ``expected_user_id`` None is a first-factor login with a discoverable
        credential: the ``userHandle`` must then be the credential owner's.
        ``allowed_credential_ids`` (``passkey:<id>`` values) limits which of the
        user's credentials count. Raises :class:`PasskeyRejected`.
        """
        body = _parse_json(credential)
        client_data = _client_data(body)
        _check_cross_origin(client_data)
        try:
            parsed = parse_authentication_credential_json(body)
        except Exception:
            raise PasskeyRejected(reason="malformed") from None
        credential_id = b64url_encode(parsed.raw_id)
        if len(parsed.raw_id) > MAX_CREDENTIAL_ID_BYTES:
            raise PasskeyRejected(reason="unknown_credential")
        row = store.find_by_credential_id(credential_id)
        if row is None:
            raise PasskeyRejected(
                "That passkey is not registered here.", reason="unknown_credential"
            )
        if expected_user_id is not None and row.user_id != expected_user_id:
            raise PasskeyRejected("That passkey belongs to another account.", reason="not_owner")
        user_handle = parsed.response.user_handle
        if expected_user_id is None and user_handle is None:
            raise PasskeyRejected(reason="user_handle_missing")
        if user_handle is not None and b64url_encode(user_handle) != store.user_handle(row.user_id):
            raise PasskeyRejected(reason="user_handle_mismatch")
        passkey_ref = f"passkey:{row.id}"
        if allowed_credential_ids is not None and passkey_ref not in allowed_credential_ids:
            raise PasskeyRejected(
                "That passkey is not accepted by this application.", reason="not_allowed"
            )
        try:
            auth_data = parse_authenticator_data(parsed.response.authenticator_data)
        except Exception:
            raise PasskeyRejected(reason="malformed") from None
        require_uv = user_verification == "required"
        if not auth_data.flags.up:
            raise PasskeyRejected(reason="user_presence")
        if require_uv and not auth_data.flags.uv:
            raise PasskeyRejected(UV_MESSAGE, reason="user_verification")
        if auth_data.flags.bs and not auth_data.flags.be:
            raise PasskeyRejected(reason="backup_flags")
        if bool(auth_data.flags.be) != bool(row.backup_eligible):
            raise PasskeyRejected(reason="backup_eligibility_changed")
        stored_count = int(row.sign_count)
        try:
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=b64url_decode(challenge),
                expected_rp_id=self.rp.rp_id,
                expected_origin=list(self.rp.origins),
                credential_public_key=row.public_key,
                # Our own check below, after the signature, so a regression is
                # audited only for a genuine signature (a cloned authenticator).
                credential_current_sign_count=0,
                require_user_verification=require_uv,
            )
        except WebAuthnException:
            raise PasskeyRejected(reason="invalid") from None
        except Exception:
            raise PasskeyRejected(reason="malformed") from None
        presented = int(verified.new_sign_count)
        if (presented or stored_count) and presented <= stored_count:
            self._audit_regression(row, stored_count, presented, client_id)
            raise SignCountRegression(
                "This passkey looks copied (its use counter went backwards): it was refused. "
                "Use another way to sign in and check your devices.",
                reason="sign_count_regression",
            )
        if not store.advance_sign_count(
            row.id, new_count=presented, backup_state=bool(auth_data.flags.bs), now=self._now()
        ):
            # Another assertion with a higher counter landed meanwhile.
            self._audit_regression(row, stored_count, presented, client_id)
            raise SignCountRegression(reason="sign_count_regression")
        uv = bool(verified.user_verified)
        be = bool(row.backup_eligible)
        event = event_for(
            "passkey",
            self._now(),
            uv=uv,
            backup_eligible=be,
            aaguid=_trusted_aaguid(row),
            credential_id=passkey_ref,
        )
        return Assertion(
            user_id=row.user_id,
            verified=Verified(
                "passkey",
                event.amr,
                credential_id=passkey_ref,
                details={
                    "uv": uv,
                    "backup_eligible": be,
                    "backup_state": bool(auth_data.flags.bs),
                    "aaguid": _trusted_aaguid(row),
                },
            ),
        )

    # -- the Factor protocol ----------------------------------------------------------

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        return [
            EnrolledMethod(
                "passkey",
                credential_id=f"passkey:{row.id}",
                backup_eligible=bool(row.backup_eligible),
                aaguid=_trusted_aaguid(row),
            )
            for row in store.list_for_user(user_id)
        ]

    def verify(self, user_id: int, submitted: Mapping[str, str]) -> Verified:
        if not isinstance(submitted, PasskeySubmission):
            raise PasskeyRejected("Use the passkey button to confirm.", reason="not_a_ceremony")
        if not store.list_for_user(user_id):
            raise NotEnrolled("You have no passkey.")
        return self.authenticate(
            credential=submitted.get("credential", ""),
            challenge=submitted.challenge,
            user_verification=submitted.user_verification,
            expected_user_id=user_id,
            allowed_credential_ids=submitted.allowed_credential_ids,
        ).verified

    def remove(self, user_id: int) -> None:
        for row in store.list_for_user(user_id):
            store.delete_passkey(user_id, row.id)

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _descriptor(credential_id: str, transports: Sequence[str]) -> PublicKeyCredentialDescriptor:
        return PublicKeyCredentialDescriptor(
            id=b64url_decode(credential_id),
            transports=[AuthenticatorTransport(t) for t in transports if t in _TRANSPORTS] or None,
        )

    def _verify_registration(
        self,
        parsed: RegistrationCredential,
        challenge: str,
        roots: Mapping[AttestationFormat, list[bytes]] | None,
    ) -> VerifiedRegistration:
        try:
            return verify_registration_response(
                credential=parsed,
                expected_challenge=b64url_decode(challenge),
                expected_rp_id=self.rp.rp_id,
                expected_origin=list(self.rp.origins),
                require_user_presence=True,
                require_user_verification=False,
                supported_pub_key_algs=list(ALLOWED_ALGORITHMS),
                pem_root_certs_bytes_by_fmt=roots or None,
            )
        except WebAuthnException as exc:
            if roots and self._verifies_with(parsed, challenge, None):
                # Valid, but not chained to a root we trust: registered unattested,
                # so its AAGUID stays a claim that no allow-list counts.
                return self._verify_registration(parsed, challenge, None)
            if "alg" in str(exc):
                raise PasskeyRejected(
                    "Passkeys of that kind are not accepted here.", reason="algorithm"
                ) from None
            raise PasskeyRejected(reason="invalid") from None
        except Exception:  # malformed CBOR and keys raise all sorts (docs/security.md C.20)
            raise PasskeyRejected(reason="malformed") from None

    def _verifies_with(
        self,
        parsed: RegistrationCredential,
        challenge: str,
        roots: Mapping[AttestationFormat, list[bytes]] | None,
    ) -> bool:
        try:
            verify_registration_response(
                credential=parsed,
                expected_challenge=b64url_decode(challenge),
                expected_rp_id=self.rp.rp_id,
                expected_origin=list(self.rp.origins),
                supported_pub_key_algs=list(ALLOWED_ALGORITHMS),
                pem_root_certs_bytes_by_fmt=roots or None,
            )
        except Exception:
            return False
        return True

    def _roots_by_fmt(self) -> dict[AttestationFormat, list[bytes]]:
        roots: dict[AttestationFormat, list[bytes]] = {}
        for fmt, pems in self._root_pems().items():
            try:
                roots[AttestationFormat(fmt)] = list(pems)
            except ValueError:
                continue
        return roots

    def _audit_regression(
        self, row: Any, stored: int, presented: int, client_id: str | None
    ) -> None:
        audit.record(
            "passkey_sign_count_regression",
            "refused",
            user_id=row.user_id,
            client_id=client_id,
            method="passkey",
            reason="sign_count_regression",
            details={"passkey": f"passkey:{row.id}", "stored": stored, "presented": presented},
        )
