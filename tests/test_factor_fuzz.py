"""Property tests for the PIN and code fields (docs/security.md B.11, issue: "every
form and API handles malformed input with a clear error and no 500").

Whatever is posted to /api/step-up/verify, /challenge, /account/pin,
/account/totp/confirm or /account/confirm, the answer is a well-formed error —
a JSON body with ``error`` and ``error_description``, or the page again with its
error message — never a 500 and never a success.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from provider import clock
from provider.factors.pin_policy import PinRejected, check_pin
from tests.conftest import Actions, csrf_from, pkce_pair

FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

PASSWORD = "correct horse battery"
PIN = "480975"
#: a fuzzer should reach the checks, not a lock after the first ten guesses
ROOMY_LIMITS = {
    "PIN_DELAY_AFTER": 100,
    "PIN_MAX_FAILURES": 100,
    "TOTP_DELAY_AFTER": 100,
    "TOTP_MAX_FAILURES": 100,
    "BACKUP_CODE_DELAY_AFTER": 100,
    "BACKUP_CODE_MAX_FAILURES": 100,
    "PASSWORD_DELAY_AFTER": 100,
    "PASSWORD_MAX_FAILURES": 100,
}
METHODS = ["pin", "totp", "backup_code", "password", "passkey"]
FIELDS = ["pin", "code", "password", "pin_confirm", "method", "tx", "csrf_token"]

INTERESTING = [
    "",
    " ",
    "\x00",
    "\x00" * 6,
    "123456\x00",
    "12345",
    "1234567",
    "١٢٣٤٥٦",
    "１２３４５６",
    "০১২৩৪৫",
    "⁴⁸⁰⁹⁷⁵",
    "48O975",
    "4809 75",
    "-48097",
    "+480975",
    "480975.0",
    "1e6",
    "0x1234",
    "9" * 10_240,
    "abcd-efgh-jkmn",
    "ABCD EFGH JKMN",
    "abcd-efgh-jkmnx",
    "ılı1-ılı1-ılı1",
    "%00",
    "null",
    "[]",
    "{}",
    "\u202e\u200b😀ü",
    '"\\<>',
]
#: JSON can carry lone surrogates, which no UTF-8 form can
SURROGATES = ["\ud800", "12\udfff34", "\ud83d\ude00\ud800", "abcd-efgh-\udc00jkm"]

form_text = (
    st.sampled_from(INTERESTING)
    | st.from_regex(r"\A[0-9]{0,70}\Z")
    | st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=80)
)
json_text = form_text | st.sampled_from(SURROGATES)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | json_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_text, inner, max_size=3),
    max_leaves=6,
)


def factors(app: Flask) -> Any:
    return app.extensions["belay_factors"]


class Enrolled:
    """alice with a password, a PIN, an authenticator app and backup codes."""

    def __init__(self, app: Flask, actions: Actions) -> None:
        self.app = app
        self.actions = actions
        self.user = actions.create_user(password=PASSWORD)
        actions.create_client("rp")
        with app.app_context():
            factors(app).get("pin").set_pin(self.user, PIN, PIN)
            self.totp = pyotp.TOTP(
                factors(app).get("totp").add_confirmed(self.user, "alice").secret
            )
            self.backup_codes = factors(app).get("backup_code").generate(self.user)
        assert actions.login(password=PASSWORD).status_code == 302

    def is_right(self, value: object) -> bool:
        """Whether ``value`` could be a right answer for any factor (then no fuzzing)."""
        if not isinstance(value, str):
            return False
        now = clock.now()
        codes = {self.totp.at(now + drift) for drift in (-30, 0, 30)}
        typed = "".join(value.split()).replace("-", "").lower()
        return (
            value in codes
            or value in {PIN, PASSWORD}
            or any(typed == code.replace("-", "") for code in self.backup_codes)
        )


@pytest.fixture
def alice(app: Flask, actions: Actions) -> Iterator[Enrolled]:
    yield Enrolled(app, actions)


def assert_json_error(response: Any) -> None:
    assert response.status_code in {400, 401, 429}, (response.status_code, response.text[:300])
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert isinstance(body.get("error_description"), str) and body["error_description"]
    assert "reauth_token" not in body and "verified" not in body


def assert_error_page(response: Any, status: int, marker: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.mimetype == "text/html"
    assert 'class="error"' in response.text and marker in response.text
    assert "Traceback" not in response.text


# -- /api/step-up/verify ----------------------------------------------------------------


#: each factor's own field (see provider/factors/*: ``fields``)
FACTOR_FIELDS = [
    ("pin", "pin"),
    ("totp", "code"),
    ("backup_code", "code"),
    ("password", "password"),
]


@pytest.mark.settings(**ROOMY_LIMITS)
@FUZZ
@given(method_field=st.sampled_from(FACTOR_FIELDS), value=json_values)
# JSON can carry a lone surrogate; argon2 cannot encode it (was a 500 for passwords).
@example(method_field=("password", "password"), value="\ud800")
@example(method_field=("pin", "pin"), value="48\udfff75")
def test_step_up_api_factor_fields(
    alice: Enrolled, method_field: tuple[str, str], value: Any
) -> None:
    assume(not alice.is_right(value))
    method, field = method_field
    client = alice.actions.client
    token = client.get("/api/step-up/methods").get_json()["csrf_token"]
    response = client.post(
        "/api/step-up/verify",
        json={"method": method, field: value},
        headers={"X-CSRF-Token": token},
    )
    assert_json_error(response)


@pytest.mark.settings(**ROOMY_LIMITS)
@FUZZ
@given(
    method=st.sampled_from(METHODS) | json_text,
    field=st.sampled_from(FIELDS) | json_text,
    value=json_values,
)
def test_step_up_api_fields(alice: Enrolled, method: str, field: str, value: Any) -> None:
    assume(not alice.is_right(value))
    client = alice.actions.client
    token = client.get("/api/step-up/methods").get_json()["csrf_token"]
    response = client.post(
        "/api/step-up/verify",
        json={"method": method, field: value},
        headers={"X-CSRF-Token": token},
    )
    assert_json_error(response)


@pytest.mark.settings(**ROOMY_LIMITS)
@FUZZ
@given(body=json_values)
def test_step_up_api_bodies(alice: Enrolled, body: Any) -> None:
    client = alice.actions.client
    token = client.get("/api/step-up/methods").get_json()["csrf_token"]
    response = client.post("/api/step-up/verify", json=body, headers={"X-CSRF-Token": token})
    assert_json_error(response)


# -- /challenge ------------------------------------------------------------------------------


@pytest.fixture
def challenge_page(alice: Enrolled) -> Any:
    """One authorization waiting at the challenge (made once, fuzzed many times)."""
    clock.set_offset(30)
    _, challenge = pkce_pair()
    page = alice.actions.follow(
        alice.actions.authorize(
            "rp",
            code_challenge=challenge,
            code_challenge_method="S256",
            acr_values="urn:belay:acr:2fa",
            max_age="0",
        )
    )
    assert page.status_code == 200 and 'id="totp-form"' in page.text, page.text[:500]
    return page


@pytest.mark.settings(**ROOMY_LIMITS)
@FUZZ
@given(
    method=st.sampled_from(METHODS) | form_text,
    value=form_text,
    extra=st.dictionaries(st.sampled_from(FIELDS[:3]) | form_text, form_text, max_size=3),
)
def test_challenge_fields(
    alice: Enrolled, challenge_page: Any, method: str, value: str, extra: dict[str, str]
) -> None:
    assume(not alice.is_right(value) and not any(map(alice.is_right, extra.values())))
    tx = parse_qs(urlsplit(challenge_page.request.url).query)["tx"][0]
    field = {"pin": "pin", "password": "password"}.get(method, "code")
    data = {**extra, field: value, "method": method, "tx": tx}
    data["csrf_token"] = csrf_from(challenge_page.text)
    data.pop("cancel", None)
    response = alice.actions.client.post(f"/challenge?tx={tx}", data=data)
    assert_error_page(response, 401, 'action="/challenge')


# -- /account forms --------------------------------------------------------------------------


@pytest.fixture
def fresh_login(actions: Actions) -> Actions:
    """alice with a password only, just signed in: access to changes is confirmed."""
    actions.create_user(password=PASSWORD)
    assert actions.login(password=PASSWORD).status_code == 302
    return actions


@pytest.fixture
def pending_totp(app: Flask, fresh_login: Actions) -> tuple[pyotp.TOTP, str]:
    """A new authenticator waiting for its first code, and the enrolment page's CSRF token."""
    client = fresh_login.client
    page = client.get("/account")
    begun = client.post("/account/totp/begin", data={"csrf_token": csrf_from(page.text)})
    assert begun.status_code == 302
    started = client.get("/account")
    assert started.status_code == 200 and 'id="totp-enrol-form"' in started.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text)
    assert secret is not None
    return pyotp.TOTP(secret.group(1)), csrf_from(started.text)


