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
  asymmetric algorithms; §3.10 (and docs/security.md case 31): ``jku``, ``x5u``,
  ``jwk`` and ``x5c`` headers are not followed — they are refused.
"""

from __future__ import annotations

import binascii
import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.errors import JoseError
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

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

#: RFC 9068 §2.2 (and the ``iss``/``aud`` MUSTs above): absent or ``null`` ⇒ rejected.
REQUIRED_CLAIMS: Final = ("iss", "aud", "exp", "iat", "sub", "jti", "client_id")
#: The claims whose values are checked (RFC 7519 §4.1); every other claim is passed on as is.
CHECKED_CLAIMS: Final = frozenset({*REQUIRED_CLAIMS, "nbf"})
#: The largest header and signature segments accepted (joserfc's JWSRegistry limits).
MAX_HEADER_SEGMENT: Final = 512
MAX_SIGNATURE_SEGMENT: Final = 1024

_MALFORMED: Final = "the access token is malformed"
_BAD_SIGNATURE: Final = "the access token signature is invalid"
_CLAIM_MESSAGES: Final = {
    "aud": "the access token is not meant for this resource (aud)",
    "nbf": "the access token is not valid yet (nbf)",
    "iat": "the access token was issued in the future (iat)",
    "exp": "the access token has an invalid exp",
    "iss": "the token was issued by another issuer",
}

# base64url (RFC 7515 §2, RFC 4648 §5) without padding, decoded strictly: "-" and "_"
# become the standard alphabet, while "+", "/" and "=" become "!" so that the strict
# decoder refuses them along with whitespace and anything else outside the alphabet.
_TO_STANDARD_ALPHABET: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_PADDING: Final = (b"", b"", b"==", b"=")
#: The last character of a segment whose length is 2 or 3 modulo 4 carries unused
#: bits, which must be zero (a canonical encoding; joserfc refuses the others too).
_CANONICAL_LAST: Final = (b"", b"", b"AQgw", b"AEIMQUYcgkosw048")

#: A signature check prepared for one key and one algorithm: (signature, signing input).
Verifier = Callable[[bytes, bytes], bool]
_EC: Final = {
    "ES256": (ec.SECP256R1, hashes.SHA256),
    "ES384": (ec.SECP384R1, hashes.SHA384),
    "ES512": (ec.SECP521R1, hashes.SHA512),
}
_RSA_HASHES: Final[dict[str, Callable[[], hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_MAX_CACHED_VERIFIERS: Final = 64
#: A header segment that passed _check_header: (alg, kid, only registered parameters).
_AcceptedHeader = tuple[str, str | None, bool]
_MAX_CACHED_HEADERS: Final = 64


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
        # (id(key), alg) -> (key, its verifier); the key is held so that its id
        # cannot be reused by another key object while the entry exists.
        self._verifiers: dict[tuple[int, str], tuple[Key, Verifier | None]] = {}
        self._accepted_headers: dict[bytes, _AcceptedHeader] = {}

    def validate(self, token: str, *, now: int | None = None) -> Principal:
        """Verify the token; raise :class:`InvalidToken` with a client-safe reason."""
        # JOSE by hand, on purpose (we prefer a well-kept library otherwise). This
        # runs on every API call, and the kit must validate at no less than 75% of
        # the rate of a bare ES256 verify (bench/micro.py), which joserfc's generic
        # object model cannot reach: extract_compact, validate_compact and
        # JWTClaimsRegistry add about 20 µs to a 45 µs verify. Only the compact JWS
        # parsing (RFC 7515 §5.2, §7.1) and the claim checks (RFC 7519 §4.1, with
        # JWTClaimsRegistry's semantics and order) are written here: `cryptography`
        # still does every cryptographic operation, joserfc still decides once per
        # key which algorithms that key may verify (_make_verifier), and joserfc is
        # the oracle of the differential test (tests/kits/test_token_fast_path.py)
        # that holds this code to accepting exactly the tokens joserfc accepts,
        # with the same error descriptions.
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the access token is missing or too long")
        if token.count(".") != 2:
            raise InvalidToken("the access token is not a signed JWT")
        try:
            raw = token.encode("ascii")
        except UnicodeError as exc:
            raise InvalidToken(_MALFORMED) from exc
        header_segment, payload_segment, signature_segment = raw.split(b".")
        if (
            len(header_segment) > MAX_HEADER_SEGMENT
            or len(signature_segment) > MAX_SIGNATURE_SEGMENT
        ):
            raise InvalidToken(_MALFORMED)
        # An OP's tokens signed with one key share one header segment, so the verdict
        # on it is remembered: it depends on the segment alone, and on the allow-list,
        # which is looked at again.
        accepted = self._accepted_headers.get(header_segment)
        if accepted is not None and accepted[0] in self.algorithms:
            payload = _decode_payload(payload_segment)
        else:
            # joserfc's order: malformed header, malformed payload, then the checks.
            header = self._parse_header(header_segment)
            payload = _decode_payload(payload_segment)
            accepted = self._accept_header(header_segment, header)
        alg, kid, registered = accepted
        key = self.jwks.key_for(kid, alg)
        if not registered:
            # joserfc refused these in validate_compact, hence the description.
            raise InvalidToken(_BAD_SIGNATURE)
        verifier = self._verifier(key, alg)
        try:
            signature = _b64decode(signature_segment)
        except ValueError as exc:
            raise InvalidToken(_BAD_SIGNATURE) from exc
        signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
        if verifier is None or not verifier(signature, signing_input):
            raise InvalidToken(_BAD_SIGNATURE)
        try:
            claims = json.loads(payload.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise InvalidToken("the access token payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise InvalidToken("the access token payload is not a JSON object")
        self._check_claims(claims, int(self._clock()) if now is None else now)
        return Principal.from_claims(claims)

    def _parse_header(self, segment: bytes) -> dict[str, Any]:
        try:
            # RFC 7515 §5.2 steps 2-3: UTF-8 JSON, strictly (no BOM, no UTF-16/32).
            header = json.loads(_b64decode(segment).decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise InvalidToken(_MALFORMED) from exc
        if not isinstance(header, dict) or "alg" not in header:
            raise InvalidToken(_MALFORMED)
        if "b64" in header and header["b64"] is not True:
            # RFC 7797 §6: an unencoded payload ("b64" other than true) must be
            # listed in "crit", which _check_header refuses: such a token ends here.
            crit = header.get("crit")
            if not isinstance(crit, list) or "b64" not in crit:
                raise InvalidToken(_MALFORMED)
            self._check_header(header)
            raise InvalidToken("critical header extensions are not supported")
        return header

    def _accept_header(self, segment: bytes, header: dict[str, Any]) -> _AcceptedHeader:
        """alg, kid and whether all parameters are registered ones; remembered."""
        alg = self._check_header(header)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the kid header must be a string")
        # Only registered parameters with the right types (RFC 7515 §4.1), as joserfc
        # checks them. Three parameters with a string kid can only be alg, typ and
        # kid, which are checked already.
        registered = (len(header) == 3 and kid is not None) or _registered_header(header)
        if len(self._accepted_headers) >= _MAX_CACHED_HEADERS:
            self._accepted_headers.clear()
        self._accepted_headers[segment] = (alg, kid, registered)
        return alg, kid, registered

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

    def _verifier(self, key: Key, alg: str) -> Verifier | None:
        """The prepared signature check for ``key`` and ``alg``, made on first use."""
        entry = self._verifiers.get((id(key), alg))
        if entry is not None and entry[0] is key:
            return entry[1]
        verifier = _make_verifier(key, alg)
        if len(self._verifiers) >= _MAX_CACHED_VERIFIERS:
            self._verifiers.clear()  # keys were rotated many times: start afresh
        self._verifiers[(id(key), alg)] = (key, verifier)
        return verifier

    def _check_claims(self, claims: dict[str, Any], now: int) -> None:
        for name in ID_TOKEN_CLAIMS:
            if name in claims:
                raise InvalidToken("an ID token is not an access token")
        if "client_id" not in claims and "azp" in claims:
            raise InvalidToken("an ID token is not an access token")
        if claims.get("iss") != self.expected_issuer:
            raise InvalidToken("the token was issued by another issuer")
        missing = [name for name in REQUIRED_CLAIMS if claims.get(name) is None]
        if missing:
            raise InvalidToken(
                f"the access token lacks required claims ({','.join(sorted(missing))})"
            )
        # RFC 7519 §4.1, in the claims' own order so that the first bad one is reported.
        leeway = self.leeway
        for name, value in claims.items():
            if name not in CHECKED_CLAIMS:
                continue
            if name == "exp" or name == "iat" or name == "nbf":
                # A NumericDate is a JSON number: not a bool, not NaN or ±Infinity.
                if not isinstance(value, bool) and (
                    isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
                ):
                    if name == "exp":
                        # §4.1.4: "on or after which the JWT MUST NOT be accepted".
                        if value > now - leeway:
                            continue
                        raise InvalidToken("the access token has expired")
                    if value <= now + leeway:
                        continue
                raise InvalidToken(_CLAIM_MESSAGES[name])
            if name == "aud":
                if isinstance(value, str):
                    ours = value in self.expected_audiences
                elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                    ours = any(a in value for a in self.expected_audiences)
                else:
                    ours = False
                if not ours:
                    raise InvalidToken(_CLAIM_MESSAGES["aud"])
            elif name == "client_id":
                # Any JSON value but an empty one (its type is Principal's business).
                if value in (None, "", [], {}):
                    raise InvalidToken("the access token has an invalid client_id claim")
            elif (
                not isinstance(value, str)
                or not value
                or (name == "iss" and value != self.expected_issuer)
            ):
                # iss, sub, jti: non-empty strings; iss the exact expected one.
                raise InvalidToken(
                    _CLAIM_MESSAGES.get(name, f"the access token has an invalid {name} claim")
                )


def _decode_payload(segment: bytes) -> bytes:
    try:
        return _b64decode(segment)
    except ValueError as exc:
        raise InvalidToken(_MALFORMED) from exc


def _b64decode(segment: bytes) -> bytes:
    """Strict base64url without padding; ValueError (binascii.Error) for anything else."""
    tail = len(segment) % 4
    if tail:
        if tail == 1 or segment[-1] not in _CANONICAL_LAST[tail]:
            raise ValueError("not canonical base64url")
        return binascii.a2b_base64(
            segment.translate(_TO_STANDARD_ALPHABET) + _PADDING[tail], strict_mode=True
        )
    return binascii.a2b_base64(segment.translate(_TO_STANDARD_ALPHABET), strict_mode=True)


def _registered_header(header: dict[str, Any]) -> bool:
    """Only RFC 7515 §4.1 parameters, with their types (what joserfc's JWSRegistry
    checks). The key-reference ones and ``crit`` were refused before."""
    for name, value in header.items():
        if name in ("alg", "kid", "typ", "x5t", "x5t#S256", "cty"):
            if not isinstance(value, str):
                return False
        elif name == "b64":
            if not isinstance(value, bool):
                return False
        else:
            return False
    return True


def _make_verifier(key: Key, alg: str) -> Verifier | None:
    """A signature check of ``alg`` with ``key``, or None when that key cannot verify it.

    Whether the key may be used is joserfc's call (its kty, "use", "alg", "key_ops"
    and curve, exactly as joserfc checks them when it verifies); the verification
    itself is a plain `cryptography` call with the key object prepared once.
    """
    model = JWSRegistry.algorithms.get(alg)
    if model is None:
        return None
    try:
        model.check_key(key)
        public = key.get_op_key("verify")
    except (JoseError, ValueError, TypeError):
        return None

    if alg in _EC:
        curve, hash_type = _EC[alg]
        if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, curve):
            return None
        return _ecdsa_verifier(public, (public.curve.key_size + 7) // 8, ec.ECDSA(hash_type()))
    if alg[:2] in ("RS", "PS") and alg[2:] in _RSA_HASHES:
        if not isinstance(public, RSAPublicKey):
            return None
        rsa_hash = _RSA_HASHES[alg[2:]]()
        scheme: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg.startswith("RS")
            else padding.PSS(mgf=padding.MGF1(rsa_hash), salt_length=rsa_hash.digest_size)
        )
        return _rsa_verifier(public, scheme, rsa_hash)
    if alg == "EdDSA" and isinstance(public, Ed25519PublicKey | Ed448PublicKey):
        return _eddsa_verifier(public)
    if alg == "Ed25519" and isinstance(public, Ed25519PublicKey):
        return _eddsa_verifier(public)
    return None


def _ecdsa_verifier(public: ec.EllipticCurvePublicKey, size: int, algorithm: ec.ECDSA) -> Verifier:
    def verify(signature: bytes, signing_input: bytes) -> bool:
        # RFC 7518 §3.4: the JWS signature is R || S, each exactly the coordinate size.
        if len(signature) != 2 * size:
            return False
        der = encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
        try:
            public.verify(der, signing_input, algorithm)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    return verify


def _rsa_verifier(
    public: RSAPublicKey, scheme: padding.AsymmetricPadding, hash_algorithm: hashes.HashAlgorithm
) -> Verifier:
    def verify(signature: bytes, signing_input: bytes) -> bool:
        try:
            public.verify(signature, signing_input, scheme, hash_algorithm)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    return verify


def _eddsa_verifier(public: Ed25519PublicKey | Ed448PublicKey) -> Verifier:
    def verify(signature: bytes, signing_input: bytes) -> bool:
        try:
            public.verify(signature, signing_input)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    return verify
