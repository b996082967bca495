"""docs/security.md case 30 and RFC 9470 §3: requirements, the exact challenge
headers, ladder-level acceptance from discovery, the Flask decorator, the WSGI
middleware and introspection."""

from __future__ import annotations

import base64
import time
from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask, g

from provider.resource_server import (
    AcrLadder,
    Challenge,
    IntrospectionValidator,
    JwksCache,
    Principal,
    ProviderMetadata,
    Requirement,
    ResourceServer,
    TokenValidator,
    quote_string,
)
from provider.resource_server.flask_adapter import init_app, require
from provider.resource_server.wsgi import ENVIRON_KEY, BearerMiddleware
from tests.kits.conftest import FakeOP
from tests.kits.keys import AUDIENCE, EC, mint, public_jwks

ONE = "urn:belay:acr:1fa"
TWO = "urn:belay:acr:2fa"
PHR = "urn:belay:acr:phr"
PHRH = "urn:belay:acr:phrh"
LEVELS: list[dict[str, Any]] = [
    {"acr": ONE, "level": 1},
    {"acr": TWO, "level": 2},
    {"acr": PHR, "level": 3},
    {"acr": PHRH, "level": 4},
]
ACR_HEADER = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="A different authentication level is required", '
    'acr_values="urn:belay:acr:2fa"'
)
MAX_AGE_HEADER = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="More recent authentication is required", '
    'max_age="120"'
)


@pytest.fixture
def metadata(fake_op: FakeOP) -> ProviderMetadata:
    fake_op.discovery(belay_acr_levels=LEVELS)
    fake_op.documents["/jwks.json"] = public_jwks(EC)
    return ProviderMetadata(fake_op.url)


@pytest.fixture
def rs(fake_op: FakeOP, metadata: ProviderMetadata) -> ResourceServer:
    validator = TokenValidator(
        jwks=JwksCache(metadata=metadata), expected_issuer=fake_op.url, expected_audience=AUDIENCE
    )
    return ResourceServer(validator=validator, ladder=metadata)


def bearer(token: str) -> str:
    return f"Bearer {token}"


# -- case 30 ------------------------------------------------------------------------


def test_acr_too_low_gives_the_exact_rfc9470_challenge(rs: ResourceServer, fake_op: FakeOP) -> None:
    result = rs.check(bearer(mint(fake_op.url, acr=ONE)), Requirement(acr_values=(TWO,)))
    assert isinstance(result, Challenge)
    assert result.status == 401
    assert result.header_value == ACR_HEADER


def test_auth_time_too_old_gives_max_age(rs: ResourceServer, fake_op: FakeOP) -> None:
    now = int(time.time())
    token = mint(fake_op.url, auth_time=now - 121)
    result = rs.check(bearer(token), Requirement(max_age=120), now=now)
    assert isinstance(result, Challenge)
    assert result.status == 401
    assert result.header_value == MAX_AGE_HEADER
    assert isinstance(
        rs.check(bearer(mint(fake_op.url, auth_time=now - 120)), Requirement(max_age=120), now=now),
        Principal,
    )


def test_both_parts_are_in_the_challenge(rs: ResourceServer, fake_op: FakeOP) -> None:
    now = int(time.time())
    token = mint(fake_op.url, acr=ONE, auth_time=now - 1000)
    result = rs.check(bearer(token), Requirement(acr_values=(TWO, PHR), max_age=300), now=now)
    assert isinstance(result, Challenge)
    assert result.header_value == (
        'Bearer error="insufficient_user_authentication", error_description="A different '
        'authentication level and more recent authentication are required", '
        'acr_values="urn:belay:acr:2fa urn:belay:acr:phr", max_age="300"'
    )


@pytest.mark.parametrize(
    ("overrides", "requirement"),
    [
        ({"acr": None}, Requirement(acr_values=(ONE,))),
        ({"acr": None}, Requirement(min_level=ONE)),
        ({"acr": ""}, Requirement(acr_values=(ONE,))),
        ({"acr": 7}, Requirement(min_level=ONE)),
        ({"acr": "urn:unknown"}, Requirement(min_level=ONE)),
        ({"auth_time": None}, Requirement(max_age=2**31 - 1)),
        ({"auth_time": "123"}, Requirement(max_age=2**31 - 1)),
        ({"auth_time": True}, Requirement(max_age=2**31 - 1)),
    ],
)
def test_missing_or_malformed_claims_count_as_weakest(
    rs: ResourceServer, fake_op: FakeOP, overrides: dict[str, Any], requirement: Requirement
) -> None:
    result = rs.check(bearer(mint(fake_op.url, **overrides)), requirement)
    assert isinstance(result, Challenge)
    assert result.error == "insufficient_user_authentication"


