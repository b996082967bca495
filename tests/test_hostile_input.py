"""Hostile input never answers 5xx (docs/security.md case 53).

Every JSON endpoint — the step-up API, dynamic client registration, the admin
API and the passkey endpoints — reads its body through provider/web/json_body.py:
deeply nested JSON (a ``RecursionError`` was a 500), lone surrogates (a
``UnicodeEncodeError`` on PostgreSQL, a 500), NUL (PostgreSQL's ``DataError``, a
503), invalid UTF-8, ``NaN`` and oversized bodies each get a clear 400 (413 for
size) in the endpoint's own error format. ``/admin/confirm?next=`` never puts
CR/LF in a header nor redirects off the console. Run on SQLite and PostgreSQL
(``BELAY_TEST_DATABASE_URL``): the answers are the same on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from provider import clock, policy
from tests.conftest import Actions, csrf_from
from tests.test_admin_api import admin_token
from tests.test_admin_console import add_totp

IAT = "initial-access-token-hostile"
pytestmark = pytest.mark.settings(
    REGISTRATION_ENABLED=True,
    REGISTRATION_INITIAL_ACCESS_TOKEN=IAT,
    ORIGINS="http://localhost",
    RP_ID="localhost",
)

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(autouse=True)
def _restore_ladder(app: Flask) -> Iterator[None]:
    yield
    with app.app_context():
        from provider.storage.ladder import save_ladder

        save_ladder(policy.default_ladder_data())


class World:
    """alice signed in (with the step-up API's CSRF token), an admin API token,
    and a dynamically registered client with its registration access token."""

    def __init__(self, app: Flask, actions: Actions) -> None:
        self.app = app
        actions.create_client("rp")
        self.user_id = actions.create_user("alice")
        assert actions.login("alice").status_code == 302
        self.browser: FlaskClient = actions.client
        self.csrf = self.browser.get("/api/step-up/methods").get_json()["csrf_token"]
        self.admin = {"Authorization": f"Bearer {admin_token(app, actions)}"}
        registered = app.test_client().post(
            "/register",
            json={"redirect_uris": ["https://dyn.example.test/cb"]},
            headers={"Authorization": f"Bearer {IAT}"},
        )
        assert registered.status_code == 201, registered.text
        body = registered.get_json()
        self.registered = "/register/" + body["client_id"]
        self.rat = {"Authorization": f"Bearer {body['registration_access_token']}"}

    def endpoints(self) -> dict[str, tuple[str, str, dict[str, str]]]:
        """name -> (method, path, headers) of every JSON endpoint."""
        api = "/api/admin"
        user = f"{api}/users/{self.user_id}"
        return {
            "step-up verify": ("POST", "/api/step-up/verify", {"X-CSRF-Token": self.csrf}),
            "register": ("POST", "/register", {"Authorization": f"Bearer {IAT}"}),
            "register update": ("PUT", self.registered, self.rat),
            "admin create client": ("POST", f"{api}/clients", self.admin),
            "admin update client": ("PATCH", f"{api}/clients/rp", self.admin),
            "admin replace policy": ("PUT", f"{api}/clients/rp/policy", self.admin),
            "admin patch policy": ("PATCH", f"{api}/clients/rp/policy", self.admin),
            "admin ladder": ("PUT", f"{api}/ladder", self.admin),
            "admin create user": ("POST", f"{api}/users", self.admin),
            "admin unlock": ("POST", f"{user}/unlock", self.admin),
            "admin simulate": ("POST", f"{api}/simulate", self.admin),
            "passkey register options": (
                "POST",
                "/webauthn/register/options",
                {"X-CSRF-Token": self.csrf},
            ),
            "passkey step-up options": (
                "POST",
                "/webauthn/step-up/options",
                {"X-CSRF-Token": self.csrf},
            ),
        }

    def send(self, name: str, body: bytes, content_type: str = "application/json") -> Any:
        method, path, headers = self.endpoints()[name]
        return self.browser.open(
            path,
            method=method,
            data=body,
            headers={**headers, "Content-Type": content_type},
        )


@pytest.fixture
def world(app: Flask, actions: Actions) -> World:
    return World(app, actions)


ENDPOINTS = [
    "step-up verify",
    "register",
    "register update",
    "admin create client",
    "admin update client",
    "admin replace policy",
    "admin patch policy",
    "admin ladder",
    "admin create user",
    "admin unlock",
    "admin simulate",
    "passkey register options",
    "passkey step-up options",
]
#: the error each endpoint answers for a body it cannot read
BODY_ERROR = {name: "invalid_request" for name in ENDPOINTS} | {
    "register": "invalid_client_metadata",
    "register update": "invalid_client_metadata",
}


def assert_refused(
    response: Any, name: str, status: int = 400, label: Any = None
) -> dict[str, Any]:
    label = label or name
    assert response.status_code == status, (label, response.status_code, response.text[:300])
    assert response.mimetype == "application/json", (label, response.mimetype)
    body = json.loads(response.get_data(as_text=True))
    expected = "too_large" if status == 413 else BODY_ERROR[name]
    assert body.get("error") == expected, (label, body)
    assert isinstance(body.get("error_description"), str) and body["error_description"]
    return body


DEEP = {
    "arrays": b"[" * 100_000 + b"]" * 100_000,
    "objects": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "inside a field": b'{"method": "pin", "username": "x", "x": '
    + b"[" * 5000
    + b"]" * 5000
    + b"}",
    "just over the limit": b"{" + b'"a":[' * 32 + b"]" * 32 + b"}",
}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_deeply_nested_json_is_a_400(world: World, name: str) -> None:
    for shape, raw in DEEP.items():
        body = assert_refused(world.send(name, raw), name, label=shape)
        assert "nested" in body["error_description"], body


HOSTILE_STRINGS = {
    "lone high surrogate": '"\\ud800"',
    "lone low surrogate": '"ab\\udfff"',
    "reversed pair": '"\\ude00\\ud83d"',
    "NUL": '"a\\u0000b"',
}
#: fields each endpoint really reads, so the hostile value reaches the code that stores it
FIELDS = {
    "step-up verify": ["method", "code"],
    "register": ["client_name", "redirect_uris[]", "contacts[]"],
    "register update": ["client_name", "redirect_uris[]"],
    "admin create client": ["client_id", "name", "redirect_uris[]"],
    "admin update client": ["name", "redirect_uris[]"],
    "admin replace policy": ["minimum_acr", "step_up_methods[]"],
    "admin patch policy": ["minimum_acr", "step_up_methods[]"],
    "admin ladder": ["levels[]"],
    "admin create user": ["username", "name", "email", "password"],
    "admin unlock": ["factor"],
    "admin simulate": ["client_id", "acr_values"],
    "passkey register options": ["name", "tx"],
    "passkey step-up options": ["tx"],
}


def _body_with(name: str, field: str, raw_value: str) -> bytes:
    base: dict[str, Any] = {
        "step-up verify": {"method": "pin"},
        "register": {"redirect_uris": ["https://dyn.example.test/cb"]},
        "register update": {"redirect_uris": ["https://dyn.example.test/cb"]},
        "admin create client": {"client_id": "fresh", "redirect_uris": ["https://x.test/cb"]},
        "admin create user": {"username": "carol", "password": "long enough password"},
        "admin simulate": {"client_id": "rp"},
    }.get(name, {})
    marker = "__HOSTILE__"
    if field.endswith("[]"):
        base[field[:-2]] = [marker]
    else:
        base[field] = marker
    return json.dumps(base).replace(f'"{marker}"', raw_value).encode()


@pytest.mark.parametrize("name", ENDPOINTS)
def test_lone_surrogates_and_nul_in_json_strings_are_a_400(world: World, name: str) -> None:
    for kind, raw in HOSTILE_STRINGS.items():
        for field in FIELDS[name]:
            body = _body_with(name, field, raw)
            assert_refused(world.send(name, body), name, label=(kind, field))
        # ... as an object key too
        assert_refused(world.send(name, b"{" + raw.encode() + b": 1}"), name, label=kind)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_malformed_json_bodies_are_a_400(world: World, name: str) -> None:
    for body in (
        b'{"a": NaN}',
        b"[Infinity]",
        b'{"a": "\xff\xfe"}',
        b"\xef\xbb\xbf{}",
        b"{",
        b"1e",
    ):
        assert_refused(world.send(name, body), name, label=body)
    assert_refused(world.send(name, b'{"method": "pin"}', "text/plain"), name)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_oversized_json_is_a_413(world: World, name: str) -> None:
    body = json.dumps({"method": "pin", "pad": "x" * 300_000}).encode()
    assert_refused(world.send(name, body), name, 413)


def test_a_valid_body_still_works_everywhere(world: World) -> None:
    """The reader changes nothing for well-formed input."""
    created = world.send(
        "admin create user",
        json.dumps({"username": "dave", "name": "Dave 😀", "password": "long enough pw"}).encode(),
    )
    assert created.status_code == 201, created.text
    assert created.get_json()["user"]["name"] == "Dave 😀"
    unlocked = world.send("admin unlock", b"")  # an empty body is "no options"
    assert unlocked.status_code == 200, unlocked.text
    nested = world.send("admin simulate", json.dumps({"client_id": "rp", "events": []}).encode())
    assert nested.status_code == 200, nested.text
    metadata = {
        "client_id": world.registered.removeprefix("/register/"),
        "redirect_uris": ["https://dyn.example.test/cb"],
        "client_name": "Dyn ü",
    }
    updated = world.send("register update", json.dumps(metadata).encode())
    assert updated.status_code == 200, updated.text


# -- property: any JSON at any JSON endpoint ------------------------------------------

SURROGATES = st.sampled_from(["\ud800", "ab\udfff", "\ud83d\ude00\udc00", "\x00", "a\x00"])
TEXT = st.text(max_size=30) | SURROGATES | st.sampled_from(["pin", "totp", "rp", "", "😀"])
KEYS = st.sampled_from(
    [
        "method",
        "code",
        "client_id",
        "client_name",
        "name",
        "username",
        "email",
        "password",
        "redirect_uris",
        "minimum_acr",
        "levels",
        "factor",
        "tx",
        "events",
        "enrolled",
    ]
) | st.text(max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(KEYS | SURROGATES, inner, max_size=4)
    ),
    max_leaves=10,
)


def _hostile(value: Any) -> bool:
    """Does ``value`` hold a string no column may store?"""
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_hostile(k) or _hostile(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_hostile(v) for v in value)
    return False


def _wrap(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = {"x": [value]}
    return value


@FUZZ
@given(
    name=st.sampled_from(ENDPOINTS),
    value=st.dictionaries(KEYS, json_values, max_size=5) | json_values,
    depth=st.sampled_from([0, 0, 0, 1, 20]),
)
def test_any_json_at_any_json_endpoint(world: World, name: str, value: Any, depth: int) -> None:
    value = _wrap(value, depth)
    response = world.send(name, json.dumps(value).encode())
    event(f"{name} {response.status_code}")
    assert response.status_code < 500, (name, response.status_code, response.text[:300])
    assert response.mimetype == "application/json", (name, response.mimetype)
    body = json.loads(response.get_data(as_text=True)) if response.get_data() else {}
    if response.status_code >= 400:
        assert isinstance(body.get("error"), str) and body["error"], body
    if _hostile(value):
        assert_refused(response, name)


# -- /admin/confirm?next= ----------------------------------------------------------------


@pytest.fixture
def admin_browser(app: Flask, actions: Actions) -> FlaskClient:
    """An admin who confirmed access (TOTP) in this browser."""
    user_id = actions.create_user("root", is_admin=True)
    secret = add_totp(app, user_id, "root")
    assert actions.login("root").status_code == 302
    page = actions.client.get("/admin/")
    clock.set_offset(31)
    done = actions.client.post(
        "/admin/confirm",
        data={
            "csrf_token": csrf_from(page.text),
            "method": "totp",
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert done.status_code == 302, done.text[:300]
    return actions.client


NEXT_VALUES = [
    "/admin/users\r\nSet-Cookie: evil=1",
    "/admin/users\nLocation: https://evil.example",
    "/admin/\rx",
    "/admin/\x00",
    "/admin/\x7f",
    "https://evil.example/admin/",
    "//evil.example/admin/",
    "/admin//evil.example",
    "/admin/\\evil.example",
    "/\\evil.example/admin",
    "/administrator-elsewhere",
    "/adminx",
    "javascript:alert(1)//admin/",
    "/admin/" + "x" * 3000,
    "\u2028/admin/",
]


def _location_is_local(response: Any, label: Any) -> str:
    assert response.status_code == 302, (label, response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert "\r" not in location and "\n" not in location, (label, location)
    assert not any("evil" in c for c in response.headers.getlist("Set-Cookie")), label
    parts = urlsplit(location)
    assert parts.netloc in ("", "localhost"), (label, location)
    assert parts.path == "/admin" or parts.path.startswith("/admin/"), (label, location)
    assert "//" not in parts.path and "\\" not in location, (label, location)
    return location


@pytest.mark.parametrize("target", NEXT_VALUES)
def test_admin_confirm_next_is_a_console_path(admin_browser: FlaskClient, target: str) -> None:
    page = admin_browser.get("/admin/clients")
    assert page.status_code == 200, page.text[:300]
    response = admin_browser.post(
        "/admin/confirm?next=" + quote(target, safe=""), data={"csrf_token": csrf_from(page.text)}
    )
    location = _location_is_local(response, target)
    assert urlsplit(location).path == "/admin/", (target, location)


def test_admin_confirm_next_keeps_a_console_path(admin_browser: FlaskClient) -> None:
    page = admin_browser.get("/admin/clients")
    # Percent-encoded CR/LF stays encoded: a path, never a header line.
    for target in ("/admin/users?q=bob", "/admin/clients/rp", "/admin/users%0d%0aSet-Cookie:x"):
        response = admin_browser.post(
            "/admin/confirm?next=" + quote(target, safe=""),
            data={"csrf_token": csrf_from(page.text)},
        )
        assert _location_is_local(response, target).endswith(target), target


def test_crlf_next_through_a_real_step_up(app: Flask, actions: Actions) -> None:
    """The step-up itself (a wrong code, then the right one) with CR/LF in ``next``."""
    user_id = actions.create_user("root", is_admin=True)
    secret = add_totp(app, user_id, "root")
    assert actions.login("root").status_code == 302
    assert actions.client.get("/admin/users%0d%0aSet-Cookie:%20evil=1").status_code < 500
    page = actions.client.get("/admin/")
    assert page.status_code == 403
    target = "/admin/users\r\nSet-Cookie: evil=1"
    wrong = actions.client.post(
        "/admin/confirm?next=" + quote(target, safe=""),
        data={"csrf_token": csrf_from(page.text), "method": "totp", "code": "000000"},
    )
    assert wrong.status_code == 401, wrong.status_code
    assert "\r\nSet-Cookie" not in wrong.text
    clock.set_offset(31)
    done = actions.client.post(
        "/admin/confirm?next=" + quote(target, safe=""),
        data={
            "csrf_token": csrf_from(page.text),
            "method": "totp",
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert urlsplit(_location_is_local(done, target)).path == "/admin/"


@FUZZ
@given(target=st.text(max_size=40).map(lambda t: "/admin/" + t) | st.text(max_size=40))
def test_admin_confirm_any_next(admin_browser: FlaskClient, target: str) -> None:
    page = admin_browser.get("/admin/clients")
    response = admin_browser.post(
        "/admin/confirm?next=" + quote(target, safe=""), data={"csrf_token": csrf_from(page.text)}
    )
    _location_is_local(response, target)


# -- form and query text that reaches the database --------------------------------------


def test_nul_in_a_stored_form_field_is_a_400(admin_browser: FlaskClient) -> None:
    """The database guard (provider/storage/text_guard.py): a NUL that a form
    carries to an INSERT is a 400 on SQLite and PostgreSQL alike, and nothing
    is stored."""
    page = admin_browser.get("/admin/clients")
    response = admin_browser.post(
        "/admin/clients",
        data={
            "csrf_token": csrf_from(page.text),
            "client_id": "nul-client",
            "name": "a\x00b",
            "redirect_uris": "https://x.example.test/cb",
        },
    )
    assert response.status_code == 400, (response.status_code, response.text[:300])
    assert admin_browser.get("/admin/clients/nul-client").status_code == 404


def test_nul_in_admin_api_paths_and_queries(world: World) -> None:
    """NUL in a path or query of the admin API and /register: a clear 4xx."""
    for path in (
        "/api/admin/clients/a%00b",
        "/api/admin/clients/a%00b/policy",
        "/api/admin/audit?user=a%00b",
        "/api/admin/audit?client_id=%00&event=%00&since=%00",
        "/api/admin/audit.csv?result=%00",
    ):
        response = world.browser.get(path, headers=world.admin)
        assert response.status_code in (400, 404), (path, response.status_code, response.text)
        assert response.get_json()["error"] in ("invalid_request", "not_found"), path
    for method, path in (
        ("PATCH", "/api/admin/clients/a%00b"),
        ("DELETE", "/api/admin/clients/%00"),
    ):
        response = world.browser.open(path, method=method, headers=world.admin, json={})
        assert response.status_code in (400, 404), (path, response.status_code, response.text)
    search = world.browser.get("/api/admin/users?q=a%00b", headers=world.admin)
    assert search.status_code == 200 and search.get_json() == {"users": []}  # NUL dropped
    response = world.browser.get("/register/a%00b", headers=world.rat)
    assert response.status_code == 401, response.status_code


def test_the_consoles_ladder_json_goes_through_the_same_reader(admin_browser: FlaskClient) -> None:
    page = admin_browser.get("/admin/ladder")
    assert page.status_code == 200
    for text, message in (
        ('{"levels": [{"acr": "\\ud800"}]}', "lone surrogates"),
        ('{"levels": [{"acr": "a\\u0000"}]}', "NUL"),
        ("[" * 5000 + "]" * 5000, "nested deeper"),
        ("{bad", "not valid JSON"),
    ):
        response = admin_browser.post(
            "/admin/ladder", data={"csrf_token": csrf_from(page.text), "ladder": text}
        )
        assert response.status_code == 400, (text[:20], response.status_code)
        assert message in response.text, (text[:20], message)
