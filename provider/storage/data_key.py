"""The data key's fingerprint in the ``settings`` table (docs/security.md case 57)."""

from __future__ import annotations

from sqlalchemy import inspect

from provider.extensions import db
from provider.storage.models import Setting, SigningKey

__all__ = ["encrypted_sample", "fingerprint", "has_settings_table", "record_fingerprint"]

_KEY = "data_key_fingerprint"


def has_settings_table() -> bool:
    """False before the first migration (``belay init`` has not run yet)."""
    return bool(inspect(db.engine).has_table(Setting.__tablename__))


def fingerprint() -> str | None:
    row = db.session.get(Setting, _KEY)
    value = row.value if row is not None else None
    return value.get("hmac_sha256") if isinstance(value, dict) else None


def record_fingerprint(value: str) -> None:
    row = db.session.get(Setting, _KEY)
    if row is None:
        db.session.add(Setting(key=_KEY, value={"hmac_sha256": value}))
    else:
        row.value = {"hmac_sha256": value}
    db.session.commit()


def encrypted_sample() -> str | None:
    """One value encrypted with the data key (a signing key), if any exists."""
    if not inspect(db.engine).has_table(SigningKey.__tablename__):
        return None
    value: str | None = db.session.scalar(
        db.select(SigningKey.private_jwk).order_by(SigningKey.id).limit(1)
    )
    return value
