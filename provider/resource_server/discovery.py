"""The OP's metadata (OpenID Connect Discovery 1.0, RFC 8414), fetched and cached.

OIDC Discovery §4.3: "The issuer value returned MUST be identical to the
Issuer URL that was used as the prefix to /.well-known/openid-configuration
to retrieve the configuration information" — enforced; a mismatch is
:class:`ProviderUnavailable`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from provider.resource_server.errors import ProviderUnavailable
from provider.resource_server.ladder import AcrLadder
from provider.resource_server.transport import HttpClient, RequestsHttpClient

__all__ = ["ProviderMetadata"]


class ProviderMetadata:
    """Lazily fetched, cached discovery document of one issuer.

    ``ttl`` is how long a fetched document is used; after a failure the next
    attempt waits ``failure_backoff`` seconds so an outage is not amplified.
    """

    def __init__(
        self,
        issuer: str,
        *,
        url: str | None = None,
        ttl: float = 3600.0,
        failure_backoff: float = 2.0,
        http: HttpClient | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.url = url or issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.ttl = ttl
        self.failure_backoff = failure_backoff
        self.http: HttpClient = http or RequestsHttpClient()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._document: dict[str, Any] | None = None
        self._fetched_at = 0.0
        self._failed_at: float | None = None

    def get(self) -> dict[str, Any]:
        """The document, fetched when missing or older than ``ttl``."""
        with self._lock:
            now = self._monotonic()
            if self._document is not None and now - self._fetched_at < self.ttl:
                return self._document
            if self._failed_at is not None and now - self._failed_at < self.failure_backoff:
                if self._document is not None:
                    return self._document  # stale beats nothing while the OP is down
                raise ProviderUnavailable("discovery failed recently; not retrying yet")
            try:
                document = self.http.get_json(self.url)
                if document.get("issuer") != self.issuer:
                    raise ProviderUnavailable("discovery issuer does not match the expected issuer")
            except ProviderUnavailable:
                self._failed_at = now
                if self._document is not None:
                    return self._document
                raise
            self._document, self._fetched_at, self._failed_at = document, now, None
            return document

    def endpoint(self, name: str) -> str:
        """A URL from the document (``jwks_uri``, ``introspection_endpoint``, …)."""
        value = self.get().get(name)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise ProviderUnavailable(f"discovery has no usable {name}")
        return value

    def acr_ladder(self) -> AcrLadder:
        """The ladder from ``belay_acr_levels`` (empty when the OP publishes none)."""
        return AcrLadder.from_metadata(self.get())
