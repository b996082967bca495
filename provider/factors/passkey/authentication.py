"""The authentication ceremony (``navigator.credentials.get()``).

Beyond py_webauthn's checks (challenge, origin, rpIdHash, UP, UV when asked,
the signature), docs/security.md section C:

- the credential belongs to the user (and, for a discoverable login, the
  ``userHandle`` is the owner's: WebAuthn §7.2 step 6 "verify that the user
  account identified by response.userHandle … owns the credential");
- ``clientDataJSON.crossOrigin`` is not true;
- the sign count never goes backwards (§7.2 step 22: "this is a signal that
  the authenticator may be cloned"): refused and audited, with an atomic
  conditional UPDATE;
- the BE flag never changes after registration (§6.1.3: "the value of the BE
  flag … will not change") and BE=0 with BS=1 is refused (§6.1 "If BE is not
  set, then BS MUST NOT be set").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from webauthn import generate_authentication_options, verify_authentication_response
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_authenticator_data,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import PublicKeyCredentialDescriptor

from provider.errors import N_
from provider.factors.base import Verified
from provider.factors.passkey.wire import (
    MAX_CREDENTIAL_ID_BYTES,
    UV_MESSAGE,
    Assertion,
    PasskeyRejected,
    RelyingParty,
    SignCountRegression,
    UserVerification,
    b64url_decode,
    b64url_encode,
    check_cross_origin,
    client_data,
    descriptor,
    parse_json,
    trusted_aaguid,
    uv_requirement,
)
from provider.policy import event_for
from provider.storage import audit
from provider.storage import passkeys as store
from provider.storage.models import Passkey

__all__ = ["authenticate", "authentication_options"]


def authentication_options(
    rp: RelyingParty,
    *,
    timeout_ms: int,
    challenge: bytes,
    user_verification: UserVerification,
    passkey_ids: Sequence[int] | None,
    user_id: int | None,
) -> dict[str, Any]:
    """``PublicKeyCredentialRequestOptions`` as JSON. ``passkey_ids`` None:
    discoverable credentials (empty ``allowCredentials``)."""
    allow: list[PublicKeyCredentialDescriptor] = []
    if passkey_ids is not None and user_id is not None:
        wanted = set(passkey_ids)
        allow = [
            descriptor(row.credential_id, row.transports)
            for row in store.list_for_user(user_id)
            if row.id in wanted
        ]
    options = generate_authentication_options(
        rp_id=rp.rp_id,
        challenge=challenge,
        timeout=timeout_ms,
        allow_credentials=allow,
        user_verification=uv_requirement(user_verification),
    )
    return options_to_json_dict(options)


def authenticate(
    rp: RelyingParty,
    *,
    credential: str | Mapping[str, Any],
    challenge: str,
    user_verification: UserVerification,
    expected_user_id: int | None,
    allowed_credential_ids: Sequence[str] | None,
    client_id: str | None,
    now: Callable[[], int],
) -> Assertion:
    """Verify a ``navigator.credentials.get()`` response.

    ``expected_user_id`` None is a first-factor login with a discoverable
    credential: the ``userHandle`` must then be the credential owner's.
    ``allowed_credential_ids`` (``passkey:<id>`` values) limits which of the
    user's credentials count. Raises :class:`PasskeyRejected`.
    """
    body = parse_json(credential)
    check_cross_origin(client_data(body))
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
            N_("That passkey is not registered here."), reason="unknown_credential"
        )
    if expected_user_id is not None and row.user_id != expected_user_id:
        raise PasskeyRejected(N_("That passkey belongs to another account."), reason="not_owner")
    user_handle = parsed.response.user_handle
    if expected_user_id is None and user_handle is None:
        raise PasskeyRejected(reason="user_handle_missing")
    if user_handle is not None and b64url_encode(user_handle) != store.user_handle(row.user_id):
        raise PasskeyRejected(reason="user_handle_mismatch")
    passkey_ref = f"passkey:{row.id}"
    if allowed_credential_ids is not None and passkey_ref not in allowed_credential_ids:
        raise PasskeyRejected(
            N_("That passkey is not accepted by this application."), reason="not_allowed"
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
            expected_rp_id=rp.rp_id,
            expected_origin=list(rp.origins),
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
        _audit_regression(row, stored_count, presented, client_id)
        raise SignCountRegression(
            N_(
                "This passkey looks copied (its use counter went backwards): it was refused. "
                "Use another way to sign in and check your devices."
            ),
            reason="sign_count_regression",
        )
    if not store.advance_sign_count(
        row.id, new_count=presented, backup_state=bool(auth_data.flags.bs), now=now()
    ):
        # Another assertion with a higher counter landed meanwhile.
        _audit_regression(row, stored_count, presented, client_id)
        raise SignCountRegression(reason="sign_count_regression")
    uv = bool(verified.user_verified)
    be = bool(row.backup_eligible)
    event = event_for(
        "passkey",
        now(),
        uv=uv,
        backup_eligible=be,
        aaguid=trusted_aaguid(row),
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
                "aaguid": trusted_aaguid(row),
            },
        ),
    )


def _audit_regression(row: Passkey, stored: int, presented: int, client_id: str | None) -> None:
    audit.record(
        "passkey_sign_count_regression",
        "refused",
        user_id=row.user_id,
        client_id=client_id,
        method="passkey",
        reason="sign_count_regression",
        details={"passkey": f"passkey:{row.id}", "stored": stored, "presented": presented},
    )
