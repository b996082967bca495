"""The one registry of factors (docs/design.md convention 7: views never branch on factor type).

Flows ask it for a factor by method name and for everything a user has
enrolled; :func:`build_registry` makes the deployment's registry from its
configuration (``app.extensions["belay_factors"]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from provider.crypto import DataKey
from provider.factors.attempts import limits_from_config
from provider.factors.backup_codes import BackupCodeFactor, derive_hmac_key
from provider.factors.base import Factor
from provider.factors.delivery import channels_from_config
from provider.factors.dev_outbox import outbox_channels
from provider.factors.hashing import SecretHasher
from provider.factors.otp import CODE_CHANNELS, OtpFactor, OtpSettings
from provider.factors.otp import derive_hmac_key as derive_otp_key
from provider.factors.passkey import PasskeyFactor, RelyingParty, attestation_roots
from provider.factors.password import PasswordFactor
from provider.factors.pin import PinFactor
from provider.factors.totp import TotpFactor
from provider.policy import EnrolledMethod

__all__ = ["FactorRegistry", "build_registry"]

F = TypeVar("F", bound=Factor)


class FactorRegistry:
    """Factors by method name, listed in the order they were registered."""

    def __init__(self) -> None:
        self._factors: dict[str, Factor] = {}

    def register(self, factor: Factor) -> None:
        """Add ``factor``; ``ValueError`` when its method is already registered."""
        if not isinstance(factor, Factor):
            raise TypeError(f"{factor!r} does not implement the Factor protocol")
        if factor.method in self._factors:
            raise ValueError(f"a factor for {factor.method!r} is already registered")
        self._factors[factor.method] = factor

    def get(self, method: str) -> Factor:
        """The factor for ``method``; ``LookupError`` when there is none."""
        try:
            return self._factors[method]
        except KeyError:
            raise LookupError(f"no factor {method!r}") from None

    def get_as(self, method: str, kind: type[F]) -> F:
        """The factor for ``method`` as its own class, for what only it does
        (a TOTP's enrolment, a PIN's policy); ``LookupError`` when there is none."""
        factor = self.get(method)
        if not isinstance(factor, kind):
            raise LookupError(f"the factor {method!r} is not a {kind.__name__}")
        return factor

    def __contains__(self, method: object) -> bool:
        return method in self._factors

    def __iter__(self) -> Iterator[Factor]:
        return iter(self.all())

    def methods(self) -> list[str]:
        return [factor.method for factor in self.all()]

    def all(self) -> list[Factor]:
        """Every factor, in registration order (the order they are listed and offered in)."""
        return list(self._factors.values())

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        """What ``user_id`` has, factor by factor (in :meth:`all` order)."""
        return [method for factor in self.all() for method in factor.enrolled(user_id)]

    def removable(self) -> list[str]:
        """The methods a user or an admin can remove as a whole (:meth:`Factor.remove`)."""
        return [factor.method for factor in self.all() if factor.removable]

    def counters(self) -> dict[str, tuple[str, ...]]:
        """Each method's failure counters (what an unlock of the method clears)."""
        return {factor.method: factor.counters for factor in self.all()}

    def code_factors(self) -> list[OtpFactor]:
        """The one-time-code factors (email, SMS), configured or not."""
        return [factor for factor in self.all() if isinstance(factor, OtpFactor)]

    def code_factor(self, channel: str) -> OtpFactor | None:
        """The code factor of a delivery channel (``email``, ``sms``), or None."""
        return next((f for f in self.code_factors() if f.channel_name == channel), None)

    def destination_factor(self, kind: str) -> OtpFactor | None:
        """The code factor receiving codes at a destination (``email``,
        ``phone``: what the account page calls them), or None."""
        return next((f for f in self.code_factors() if f.destination_kind == kind), None)


def build_registry(
    config: Mapping[str, Any], hasher: SecretHasher, data_key: DataKey
) -> FactorRegistry:
    """The registry of a deployment, from its configuration (provider/config.py)."""
    registry = FactorRegistry()
    # Registered in the order factors are listed and offered in.
    registry.register(PasswordFactor(hasher=hasher, limits=limits_from_config(config, "PASSWORD")))
    registry.register(
        PasskeyFactor(
            relying_party=RelyingParty(
                rp_id=str(config["RP_ID"]).strip(),
                rp_name=str(config["RP_NAME"]),
                origins=tuple(o.strip() for o in str(config["ORIGINS"]).split(",") if o.strip()),
            ),
            root_pems=attestation_roots(str(config["PASSKEY_ATTESTATION_ROOTS"])),
            timeout_ms=int(config["PASSKEY_CHALLENGE_TTL"]) * 1000,
        )
    )
    registry.register(
        TotpFactor(
            data_key=data_key,
            limits=limits_from_config(config, "TOTP"),
            issuer_name=str(config["TOTP_ISSUER_NAME"]),
        )
    )
    registry.register(
        PinFactor(
            hasher=hasher,
            limits=limits_from_config(config, "PIN"),
            min_length=int(config["PIN_MIN_LENGTH"]),
            max_length=int(config["PIN_MAX_LENGTH"]),
        )
    )
    channels = outbox_channels(config) if config.get("DEV_OUTBOX") else channels_from_config(config)
    settings = OtpSettings(
        ttl=int(config["OTP_CODE_TTL"]),
        max_tries=int(config["OTP_MAX_TRIES"]),
        resend_limit=int(config["OTP_RESEND_LIMIT"]),
        resend_window=int(config["OTP_RESEND_WINDOW"]),
    )
    otp_key = derive_otp_key(str(config["DATA_KEY"]))
    for code_channel in CODE_CHANNELS:
        registry.register(
            OtpFactor(
                code_channel=code_channel,
                channel=channels.get(code_channel.channel),
                hmac_key=otp_key,
                limits=limits_from_config(config, "OTP"),
                settings=settings,
            )
        )
    registry.register(
        BackupCodeFactor(
            hmac_key=derive_hmac_key(str(config["DATA_KEY"])),
            limits=limits_from_config(config, "BACKUP_CODE"),
        )
    )
    return registry
