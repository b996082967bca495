"""The data key must be the one the database was set up with (docs/security.md
case 57): a secret written under another key would fail only at use (a TOTP
code checked, a token signed). At start the server and every CLI command
compare the key's fingerprint with the one stored at ``belay init``, and refuse
to run with another key."""

from __future__ import annotations

import hmac

from provider.crypto import DataKey, DataKeyError
from provider.storage import data_key as store

__all__ = ["DataKeyMismatch", "check_data_key", "record_data_key"]


class DataKeyMismatch(RuntimeError):
    """The configured data key is not the database's (the message says what to fix)."""


def _mismatch(source: str) -> DataKeyMismatch:
    return DataKeyMismatch(
        f"The data key from {source} is not the key this database was set up with: "
        "the secrets stored in it (signing keys, TOTP secrets) cannot be read with it. "
        "Set BELAY_DATA_KEY to the database's key, or restore the instance's data_key "
        "file. Refusing to start."
    )


def check_data_key(data_key: DataKey, *, source: str) -> None:
    """Raise :class:`DataKeyMismatch` when ``data_key`` is not the database's; record
    its fingerprint on a database that has none yet (an upgrade from a version
    without it), after checking it reads a stored secret. ``source`` names where
    the key came from, for the message."""
    if not store.has_settings_table():
        return  # not migrated yet: ``belay init`` records it
    stored = store.fingerprint()
    mine = data_key.fingerprint()
    if stored is not None:
        if not hmac.compare_digest(stored, mine):
            raise _mismatch(source)
        return
    sample = store.encrypted_sample()
    if sample is not None:
        try:
            data_key.decrypt(sample)
        except DataKeyError:
            raise _mismatch(source) from None
    store.record_fingerprint(mine)


def record_data_key(data_key: DataKey) -> None:
    """At ``belay init``: the database belongs to this key from now on."""
    if store.fingerprint() is None:
        store.record_fingerprint(data_key.fingerprint())
