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

The package: :mod:`~provider.factors.passkey.wire` (what a ceremony carries,
its shape checks, the refusals), :mod:`~provider.factors.passkey.attestation`
(roots and attestation), :mod:`~provider.factors.passkey.registration`,
:mod:`~provider.factors.passkey.authentication` and the
:class:`~provider.factors.passkey.factor.PasskeyFactor` that offers them as a
factor. What the rest of Belay uses is exported here.
"""

from __future__ import annotations

from provider.factors.passkey.attestation import attestation_roots, load_pem_roots
from provider.factors.passkey.factor import PasskeyFactor
from provider.factors.passkey.wire import (
    ALLOWED_ALGORITHMS,
    MAX_CREDENTIAL_ID_BYTES,
    Assertion,
    PasskeyRejected,
    PasskeySubmission,
    RelyingParty,
    SignCountRegression,
    UserVerification,
    b64url_decode,
    b64url_encode,
)

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