@pytest.mark.parametrize(
    ("acr", "min_level", "ok"),
    [
        (ONE, ONE, True),
        (TWO, ONE, True),
        (PHRH, TWO, True),
        (PHR, PHR, True),
        (ONE, TWO, False),
        (TWO, PHR, False),
        (PHR, PHRH, False),
    ],
)
def test_level_based_acceptance_from_discovery(
    rs: ResourceServer, fake_op: FakeOP, acr: str, min_level: str, ok: bool
) -> None:
    result = rs.check(bearer(mint(fake_op.url, acr=acr)), Requirement(min_level=min_level))
    assert isinstance(result, Principal) is ok
    if not ok:
        assert isinstance(result, Challenge)
        # The challenge lists the level and everything stronger, weakest first.
        ladder = [item["acr"] for item in LEVELS]
        expected = ladder[ladder.index(min_level) :]
        assert result.acr_values == tuple(expected)
        assert f'acr_values="{" ".join(expected)}"' in result.header_value


def test_exact_values_do_not_use_the_ladder(rs: ResourceServer, fake_op: FakeOP) -> None:
    assert isinstance(
        rs.check(bearer(mint(fake_op.url, acr=PHR)), Requirement(acr_values=(TWO,))), Challenge
    )
    # ... unless min_level is given too: exact OR level.
    assert isinstance(
        rs.check(
            bearer(mint(fake_op.url, acr=PHR)), Requirement(acr_values=("custom",), min_level=TWO)
        ),
        Principal,
    )


def test_without_a_ladder_only_the_exact_min_level_counts(
    fake_op: FakeOP, rs: ResourceServer
) -> None:
    bare = ResourceServer(validator=rs.validator)
    assert isinstance(
        bare.check(bearer(mint(fake_op.url, acr=TWO)), Requirement(min_level=TWO)), Principal
    )
    assert isinstance(
        bare.check(bearer(mint(fake_op.url, acr=PHR)), Requirement(min_level=TWO)), Challenge
    )


def test_ladder_parsing() -> None:
    ladder = AcrLadder.from_metadata({"belay_acr_levels": LEVELS})
    assert ladder.level_of(TWO) == 2
    assert ladder.level_of(None) is None
    assert ladder.at_or_above(PHR) == (PHR, PHRH)
    assert AcrLadder.from_metadata({}).levels == ()


def test_clock_skew_for_max_age(rs: ResourceServer, fake_op: FakeOP) -> None:
    now = int(time.time())
    token = bearer(mint(fake_op.url, auth_time=now - 130))
    assert isinstance(rs.check(token, Requirement(max_age=120), now=now), Challenge)
    lenient = ResourceServer(validator=rs.validator, clock_skew=10)
    assert isinstance(lenient.check(token, Requirement(max_age=120), now=now), Principal)


def test_scope_is_checked_first_with_403(rs: ResourceServer, fake_op: FakeOP) -> None:
    result = rs.check(
        bearer(mint(fake_op.url, acr=ONE)), Requirement(acr_values=(TWO,), scopes=("api:write",))
    )
    assert isinstance(result, Challenge)
    assert result.status == 403
    assert result.header_value == (
        'Bearer error="insufficient_scope", error_description="The access token lacks a '
        'required scope", scope="api:write"'
    )


@pytest.mark.parametrize(
    ("header", "status", "value"),
    [
        (None, 401, "Bearer"),
        ("Basic dXNlcjpwYXNz", 401, "Bearer"),
        ("Bearer", 400, None),
        ("Bearer a b", 400, None),
        ("Bearer tok\u00e9n", 400, None),
        ("bearer not-a-jwt", 401, None),
    ],
)
def test_header_shapes(
    rs: ResourceServer, header: str | None, status: int, value: str | None
) -> None:
    result = rs.check(header, Requirement())
    assert isinstance(result, Challenge)
    assert result.status == status
    if value is not None:
        assert result.header_value == value


def test_realm_and_quoting() -> None:
    challenge = Challenge.insufficient_user_authentication(
        acr_values=('a"b', "c\\d"), max_age=5, realm='my "api"'
    )
    assert challenge.header_value == (
        'Bearer realm="my \\"api\\"", error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="a\\"b c\\\\d", max_age="5"'
    )
    assert quote_string("tab\tok") == '"tab\tok"'
    for bad in ("line\r\nInjected: 1", "nul\x00", "\x7f", "snow\u2603"):
        with pytest.raises(ValueError):
            quote_string(bad)
    # Descriptions are sanitised rather than refused.
    assert Challenge.invalid_token('bad "token"\n').error_description == "bad ?token??"


def test_requirement_validation() -> None:
    for bad in (
        {"acr_values": ("has space",)},
        {"acr_values": ("",)},
        {"min_level": "x\ny"},
        {"max_age": -1},
        {"max_age": 2**31},
        {"max_age": True},
        {"scopes": ('a"b',)},
    ):
        with pytest.raises(ValueError):
            Requirement(**bad)
    assert Requirement(acr_values=[TWO]).acr_values == (TWO,)  # type: ignore[arg-type]


# -- Flask decorator -------------------------------------------------------------------


