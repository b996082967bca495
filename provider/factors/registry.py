"""The one registry of factors (docs/design.md convention 7: views never branch on factor type).

Flows ask it for a factor by method name and for everything a user has
enrolled; :func:`build_registry` makes the deployment's registry from its
configuration (``app.extensions["belay_factors"]``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from provider.crypto import DataKey
from provider.factors.attempts import limits_from_config
from provider.factors.backup_codes import BackupCodeFactor, derive_hmac_key
from provider.factors.base import Factor
from provider.factors.delivery import channels_from_config
from provider.factors.hashing import SecretHasher
from provider.factors.otp import OtpFactor, OtpSettings
from provider.factors.otp import derive_hmac_key as derive_otp_key
from provider.factors.passkey import PasskeyFactor, RelyingParty, attestation_roots
from provider.factors.password import PasswordFactor
from provider.factors.pin import PinFactor
from provider.factors.totp import TotpFactor
from provider.policy import EnrolledMethod

__all__ = ["ORDER", "FactorRegistry", "build_registry"]

#: The order factors are listed and offered in.
ORDER: tuple[str, ...] = (
    "password",
    "passkey",
    "totp",
    "pin",
    "email_otp",
    "sms_otp",
    "backup_code",
)


class FactorRegistry:
    """Factors by method name."""

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

    def __contains__(self, method: object) -> bool:
        return method in self._factors

    def __iter__(self) -> Iterator[Factor]:
        return iter(self.all())

    def methods(self) -> list[str]:
        return [factor.method for factor in self.all()]

    def all(self) -> list[Factor]:
        """Every factor: those in :data:`ORDER` first, in that order, then the rest
        in registration order."""
        known = [self._factors[m] for m in ORDER if m in self._factors]
        rest = [f for m, f in self._factors.items() if m not in ORDER]
        return known + rest

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        """What ``user_id`` has, factor by factor (in :meth:`all` order)."""
        return [method for factor in self.all() for method in factor.enrolled(user_id)]


def build_registry(
    config: Mapping[str, Any], hasher: SecretHasher, data_key: DataKey
) -> FactorRegistry:
    """The registry of a deployment, from its configuration (provider/config.py)."""
    registry = FactorRegistry()
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
    registry.register(
        BackupCodeFactor(
            hmac_key=derive_hmac_key(str(config["DATA_KEY"])),
            limits=limits_from_config(config, "BACKUP_CODE"),
        )
    )
    channels = channels_from_config(config)
    settings = OtpSettings(
        ttl=int(config["OTP_CODE_TTL"]),
        max_tries=int(config["OTP_MAX_TRIES"]),
        resend_limit=int(config["OTP_RESEND_LIMIT"]),
        resend_window=int(config["OTP_RESEND_WINDOW"]),
    )
    otp_key = derive_otp_key(str(config["DATA_KEY"]))
    for method, channel_name, amr, label in (
        ("email_otp", "email", ("otp",), "Email"),
        ("sms_otp", "sms", ("sms",), "Text message"),
    ):
        registry.register(
            OtpFactor(
                method=method,
                channel_name=channel_name,
                amr=amr,
                label=label,
                channel=channels.get(channel_name),
                hmac_key=otp_key,
                limits=limits_from_config(config, "OTP"),
                settings=settings,
            )
        )
    return registry
