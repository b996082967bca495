"""The OP's signing keys (RFC 7517 JWK Set), cached, refreshed on an unknown ``kid``.

OIDC Core §10.1.1: signing keys rotate by publishing a new key in the JWK Set
before using it, so a ``kid`` we have not seen means "fetch the set again" —
but only once per token and at most once every ``min_refresh_interval``
seconds, or anyone could make us hammer the OP with made-up ``kid`` values.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, Key, OKPKey, RSAKey

from provider.resource_server.discovery import ProviderMetadata
from provider.resource_server.errors import InvalidToken, ProviderUnavailable
from provider.resource_server.transport import HttpClient, RequestsHttpClient

__all__ = ["JwksCache"]

#: The key type each allowed algorithm needs (RFC 7518 §3.1, RFC 8037 §3.1).
KEY_TYPES: dict[str, type[Key]] = {
    "ES256": ECKey,
    "ES384": ECKey,
    "ES512": ECKey,
    "RS256": RSAKey,
    "RS384": RSAKey,
    "RS512": RSAKey,
    "PS256": RSAKey,
    "PS384": RSAKey,
    "PS512": RSAKey,
    "EdDSA": OKPKey,
    "Ed25519": OKPKey,
}


def _import_keys(document: dict[str, Any]) -> list[Key]:
    raw = document.get("keys")
    if not isinstance(raw, list):
        raise ProviderUnavailable("the JWKS has no keys array")
    keys: list[Key] = []
    for data in raw:
        if not isinstance(data, dict):
            continue
        # Symmetric keys never verify an OP's signatures: skipping "oct" is what
        # makes "HS256 with the public key as the secret" impossible by design.
        if data.get("kty") not in ("EC", "RSA", "OKP"):
            continue
        if data.get("use", "sig") != "sig":
            continue
        public = {k: v for k, v in data.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
        try:
            keys.append(JWKRegistry.import_key(public))
        except (JoseError, ValueError, TypeError):
            continue  # RFC 7517 §5: ignore keys we cannot use
    return keys


class JwksCache:
    """Keys from ``jwks_uri`` (given, or read from the OP's discovery document).

    :param metadata: the OP's :class:`ProviderMetadata`, used when ``jwks_uri`` is None.
    :param max_age: keys older than this are refetched on the next use.
    :param min_refresh_interval: at most one unknown-``kid`` refresh per this many seconds.
    :param failure_backoff: after a failed fetch with no keys at hand, wait this long.
    :ivar fetches: how many times the key set was fetched (for monitoring and tests).
    """

    def __init__(
        self,
        *,
        jwks_uri: str | None = None,
        metadata: ProviderMetadata | None = None,
        max_age: float = 3600.0,
        min_refresh_interval: float = 30.0,
        failure_backoff: float = 2.0,
        http: HttpClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if jwks_uri is None and metadata is None:
            raise ValueError("JwksCache needs jwks_uri or metadata")
        self.jwks_uri = jwks_uri
        self.metadata = metadata
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self.failure_backoff = failure_backoff
        self.http: HttpClient = http or (metadata.http if metadata else RequestsHttpClient())
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._keys: list[Key] | None = None
        #: _find's answers for the key set held, by (kid, alg); emptied on every new set.
        self._found: dict[tuple[str | None, str], Key] = {}
        self._fetched_at: float | None = None
        self._refreshed_at: float | None = None
        self.fetches = 0

    def _fetch(self, now: float) -> None:
        # Timed and counted before the request, so a failing OP is throttled too.
        self._fetched_at = now
        self.fetches += 1
        uri = self.jwks_uri or (self.metadata.endpoint("jwks_uri") if self.metadata else "")
        self._keys = _import_keys(self.http.get_json(uri))
        self._found = {}

    def key_for(self, kid: str | None, alg: str) -> Key:
        """The verification key for a token header's ``kid`` and ``alg``.

        An unknown ``kid`` refreshes the set once — unless the set was fetched
        during this very call or another unknown-kid refresh happened less than
        ``min_refresh_interval`` seconds ago. Still unknown ⇒ :class:`InvalidToken`.
        """
        key_type = KEY_TYPES.get(alg)
        if key_type is None:
            raise InvalidToken(f"algorithm {alg} is not accepted")
        with self._lock:
            now = self._monotonic()
            fetched_now = False
            if self._keys is None or (
                self._fetched_at is not None and now - self._fetched_at >= self.max_age
            ):
                if (
                    self._keys is None
                    and self._fetched_at is not None
                    and now - self._fetched_at < self.failure_backoff
                ):
                    raise ProviderUnavailable("the JWKS could not be fetched recently")
                try:
                    self._fetch(now)
                    fetched_now = True
                except ProviderUnavailable:
                    if self._keys is None:
                        raise
            key = self._find(kid, key_type, alg)
            if (
                key is None
                and not fetched_now
                and (
                    self._refreshed_at is None
                    or now - self._refreshed_at >= self.min_refresh_interval
                )
            ):
                self._refreshed_at = now
                # A failed refresh leaves the key set we hold; the kid is simply not in it.
                with contextlib.suppress(ProviderUnavailable):
                    self._fetch(now)
                key = self._find(kid, key_type, alg)
            if key is None:
                raise InvalidToken("the token's signing key (kid) is not known")
            return key

    def _find(self, kid: str | None, key_type: type[Key], alg: str) -> Key | None:
        found = self._found.get((kid, alg))
        if found is None:
            found = self._search(kid, key_type, alg)
            if found is not None:
                self._found[(kid, alg)] = found
        return found

    def _search(self, kid: str | None, key_type: type[Key], alg: str) -> Key | None:
        candidates = [
            k for k in self._keys or [] if isinstance(k, key_type) and k.get("alg") in (None, alg)
        ]
        if kid is None:
            # RFC 7515 kid is optional, but without it only an unambiguous set works.
            return candidates[0] if len(candidates) == 1 else None
        for key in candidates:
            if key.kid == kid:
                return key
        return None
