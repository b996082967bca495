"""Property tests for /introspect, /revoke and the passkey JSON endpoints (issue
9: "every parameter … never a 500, always a well-formed OAuth/JSON error").

Whatever a client sends — with its secret, a wrong one, garbage in the
``Authorization`` header or no authentication at all; real tokens, other
clients' tokens, random strings; any ``token_type_hint``; junk bodies of any
content type — the answer is exactly what RFC 7662 / RFC 7009 allow: a JSON
error with the right code and status, or a 200 that never makes a random string
an active token. The /webauthn/… endpoints answer a JSON error from their own
short list (or, for ``…/options``, the options) whatever JSON, field or body
arrives, in every session state: signed out, signed in, and signed in with a
passkey to step up with.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import Actions
from tests.webauthn_soft import SoftAuthenticator, b64url

pytestmark = pytest.mark.settings(ORIGINS="http://localhost", RP_ID="localhost")

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

INTERESTING = [
    "",
    " ",
    "\x00",
    "A" * 4_097,
    "%00",
    "null",
    "[]",
    "{}",
    "access_token",
    "refresh_token",
    "Bearer",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJycCJ9.",
    "a.b.c",
    "\u202e\u200b😀ü",
    '"\\<>',
]
TEXT = st.one_of(
    st.text(max_size=60),
    st.sampled_from(INTERESTING),
    st.binary(max_size=24).map(lambda b: b.decode("latin-1")),
)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- /introspect and /revoke ------------------------------------------------------------------

#: how the caller authenticates; "rp" is confidential (client_secret_basic),
#: "rs" confidential (client_secret_post), "spa" public (none).
AUTHS = [
    "none",
    "basic",
    "basic-wrong",
    "basic-garbage",
    "basic-bytes",
    "basic-unknown",
    "basic-wrong-method",
    "post",
    "post-wrong",
    "public",
    "unknown-id",
]
#: the ones that authenticate a client at each endpoint
INTROSPECT_OK = {"basic", "post"}
REVOKE_OK = {"basic", "post", "public"}


class TokenWorld:
    """Three clients and real tokens of two of them."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        actions.create_user()
        rp = actions.create_client("rp")
        rs = actions.create_client("rs", auth_method="client_secret_post")
        actions.create_client("spa", public=True)
        assert rp and rs
        self.secrets = {"rp": rp, "rs": rs}
        body = actions.exchange(actions.code_flow("rp", scope="openid offline_access"), "rp", rp)
        assert body.status_code == 200, body.text
        rp_tokens = body.get_json()
        spa = actions.exchange(actions.code_flow("spa", scope="openid offline_access"), "spa")
        assert spa.status_code == 200, spa.text
        spa_tokens = spa.get_json()
        service = actions.client.post(
            "/token",
            data={"grant_type": "client_credentials", "client_id": "rs", "client_secret": rs},
        )
        assert service.status_code == 200, service.text
        #: token -> the client it was issued to
        self.owner = {
            rp_tokens["access_token"]: "rp",
            rp_tokens["refresh_token"]: "rp",
            spa_tokens["access_token"]: "spa",
            spa_tokens["refresh_token"]: "spa",
            service.get_json()["access_token"]: "rs",
        }

    def auth(self, kind: str, garbage: str, raw: bytes) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, form fields) for one way of (not) authenticating."""
        headers: dict[str, str] = {}
        form: dict[str, str] = {}
        if kind == "basic":
            headers["Authorization"] = _basic("rp", self.secrets["rp"])
        elif kind == "basic-wrong":
            headers["Authorization"] = _basic("rp", self.secrets["rp"] + "x")
        elif kind == "basic-garbage":
            # Any latin-1 text but a line break (which no client can send in a header).
            value = garbage.encode("latin-1", "replace").decode("latin-1")
            headers["Authorization"] = "Basic " + re.sub(r"[\r\n]", "", value)
        elif kind == "basic-bytes":
            # Valid base64 of any bytes: not UTF-8, no colon, several colons…
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        elif kind == "basic-unknown":
            headers["Authorization"] = _basic("nobody", "secret")
        elif kind == "basic-wrong-method":
            headers["Authorization"] = _basic("rs", self.secrets["rs"])  # registered for post
        elif kind == "post":
            form.update(client_id="rs", client_secret=self.secrets["rs"])
        elif kind == "post-wrong":
            form.update(client_id="rs", client_secret="wrong")
        elif kind == "public":
            form["client_id"] = "spa"
        elif kind == "unknown-id":
            form["client_id"] = garbage
        return headers, form

    def caller(self, kind: str) -> str | None:
        return {"basic": "rp", "post": "rs", "public": "spa"}.get(kind)


@pytest.fixture
def token_world(actions: Actions) -> TokenWorld:
    return TokenWorld(actions)


@st.composite
def endpoint_requests(draw: st.DrawFn, world: TokenWorld) -> dict[str, Any]:
    real = sorted(world.owner)
    fields: dict[str, str] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        fields["token"] = draw(st.sampled_from(real) | TEXT)
    if draw(st.booleans()):
        fields["token_type_hint"] = draw(
            st.sampled_from(["access_token", "refresh_token", "", "id_token", "Bearer"]) | TEXT
        )
    junk = draw(
        st.dictionaries(
            TEXT.filter(lambda k: k not in {"token", "token_type_hint", "client_id"}),
            TEXT,
            max_size=3,
        )
    )
    junk.pop("client_secret", None)
    return {
        # Mostly an authenticated caller, so the checks after authentication run too.
        "auth": draw(st.sampled_from(AUTHS) | st.sampled_from(["basic", "post", "public"])),
        "garbage": draw(TEXT),
        "raw": draw(st.binary(max_size=40)),
        "fields": fields,
        "junk": junk,
    }


def assert_json(response: Any, status: set[int]) -> dict[str, Any]:
    assert response.status_code in status, (response.status_code, response.text[:300])
    assert response.mimetype == "application/json", response.mimetype
    body = json.loads(response.get_data(as_text=True))
    assert isinstance(body, dict), body
    return body


def assert_oauth_error(response: Any, error: str, status: set[int]) -> None:
    body = assert_json(response, status)
    assert body.get("error") == error, (error, body)
    assert set(body) <= {"error", "error_description", "error_uri", "state"}, body
    assert all(isinstance(v, str) for v in body.values()), body


def expected_error(req: dict[str, Any], authenticated: bool) -> tuple[str, set[int]] | None:
    """What RFC 7662 / 7009 (and Authlib's order of checks) answer, or None for a 200."""
    if not authenticated:
        return "invalid_client", {400, 401}
    fields = req["fields"]
    if "token" not in fields:
        return "invalid_request", {400}
    if fields.get("token_type_hint") and fields["token_type_hint"] not in (
        "access_token",
        "refresh_token",
    ):
        return "unsupported_token_type", {400}
    return None


def send(world: TokenWorld, path: str, req: dict[str, Any]) -> Any:
    headers, form = world.auth(req["auth"], req["garbage"], req["raw"])
    data = {**req["junk"], **form, **req["fields"]}
    return world.actions.client.post(
        path,
        data=urlencode(list(data.items())),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


@FUZZ
@given(data=st.data())
def test_introspect(token_world: TokenWorld, data: st.DataObject) -> None:
    req = data.draw(endpoint_requests(token_world))
    response = send(token_world, "/introspect", req)
    assert response.headers.get("Cache-Control") == "no-store"
    expected = expected_error(req, req["auth"] in INTROSPECT_OK)
    event(expected[0] if expected else "200")
    if expected:
        assert_oauth_error(response, *expected)
        return
    body = assert_json(response, {200})
    assert isinstance(body.get("active"), bool), body
    token = req["fields"]["token"]
    if body["active"]:
        # Only a real token is ever active, with its own client and type.
        assert token in token_world.owner, body
        assert body["client_id"] == token_world.owner[token], body
        assert body["token_type"] in {"Bearer", "refresh_token"}
    else:
        assert body == {"active": False}


@FUZZ
@given(data=st.data())
def test_revoke(token_world: TokenWorld, data: st.DataObject) -> None:
    req = data.draw(endpoint_requests(token_world))
    response = send(token_world, "/revoke", req)
    expected = expected_error(req, req["auth"] in REVOKE_OK)
    token = req["fields"].get("token")
    if (
        expected is None
        and token in token_world.owner
        and token_world.owner[token] != token_world.caller(req["auth"])
    ):
        # RFC 7009 §2.1: a token issued to another client is refused.
        expected = ("invalid_grant", {400})
    event(expected[0] if expected else "200")
    if expected:
        assert_oauth_error(response, *expected)
        return
    # RFC 7009 §2.2: 200 for a revoked token and for one the server does not know.
    assert assert_json(response, {200}) == {}


@pytest.mark.parametrize(
    "header",
    [
        "Basic \x1c",  # str.split() whitespace: Authlib unpacked one value (was a 500)
        "Basic \xa0\x85",
        "Basic \x80abc",  # non-ASCII base64: b64decode raises ValueError (was a 500)
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8 (was a 500)
        "Basic " + base64.b64encode(b"rp").decode(),  # no colon
        "Basic " + base64.b64encode(b":").decode(),
        "Basic",
        "Bearer x",
    ],
)
def test_malformed_basic_authorization_is_invalid_client(
    token_world: TokenWorld, header: str
) -> None:
    """Found by the fuzzing above: Authlib's and werkzeug's Basic parsers raise
    on these (provider/oidc/server/ and provider/observability.py catch it)."""
    for path in ("/token", "/introspect", "/revoke"):
        response = token_world.actions.client.post(
            path,
            data={"token": "x", "grant_type": "client_credentials"},
            headers={"Authorization": header},
        )
        assert_oauth_error(response, "invalid_client", {400, 401})


JUNK_TYPES = [
    "application/x-www-form-urlencoded",
    "application/json",
    "text/plain",
    "multipart/form-data; boundary=xyz",
    "multipart/form-data",
    "application/x-www-form-urlencoded; charset=utf-16",
    "application/x-www-form-urlencoded; charset=nonsense",
    "",
]


@FUZZ
@given(
    path=st.sampled_from(["/introspect", "/revoke"]),
    auth=st.sampled_from(["none", "basic", "post-wrong"]),
    content_type=st.sampled_from(JUNK_TYPES),
    body=st.binary(max_size=200)
    | st.text(max_size=100).map(str.encode)
    | st.sampled_from(
        [
            b"token=%ff%fe&token_type_hint=%00",
            b"token=a&token=b",
            b"token_type_hint=access_token&token_type_hint=refresh_token&token=x",
            b"--xyz\r\nContent-Disposition: form-data; name=token\r\n\r\nabc\r\n--xyz--\r\n",
            b'{"token": "abc"}',
            b"%" * 100,
            b"&&&===",
        ]
    ),
)
def test_junk_bodies(
    token_world: TokenWorld, path: str, auth: str, content_type: str, body: bytes
) -> None:
    headers, _ = token_world.auth(auth, "", b"")
    response = token_world.actions.client.post(
        path, data=body, headers={**headers, "Content-Type": content_type}
    )
    event(f"{path} {response.status_code}")
    if auth != "basic":
        assert_oauth_error(response, "invalid_client", {400, 401})
        return
    if response.status_code == 200:
        parsed = assert_json(response, {200})
        if path == "/revoke":
            assert parsed == {}
        else:
            assert parsed == {"active": False}
        return
    payload = assert_json(response, {400})
    assert payload.get("error") in {"invalid_request", "unsupported_token_type"}, payload


# -- /webauthn/… ------------------------------------------------------------------------------

OPTIONS = ["/webauthn/register/options", "/webauthn/login/options", "/webauthn/step-up/options"]
VERIFY = ["/webauthn/register/verify", "/webauthn/login/verify", "/webauthn/step-up/verify"]
#: each verify endpoint's own options (a challenge waits when the fuzzed verify arrives)
OPTIONS_OF = dict(zip(VERIFY, OPTIONS, strict=True))
WEBAUTHN_ERRORS = {
    400: {"invalid_request", "expired", "not_needed", "not_enrolled", "invalid_passkey"},
    401: {"login_required"},
    403: {"confirm_access", "csrf"},
    413: {"too_large"},
    429: {"locked"},
}
#: JSON can carry lone surrogates, which no UTF-8 form (and no database driver) can
JSON_TEXT = TEXT | st.sampled_from(["\ud800", "ab\udfff", "\ud83d\ude00\udc00"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_TEXT, inner, max_size=3),
    max_leaves=8,
)
b64_values = st.one_of(
    st.binary(max_size=64).map(b64url),
    JSON_TEXT,
    st.integers(),
    st.none(),
    st.just(b64url(json.dumps({"type": "webauthn.get", "challenge": "x"}).encode())),
)


@st.composite
def credentials(draw: st.DrawFn) -> Any:
    """Something shaped like a PublicKeyCredential, with every field fuzzed."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    response = {
        key: draw(b64_values)
        for key in draw(
            st.sets(
                st.sampled_from(
                    [
                        "clientDataJSON",
                        "attestationObject",
                        "authenticatorData",
                        "signature",
                        "userHandle",
                        "transports",
                    ]
                )
            )
        )
    }
    credential: dict[str, Any] = {
        "id": draw(b64_values),
        "rawId": draw(b64_values),
        "type": draw(st.sampled_from(["public-key", "", "password"]) | JSON_TEXT),
        "response": response if draw(st.integers(0, 5)) else draw(json_values),
    }
    if draw(st.booleans()):
        credential["clientExtensionResults"] = draw(json_values)
    if draw(st.booleans()):
        credential["authenticatorAttachment"] = draw(JSON_TEXT)
    return credential


@st.composite
def webauthn_bodies(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 3)) == 0:
        return draw(json_values)
    body: dict[str, Any] = {}
    if draw(st.integers(0, 3)):
        body["credential"] = draw(credentials())
    if draw(st.booleans()):
        body["tx"] = draw(st.sampled_from(["", "admin"]) | JSON_TEXT | json_values)
    if draw(st.booleans()):
        body["name"] = draw(JSON_TEXT | json_values)
    body.update(draw(st.dictionaries(JSON_TEXT, json_values, max_size=2)))
    return body


class Browsers:
    """Three browsers: signed out, bob signed in (password only, access
    confirmed) and alice signed in with a passkey (a step-up is possible)."""

    def __init__(self, app: Flask, actions: Actions) -> None:
        actions.create_client("rp")
        self.signed_out = app.test_client()
        actions.create_user("bob")
        self.bob = app.test_client()
        Actions(app, self.bob).login("bob")
        actions.create_user("alice")
        assert actions.login("alice").status_code == 302
        self.alice = actions.client
        token = self.csrf(self.alice)
        options = self.post(self.alice, "/webauthn/register/options", {}, token)
        assert options.status_code == 200, options.text
        credential = SoftAuthenticator().create(options.get_json())
        added = self.post(
            self.alice, "/webauthn/register/verify", {"credential": credential, "name": "K"}, token
        )
        assert added.status_code == 200, added.text
        self.tokens = {id(c): self.csrf(c) for c in (self.signed_out, self.bob, self.alice)}

    @staticmethod
    def csrf(client: FlaskClient) -> str:
        for path in ("/account", "/login"):
            html = client.get(path).text
            match = re.search(r'data-csrf="([^"]+)"', html) or re.search(
                r'name="csrf_token" value="([^"]+)"', html
            )
            if match:
                return match.group(1)
        raise AssertionError("no CSRF token")

    @staticmethod
    def post(client: FlaskClient, path: str, body: Any, token: str | None) -> Any:
        data = body if isinstance(body, bytes) else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-CSRF-Token"] = token
        return client.post(path, data=data, headers=headers)

    def pick(self, who: str) -> FlaskClient:
        client: FlaskClient = getattr(self, who)
        return client


@pytest.fixture
def browsers(app: Flask, actions: Actions) -> Browsers:
    return Browsers(app, actions)


def assert_webauthn_answer(response: Any, path: str) -> None:
    assert response.status_code < 500, (path, response.status_code, response.text[:300])
    assert response.mimetype == "application/json", (path, response.mimetype)
    body = json.loads(response.get_data(as_text=True))
    assert isinstance(body, dict)
    if response.status_code == 200:
        # Only an options call may succeed with fuzzed input: it hands out a challenge.
        assert path in OPTIONS, (path, body)
        assert isinstance(body.get("challenge"), str) and body["challenge"], body
        assert "error" not in body
        event(f"{path} options")
        return
    assert response.status_code in WEBAUTHN_ERRORS, (path, response.status_code, body)
    assert body.get("error") in WEBAUTHN_ERRORS[response.status_code], (path, body)
    assert isinstance(body.get("error_description"), str) and body["error_description"]
    assert "verified" not in body and "registered" not in body
    event(f"{path} {response.status_code} {body['error']}")


WHO = st.sampled_from(["signed_out", "bob", "alice"])
CSRF = st.sampled_from(["valid", "valid", "valid", "missing", "garbage"])


def _token(browsers: Browsers, client: FlaskClient, csrf: str) -> str | None:
    if csrf == "missing":
        return None
    if csrf == "garbage":
        return "IjAi.garbage.token"
    return browsers.tokens[id(client)]


@FUZZ
@given(path=st.sampled_from(OPTIONS), who=WHO, csrf=CSRF, body=webauthn_bodies())
def test_webauthn_options(browsers: Browsers, path: str, who: str, csrf: str, body: Any) -> None:
    client = browsers.pick(who)
    response = browsers.post(client, path, body, _token(browsers, client, csrf))
    assert_webauthn_answer(response, path)
    if csrf != "valid":
        assert response.status_code == 403 and response.get_json()["error"] == "csrf"


@FUZZ
@given(path=st.sampled_from(VERIFY), who=WHO, csrf=CSRF, body=webauthn_bodies())
def test_webauthn_verify(browsers: Browsers, path: str, who: str, csrf: str, body: Any) -> None:
    client = browsers.pick(who)
    token = browsers.tokens[id(client)]
    # A challenge of the right ceremony waits (when this browser may have one).
    tx = body.get("tx") if isinstance(body, dict) and isinstance(body.get("tx"), str) else ""
    browsers.post(client, OPTIONS_OF[path], {"tx": tx}, token)
    response = browsers.post(client, path, body, _token(browsers, client, csrf))
    assert_webauthn_answer(response, path)
    assert response.status_code != 200
    if csrf != "valid":
        assert response.status_code == 403 and response.get_json()["error"] == "csrf"


@FUZZ
@given(
    path=st.sampled_from(OPTIONS + VERIFY),
    who=WHO,
    content_type=st.sampled_from(JUNK_TYPES),
    body=st.binary(max_size=200)
    | st.text(max_size=100).map(str.encode)
    | st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe{}", b'{"tx": "\\ud800"}']),
)
def test_webauthn_junk_bodies(
    browsers: Browsers, path: str, who: str, content_type: str, body: bytes
) -> None:
    client = browsers.pick(who)
    response = client.post(
        path,
        data=body,
        headers={"Content-Type": content_type, "X-CSRF-Token": browsers.tokens[id(client)]},
    )
    assert_webauthn_answer(response, path)
