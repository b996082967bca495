"""JWT access tokens (RFC 9068), validated against the OP's JWKS.

The MUSTs enforced here (RFC 9068 §4 unless noted):

- "Resource servers MUST verify that the typ header value is "at+jwt" or
  "application/at+jwt" and reject tokens carrying any other value" — which
  also turns away ID tokens (``typ: JWT``); ID tokens without ``typ`` are
  caught by their ``nonce``/``at_hash``/missing ``client_id`` (§2.2: access
  tokens MUST carry ``client_id``, ``jti``, ``iat``, ``sub``).
- "The resource server MUST handle errors as described in Section 3.1 of
  [RFC6750]" — every failure is :class:`InvalidToken`.
- "The issuer identifier for the authorization server … MUST exactly match
  the value of the iss claim."
- "The resource server MUST validate that the aud claim contains a resource
  indicator value corresponding to an identifier the resource server expects
  for itself."
- "The resource server MUST validate the signature of all incoming JWT access
  tokens according to [RFC7515] using the algorithm specified in the JWT alg
  Header Parameter. The resource server MUST reject any JWT in which the
  value of alg is none."
- "The current time MUST be before the time represented by the exp claim."
- RFC 8725 §3.1/§3.2: an algorithm allow-list, no HMAC with keys meant for
  asymmetric algorithms; §3.10 (and SECURITY.md case 31): ``jku``, ``x5u``,
  ``jwk`` and ``x5c`` headers are not followed — they are refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from joserfc import jws
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwt import JWTClaimsRegistry

from provider.resource_server.errors import InvalidToken
from provider.resource_server.jwks import KEY_TYPES, JwksCache
from provider.resource_server.principal import Principal

__all__ = ["DEFAULT_ALGORITHMS", "TokenValidator"]

DEFAULT_ALGORITHMS: Final = ("ES256", "RS256", "EdDSA")
ACCESS_TOKEN_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
#: Header parameters that point at or embed a key: never trusted (RFC 8725 §3.10).
KEY_REFERENCE_HEADERS: Final = ("jku", "x5u", "jwk", "x5c")
#: Claims only ID tokens carry (OIDC Core §2, §3.1.3.6).
ID_TOKEN_CLAIMS: Final = ("nonce", "at_hash", "c_hash")
MAX_TOKEN_LENGTH: Final = 16 * 1024


class TokenValidator:
    """Validates RFC 9068 JWT access tokens and returns a :class:`Principal`.

    :param jwks: where the OP's keys come from.
    :param expected_issuer: the exact ``iss``.
    :param expected_audience: the resource server's identifier(s); ``aud``
        must contain one of them.
    :param algorithms: the allow-list; ``none`` and HMAC algorithms cannot be added.
    :param leeway: seconds of clock skew tolerated for ``exp``, ``nbf`` and ``iat``.
    """

    def __init__(
        self,
        *,
        jwks: JwksCache,
        expected_issuer: str,
        expected_audience: str | Sequence[str],
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        unsupported = [a for a in algorithms if a not in KEY_TYPES]
        if unsupported:
            # "none" and HS* are not in KEY_TYPES: a shared-secret or unsigned
            # token can never be an OP's access token.
            raise ValueError(f"algorithms not allowed: {unsupported}")
        audiences = (
            [expected_audience] if isinstance(expected_audience, str) else list(expected_audience)
        )
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError("expected_audience must be one or more non-empty strings")
        self.jwks = jwks
        self.expected_issuer = expected_issuer
        self.expected_audiences = tuple(audiences)
        self.algorithms = tuple(algorithms)
        self.leeway = leeway
        self._clock = clock

    def validate(self, token: str, *, now: int | None = None) -> Principal:
        """Verify the token; raise :class:`InvalidToken` with a client-safe reason."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the access token is missing or too long")
        if token.count(".") != 2:
            raise InvalidToken("the access token is not a signed JWT")
        try:
            obj = jws.extract_compact(token.encode("ascii"))
            header: dict[str, Any] = dict(obj.headers())
        except (JoseError, ValueError, TypeError, UnicodeError) as exc:
            raise InvalidToken("the access token is malformed") from exc
        alg = self._check_header(header)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the kid header must be a string")
        key = self.jwks.key_for(kid, alg)
        try:
            valid = jws.validate_compact(obj, key, algorithms=[alg])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken("the access token signature is invalid") from exc
        if not valid:
            raise InvalidToken("the access token signature is invalid")
        try:
            claims = json.loads(obj.payload or b"")
        except ValueError as exc:
            raise InvalidToken("the access token payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise InvalidToken("the access token payload is not a JSON object")
        self._check_claims(claims, int(self._clock()) if now is None else now)
        return Principal.from_claims(claims)

    def _check_header(self, header: dict[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise InvalidToken("unsigned tokens (alg none) are not accepted")
        if alg.upper().startswith("HS"):
            raise InvalidToken("symmetric algorithms (HS*) are not accepted")
        if alg not in self.algorithms:
            raise InvalidToken(f"algorithm {alg} is not accepted")
        for name in KEY_REFERENCE_HEADERS:
            if name in header:
                raise InvalidToken(f"the {name} header is not accepted")
        if "crit" in header:
            raise InvalidToken("critical header extensions are not supported")
        typ = header.get("typ")
        # RFC 7515 §4.1.9: media type names compare case-insensitively.
        if not isinstance(typ, str) or typ.lower() not in ACCESS_TOKEN_TYPES:
            raise InvalidToken("the token is not an access token (typ must be at+jwt)")
        return alg

    def _check_claims(self, claims: dict[str, Any], now: int) -> None:
        for name in ID_TOKEN_CLAIMS:
            if name in claims:
                raise InvalidToken("an ID token is not an access token")
        if "client_id" not in claims and "azp" in claims:
            raise InvalidToken("an ID token is not an access token")
        if claims.get("iss") != self.expected_issuer:
            raise InvalidToken("the token was issued by another issuer")
        registry = JWTClaimsRegistry(
            now=now,
            leeway=self.leeway,
            iss={"essential": True, "value": self.expected_issuer},
            aud={"essential": True, "values": list(self.expected_audiences)},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            jti={"essential": True},
            client_id={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise InvalidToken("the access token has expired") from exc
        except MissingClaimError as exc:
            raise InvalidToken(f"the access token lacks required claims ({exc.claim})") from exc
        except InvalidClaimError as exc:
            raise InvalidToken(_claim_message(exc)) from exc
        except JoseError as exc:
            raise InvalidToken("the access token claims are invalid") from exc


def _claim_message(exc: InvalidClaimError) -> str:
    messages = {
        "aud": "the access token is not meant for this resource (aud)",
        "nbf": "the access token is not valid yet (nbf)",
        "iat": "the access token was issued in the future (iat)",
        "exp": "the access token has an invalid exp",
        "iss": "the token was issued by another issuer",
    }
    return messages.get(exc.claim, f"the access token has an invalid {exc.claim} claim")
