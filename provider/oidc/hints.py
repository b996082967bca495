"""``id_token_hint``: an ID token this provider issued, presented back to it
(OIDC Core §3.1.2.1; RP-Initiated Logout 1.0 §2; docs/security.md case 52).

A hint is accepted only when it is an ID token of ours:

- a compact JWS (three parts; a JWE or anything else is refused), header
  ``typ`` ``JWT`` — our access tokens (``at+jwt``) and re-authentication tokens
  (``reauth+jwt``) are signed by the same keys and are *not* ID tokens;
- signed with one of the algorithms we sign with, by a key we publish or are
  retiring (the JWKS: :meth:`provider.oidc.keys.KeyRing.jwks`). A key that has
  left the JWKS signed nothing still valid, and we no longer vouch for it;
- ``iss`` is this issuer, ``sub`` a non-empty string, ``aud`` a string or a
  list of strings.

Its expiry is not checked: an RP sends back the ID token it holds, usually
expired by then (Core §3.1.2.1 only asks the OP to check that it issued it).
"""

from __future__ import annotations

from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from provider.oidc.keys import SUPPORTED_ALGS

__all__ = [
    "MAX_HINT_LENGTH",
    "InvalidHint",
    "audiences",
    "decode_id_token_hint",
    "hinted_subject",
]

MAX_HINT_LENGTH = 8192


class InvalidHint(ValueError):
    """Not an ID token of ours: the reason, safe to show to the client."""


def decode_id_token_hint(hint: str, keys: KeySet, issuer: str) -> dict[str, Any]:
    """The claims of ``hint`` once it is known to be an ID token of ours."""
    if not hint or len(hint) > MAX_HINT_LENGTH or hint.count(".") != 2 or not hint.isascii():
        raise InvalidHint("id_token_hint is not a signed JWT.")
    try:
        header = jws.extract_compact(hint.encode()).protected
    except (JoseError, ValueError, TypeError):
        raise InvalidHint("id_token_hint is not a signed JWT.") from None
    if header.get("typ") != "JWT" or header.get("alg") not in SUPPORTED_ALGS:
        raise InvalidHint("id_token_hint is not an ID token issued here.")
    if not isinstance(header.get("kid"), str):
        raise InvalidHint("id_token_hint is not an ID token issued here.")
    try:
        token = jwt.decode(hint, keys, algorithms=list(SUPPORTED_ALGS))
    except (JoseError, ValueError, TypeError, KeyError):
        raise InvalidHint("id_token_hint is not signed by this provider.") from None
    claims = dict(token.claims)
    aud = claims.get("aud")
    if (
        claims.get("iss") != issuer
        or not isinstance(claims.get("sub"), str)
        or not claims["sub"]
        or not (
            isinstance(aud, str)
            or (isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud))
        )
    ):
        raise InvalidHint("id_token_hint is not an ID token issued here.")
    return claims


def audiences(claims: dict[str, Any]) -> list[str]:
    aud = claims["aud"]
    return [aud] if isinstance(aud, str) else list(aud)


def hinted_subject(hint: str, keys: KeySet, issuer: str, client_id: str) -> str:
    """The ``sub`` of a valid hint issued to ``client_id``.

    The hint must name the requesting client among its audiences: a client
    sends back an ID token it received, never another client's (the same rule
    as at ``/logout``, where a hint for another ``client_id`` is refused)."""
    claims = decode_id_token_hint(hint, keys, issuer)
    if client_id not in audiences(claims):
        raise InvalidHint("id_token_hint was not issued to this client.")
    return str(claims["sub"])
