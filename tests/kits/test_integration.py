"""The RS kit against Belay itself: a real access token from the code flow,
validated with the OP's published JWKS and discovery ladder, then held to an
acr requirement (RFC 9470 §3); and the same token through introspection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provider.relying_party import parse_www_authenticate, step_up_requirement
from provider.resource_server import (
    Challenge,
    IntrospectionValidator,
    JwksCache,
    Principal,
    ProviderMetadata,
    ProviderUnavailable,
    Requirement,
    ResourceServer,
    TokenValidator,
)
from tests.kits.conftest import FakeOP

ONE = "urn:belay:acr:1fa"
TWO = "urn:belay:acr:2fa"


class FlaskClientHttp:
    """The kit's HttpClient over the Flask test client (POST only, for introspection)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def get_json(self, url: str) -> dict[str, Any]:
        raise ProviderUnavailable("not used")

    def post_form(
        self, url: str, *, data: Mapping[str, str], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        response = self.client.post(
            url.removeprefix("http://localhost"), data=dict(data), headers=dict(headers)
        )
        if response.status_code != 200:
            raise ProviderUnavailable(f"HTTP {response.status_code}")
        return dict(response.get_json())


def test_real_op_token_meets_1fa_and_is_challenged_for_2fa(actions: Any, fake_op: FakeOP) -> None:
    actions.create_user()
    secret = actions.create_client("rp")
    callback = actions.code_flow("rp")
    tokens = actions.exchange(callback, "rp", secret).get_json()
    access_token = tokens["access_token"]

    # Serve the OP's own discovery document and JWKS from the stand-in server.
    discovery = actions.client.get("/.well-known/openid-configuration").get_json()
    assert discovery["issuer"] == "http://localhost"
    fake_op.documents["/jwks.json"] = actions.client.get("/jwks.json").get_json()
    fake_op.documents["/.well-known/openid-configuration"] = discovery
    metadata = ProviderMetadata(
        "http://localhost", url=fake_op.url + "/.well-known/openid-configuration"
    )
    validator = TokenValidator(
        jwks=JwksCache(jwks_uri=fake_op.url + "/jwks.json"),
        expected_issuer="http://localhost",
        expected_audience="rp",
    )
    rs = ResourceServer(validator=validator, ladder=metadata)
    header = f"Bearer {access_token}"

    principal = rs.check(header, Requirement(acr_values=(ONE,)))
    assert isinstance(principal, Principal), principal
    assert principal.acr == ONE
    assert principal.client_id == "rp"
    assert principal.auth_time is not None
    assert isinstance(rs.check(header, Requirement(min_level=ONE, max_age=300)), Principal)

    challenge = rs.check(header, Requirement(acr_values=(TWO,)))
    assert isinstance(challenge, Challenge)
    assert challenge.status == 401
    assert challenge.header_value == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="A different authentication level is required", '
        'acr_values="urn:belay:acr:2fa"'
    )
    # Level-based: the ladder comes from the OP's belay_acr_levels.
    by_level = rs.check(header, Requirement(min_level=TWO))
    assert isinstance(by_level, Challenge)
    ladder = [item["acr"] for item in discovery["belay_acr_levels"]]
    assert by_level.acr_values == tuple(ladder[ladder.index(TWO) :])
    # The RP kit reads the challenge back.
    needed = step_up_requirement(parse_www_authenticate(by_level.header_value))
    assert needed is not None and needed.acr_values[0] == TWO

    # The ID token is not an access token.
    id_result = rs.check(f"Bearer {tokens['id_token']}", Requirement())
    assert isinstance(id_result, Challenge) and id_result.error == "invalid_token"

    # Introspection (RFC 7662) gives the same answer.
    introspection = IntrospectionValidator(
        introspection_endpoint="http://localhost/introspect",
        client_id="rp",
        client_secret=secret,
        expected_issuer="http://localhost",
        expected_audience="rp",
        http=FlaskClientHttp(actions.client),
    )
    via_op = ResourceServer(validator=introspection, ladder=metadata)
    assert isinstance(via_op.check(header, Requirement(acr_values=(ONE,))), Principal)
    assert isinstance(via_op.check(header, Requirement(min_level=TWO)), Challenge)
    assert introspection.calls == 1
