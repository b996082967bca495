"""docs/security.md case 31: the RS kit rejects every forged or misdirected token
with ``invalid_token``; JWKS caching and the one-refresh-on-unknown-kid rule."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey

from provider.resource_server import (
    Challenge,
    InvalidToken,
    JwksCache,
    Principal,
    ProviderMetadata,
    ProviderUnavailable,
    Requirement,
    TokenValidator,
    check,
)
from tests.kits.conftest import FakeOP
from tests.kits.keys import (
    AUDIENCE,
    EC,
    OKP,
    ROGUE,
    RSA,
    b64,
    hmac_with_public_key,
    mint,
    public_jwks,
    unsigned,
)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def jwks(fake_op: FakeOP, clock: Clock) -> JwksCache:
    fake_op.discovery()
    fake_op.documents["/jwks.json"] = public_jwks(EC, RSA, OKP)
    return JwksCache(
        metadata=ProviderMetadata(fake_op.url), min_refresh_interval=60, monotonic=clock
    )


@pytest.fixture
def validator(fake_op: FakeOP, jwks: JwksCache) -> TokenValidator:
    return TokenValidator(jwks=jwks, expected_issuer=fake_op.url, expected_audience=AUDIENCE)


def rejected(validator: TokenValidator, token: str) -> str:
    with pytest.raises(InvalidToken) as info:
        validator.validate(token)
    result = check(f"Bearer {token}", Requirement(), validator=validator)
    assert isinstance(result, Challenge)
    assert result.status == 401
    assert result.header_value.startswith('Bearer error="invalid_token", error_description="')
    return info.value.description


# -- accepted ---------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
@pytest.mark.parametrize(("key", "alg"), [(EC, "ES256"), (RSA, "RS256"), (OKP, "EdDSA")])
def test_default_algorithms_are_accepted(
    validator: TokenValidator, fake_op: FakeOP, key: Any, alg: str
) -> None:
    principal = validator.validate(mint(fake_op.url, key=key, alg=alg))
    assert isinstance(principal, Principal)
    assert principal.subject == "user-1"
    assert principal.client_id == "rp"
    assert principal.scopes == ("openid", "api:read")
    assert principal.acr == "urn:belay:acr:1fa"
    assert principal.amr == ("pwd",)
    assert principal.claims["jti"] == "jti-1"


def test_application_at_jwt_and_audience_lists_are_accepted(
    validator: TokenValidator, fake_op: FakeOP
) -> None:
    token = mint(
        fake_op.url,
        header={"typ": "application/AT+JWT"},
        aud=["https://other.example", AUDIENCE],
    )
    assert validator.validate(token).subject == "user-1"


def test_leeway_covers_small_clock_skew(validator: TokenValidator, fake_op: FakeOP) -> None:
    now = int(time.time())
    assert validator.validate(mint(fake_op.url, exp=now - 10, nbf=now + 10, iat=now + 10))


# -- rejected (docs/security.md 31) ------------------------------------------------------

REJECTIONS: dict[str, Callable[[str], str]] = {
    "alg none": lambda iss: unsigned(iss),
    "alg None (case)": lambda iss: unsigned(iss, "None"),
    "HS256 keyed with the RSA public key (PEM)": lambda iss: hmac_with_public_key(
        iss, RSA.as_pem(private=False), RSA.kid or ""
    ),
    "HS256 keyed with the EC public JWK": lambda iss: hmac_with_public_key(
        iss, json.dumps(EC.as_dict(private=False)).encode(), EC.kid or ""
    ),
    "jku header": lambda iss: mint(iss, header={"jku": "https://evil.example/jwks"}),
    "x5u header": lambda iss: mint(iss, header={"x5u": "https://evil.example/cert.pem"}),
    "jwk header (embedded rogue key)": lambda iss: mint(
        iss, key=ROGUE, header={"kid": EC.kid, "jwk": ROGUE.as_dict(private=False)}
    ),
    "unknown kid": lambda iss: mint(iss, key=ROGUE),
    "known kid, wrong key": lambda iss: mint(iss, key=ROGUE, header={"kid": EC.kid}),
    "RS256 header on an EC kid": lambda iss: mint(
        iss, key=RSA, alg="RS256", header={"kid": EC.kid}
    ),
    "ES384 not allowed": lambda iss: mint(
        iss, key=ECKey.generate_key("P-384", parameters={"kid": "p384"}), alg="ES384"
    ),
    "wrong iss": lambda iss: mint(iss, iss="https://evil.example"),
    "iss with trailing slash": lambda iss: mint(iss, iss=iss + "/"),
    "wrong aud": lambda iss: mint(iss, aud="https://other.example"),
    "aud list without us": lambda iss: mint(iss, aud=["https://a.example", "https://b.example"]),
    "no aud": lambda iss: mint(iss, aud=None),
    "expired": lambda iss: mint(iss, exp=int(time.time()) - 31),
    "no exp": lambda iss: mint(iss, exp=None),
    "nbf in the future": lambda iss: mint(iss, nbf=int(time.time()) + 120),
    "iat in the future": lambda iss: mint(iss, iat=int(time.time()) + 120),
    "typ JWT": lambda iss: mint(iss, header={"typ": "JWT"}),
    "no typ": lambda iss: mint(iss, header={"typ": None}),
    "typ at+jwt with parameters": lambda iss: mint(iss, header={"typ": "at+jwt; x=1"}),
    "ID token (typ JWT, nonce, aud is the client)": lambda iss: mint(
        iss, header={"typ": "JWT"}, aud="rp", nonce="n-1", azp="rp", client_id=None
    ),
    "ID token with typ at+jwt but a nonce": lambda iss: mint(iss, nonce="n-1"),
    "ID token with typ at+jwt, azp and no client_id": lambda iss: mint(
        iss, azp="rp", client_id=None
    ),
    "ID token with at_hash": lambda iss: mint(iss, at_hash="abc"),
    "no client_id": lambda iss: mint(iss, client_id=None),
    "no jti": lambda iss: mint(iss, jti=None),
    "no sub": lambda iss: mint(iss, sub=None),
    "crit header": lambda iss: mint(iss, header={"crit": ["b64"], "b64": True}),
    "tampered payload": lambda iss: (
        lambda t: t.split(".")[0] + "." + b64(b'{"iss":"x"}') + "." + t.split(".")[2]
    )(mint(iss)),
    "not a JWT": lambda iss: "opaque-token-value",
    "four parts": lambda iss: mint(iss) + ".x",
    "garbage header": lambda iss: "eyJhbGciOi.e30.x",
    "payload not an object": lambda iss: (
        mint(iss)[: mint(iss).index(".")] + "." + b64(b"[1]") + ".sig"
    ),
}


@pytest.mark.parametrize("case", list(REJECTIONS))
def test_rejected_with_invalid_token(validator: TokenValidator, fake_op: FakeOP, case: str) -> None:
    description = rejected(validator, REJECTIONS[case](fake_op.url))
    assert "\n" not in description and '"' not in description


def test_each_rejection_says_why(validator: TokenValidator, fake_op: FakeOP) -> None:
    iss = fake_op.url
    assert "alg none" in rejected(validator, unsigned(iss))
    assert "HS" in rejected(validator, REJECTIONS["HS256 keyed with the RSA public key (PEM)"](iss))
    assert "jku" in rejected(validator, REJECTIONS["jku header"](iss))
    assert "kid" in rejected(validator, REJECTIONS["unknown kid"](iss))
    assert "aud" in rejected(validator, REJECTIONS["wrong aud"](iss))
    assert "issuer" in rejected(validator, REJECTIONS["wrong iss"](iss))
    assert "expired" in rejected(validator, REJECTIONS["expired"](iss))
    assert "nbf" in rejected(validator, REJECTIONS["nbf in the future"](iss))
    assert "at+jwt" in rejected(validator, REJECTIONS["typ JWT"](iss))
    assert "ID token" in rejected(
        validator, REJECTIONS["ID token with typ at+jwt but a nonce"](iss)
    )


def test_hmac_and_none_cannot_be_allowed(jwks: JwksCache) -> None:
    for algs in (["HS256"], ["none"], ["ES256", "HS512"]):
        with pytest.raises(ValueError):
            TokenValidator(jwks=jwks, expected_issuer="x", expected_audience="y", algorithms=algs)


# -- JWKS cache ---------------------------------------------------------------------


def test_unknown_kid_refreshes_exactly_once_and_is_throttled(
    validator: TokenValidator, jwks: JwksCache, fake_op: FakeOP, clock: Clock
) -> None:
    validator.validate(mint(fake_op.url))
    assert jwks.fetches == 1
    rejected(validator, mint(fake_op.url, key=ROGUE))  # validate + check: two attempts
    assert jwks.fetches == 2, "one refresh for the unknown kid, then throttled"
    for _ in range(5):
        with pytest.raises(InvalidToken):
            validator.validate(mint(fake_op.url, key=ROGUE))
    assert jwks.fetches == 2
    assert fake_op.hits["/jwks.json"] == 2
    assert fake_op.hits["/.well-known/openid-configuration"] == 1

    # Key rotation: the OP publishes the new key; after the throttle window the
    # unknown kid triggers one refresh and the token is accepted.
    fake_op.documents["/jwks.json"] = public_jwks(EC, RSA, OKP, ROGUE)
    with pytest.raises(InvalidToken):
        validator.validate(mint(fake_op.url, key=ROGUE))
    assert jwks.fetches == 2
    clock.t += 60
    assert validator.validate(mint(fake_op.url, key=ROGUE)).subject == "user-1"
    assert jwks.fetches == 3
    assert validator.validate(mint(fake_op.url, key=ROGUE))
    assert jwks.fetches == 3


def test_keys_expire_after_max_age(
    validator: TokenValidator, jwks: JwksCache, fake_op: FakeOP, clock: Clock
) -> None:
    validator.validate(mint(fake_op.url))
    clock.t += jwks.max_age
    validator.validate(mint(fake_op.url))
    assert jwks.fetches == 2


def test_symmetric_and_encryption_keys_in_the_jwks_are_ignored(
    validator: TokenValidator, fake_op: FakeOP
) -> None:
    doc = public_jwks(RSA)
    doc["keys"].append({"kty": "oct", "k": b64(b"secret"), "kid": "hs"})
    doc["keys"].append({**EC.as_dict(private=False), "use": "enc"})
    fake_op.documents["/jwks.json"] = doc
    rejected(validator, hmac_with_public_key(fake_op.url, b"secret", "hs"))
    rejected(validator, mint(fake_op.url))  # EC key is for encryption only


def test_unreachable_jwks_is_provider_unavailable_not_invalid_token(
    fake_op: FakeOP, clock: Clock
) -> None:
    fake_op.discovery()  # but no /jwks.json
    jwks = JwksCache(metadata=ProviderMetadata(fake_op.url), monotonic=clock)
    validator = TokenValidator(jwks=jwks, expected_issuer=fake_op.url, expected_audience=AUDIENCE)
    with pytest.raises(ProviderUnavailable):
        validator.validate(mint(fake_op.url))
    with pytest.raises(ProviderUnavailable):
        check(f"Bearer {mint(fake_op.url)}", Requirement(), validator=validator)
    assert jwks.fetches == 1, "a failing OP is throttled too"


def test_discovery_issuer_must_match(fake_op: FakeOP) -> None:
    fake_op.discovery(issuer="https://someone-else.example")
    with pytest.raises(ProviderUnavailable):
        ProviderMetadata(fake_op.url).get()


# -- fuzz: nothing but InvalidToken ----------------------------------------------------


class MemoryHttp:
    def __init__(self, documents: dict[str, Any]) -> None:
        self.documents = documents

    def get_json(self, url: str) -> dict[str, Any]:
        return dict(self.documents[url])

    def post_form(self, url: str, *, data: Any, headers: Any) -> dict[str, Any]:
        raise AssertionError("not used")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
header_dicts = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["ES256", "RS256", "EdDSA", "none", "HS256", "ES384"]) | json_values,
        "typ": st.sampled_from(["at+jwt", "JWT", "application/at+jwt"]) | json_values,
        "kid": st.sampled_from([EC.kid, RSA.kid, "nope"]) | json_values,
        "crit": json_values,
        "jwk": json_values,
        "b64": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(
    header=header_dicts,
    payload=st.dictionaries(
        st.sampled_from(
            ["iss", "aud", "exp", "nbf", "iat", "sub", "jti", "client_id", "nonce", "azp"]
        ),
        json_values,
    ),
    signature=st.binary(max_size=80),
)
def test_forged_tokens_only_raise_invalid_token(
    header: dict[str, Any], payload: dict[str, Any], signature: bytes
) -> None:
    http = MemoryHttp({"https://op/jwks": public_jwks(EC, RSA, OKP)})
    validator = TokenValidator(
        jwks=JwksCache(jwks_uri="https://op/jwks", http=http),
        expected_issuer="https://op",
        expected_audience=AUDIENCE,
    )
    token = ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )
    with pytest.raises(InvalidToken):
        validator.validate(token)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_strings_only_raise_invalid_token(token: str) -> None:
    http = MemoryHttp({"https://op/jwks": public_jwks(EC)})
    validator = TokenValidator(
        jwks=JwksCache(jwks_uri="https://op/jwks", http=http),
        expected_issuer="https://op",
        expected_audience=AUDIENCE,
    )
    with pytest.raises(InvalidToken):
        validator.validate(token)
