"""Small cryptographic helpers: token hashing, random values, data-key encryption
and key derivation."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DataKey",
    "DataKeyError",
    "InvalidToken",
    "constant_time_equals",
    "derive_key",
    "keyed_hash",
    "random_token",
    "sha256_hex",
]


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def sha256_hex(value: str) -> str:
    """Lookup hash of a high-entropy value (session cookie, code, token)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def derive_key(secret: str, info: bytes, *, length: int = 32) -> bytes:
    """A key for one purpose only: HKDF-SHA256 of ``secret`` (RFC 5869) with the
    purpose in ``info``, so ``secret`` itself is never used for two purposes."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(
        secret.encode()
    )


def keyed_hash(key: bytes, message: str) -> str:
    """HMAC-SHA256 of ``message`` under ``key``, in hex: how high-entropy
    single-use values (backup codes, one-time codes) are stored."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


#: What the data key's fingerprint is an HMAC of (docs/security.md case 57).
_FINGERPRINT_LABEL = b"belay data-key fingerprint v1"


class DataKeyError(RuntimeError):
    """A secret stored under another data key: the deployment's key is wrong."""


class DataKey:
    """Encrypts secrets that must be read back (private keys, TOTP secrets)."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()
        self._fernet = Fernet(self._key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext; :class:`DataKeyError` when this key did not encrypt it."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise DataKeyError(
                "a stored secret was encrypted with another data key "
                "(check BELAY_DATA_KEY or the instance's data_key file)"
            ) from None

    def fingerprint(self) -> str:
        """Identifies the key without revealing it: an HMAC of a fixed label
        under the key, stored in the database to catch a wrong key at start."""
        return hmac.new(self._key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()