def test_flask_decorator(rs: ResourceServer, fake_op: FakeOP) -> None:
    app = Flask(__name__)
    init_app(app, rs)

    @app.post("/transfers")
    @require(acr_values=TWO, max_age=300)
    def transfer() -> dict[str, Any]:
        return {"sub": g.belay_principal.subject, "acr": g.token_claims["acr"]}

    @app.get("/profile")
    @require(Requirement(min_level=ONE))
    def profile() -> dict[str, Any]:
        return {"ok": True}

    client = app.test_client()
    low = mint(fake_op.url, acr=ONE)
    high = mint(fake_op.url, acr=TWO)

    response = client.post("/transfers", headers={"Authorization": bearer(low)})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="urn:belay:acr:2fa", max_age="300"'
    )
    assert response.get_json()["error"] == "insufficient_user_authentication"

    response = client.post("/transfers", headers={"Authorization": bearer(high)})
    assert response.status_code == 200
    assert response.get_json() == {"sub": "user-1", "acr": TWO}

    assert client.get("/profile").status_code == 401
    assert client.get("/profile").headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/profile", headers={"Authorization": bearer(low)}).status_code == 200
    response = client.get("/profile", headers={"Authorization": "Bearer x.y.z"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_flask_decorator_answers_503_when_the_op_is_down(fake_op: FakeOP) -> None:
    validator = TokenValidator(
        jwks=JwksCache(jwks_uri=fake_op.url + "/missing"),
        expected_issuer=fake_op.url,
        expected_audience=AUDIENCE,
    )
    app = Flask(__name__)

    @app.get("/x")
    @require(server=ResourceServer(validator=validator))
    def x() -> str:
        return "no"

    response = app.test_client().get("/x", headers={"Authorization": bearer(mint(fake_op.url))})
    assert response.status_code == 503


# -- WSGI middleware -------------------------------------------------------------------


def test_wsgi_middleware(rs: ResourceServer, fake_op: FakeOP) -> None:
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ.get(ENVIRON_KEY))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    def requirement(environ: dict[str, Any]) -> Requirement | None:
        if environ["PATH_INFO"] == "/public":
            return None
        return Requirement(acr_values=(TWO,))

    wrapped = BearerMiddleware(app, server=rs, requirement=requirement)

    def call(path: str, token: str | None) -> tuple[str, dict[str, str]]:
        out: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            out["status"], out["headers"] = status, dict(headers)

        environ: dict[str, Any] = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
        if token:
            environ["HTTP_AUTHORIZATION"] = bearer(token)
        b"".join(wrapped(environ, start_response))  # type: ignore[arg-type]
        return out["status"], out["headers"]

    assert call("/public", None)[0] == "200 OK"
    status, headers = call("/api", mint(fake_op.url, acr=ONE))
    assert status == "401 Unauthorized"
    assert headers["WWW-Authenticate"] == ACR_HEADER
    status, _ = call("/api", mint(fake_op.url, acr=TWO))
    assert status == "200 OK"
    assert isinstance(seen[-1], Principal) and seen[-1].acr == TWO


# -- introspection ----------------------------------------------------------------------


def test_introspection_validator_with_cache(fake_op: FakeOP, metadata: ProviderMetadata) -> None:
    now = int(time.time())
    answers = {
        "good": {
            "active": True,
            "iss": fake_op.url,
            "sub": "u1",
            "aud": AUDIENCE,
            "client_id": "rp",
            "scope": "openid",
            "exp": now + 300,
            "acr": ONE,
            "auth_time": now - 5,
        },
        "refresh": {"active": True, "token_type": "refresh_token", "aud": AUDIENCE},
        "other-aud": {"active": True, "aud": "https://elsewhere", "exp": now + 300},
        "other-iss": {"active": True, "iss": "https://evil", "aud": AUDIENCE},
    }
    seen_auth: list[str] = []

    def introspect(form: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
        seen_auth.append(headers.get("Authorization", ""))
        return answers.get(form["token"], {"active": False})

    fake_op.post_handlers["/introspect"] = introspect
    validator = IntrospectionValidator(
        metadata=metadata, client_id="api:1", client_secret="s&cret", expected_audience=AUDIENCE
    )
    rs = ResourceServer(validator=validator, ladder=metadata)
    assert isinstance(rs.check("Bearer good", Requirement(min_level=ONE)), Principal)
    assert isinstance(rs.check("Bearer good", Requirement(min_level=ONE)), Principal)
    assert validator.calls == 1, "cached"
    result = rs.check("Bearer good", Requirement(min_level=TWO))
    assert isinstance(result, Challenge) and result.error == "insufficient_user_authentication"
    for token in ("refresh", "other-aud", "other-iss", "revoked"):
        result = rs.check(f"Bearer {token}", Requirement())
        assert isinstance(result, Challenge) and result.error == "invalid_token", token
    rs.check("Bearer revoked", Requirement())
    assert validator.calls == 5, "inactive answers are cached too"
    # RFC 6749 §2.3.1: form-encoded before Basic.
    user, _, password = base64.b64decode(seen_auth[0].split()[1]).decode().partition(":")
    assert (unquote(user), unquote(password)) == ("api:1", "s&cret")
    assert user == "api%3A1"
