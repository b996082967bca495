"""The registration ceremony (``navigator.credentials.create()``).

Beyond py_webauthn's checks: never cross-origin, credential ids unique and at
most 1023 bytes (WebAuthn §5.1.3 / §7.1 step 23), the id in the response is the
one in the authenticator data, and only ES256, EdDSA and RS256 keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from webauthn import generate_registration_options
from webauthn.helpers import (
    options_to_json_dict,
    parse_attestation_object,
    parse_registration_credential_json,
)
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from provider.errors import N_
from provider.factors.passkey.attestation import (
    RootPems,
    roots_by_format,
    verifies_with,
    verify_registration,
)
from provider.factors.passkey.wire import (
    ALLOWED_ALGORITHMS,
    MAX_CREDENTIAL_ID_BYTES,
    MAX_NAME_LENGTH,
    TRANSPORTS,
    PasskeyRejected,
    RelyingParty,
    b64url_decode,
    b64url_encode,
    check_cross_origin,
    client_data,
    descriptor,
    parse_json,
    text,
)
from provider.storage import passkeys as store
from provider.storage.models import Passkey

__all__ = ["register", "registration_options"]


def registration_options(
    rp: RelyingParty,
    *,
    timeout_ms: int,
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
        rp_id=rp.rp_id,
        rp_name=rp.rp_name,
        user_name=user_name,
        user_id=b64url_decode(handle),
        user_display_name=display_name or user_name,
        challenge=challenge,
        timeout=timeout_ms,
        attestation=AttestationConveyancePreference(attestation),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            descriptor(row.credential_id, row.transports) for row in store.list_for_user(user_id)
        ],
        supported_pub_key_algs=list(ALLOWED_ALGORITHMS),
    )
    return options_to_json_dict(options)


def register(
    rp: RelyingParty,
    root_pems: RootPems,
    *,
    user_id: int,
    credential: str | Mapping[str, Any],
    challenge: str,
    name: str,
    now: Callable[[], int],
) -> Passkey:
    """Verify a ``navigator.credentials.create()`` response and store the passkey.

    Raises :class:`PasskeyRejected` (reason in ``.reason``).
    """
    body = parse_json(credential)
    check_cross_origin(client_data(body))
    raw_id = body.get("rawId") if isinstance(body.get("rawId"), str) else body.get("id")
    if not isinstance(raw_id, str):
        raise PasskeyRejected(reason="malformed")
    try:
        id_bytes = b64url_decode(raw_id)
    except ValueError:
        raise PasskeyRejected(reason="malformed") from None
    if len(id_bytes) > MAX_CREDENTIAL_ID_BYTES:
        raise PasskeyRejected(
            N_("That passkey's id is too long to register."), reason="credential_id_too_long"
        )
    try:
        parsed = parse_registration_credential_json(body)
    except Exception:
        raise PasskeyRejected(reason="malformed") from None
    roots = roots_by_format(root_pems)
    verified = verify_registration(rp, parsed, challenge, roots)
    attested = False
    if roots.get(verified.fmt):
        statement = parse_attestation_object(verified.attestation_object).att_stmt
        # Verified against the admin's roots (an x5c chain, not self-attestation).
        attested = bool(statement.x5c) and verifies_with(rp, parsed, challenge, roots)
    if len(verified.credential_id) > MAX_CREDENTIAL_ID_BYTES:
        raise PasskeyRejected(
            N_("That passkey's id is too long to register."), reason="credential_id_too_long"
        )
    credential_id = b64url_encode(verified.credential_id)
    if credential_id != b64url_encode(id_bytes):
        raise PasskeyRejected(reason="credential_id_mismatch")
    be = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    bs = bool(verified.credential_backed_up)
    transports = [text(t) for t in (parsed.response.transports or []) if text(t) in TRANSPORTS]
    clean_name = " ".join(name.split())[:MAX_NAME_LENGTH] or "Passkey"
    try:
        return store.save_passkey(
            user_id=user_id,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=transports,
            aaguid=verified.aaguid.lower(),
            attestation_fmt=text(verified.fmt),
            attested=attested,
            backup_eligible=be,
            backup_state=bs,
            name=clean_name,
            now=now(),
        )
    except store.CredentialExists:
        raise PasskeyRejected(
            N_("That passkey is already registered."), reason="credential_exists"
        ) from None