@pytest.mark.settings(**ROOMY_LIMITS)
@FUZZ
@given(pin=form_text, confirm=st.none() | form_text)
def test_account_set_pin(app: Flask, fresh_login: Actions, pin: str, confirm: str | None) -> None:
    """The policy says yes (a PIN is set) or why not; nothing else can happen."""
    client = fresh_login.client
    confirm = pin if confirm is None else confirm
    page = client.get("/account")
    assert 'id="pin-enrol-form"' in page.text
    response = client.post(
        "/account/pin",
        data={"csrf_token": csrf_from(page.text), "pin": pin, "pin_confirm": confirm},
    )
    try:
        check_pin(
            pin[:64],
            min_length=app.config["PIN_MIN_LENGTH"],
            max_length=app.config["PIN_MAX_LENGTH"],
        )
        acceptable = pin[:64] == confirm[:64]
    except PinRejected:
        acceptable = False
    if acceptable:
        assert response.status_code == 302 and response.headers["Location"].endswith("/account#pin")
    else:
        assert_error_page(response, 400, 'id="pin-enrol-form"')


@pytest.mark.settings(**ROOMY_LIMITS)
@FUZZ
@given(code=form_text)
def test_account_totp_confirm(
    fresh_login: Actions, pending_totp: tuple[pyotp.TOTP, str], code: str
) -> None:
    totp, token = pending_totp
    assume(code not in {totp.at(clock.now() + drift) for drift in (-30, 0, 30)})
    response = fresh_login.client.post(
        "/account/totp/confirm", data={"csrf_token": token, "code": code}
    )
    # The enrolment is shown again, with why the code was not taken.
    assert_error_page(response, 400, 'id="totp-enrol-form"')


@pytest.mark.settings(**ROOMY_LIMITS)
@FUZZ
@given(
    method=st.sampled_from(METHODS) | form_text,
    value=form_text,
    extra=st.dictionaries(st.sampled_from(FIELDS[:3]) | form_text, form_text, max_size=3),
)
def test_account_confirm_access(
    alice: Enrolled, method: str, value: str, extra: dict[str, str]
) -> None:
    """With an authenticator app, access needs 2fa: a password session is not confirmed."""
    assume(not alice.is_right(value) and not any(map(alice.is_right, extra.values())))
    client = alice.actions.client
    page = client.get("/account")
    assert 'id="confirm-access"' in page.text and 'id="totp-form"' in page.text
    field = {"pin": "pin", "password": "password"}.get(method, "code")
    data = {**extra, field: value, "method": method}
    data["csrf_token"] = csrf_from(page.text)
    response = client.post("/account/confirm", data=data)
    assert_error_page(response, 401, 'id="confirm-access"')
