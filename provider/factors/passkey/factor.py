"""The passkey as a factor: WebAuthn credentials, any number per user."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from webauthn.helpers.structs import AttestationFormat

from provider import clock
from provider.errors import N_
from provider.factors.attempts import AttemptState
from provider.factors.base import CatalogueFacts, NotEnrolled, Verified
from provider.factors.passkey import authentication, registration
from provider.factors.passkey.attestation import RootPems, roots_by_format
from provider.factors.passkey.wire import (
    Assertion,
    PasskeyRejected,
    PasskeySubmission,
    RelyingParty,
    UserVerification,
    trusted_aaguid,
)
from provider.policy import EnrolledMethod
from provider.storage import passkeys as store
from provider.storage.models import Passkey

__all__ = ["PasskeyFactor"]


class PasskeyFactor(CatalogueFacts, method="passkey"):
    """WebAuthn credentials, any number per user.

    ``amr`` is every value a passkey event can carry; an event's own come from
    :func:`provider.policy.event_for`.
    """

    form_id = "passkey-form"
    fields: tuple[str, ...] = ("credential",)
    label = N_("Passkey")
    counters: tuple[str, ...] = ("passkey",)
    #: removed one by one (by id), not as a whole
    removable = False

    def __init__(
        self,
        *,
        relying_party: RelyingParty,
        root_pems: RootPems | None = None,
        timeout_ms: int = 120_000,
        now: Callable[[], int] = clock.now,
    ) -> None:
        self.rp = relying_party
        self._root_pems: RootPems = root_pems or (lambda: {})
        self.timeout_ms = timeout_ms
        self._now = now

    def _roots_by_fmt(self) -> dict[AttestationFormat, list[bytes]]:
        """The attestation roots in force now, by format."""
        return roots_by_format(self._root_pems)

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
        """``PublicKeyCredentialCreationOptions`` as JSON (see
        :func:`~provider.factors.passkey.registration.registration_options`)."""
        return registration.registration_options(
            self.rp,
            timeout_ms=self.timeout_ms,
            user_id=user_id,
            user_name=user_name,
            display_name=display_name,
            challenge=challenge,
            attestation=attestation,
        )

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
        return registration.register(
            self.rp,
            self._root_pems,
            user_id=user_id,
            credential=credential,
            challenge=challenge,
            name=name,
            now=self._now,
        )

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
        return authentication.authentication_options(
            self.rp,
            timeout_ms=self.timeout_ms,
            challenge=challenge,
            user_verification=user_verification,
            passkey_ids=passkey_ids,
            user_id=user_id,
        )

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
        """Verify a ``navigator.credentials.get()`` response (see
        :func:`~provider.factors.passkey.authentication.authenticate`)."""
        return authentication.authenticate(
            self.rp,
            credential=credential,
            challenge=challenge,
            user_verification=user_verification,
            expected_user_id=expected_user_id,
            allowed_credential_ids=allowed_credential_ids,
            client_id=client_id,
            now=self._now,
        )

    # -- the Factor protocol ----------------------------------------------------------

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        return [
            EnrolledMethod(
                self.method,
                credential_id=f"passkey:{row.id}",
                backup_eligible=bool(row.backup_eligible),
                aaguid=trusted_aaguid(row),
            )
            for row in store.list_for_user(user_id)
        ]

    def status(self, user_id: int) -> AttemptState:
        """Passkeys are not throttled (a guess is a signature): never locked."""
        return AttemptState(failures=0, locked=False, retry_after=0)

    def verify(self, user_id: int, submitted: Mapping[str, str]) -> Verified:
        if not isinstance(submitted, PasskeySubmission):
            raise PasskeyRejected(N_("Use the passkey button to confirm."), reason="not_a_ceremony")
        if not store.list_for_user(user_id):
            raise NotEnrolled(N_("You have no passkey."))
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
