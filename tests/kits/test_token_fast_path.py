"""TokenValidator's hand-written JOSE fast path, held to joserfc.

The validator parses the compact JWS, checks the claims and calls `cryptography`
itself (see the comment in ``TokenValidator.validate``). The oracle below is the
validator as it was written with joserfc (``jws.extract_compact``,
``jws.validate_compact``, ``JWTClaimsRegistry``); the differential test asserts
that both accept the same tokens with the same Principal and refuse the others
with the same description.

One difference is intended and built into the oracle: JOSE headers and JWT claims
are UTF-8 JSON (RFC 7515 §5.2, RFC 7519 §7.2), and the fast path decodes them
strictly, where joserfc's ``json.loads(bytes)`` also takes a BOM, UTF-16/32 and
UTF-8-encoded surrogates. The oracle refuses those as the fast path does.
(And a signed payload nested too deeply for the json module is "not JSON" for
the fast path, where the joserfc validator let the RecursionError out: that case
is only in the table, not compared.)
"""

from __future__ import annotations

import base64
import json
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.errors import ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.jwt import JWTClaimsRegistry
from joserfc.util import urlsafe_b64decode

from provider.resource_server import InvalidToken, JwksCache, Principal, TokenValidator
from provider.resource_server.jwks import KEY_TYPES
from tests.kits.keys import AUDIENCE, EC, OKP, ROGUE, RSA
from tests.kits.test_rs_tokens import MemoryHttp

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

NOW = 1_800_000_000
ISSUER = "https://op.example"
JWKS_URI = "https://op.example/jwks"

EC384 = ECKey.generate_key("P-384", parameters={"kid": "ec-384"})
EC521 = ECKey.generate_key("P-521", parameters={"kid": "ec-521"})
K256 = ECKey.generate_key("secp256k1", parameters={"kid": "k256"})
ED448 = OKPKey.generate_key("Ed448", parameters={"kid": "ed-448"})
X25519 = OKPKey.generate_key("X25519", parameters={"kid": "x25519"})
EC_ONLY_ES256 = ECKey.generate_key("P-256", parameters={"kid": "ec-es256", "alg": "ES256"})
RSA_SIGN_OPS = RSAKey.generate_key(2048, parameters={"kid": "rsa-sign-ops", "key_ops": ["sign"]})
PUBLISHED: tuple[Key, ...] = (
    EC,
    RSA,
    OKP,
    EC384,
    EC521,
    K256,
    ED448,
    X25519,
    EC_ONLY_ES256,
    RSA_SIGN_OPS,
)

#: (alg, key) pairs that can make a signature; ROGUE's key is not published.
SIGNERS: tuple[tuple[str, Key], ...] = (
    ("ES256", EC),
    ("ES256", EC),
    ("ES256", EC),
    ("ES384", EC384),
    ("ES512", EC521),
    ("RS256", RSA),
    ("RS384", RSA),
    ("PS256", RSA),
    ("PS512", RSA),
    ("EdDSA", OKP),
    ("EdDSA", ED448),
    ("Ed25519", OKP),
    ("ES256", ROGUE),
    ("ES256", EC_ONLY_ES256),
    ("RS256", RSA_SIGN_OPS),
    ("ES256K", K256),
)
ALL_ALGORITHMS = tuple(KEY_TYPES)
CURVE_ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}


def jwks_cache() -> JwksCache:
    http = MemoryHttp({JWKS_URI: {"keys": [k.as_dict(private=False) for k in PUBLISHED]}})
    return JwksCache(jwks_uri=JWKS_URI, http=http)


# -- the oracle: the validator as written with joserfc ----------------------------------


def _plain_utf8(data: bytes) -> bool:
    """What the fast path takes as JSON text: UTF-8, no BOM, no surrogates."""
    if json.detect_encoding(data) != "utf-8":
        return False
    try:
        data.decode("utf-8")
    except UnicodeError:
        return False
    return True


