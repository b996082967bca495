"""Signing keys: generation, rotation, JWKS, and the key that signs now.

Keys live in the database with the private part encrypted by the data key, so
every instance signs with the same key. Rotation publishes a new key at once
and lets it sign only after ``KEY_PUBLISH_DELAY`` seconds, so relying parties
that cache the JWKS know it before they see a token signed with it; the old key
stays in the JWKS until every token it signed has expired (docs/security.md case 43).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwk
from joserfc.jwk import ECKey, OKPKey, RSAKey

from provider import clock
from provider.crypto import DataKey
from provider.storage import keys as store
from provider.storage.models import SigningKey

__all__ = ["SUPPORTED_ALGS", "KeyRing", "create_key", "ensure_keys", "rotate_keys"]

SUPPORTED_ALGS = ("ES256", "RS256", "EdDSA")


def _generate(alg: str) -> jwk.Key:
    if alg == "ES256":
        return ECKey.generate_key("P-256", private=True)
    if alg == "RS256":
        return RSAKey.generate_key(2048, private=True)
    if alg == "EdDSA":
        return OKPKey.generate_key("Ed25519", private=True)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def create_key(alg: str, data_key: DataKey, *, activates_at: int) -> SigningKey:
    key = _generate(alg)
    kid = key.thumbprint()
    public = dict(key.as_dict(private=False))
    public.update({"kid": kid, "alg": alg, "use": "sig"})
    return store.add_key(
        kid=kid,
        alg=alg,
        private_jwk=data_key.encrypt(json.dumps(key.as_dict(private=True))),
        public_jwk=public,
        created_at=clock.now(),
        activates_at=activates_at,
    )


def ensure_keys(data_key: DataKey) -> list[str]:
    """Create one active key per supported algorithm where none exists."""
    created = []
    for alg in SUPPORTED_ALGS:
        if not store.has_key(alg):
            created.append(create_key(alg, data_key, activates_at=clock.now()).kid)
    store.commit()
    return created


def rotate_keys(
    data_key: DataKey, *, publish_delay: int, algs: tuple[str, ...] = SUPPORTED_ALGS
) -> list[str]:
    """Publish a new key per algorithm; it signs after ``publish_delay``."""
    now = clock.now()
    activates_at = now + publish_delay
    kids = []
    for alg in algs:
        store.retire_keys(alg, at=activates_at)
        kids.append(create_key(alg, data_key, activates_at=activates_at).kid)
    store.commit()
    return kids


@dataclass(frozen=True)
class _Snapshot:
    loaded_at: float
    rows: tuple[store.KeyRow, ...]


class KeyRing:
    """A per-process cache of the signing keys (refreshed every ``cache_ttl`` s)."""

    def __init__(self, data_key: DataKey, *, max_token_ttl: int, cache_ttl: float = 5.0) -> None:
        self._data_key = data_key
        self._max_token_ttl = max_token_ttl
        self._cache_ttl = cache_ttl
        self._snapshot: _Snapshot | None = None
        self._private: dict[str, jwk.Key] = {}
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        self._snapshot = None

    def _rows(self) -> _Snapshot:
        snap = self._snapshot
        if snap is None or time.monotonic() - snap.loaded_at > self._cache_ttl:
            snap = _Snapshot(time.monotonic(), store.key_rows())
            self._snapshot = snap
        return snap

    def jwks(self) -> dict[str, Any]:
        """All keys not yet past retirement plus the longest token lifetime."""
        now = clock.now()
        keys = [
            public
            for _kid, _alg, _act, retired, public, _priv in self._rows().rows
            if retired is None or retired + self._max_token_ttl > now
        ]
        return {"keys": keys}

    def signing_key(self, alg: str) -> tuple[str, jwk.Key]:
        """The newest active key for ``alg`` (its kid and private key)."""
        now = clock.now()
        candidates = [
            (kid, priv)
            for kid, row_alg, activates_at, _retired, _pub, priv in self._rows().rows
            if row_alg == alg and activates_at <= now
        ]
        if not candidates:
            raise LookupError(f"no active signing key for {alg}; run 'belay init'")
        kid, encrypted = candidates[-1]
        with self._lock:
            key = self._private.get(kid)
            if key is None:
                key = jwk.import_key(json.loads(self._data_key.decrypt(encrypted)))
                self._private[kid] = key
        return kid, key

    def public_key_set(self) -> jwk.KeySet:
        return jwk.KeySet.import_key_set(self.jwks())  # type: ignore[arg-type]
