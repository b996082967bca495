"""Opaque (or any) access tokens, validated by OAuth 2.0 Token Introspection (RFC 7662).

- §2.1: "The protected resource calls the introspection endpoint using an
  HTTP POST request with parameters sent as application/x-www-form-urlencoded"
  and authenticates itself (here: ``client_secret_basic``).
- §2.2: ``active`` is REQUIRED; anything but ``true`` means "not usable".
- §4: "the protected resource SHOULD … cache the response … for a short
  period", and "MUST NOT … cache beyond the expiration time". The cache
  key is a SHA-256 of the token, so the token itself is never kept.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from provider.resource_server.discovery import ProviderMetadata
from provider.resource_server.errors import InvalidToken
from provider.resource_server.principal import Principal
from provider.resource_server.transport import HttpClient, RequestsHttpClient, basic_auth_header

__all__ = ["IntrospectionValidator"]


class IntrospectionValidator:
    """Asks the OP about each token (with a short cache) and returns a :class:`Principal`.

    :param introspection_endpoint: the URL, or None to read it from ``metadata``.
    :param client_id: the resource server's own (confidential) client id at the OP.
    :param client_secret: its secret.
    :param expected_issuer: when set, an ``iss`` in the answer must equal it.
    :param expected_audience: when set, the answer's ``aud`` must contain one of them.
    :param cache_ttl: seconds an answer (active or not) is reused; never past ``exp``.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        introspection_endpoint: str | None = None,
        metadata: ProviderMetadata | None = None,
        expected_issuer: str | None = None,
        expected_audience: str | Sequence[str] | None = None,
        cache_ttl: float = 30.0,
        max_cache_entries: int = 10_000,
        leeway: int = 30,
        http: HttpClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if introspection_endpoint is None and metadata is None:
            raise ValueError("IntrospectionValidator needs introspection_endpoint or metadata")
        self.client_id = client_id
        self._authorization = basic_auth_header(client_id, client_secret)
        self.introspection_endpoint = introspection_endpoint
        self.metadata = metadata
        self.expected_issuer = expected_issuer or (metadata.issuer if metadata else None)
        if isinstance(expected_audience, str):
            expected_audience = (expected_audience,)
        self.expected_audiences = tuple(expected_audience or ())
        self.cache_ttl = cache_ttl
        self.max_cache_entries = max_cache_entries
        self.leeway = leeway
        self.http: HttpClient = http or (metadata.http if metadata else RequestsHttpClient())
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, Principal | InvalidToken]] = OrderedDict()
        self.calls = 0

    def validate(self, token: str, *, now: int | None = None) -> Principal:
        if not isinstance(token, str) or not token or len(token) > 16 * 1024:
            raise InvalidToken("the access token is missing or too long")
        current = self._clock()
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            cached = self._cache.get(key)
            outcome = cached[1] if cached is not None and cached[0] > current else None
        if outcome is None:
            answer = self._introspect(token)
            outcome = self._judge(answer, int(current) if now is None else now)
            until = current + self.cache_ttl
            if isinstance(outcome, Principal) and outcome.expires_at is not None:
                until = min(until, float(outcome.expires_at))
            with self._lock:
                self._cache[key] = (until, outcome)
                while len(self._cache) > self.max_cache_entries:
                    self._cache.popitem(last=False)
        if isinstance(outcome, InvalidToken):
            raise InvalidToken(outcome.description)
        if (
            outcome.expires_at is not None
            and outcome.expires_at <= (int(current) if now is None else now) - self.leeway
        ):
            raise InvalidToken("the access token has expired")
        return outcome

    def _introspect(self, token: str) -> dict[str, Any]:
        endpoint = self.introspection_endpoint or (
            self.metadata.endpoint("introspection_endpoint") if self.metadata else ""
        )
        self.calls += 1
        return self.http.post_form(
            endpoint,
            data={"token": token, "token_type_hint": "access_token"},
            headers={"Authorization": self._authorization},
        )

    def _judge(self, answer: dict[str, Any], now: int) -> Principal | InvalidToken:
        if answer.get("active") is not True:
            return InvalidToken("the access token is not active")
        if answer.get("token_type") == "refresh_token":
            return InvalidToken("a refresh token is not an access token")
        issuer = answer.get("iss", self.expected_issuer)
        if self.expected_issuer is not None and issuer != self.expected_issuer:
            return InvalidToken("the token was issued by another issuer")
        if self.expected_audiences:
            aud = answer.get("aud")
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not any(a in self.expected_audiences for a in audiences):
                return InvalidToken("the access token is not meant for this resource (aud)")
        principal = Principal.from_claims(answer)
        if principal.expires_at is not None and principal.expires_at <= now - self.leeway:
            return InvalidToken("the access token has expired")
        return principal