class Oracle:
    """``TokenValidator.validate`` before the fast path, with the UTF-8 rule added."""

    def __init__(self, validator: TokenValidator) -> None:
        self.v = validator

    def validate(self, token: str, *, now: int) -> Principal:
        if not isinstance(token, str) or not token or len(token) > 16 * 1024:
            raise InvalidToken("the access token is missing or too long")
        if token.count(".") != 2:
            raise InvalidToken("the access token is not a signed JWT")
        try:
            obj = jws.extract_compact(token.encode("ascii"))
            header: dict[str, Any] = dict(obj.headers())
        except (JoseError, ValueError, TypeError, UnicodeError) as exc:
            raise InvalidToken("the access token is malformed") from exc
        if not _plain_utf8(urlsafe_b64decode(obj.segments["header"])):
            raise InvalidToken("the access token is malformed")
        alg = self._check_header(header)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the kid header must be a string")
        key = self.v.jwks.key_for(kid, alg)
        try:
            valid = jws.validate_compact(obj, key, algorithms=[alg])
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken("the access token signature is invalid") from exc
        if not valid:
            raise InvalidToken("the access token signature is invalid")
        if not _plain_utf8(obj.payload or b""):
            raise InvalidToken("the access token payload is not JSON")
        try:
            claims = json.loads(obj.payload or b"")
        except ValueError as exc:
            raise InvalidToken("the access token payload is not JSON") from exc
        if not isinstance(claims, dict):
            raise InvalidToken("the access token payload is not a JSON object")
        self._check_claims(claims, now)
        return Principal.from_claims(claims)

    def _check_header(self, header: dict[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise InvalidToken("unsigned tokens (alg none) are not accepted")
        if alg.upper().startswith("HS"):
            raise InvalidToken("symmetric algorithms (HS*) are not accepted")
        if alg not in self.v.algorithms:
            raise InvalidToken(f"algorithm {alg} is not accepted")
        for name in ("jku", "x5u", "jwk", "x5c"):
            if name in header:
                raise InvalidToken(f"the {name} header is not accepted")
        if "crit" in header:
            raise InvalidToken("critical header extensions are not supported")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ("at+jwt", "application/at+jwt"):
            raise InvalidToken("the token is not an access token (typ must be at+jwt)")
        return alg

    def _check_claims(self, claims: dict[str, Any], now: int) -> None:
        for name in ("nonce", "at_hash", "c_hash"):
            if name in claims:
                raise InvalidToken("an ID token is not an access token")
        if "client_id" not in claims and "azp" in claims:
            raise InvalidToken("an ID token is not an access token")
        if claims.get("iss") != self.v.expected_issuer:
            raise InvalidToken("the token was issued by another issuer")
        registry = JWTClaimsRegistry(
            now=now,
            leeway=self.v.leeway,
            iss={"essential": True, "value": self.v.expected_issuer},
            aud={"essential": True, "values": list(self.v.expected_audiences)},
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
            messages = {
                "aud": "the access token is not meant for this resource (aud)",
                "nbf": "the access token is not valid yet (nbf)",
                "iat": "the access token was issued in the future (iat)",
                "exp": "the access token has an invalid exp",
                "iss": "the token was issued by another issuer",
            }
            raise InvalidToken(
                messages.get(exc.claim, f"the access token has an invalid {exc.claim} claim")
            ) from exc
        except JoseError as exc:
            raise InvalidToken("the access token claims are invalid") from exc


def outcome(validate: Callable[[], Principal]) -> tuple[str, str]:
    """("ok", repr of the Principal) or ("invalid", the description)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ("ok", repr(validate()))
    except InvalidToken as exc:
        return ("invalid", exc.description)


# -- building tokens --------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(alg: str, key: Key, signing_input: bytes) -> bytes:
    return JWSRegistry.algorithms[alg].sign(signing_input, key)


def base_claims() -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "iat": NOW - 5,
        "jti": "jti-1",
        "client_id": "rp",
        "scope": "openid api:read",
        "auth_time": NOW - 10,
        "acr": "urn:belay:acr:1fa",
        "amr": ["pwd"],
    }


DELETE = object()
SCALARS = st.sampled_from(
    [None, True, False, 0, 1, -1, 1.5, "", "x", [], {}, ["x"], {"a": 1}, 10**30]
)
TIMES = st.sampled_from(
    [
        NOW + 300,
        NOW,
        NOW - 30,
        NOW + 30,
        NOW - 29,
        NOW - 30,
        NOW - 31,
        NOW + 30,
        NOW + 31,
        float(NOW + 300),
        NOW + 0.5,
        float("nan"),
        float("inf"),
        float("-inf"),
        str(NOW + 300),
        True,
        None,
        10**400,
        -(10**20),
    ]
)
CLAIM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "iss": st.sampled_from([ISSUER, ISSUER + "/", "https://evil.example", "", 5, None, [ISSUER]]),
    "aud": st.sampled_from(
        [
            AUDIENCE,
            [AUDIENCE],
            ["https://other.example", AUDIENCE],
            "https://other.example",
            ["https://other.example"],
            [],
            "",
            [AUDIENCE, 5],
            [[AUDIENCE]],
            5,
            None,
            {"aud": AUDIENCE},
        ]
    ),
    "exp": TIMES,
    "iat": TIMES,
    "nbf": TIMES,
    "sub": st.sampled_from(["user-2", ""]) | SCALARS,
    "jti": st.sampled_from(["jti-2", ""]) | SCALARS,
    "client_id": st.sampled_from(["rp", ""]) | SCALARS,
    "azp": st.just("rp"),
    "nonce": st.just("n-1"),
    "at_hash": st.just("abc"),
    "c_hash": st.just("abc"),
    "scope": st.sampled_from(["openid", "a b", 5]),
    "acr": SCALARS,
    "amr": SCALARS,
    "auth_time": TIMES,
    "scp": st.sampled_from([["a", 1], "a"]),
    "other": SCALARS,
}


#: The checked claims, twice as likely to be changed as the others.
CLAIM_NAMES = [*sorted(CLAIM_VALUES), "aud", "exp", "iat", "nbf", "iss", "sub", "jti", "client_id"]


@st.composite
def payload_bytes(draw: st.DrawFn) -> bytes:
    claims: dict[str, Any] = base_claims()
    for name in draw(st.lists(st.sampled_from(CLAIM_NAMES), max_size=3, unique=True)):
        value = DELETE if draw(rarely()) else draw(CLAIM_VALUES[name])
        if value is DELETE:
            claims.pop(name, None)
        else:
            claims[name] = value
    # The order of the claims decides which bad claim is reported first.
    order = draw(st.permutations(list(claims))) if draw(st.booleans()) else list(claims)
    return draw(odd_json({name: claims[name] for name in order}))


HEADER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "alg": st.sampled_from(
        ["none", "None", "HS256", "hs256", "es256", *ALL_ALGORITHMS, "ES256K", "XX"]
    )
    | SCALARS,
    "kid": st.sampled_from([k.kid for k in (*PUBLISHED, ROGUE)] + ["nope"]) | SCALARS,
    "typ": st.sampled_from(["at+jwt", "AT+JWT", "application/at+jwt", "JWT", "at+jwt; x=1"])
    | SCALARS,
    "jku": st.just("https://evil.example/jwks"),
    "x5u": st.just("https://evil.example/cert"),
    "jwk": st.just(ROGUE.as_dict(private=False)),
    "x5c": st.just(["MIIB"]),
    "crit": st.sampled_from([["b64"], ["exp"], [], "b64", None]),
    "b64": st.sampled_from([True, False, "x", None]),
    "x5t": st.sampled_from(["abc", 5, "a" * 400]),
    "x5t#S256": st.sampled_from(["abc", None]),
    "cty": st.sampled_from(["JWT", 1]),
    "zip": st.just("DEF"),
    "foo": SCALARS,
}


@st.composite
def header_bytes(draw: st.DrawFn, alg: str, kid: str | None) -> bytes:
    header: dict[str, Any] = {"alg": alg, "kid": kid, "typ": "at+jwt"}
    for name in draw(st.lists(st.sampled_from(sorted(HEADER_VALUES)), max_size=2, unique=True)):
        value = DELETE if draw(st.booleans()) else draw(HEADER_VALUES[name])
        if value is DELETE:
            header.pop(name, None)
        else:
            header[name] = value
    order = draw(st.permutations(list(header))) if draw(st.booleans()) else list(header)
    return draw(odd_json({name: header[name] for name in order}))


@st.composite
def odd_json(draw: st.DrawFn, value: dict[str, Any]) -> bytes:
    """The JSON of ``value`` — or, now and then, something that is not quite that."""
    text = json.dumps(value)
    if not draw(rarely()):
        return text.encode()
    kind = draw(st.sampled_from(ODD_JSON_KINDS))
    if kind == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    if kind == "utf-16":
        return text.encode("utf-16")
    if kind == "utf-16-le":
        return text.encode("utf-16-le")
    if kind == "latin-1 byte":
        return text.replace("}", ', "x": "\xe9"}', 1).encode("latin-1")
    if kind == "invalid utf-8":
        return text.encode()[:-1] + b"\xff}"
    if kind == "utf-8 surrogate":
        return text.replace("}", ', "x": "\ud800"}', 1).encode("utf-8", "surrogatepass")
    if kind == "escaped surrogate":
        return text.replace("}", ', "x": "\\ud800"}', 1).encode()
    if kind == "non-ascii":
        return text.replace("}", ', "x": "caf\u00e9 \u2603"}', 1).encode()
    if kind == "duplicate":
        return text.replace("}", ', "alg": "ES256", "exp": 1}', 1).encode()
    if kind == "trailing data":
        return text.encode() + b" x"
    if kind == "whitespace":
        return b" \n" + text.encode() + b"\t"
    return {
        "array": b'["alg"]',
        "string": b'"alg"',
        "null": b"null",
        "number": b"1",
        "empty": b"",
        "truncated": text.encode()[:-1],
        "list of pairs": b'[["alg", "ES256"]]',
    }[kind]


ODD_JSON_KINDS = [
    "bom",
    "utf-16",
    "utf-16-le",
    "latin-1 byte",
    "invalid utf-8",
    "utf-8 surrogate",
    "escaped surrogate",
    "non-ascii",
    "duplicate",
    "trailing data",
    "whitespace",
    "array",
    "string",
    "null",
    "number",
    "empty",
    "truncated",
    "list of pairs",
]


def mutate_signature(kind: str, alg: str, signature: bytes, position: int) -> bytes:
    if kind == "flip a bit" and signature:
        i = position % len(signature)
        return signature[:i] + bytes([signature[i] ^ (1 << (position % 8))]) + signature[i + 1 :]
    if kind == "one byte short":
        return signature[:-1]
    if kind == "one byte long":
        return signature + b"\x00"
    if kind == "empty":
        return b""
    if kind == "zeros":
        return bytes(len(signature))
    if kind == "oversized":
        return signature * (800 // max(len(signature), 1) + 1)
    if kind == "r and s swapped" and alg.startswith("ES"):
        half = len(signature) // 2
        return signature[half:] + signature[:half]
    if kind == "s with a leading zero byte" and alg.startswith("ES"):
        half = len(signature) // 2
        return signature[:half] + b"\x00" + signature[half:]
    if kind == "high s" and alg in CURVE_ORDERS:
        n = CURVE_ORDERS[alg]
        s = int.from_bytes(signature[32:], "big")
        return signature[:32] + (n - s).to_bytes(32, "big")
    return signature


SIGNATURE_KINDS = [
    "flip a bit",
    "one byte short",
    "one byte long",
    "empty",
    "zeros",
    "oversized",
    "r and s swapped",
    "s with a leading zero byte",
    "high s",
]


def tweak_encoding(kind: str, segments: list[str], index: int, position: int) -> str:
    segment = segments[index]
    at = position % (len(segment) + 1)
    if kind == "padding":
        segment += "=" * (1 + position % 2)
    elif kind == "standard alphabet":
        segment = segment.replace("-", "+").replace("_", "/")
    elif kind == "plus":
        segment = segment[:at] + "+" + segment[at:]
    elif kind == "slash":
        segment = segment[:at] + "/" + segment[at:]
    elif kind == "space":
        segment = segment[:at] + " " + segment[at:]
    elif kind == "newline":
        segment = segment[:at] + "\n" + segment[at:]
    elif kind == "non-ascii":
        segment = segment[:at] + "\u00e9" + segment[at:]
    elif kind == "bang":
        segment = segment[:at] + "!" + segment[at:]
    elif kind == "one more character":
        segment += "A"
    elif kind == "one less character":
        segment = segment[:-1]
    elif kind == "non-canonical end" and len(segment) % 4 in (2, 3):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        segment = segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]
    elif kind == "extra segment":
        return ".".join(segments) + "." + segment
    elif kind == "two segments":
        return ".".join(segments[:2])
    elif kind == "empty segment":
        segment = ""
    parts = list(segments)
    parts[index] = segment
    return ".".join(parts)


ENCODING_KINDS = [
    "padding",
    "standard alphabet",
    "plus",
    "slash",
    "space",
    "newline",
    "non-ascii",
    "bang",
    "one more character",
    "one less character",
    "non-canonical end",
    "extra segment",
    "two segments",
    "empty segment",
]


def rarely() -> st.SearchStrategy[bool]:
    """True about one time in eight."""
    return st.integers(0, 7).map(lambda n: n == 7)


@st.composite
def tokens(draw: st.DrawFn) -> str:
    alg, key = draw(st.sampled_from(SIGNERS))
    header = draw(header_bytes(alg, key.kid))
    payload = draw(payload_bytes())
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    signature = sign(alg, key, signing_input)
    if draw(rarely()):
        signature = mutate_signature(
            draw(st.sampled_from(SIGNATURE_KINDS)),
            alg,
            signature,
            draw(st.integers(0, 10_000)),
        )
    segments = [b64(header), b64(payload), b64(signature)]
    if not draw(rarely()):
        return ".".join(segments)
    return tweak_encoding(
        draw(st.sampled_from(ENCODING_KINDS)),
        segments,
        draw(st.integers(0, 2)),
        draw(st.integers(0, 10_000)),
    )


# -- the differential test --------------------------------------------------------------

JWKS = jwks_cache()
VALIDATORS = {
    "default algorithms": TokenValidator(
        jwks=JWKS, expected_issuer=ISSUER, expected_audience=AUDIENCE
    ),
    "every algorithm, two audiences, no leeway": TokenValidator(
        jwks=JWKS,
        expected_issuer=ISSUER,
        expected_audience=["https://other.example", AUDIENCE],
        algorithms=ALL_ALGORITHMS,
        leeway=0,
    ),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(token=tokens(), config=st.sampled_from(sorted(VALIDATORS)))
def test_fast_path_agrees_with_joserfc(token: str, config: str) -> None:
    validator = VALIDATORS[config]
    expected = outcome(lambda: Oracle(validator).validate(token, now=NOW))
    assert outcome(lambda: validator.validate(token, now=NOW)) == expected


@st.composite
def claim_sets(draw: st.DrawFn) -> bytes:
    """Good claims, each of them changed now and then, in any order."""
    claims: dict[str, Any] = base_claims()
    for name in sorted(CLAIM_VALUES):
        if draw(st.integers(0, 5).map(lambda n: n == 5)):
            value = DELETE if draw(rarely()) else draw(CLAIM_VALUES[name])
            if value is DELETE:
                claims.pop(name, None)
            else:
                claims[name] = value
    order = draw(st.permutations(list(claims)))
    return json.dumps({name: claims[name] for name in order}).encode()


@settings(max_examples=300, deadline=None)
@given(payload=claim_sets(), config=st.sampled_from(sorted(VALIDATORS)))
def test_claim_checks_agree_with_joserfc(payload: bytes, config: str) -> None:
    """The same, with a good ES256 header and signature: the claims get the budget."""
    validator = VALIDATORS[config]
    token = mint(raw_payload=payload)
    expected = outcome(lambda: Oracle(validator).validate(token, now=NOW))
    assert outcome(lambda: validator.validate(token, now=NOW)) == expected


def test_the_generator_reaches_acceptance_and_most_rejections() -> None:
    """The differential test is only as good as its mix (a derandomized sample)."""
    seen: set[str] = set()
    validator = VALIDATORS["every algorithm, two audiences, no leeway"]

    @settings(max_examples=200, deadline=None, derandomize=True, database=None)
    @given(token=tokens())
    def sample(token: str) -> None:
        verdict, answer = outcome(lambda: validator.validate(token, now=NOW))
        seen.add(verdict if verdict == "ok" else answer)

    sample()
    assert {
        "ok",
        "the access token is malformed",
        "the access token signature is invalid",
        "the token's signing key (kid) is not known",
    } <= seen
    assert len(seen) >= 15, seen


# -- table tests ------------------------------------------------------------------------


def mint(
    *,
    alg: str = "ES256",
    key: Key = EC,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | None = None,
    raw_header: bytes | None = None,
    raw_payload: bytes | None = None,
) -> str:
    h = raw_header or json.dumps({"alg": alg, "kid": key.kid, "typ": "at+jwt", **(header or {})})
    p = raw_payload or json.dumps({**base_claims(), **(claims or {})})
    h_bytes = h if isinstance(h, bytes) else h.encode()
    p_bytes = p if isinstance(p, bytes) else p.encode()
    signing_input = f"{b64(h_bytes)}.{b64(p_bytes)}"
    return f"{signing_input}.{b64(sign(alg, key, signing_input.encode()))}"


def with_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)


def validator(**options: Any) -> TokenValidator:
    return TokenValidator(
        jwks=jwks_cache(), expected_issuer=ISSUER, expected_audience=AUDIENCE, **options
    )


def test_a_good_token_gives_the_principal() -> None:
    principal = validator().validate(mint(), now=NOW)
    assert principal.subject == "user-1"
    assert principal.client_id == "rp"
    assert principal.scopes == ("openid", "api:read")
    assert principal.expires_at == NOW + 300
    assert dict(principal.claims) == base_claims()


@pytest.mark.parametrize(
    ("alg", "key"),
    [
        ("ES256", EC),
        ("ES384", EC384),
        ("ES512", EC521),
        ("RS256", RSA),
        ("RS384", RSA),
        ("RS512", RSA),
        ("PS256", RSA),
        ("PS384", RSA),
        ("PS512", RSA),
        ("EdDSA", OKP),
        ("EdDSA", ED448),
        ("Ed25519", OKP),
    ],
)
def test_every_allowed_algorithm_verifies(alg: str, key: Key) -> None:
    token = mint(alg=alg, key=key)
    assert validator(algorithms=ALL_ALGORITHMS).validate(token, now=NOW).subject == "user-1"
    bad = with_segment(token, 2, b64(mutate_signature("flip a bit", alg, sign_of(token), 77)))
    with pytest.raises(InvalidToken, match=f"^{BAD_SIGNATURE}$"):
        validator(algorithms=ALL_ALGORITHMS).validate(bad, now=NOW)


def sign_of(token: str) -> bytes:
    segment = token.split(".")[2]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def non_canonical_header() -> str:
    """A good token whose header segment ends in a character with unused bits set."""
    header = {"alg": "ES256", "kid": EC.kid, "typ": "at+jwt"}
    text = json.dumps(header)
    while len(b64(text.encode())) % 4 not in (2, 3):
        text += " "
    token = mint(raw_header=text.encode())
    segment = token.split(".")[0]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    odd = segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]
    assert base64.urlsafe_b64decode(odd + "==") == text.encode()  # same bytes, lax decoder
    return with_segment(token, 0, odd)


def der_signature(raw: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    return encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))


MALFORMED = "the access token is malformed"
BAD_SIGNATURE = "the access token signature is invalid"
GOOD = mint()
GOOD_HEADER, GOOD_PAYLOAD, GOOD_SIGNATURE = GOOD.split(".")

TABLE: dict[str, tuple[str, str]] = {
    "empty": ("", "the access token is missing or too long"),
    "too long": ("a" * (16 * 1024 + 1), "the access token is missing or too long"),
    "opaque": ("opaque-token", "the access token is not a signed JWT"),
    "two segments": (f"{GOOD_HEADER}.{GOOD_PAYLOAD}", "the access token is not a signed JWT"),
    "four segments": (GOOD + ".x", "the access token is not a signed JWT"),
    "non-ASCII": (with_segment(GOOD, 1, GOOD_PAYLOAD + "\u00e9"), MALFORMED),
    "header padded with =": (with_segment(GOOD, 0, GOOD_HEADER + "=="), MALFORMED),
    "payload padded with =": (with_segment(GOOD, 1, GOOD_PAYLOAD + "="), MALFORMED),
    "+ in the header": (with_segment(GOOD, 0, "+" + GOOD_HEADER[1:]), MALFORMED),
    "/ in the payload": (with_segment(GOOD, 1, GOOD_PAYLOAD[:-1] + "/"), MALFORMED),
    "space in the payload": (with_segment(GOOD, 1, " " + GOOD_PAYLOAD), MALFORMED),
    "newline in the header": (with_segment(GOOD, 0, GOOD_HEADER + "\n"), MALFORMED),
    "header length 1 mod 4": (
        with_segment(GOOD, 0, GOOD_HEADER + "A" * ((1 - len(GOOD_HEADER)) % 4)),
        MALFORMED,
    ),
    "header with a non-canonical last character": (non_canonical_header(), MALFORMED),
    "empty header": (with_segment(GOOD, 0, ""), MALFORMED),
    "header not JSON": (with_segment(GOOD, 0, b64(b"{alg")), MALFORMED),
    "header a JSON array": (with_segment(GOOD, 0, b64(b'["alg"]')), MALFORMED),
    "header a JSON string": (with_segment(GOOD, 0, b64(b'"alg"')), MALFORMED),
    "header null": (with_segment(GOOD, 0, b64(b"null")), MALFORMED),
    "header without alg": (with_segment(GOOD, 0, b64(b'{"typ":"at+jwt"}')), MALFORMED),
    "header not UTF-8": (with_segment(GOOD, 0, b64(b'{"alg":"ES256","x":"\xff"}')), MALFORMED),
    "header with a BOM": (with_segment(GOOD, 0, b64(b'\xef\xbb\xbf{"alg":"ES256"}')), MALFORMED),
    "header in UTF-16": (
        with_segment(GOOD, 0, b64('{"alg":"ES256","typ":"at+jwt"}'.encode("utf-16"))),
        MALFORMED,
    ),
    "header over 512 characters": (
        mint(header={"x5t": "a" * 400}),
        MALFORMED,
    ),
    "signature over 1024 characters": (with_segment(GOOD, 2, "A" * 1028), MALFORMED),
    "payload not base64url": (with_segment(GOOD, 1, GOOD_PAYLOAD[:-1] + "*"), MALFORMED),
    "b64 false without crit": (mint(header={"b64": False}), MALFORMED),
    "b64 false with crit": (
        mint(header={"b64": False, "crit": ["b64"]}),
        "critical header extensions are not supported",
    ),
    "b64 true with crit": (
        mint(header={"b64": True, "crit": ["b64"]}),
        "critical header extensions are not supported",
    ),
    "alg null": (mint(header={"alg": None}), "unsigned tokens (alg none) are not accepted"),
    "alg NONE": (mint(header={"alg": "NONE"}), "unsigned tokens (alg none) are not accepted"),
    "alg hs256": (mint(header={"alg": "hs256"}), "symmetric algorithms (HS*) are not accepted"),
    "alg es256": (mint(header={"alg": "es256"}), "algorithm es256 is not accepted"),
    "jku": (mint(header={"jku": "https://evil.example"}), "the jku header is not accepted"),
    "x5c": (mint(header={"x5c": ["MIIB"]}), "the x5c header is not accepted"),
    "typ JWT": (
        mint(header={"typ": "JWT"}),
        "the token is not an access token (typ must be at+jwt)",
    ),
    "kid a number": (mint(header={"kid": 5}), "the kid header must be a string"),
    "kid unknown": (mint(header={"kid": "nope"}), "the token's signing key (kid) is not known"),
    "kid null, several keys": (
        mint(header={"kid": None}),
        "the token's signing key (kid) is not known",
    ),
    "unregistered header": (mint(header={"foo": 1}), BAD_SIGNATURE),
    "cty a number": (mint(header={"cty": 1}), BAD_SIGNATURE),
    "x5t a number": (mint(header={"x5t": 1}), BAD_SIGNATURE),
    "signature of another key": (mint(key=ROGUE, header={"kid": EC.kid}), BAD_SIGNATURE),
    "ES256 on a P-384 key": (mint(key=EC384, header={"alg": "ES256"}), BAD_SIGNATURE),
    "ES256 on a secp256k1 key": (
        mint(alg="ES256K", key=K256, header={"alg": "ES256"}),
        BAD_SIGNATURE,
    ),
    "RS256 on an EC kid": (
        mint(alg="RS256", key=RSA, header={"kid": EC.kid}),
        "the token's signing key (kid) is not known",
    ),
    "EdDSA on an X25519 key": (
        mint(alg="EdDSA", key=OKP, header={"kid": X25519.kid}),
        BAD_SIGNATURE,
    ),
    "key_ops without verify": (mint(alg="RS256", key=RSA_SIGN_OPS), BAD_SIGNATURE),
    "ES256 signature 63 bytes": (with_segment(GOOD, 2, b64(sign_of(GOOD)[:63])), BAD_SIGNATURE),
    "ES256 signature 65 bytes": (with_segment(GOOD, 2, b64(sign_of(GOOD) + b"\0")), BAD_SIGNATURE),
    "ES256 signature DER-encoded": (
        with_segment(GOOD, 2, b64(der_signature(sign_of(GOOD)))),
        BAD_SIGNATURE,
    ),
    "ES256 signature with s one byte longer (a leading zero)": (
        with_segment(GOOD, 2, b64(sign_of(GOOD)[:32] + b"\0" + sign_of(GOOD)[32:])),
        BAD_SIGNATURE,
    ),
    "empty signature": (with_segment(GOOD, 2, ""), BAD_SIGNATURE),
    "signature padded with =": (with_segment(GOOD, 2, GOOD_SIGNATURE + "="), BAD_SIGNATURE),
    "signature length 1 mod 4": (with_segment(GOOD, 2, GOOD_SIGNATURE + "AAA"), BAD_SIGNATURE),
    "payload not JSON": (mint(raw_payload=b"{iss"), "the access token payload is not JSON"),
    "payload not UTF-8": (
        mint(raw_payload=b'{"iss":"\xff"}'),
        "the access token payload is not JSON",
    ),
    "payload with a BOM": (
        mint(raw_payload=b"\xef\xbb\xbf" + json.dumps(base_claims()).encode()),
        "the access token payload is not JSON",
    ),
    "payload deeply nested": (
        mint(raw_payload=b"[" * 5000 + b"]" * 5000),
        "the access token payload is not JSON",
    ),
    "payload an array": (mint(raw_payload=b"[]"), "the access token payload is not a JSON object"),
    "payload a string": (
        mint(raw_payload=b'"x"'),
        "the access token payload is not a JSON object",
    ),
    "nonce": (mint(claims={"nonce": "n"}), "an ID token is not an access token"),
    "azp, no client_id": (
        mint(raw_payload=json.dumps({**base_claims(), "azp": "rp", "client_id": None}).encode()),
        "the access token lacks required claims (client_id)",
    ),
    "iss wrong": (mint(claims={"iss": ISSUER + "/"}), "the token was issued by another issuer"),
    "exp and iat missing": (
        mint(raw_payload=json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "u"}).encode()),
        "the access token lacks required claims (client_id,exp,iat,jti)",
    ),
    "sub null": (mint(claims={"sub": None}), "the access token lacks required claims (sub)"),
    "sub a number": (mint(claims={"sub": 5}), "the access token has an invalid sub claim"),
    "jti empty": (mint(claims={"jti": ""}), "the access token has an invalid jti claim"),
    "client_id empty": (
        mint(claims={"client_id": ""}),
        "the access token has an invalid client_id claim",
    ),
    "aud wrong": (
        mint(claims={"aud": "https://other.example"}),
        "the access token is not meant for this resource (aud)",
    ),
    "aud empty": (
        mint(claims={"aud": ""}),
        "the access token is not meant for this resource (aud)",
    ),
    "aud an empty list": (
        mint(claims={"aud": []}),
        "the access token is not meant for this resource (aud)",
    ),
    "aud with a number": (
        mint(claims={"aud": [AUDIENCE, 5]}),
        "the access token is not meant for this resource (aud)",
    ),
    "exp a string": (mint(claims={"exp": str(NOW + 300)}), "the access token has an invalid exp"),
    "exp true": (mint(claims={"exp": True}), "the access token has an invalid exp"),
    "exp NaN": (
        mint(raw_payload=json.dumps({**base_claims(), "exp": math.nan}).encode()),
        "the access token has an invalid exp",
    ),
    "exp Infinity": (
        mint(raw_payload=json.dumps({**base_claims(), "exp": math.inf}).encode()),
        "the access token has an invalid exp",
    ),
    "exp at now - leeway": (mint(claims={"exp": NOW - 30}), "the access token has expired"),
    "iat beyond the leeway": (
        mint(claims={"iat": NOW + 31}),
        "the access token was issued in the future (iat)",
    ),
    "nbf beyond the leeway": (
        mint(claims={"nbf": NOW + 31}),
        "the access token is not valid yet (nbf)",
    ),
    "nbf null": (mint(claims={"nbf": None}), "the access token is not valid yet (nbf)"),
}


@pytest.mark.parametrize("case", list(TABLE))
def test_rejections_say_why(case: str) -> None:
    token, description = TABLE[case]
    with pytest.raises(InvalidToken) as info:
        validator(algorithms=ALL_ALGORITHMS).validate(token, now=NOW)
    assert info.value.description == description


@pytest.mark.parametrize("case", [c for c in TABLE if c != "payload deeply nested"])
def test_the_table_agrees_with_joserfc(case: str) -> None:
    token, description = TABLE[case]
    v = validator(algorithms=ALL_ALGORITHMS)
    assert outcome(lambda: Oracle(v).validate(token, now=NOW)) == ("invalid", description)


def test_claims_are_checked_in_their_own_order() -> None:
    claims = {**base_claims(), "aud": "https://other.example", "exp": NOW - 100}
    reordered = {"exp": NOW - 100, **{k: v for k, v in claims.items() if k != "exp"}}
    with pytest.raises(InvalidToken, match=r"\(aud\)"):
        validator().validate(mint(raw_payload=json.dumps(claims).encode()), now=NOW)
    with pytest.raises(InvalidToken, match="has expired"):
        validator().validate(mint(raw_payload=json.dumps(reordered).encode()), now=NOW)


def test_high_s_ecdsa_signatures_are_accepted_like_joserfc() -> None:
    high_s = with_segment(GOOD, 2, b64(mutate_signature("high s", "ES256", sign_of(GOOD), 0)))
    assert high_s != GOOD
    v = validator()
    assert v.validate(high_s, now=NOW).subject == "user-1"
    assert Oracle(v).validate(high_s, now=NOW).subject == "user-1"


@pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 96, 128, 132])
def test_wrong_es256_signature_lengths_are_invalid_signatures(length: int) -> None:
    token = with_segment(GOOD, 2, b64((sign_of(GOOD) * 3)[:length]))
    with pytest.raises(InvalidToken, match=f"^{BAD_SIGNATURE}$"):
        validator().validate(token, now=NOW)


def test_a_rotated_key_under_the_same_kid_is_not_confused_with_the_old_one() -> None:
    """The verifier cache is per key object: after the JWKS changes, the new key
    under an old kid verifies, and the old key's signatures no longer do."""
    old = ECKey.generate_key("P-256", parameters={"kid": "rotating"})
    new = ECKey.generate_key("P-256", parameters={"kid": "rotating"})
    http = MemoryHttp({JWKS_URI: {"keys": [old.as_dict(private=False)]}})
    ticks = [0.0]
    jwks = JwksCache(jwks_uri=JWKS_URI, http=http, max_age=10, monotonic=lambda: ticks[0])
    v = TokenValidator(jwks=jwks, expected_issuer=ISSUER, expected_audience=AUDIENCE)
    assert v.validate(mint(key=old), now=NOW)
    http.documents[JWKS_URI] = {"keys": [new.as_dict(private=False)]}
    ticks[0] = 10.0
    with pytest.raises(InvalidToken, match=BAD_SIGNATURE):
        v.validate(mint(key=old), now=NOW)
    assert v.validate(mint(key=new), now=NOW)
    assert jwks.fetches == 2


def test_a_remembered_header_is_judged_again_when_the_allow_list_changes() -> None:
    v = validator()
    assert v.validate(GOOD, now=NOW)
    with pytest.raises(InvalidToken, match=f"^{MALFORMED}$"):
        v.validate(with_segment(GOOD, 1, GOOD_PAYLOAD + "="), now=NOW)
    v.algorithms = ("RS256",)
    with pytest.raises(InvalidToken, match=r"^algorithm ES256 is not accepted$"):
        v.validate(GOOD, now=NOW)
