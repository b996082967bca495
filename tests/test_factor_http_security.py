"""docs/security.md cases 1–13 end to end over HTTP: guessing and lockout (A), TOTP
and backup codes (B).

The unit tests (tests/test_factor_*.py) call the factors directly; these go
through the pages and the first-party step-up API. The concurrency cases fire
real parallel requests at two server processes sharing the test database
(SQLite by default, PostgreSQL when ``BELAY_TEST_DATABASE_URL`` says so), with
one browser session's cookie (state lives in the database, so it works on
both). The other cases use the in-process Flask client, whose clock
``provider.clock.set_offset`` moves (a server process keeps real time).
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, func, select, text

from provider import clock
from provider.extensions import db
from provider.storage import throttle
from provider.storage.models import AuditEvent, AuthEvent, BackupCode
from tests.conftest import (
    Actions,
    LiveServer,
    csrf_from,
    free_port,
    in_parallel,
    pkce_pair,
    server_env,
)

PASSWORD = "correct horse battery"
PIN = "480975"
WRONG_PIN = "913572"
COOKIE = "belay_session"
ONE_FA = "urn:belay:acr:1fa"
TWO_FA = "urn:belay:acr:2fa"
#: the delay would throttle a burst before the lock: the lock at exactly 10 is the point
NO_DELAY = {"PIN_DELAY_AFTER": 100, "TOTP_DELAY_AFTER": 100, "BACKUP_CODE_DELAY_AFTER": 100}
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


# -- two real server processes ---------------------------------------------------------


@pytest.fixture(scope="module")
def servers(database: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two server processes (gunicorn, several workers each) on the test database."""
    started: list[LiveServer] = []
    try:
        for _ in range(2):
            port = free_port()
            env = server_env(
                port,
                BELAY_PIN_DELAY_AFTER="100",
                BELAY_TOTP_DELAY_AFTER="100",
                BELAY_BACKUP_CODE_DELAY_AFTER="100",
                BELAY_KEY_CACHE_TTL="0",
            )
            started.append(LiveServer(port, env).start())
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


class Browser:
    """One signed-in browser session on the live servers: just its cookie and the
    CSRF token, so any thread can use it against any server."""

    def __init__(self, cookie: str, csrf: str) -> None:
        self.cookie = cookie
        self.csrf = csrf

    @classmethod
    def sign_in(cls, server: LiveServer, username: str = "alice") -> Browser:
        with requests.Session() as http:
            page = http.get(server.url + "/login", timeout=30)
            response = http.post(
                server.url + "/login",
                data={
                    "csrf_token": csrf_from(page.text),
                    "username": username,
                    "password": PASSWORD,
                },
                allow_redirects=False,
                timeout=30,
            )
            assert response.status_code == 302, response.text[:300]
            browser = cls(http.cookies[COOKIE], "")
        browser.csrf = browser.methods(server)["csrf_token"]
        return browser

    def methods(self, server: LiveServer) -> dict[str, Any]:
        response = requests.get(
            server.url + "/api/step-up/methods", cookies={COOKIE: self.cookie}, timeout=30
        )
        assert response.status_code == 200, response.text[:300]
        body: dict[str, Any] = response.json()
        return body

    def verify(self, server: LiveServer, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = requests.post(
            server.url + "/api/step-up/verify",
            json=body,
            headers={"X-CSRF-Token": self.csrf},
            cookies={COOKIE: self.cookie},
            timeout=60,
        )
        assert response.headers["Content-Type"].startswith("application/json"), response.text
        return response.status_code, response.json()

    def verify_until_admitted(
        self, server: LiveServer, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """``verify``, again while the server answers busy: a 503 with
        ``Retry-After`` checked and counted nothing (argon2 load shedding)."""
        while True:
            status, answer = self.verify(server, body)
            if (status, answer.get("error")) != (503, "temporarily_unavailable"):
                return status, answer


def outcomes(results: list[tuple[int, dict[str, Any]]]) -> Counter[tuple[int, str]]:
    return Counter((status, body.get("error", "verified")) for status, body in results)


# -- the in-process app ----------------------------------------------------------------


def factor(app: Flask, method: str) -> Any:
    return app.extensions["belay_factors"].get(method)


def failures(app: Flask, user_id: int, counter: str) -> int:
    with app.app_context():
        row = throttle.state(user_id, counter)
        return 0 if row is None else int(row.failures)


def audit_reasons(app: Flask, user_id: int, event: str) -> Counter[str]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.result, AuditEvent.reason).where(
                AuditEvent.user_id == user_id, AuditEvent.event == event
            )
        ).all()
    return Counter(reason or result for result, reason in rows)


def step_up_events(app: Flask, method: str | None = None) -> int:
    with app.app_context():
        query = select(func.count(AuthEvent.id))
        if method is not None:
            query = query.where(AuthEvent.method == method)
        return int(db.session.scalar(query) or 0)


def enrol_totp(app: Flask, user_id: int) -> pyotp.TOTP:
    """An active authenticator (as ``belay user add-totp`` makes it)."""
    with app.app_context():
        enrolment = factor(app, "totp").add_confirmed(user_id, "alice")
    return pyotp.TOTP(enrolment.secret)


def wrong_code(totp: pyotp.TOTP, now: int) -> str:
    """A code-shaped value matching no step of the window around ``now``."""
    valid = {totp.at(now + drift) for drift in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(100_000, 999_999, 7919)) if c not in valid)


def fresh_step(seconds_into_step: int = 10) -> None:
    """Move the in-process clock a few minutes ahead, ``seconds_into_step`` into a
    30-second step (so t ± 30 stays one step away while the test runs)."""
    ahead = clock.now() + 10 * 60
    target = ahead - ahead % 30 + seconds_into_step
    clock.set_offset(target - int(time.time()))


def api_token(client: FlaskClient) -> str:
    response = client.get("/api/step-up/methods")
    assert response.status_code == 200, response.text[:300]
    token: str = response.get_json()["csrf_token"]
    return token


def api_verify(client: FlaskClient, token: str, body: Any) -> Any:
    return client.post("/api/step-up/verify", json=body, headers={"X-CSRF-Token": token})


def authorize(actions: Actions, **params: str) -> Any:
    _, challenge = pkce_pair()
    return actions.follow(
        actions.authorize("rp", code_challenge=challenge, code_challenge_method="S256", **params)
    )


def tx_of(page: Any) -> str:
    return parse_qs(urlsplit(page.request.url).query)["tx"][0]


def challenge_post(actions: Actions, page: Any, **fields: str) -> Any:
    tx = tx_of(page)
    return actions.client.post(
        f"/challenge?tx={tx}", data={"csrf_token": csrf_from(page.text), "tx": tx, **fields}
    )


def enrol_pin(client: FlaskClient) -> None:
    """Set ``PIN`` on the account page (the session is fresh enough to change it)."""
    page = client.get("/account")
    enrolled = client.post(
        "/account/pin", data={"csrf_token": csrf_from(page.text), "pin": PIN, "pin_confirm": PIN}
    )
    assert enrolled.status_code == 302


@pytest.fixture
def alice(actions: Actions) -> int:
    """alice, signed in with her password (the in-process client), and a client ``rp``."""
    user_id: int = actions.create_user()
    actions.create_client("rp")
    assert actions.login().status_code == 302
    return user_id


# == A. Guessing and lockout ==========================================================


@pytest.mark.slow
def test_a1_100_parallel_wrong_pins_across_two_servers_lock_at_exactly_10(
    app: Flask, actions: Actions, servers: tuple[LiveServer, LiveServer]
) -> None:
    user = actions.create_user()
    with app.app_context():
        factor(app, "pin").set_pin(user, PIN, PIN)
    browser = Browser.sign_in(servers[0])
    assert "pin" in browser.methods(servers[1])["methods"]  # one session, both servers

    calls = [
        partial(browser.verify_until_admitted, servers[i % 2], {"method": "pin", "pin": WRONG_PIN})
        for i in range(100)
    ]
    results = in_parallel(calls)

    # Each invalid_code is one argon2 verification; a locked answer never hashes.
    assert outcomes(results) == {(401, "invalid_code"): 10, (429, "locked"): 90}
    assert failures(app, user, "pin") == 10
    assert audit_reasons(app, user, "step_up_api") == {"invalidcode": 10, "locked": 90}
    assert step_up_events(app, "pin") == 0
    for server in servers:
        after = browser.methods(server)
        assert "pin" not in after["methods"] and after["acr"] == ONE_FA


@pytest.mark.slow
def test_a2_the_right_pin_after_the_lock_is_refused_like_a_wrong_one_on_both_servers(
    app: Flask, actions: Actions, servers: tuple[LiveServer, LiveServer]
) -> None:
    user = actions.create_user()
    with app.app_context():
        factor(app, "pin").set_pin(user, PIN, PIN)
    browser = Browser.sign_in(servers[0])
    for i in range(10):
        status, _ = browser.verify(servers[i % 2], {"method": "pin", "pin": WRONG_PIN})
        assert status == 401
    for server in servers:
        wrong = browser.verify(server, {"method": "pin", "pin": WRONG_PIN})
        right = browser.verify(server, {"method": "pin", "pin": PIN})
        assert wrong[0] == right[0] == 429
        assert wrong[1] == right[1]  # same error, same words, same retry_after
        assert right[1]["error"] == "locked"
    assert failures(app, user, "pin") == 10
    assert step_up_events(app, "pin") == 0
    assert browser.methods(servers[1])["acr"] == ONE_FA


@pytest.mark.slow
def test_a3_a_replayed_session_cookie_does_not_rewind_the_counter(
    app: Flask, actions: Actions, servers: tuple[LiveServer, LiveServer]
) -> None:
    user = actions.create_user()
    with app.app_context():
        factor(app, "pin").set_pin(user, PIN, PIN)
    browser = Browser.sign_in(servers[0])
    captured = (browser.cookie, browser.csrf)  # before any failure
    for _ in range(5):
        assert browser.verify(servers[0], {"method": "pin", "pin": WRONG_PIN})[0] == 401
    assert failures(app, user, "pin") == 5

    # The captured cookie, replayed from elsewhere (the other server, a new client).
    replay = Browser(*captured)
    assert failures(app, user, "pin") == 5
    results = [replay.verify(servers[1], {"method": "pin", "pin": WRONG_PIN}) for _ in range(6)]
    # The counter went on from 5: five more failures lock it, the sixth is refused.
    assert [status for status, _ in results] == [401] * 5 + [429]
    assert failures(app, user, "pin") == 10
    assert replay.verify(servers[1], {"method": "pin", "pin": PIN})[0] == 429


@pytest.mark.settings(**NO_DELAY)
def test_a4_a_locked_pin_is_refused_on_the_challenge_the_api_and_confirm_access(
    app: Flask, actions: Actions, alice: int
) -> None:
    client = actions.client
    enrol_pin(client)
    token = api_token(client)
    for _ in range(10):
        assert api_verify(client, token, {"method": "pin", "pin": WRONG_PIN}).status_code == 401
    assert failures(app, alice, "pin") == 10
    events_before = step_up_events(app)

    # The first-party step-up API.
    response = api_verify(client, token, {"method": "pin", "pin": PIN})
    assert response.status_code == 429 and response.get_json()["error"] == "locked"

    # The authorization's challenge page (max_age=0: a fresh event is needed).
    clock.set_offset(10)
    page = authorize(actions, max_age="0")
    assert page.status_code == 200 and 'action="/challenge' in page.text
    assert 'id="pin-form"' not in page.text  # not offered
    assert "is locked after too many tries" in page.text
    refused = challenge_post(actions, page, method="pin", pin=PIN)
    assert refused.status_code == 401 and 'class="error"' in refused.text
    assert "Location" not in refused.headers

    # "Confirm access" on the account page (past the fresh-login window).
    clock.set_offset(10 + app.config["CONFIRM_ACCESS_MAX_AGE"] + 60)
    page = client.get("/account")
    assert 'id="confirm-access"' in page.text and 'id="pin-enrol-form"' not in page.text
    refused = client.post(
        "/account/confirm", data={"csrf_token": csrf_from(page.text), "method": "pin", "pin": PIN}
    )
    assert refused.status_code == 401 and 'class="error"' in refused.text
    # Access is still not confirmed: a change is sent back to "Confirm access".
    change = client.post(
        "/account/pin",
        data={"csrf_token": csrf_from(page.text), "pin": "730164", "pin_confirm": "730164"},
    )
    assert change.status_code == 302
    assert "Confirm it&#39;s you first" in client.get("/account").text

    assert step_up_events(app) == events_before
    assert failures(app, alice, "pin") == 10
    with app.app_context():
        assert factor(app, "pin").status(alice).locked


@pytest.mark.settings(**NO_DELAY)
def test_a4_the_wrong_pin_that_locks_says_so_in_that_same_answer(
    app: Flask, actions: Actions, alice: int
) -> None:
    """The challenge page re-reads the factors after a counted check: the answer
    to the 10th wrong PIN already shows the lock and no longer offers the PIN.
    Answers on the page do not audit "step-up required" again."""
    client = actions.client
    enrol_pin(client)
    clock.set_offset(10)
    page = authorize(actions, max_age="0")
    assert 'id="pin-form"' in page.text
    for attempt in range(1, 11):
        answer = challenge_post(actions, page, method="pin", pin=WRONG_PIN)
        assert answer.status_code == 401 and 'class="error"' in answer.text
        locked = "is locked after too many tries" in answer.text
        assert locked == (attempt == 10), attempt
        assert ('id="pin-form"' in answer.text) == (attempt < 10), attempt
    assert failures(app, alice, "pin") == 10
    # Once locked, a guess is refused unchecked: nothing more is counted.
    again = challenge_post(actions, page, method="pin", pin=PIN)
    assert again.status_code == 401 and "is locked after too many tries" in again.text
    assert 'id="try-again"' in again.text  # back to the page, which offers what is left
    assert failures(app, alice, "pin") == 10
    assert sum(audit_reasons(app, alice, "step_up_required").values()) == 1


def test_a6_a_busy_server_answers_pin_guesses_at_once_and_counts_nothing(
    app: Flask, actions: Actions, alice: int
) -> None:
    """With every argon2 place taken, a PIN posted on the challenge page is
    answered 503 + Retry-After before the page does any work; nothing is
    counted or hashed, and the page offers a way back. Once a place is free
    the same post is checked."""
    import contextlib

    client = actions.client
    enrol_pin(client)
    clock.set_offset(10)
    page = authorize(actions, max_age="0")
    hasher = app.extensions["belay_hasher"]
    with contextlib.ExitStack() as taken:
        while not hasher.saturated():
            taken.enter_context(hasher.admission())  # other requests are hashing
        busy = challenge_post(actions, page, method="pin", pin=WRONG_PIN)
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert 'id="try-again"' in busy.text and f"tx={tx_of(page)}" in busy.text
        # A method that needs no hash is not turned away.
        totp = challenge_post(actions, page, method="totp", code="000000")
        assert totp.status_code != 503
    assert failures(app, alice, "pin") == 0
    checked = challenge_post(actions, page, method="pin", pin=WRONG_PIN)
    assert checked.status_code == 401 and failures(app, alice, "pin") == 1


@pytest.mark.settings(**NO_DELAY)
def test_a5_totp_failures_do_not_lock_the_pin_and_a_pin_success_resets_only_the_pin(
    app: Flask, actions: Actions, alice: int
) -> None:
    with app.app_context():
        factor(app, "pin").set_pin(alice, PIN, PIN)
    totp = enrol_totp(app, alice)
    fresh_step()
    client = actions.client
    token = api_token(client)
    for _ in range(4):
        assert api_verify(client, token, {"method": "pin", "pin": WRONG_PIN}).status_code == 401
    wrong = wrong_code(totp, clock.now())
    statuses = [
        api_verify(client, token, {"method": "totp", "code": wrong}).status_code for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]  # TOTP locked at its own 10
    assert (failures(app, alice, "pin"), failures(app, alice, "totp")) == (4, 10)

    ok = api_verify(client, token, {"method": "pin", "pin": PIN})
    assert ok.status_code == 200, ok.text
    assert (failures(app, alice, "pin"), failures(app, alice, "totp")) == (0, 10)
    token = ok.get_json()["csrf_token"]  # rotated by the step-up (docs/security.md case 54)
    locked = api_verify(client, token, {"method": "totp", "code": totp.at(clock.now())})
    assert locked.status_code == 429 and locked.get_json()["error"] == "locked"


@pytest.mark.settings(**NO_DELAY)
def test_a5_pin_failures_do_not_lock_totp_and_a_totp_success_resets_only_totp(
    app: Flask, actions: Actions, alice: int
) -> None:
    with app.app_context():
        factor(app, "pin").set_pin(alice, PIN, PIN)
    totp = enrol_totp(app, alice)
    fresh_step()
    client = actions.client
    token = api_token(client)
    wrong = wrong_code(totp, clock.now())
    for _ in range(3):
        assert api_verify(client, token, {"method": "totp", "code": wrong}).status_code == 401
    statuses = [
        api_verify(client, token, {"method": "pin", "pin": WRONG_PIN}).status_code
        for _ in range(11)
    ]
    assert statuses == [401] * 10 + [429]  # PIN locked at its own 10
    assert (failures(app, alice, "pin"), failures(app, alice, "totp")) == (10, 3)

    ok = api_verify(client, token, {"method": "totp", "code": totp.at(clock.now())})
    assert ok.status_code == 200, ok.text
    assert (failures(app, alice, "pin"), failures(app, alice, "totp")) == (10, 0)
    token = ok.get_json()["csrf_token"]  # rotated by the step-up (docs/security.md case 54)
    still = api_verify(client, token, {"method": "pin", "pin": PIN})
    assert still.status_code == 429 and still.get_json()["error"] == "locked"


def _broken_database(*_: Any, **__: Any) -> Any:
    """A real database error, as the driver raises it mid-transaction."""
    db.session.execute(text("UPDATE no_such_table SET failures = failures + 1"))
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("pin", "provider.storage.throttle.reserve"),  # counting the attempt
        ("pin", "provider.storage.throttle.reset"),  # clearing it after the right PIN
        ("totp", "provider.storage.throttle.reserve"),
        ("totp", "provider.storage.factors.consume_totp_step"),
        ("backup_code", "provider.storage.throttle.reserve"),
        ("backup_code", "provider.storage.factors.consume_backup_code"),
    ],
)
def test_a7_a_database_error_while_counting_is_an_error_never_a_success(
    app: Flask,
    actions: Actions,
    alice: int,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    target: str,
) -> None:
    with app.app_context():
        factor(app, "pin").set_pin(alice, PIN, PIN)
        codes = factor(app, "backup_code").generate(alice)
    totp = enrol_totp(app, alice)
    fresh_step()
    right = {"pin": {"pin": PIN}, "totp": {"code": totp.at(clock.now())}}.get(
        method, {"code": codes[0]}
    )
    client = actions.client
    token = api_token(client)
    events = step_up_events(app)
    monkeypatch.setattr(target, _broken_database)

    response = api_verify(client, token, {"method": method, **right})
    assert response.status_code == 503, response.text
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert "reauth_token" not in response.text and response.headers["Retry-After"]
    monkeypatch.undo()
    assert step_up_events(app) == events
    after = client.get("/api/step-up/methods").get_json()
    assert after["acr"] == ONE_FA


@pytest.mark.parametrize("page_path", ["/challenge", "/account/confirm"])
def test_a7_a_database_error_on_the_pages_is_an_error_page(
    app: Flask,
    actions: Actions,
    alice: int,
    monkeypatch: pytest.MonkeyPatch,
    page_path: str,
) -> None:
    with app.app_context():
        factor(app, "pin").set_pin(alice, PIN, PIN)
    clock.set_offset(app.config["CONFIRM_ACCESS_MAX_AGE"] + 60)
    if page_path == "/challenge":
        page = authorize(actions, max_age="0")
        assert 'id="pin-form"' in page.text, page.text[:500]
        post = partial(challenge_post, actions, page, method="pin", pin=PIN)
    else:
        page = actions.client.get("/account")
        assert 'id="pin-form"' in page.text, page.text[:500]
        post = partial(
            actions.client.post,
            "/account/confirm",
            data={"csrf_token": csrf_from(page.text), "method": "pin", "pin": PIN},
        )
    events = step_up_events(app)
    monkeypatch.setattr("provider.storage.throttle.reserve", _broken_database)
    response = post()
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "briefly unavailable" in response.text and "Traceback" not in response.text
    monkeypatch.undo()
    assert step_up_events(app) == events


# == B. TOTP and backup codes =========================================================


@pytest.mark.slow
def test_b8_the_same_code_twice_is_refused_across_servers(
    app: Flask, actions: Actions, servers: tuple[LiveServer, LiveServer]
) -> None:
    user = actions.create_user()
    totp = enrol_totp(app, user)
    first, second = Browser.sign_in(servers[0]), Browser.sign_in(servers[1])
    code = totp.now()
    assert first.verify(servers[0], {"method": "totp", "code": code})[0] == 200
    again = second.verify(servers[1], {"method": "totp", "code": code})
    assert again[0] == 401 and again[1]["error"] == "invalid_code"
    assert "already used" in again[1]["error_description"]
    # An intercepted code replayed in the session that used it, on the other server:
    # the step-up rotated that cookie, so the old value is no session at all (not
    # even its CSRF token is valid any more).
    stale = first.verify(servers[1], {"method": "totp", "code": code})
    assert stale[0] == 403 and stale[1]["error"] == "csrf"
    assert step_up_events(app, "totp") == 1


@pytest.mark.slow
def test_b8_20_parallel_submissions_of_one_code_across_servers_give_one_success(
    app: Flask, actions: Actions, servers: tuple[LiveServer, LiveServer]
) -> None:
    user = actions.create_user()
    totp = enrol_totp(app, user)
    # 20 sessions (one per request): a success rotates only its own cookie.
    browsers = [Browser.sign_in(servers[i % 2]) for i in range(20)]
    code = totp.now()
    results = in_parallel(
        [
            partial(browser.verify, servers[i % 2], {"method": "totp", "code": code})
            for i, browser in enumerate(browsers)
        ]
    )
    counted = outcomes(results)
    assert counted[(200, "verified")] == 1, counted
    assert set(counted) <= {(200, "verified"), (401, "invalid_code"), (429, "locked")}, counted
    assert step_up_events(app, "totp") == 1
    reasons = audit_reasons(app, user, "step_up_api")
    assert reasons["success"] == 1 and set(reasons) <= {"success", "replayed", "locked"}


@pytest.mark.slow
def test_b9_after_step_s_a_code_for_s_minus_1_is_refused(
    app: Flask, actions: Actions, servers: tuple[LiveServer, LiveServer]
) -> None:
    user = actions.create_user()
    totp = enrol_totp(app, user)
    browser = Browser.sign_in(servers[0])
    now = int(time.time())
    status, body = browser.verify(servers[0], {"method": "totp", "code": totp.at(now)})
    assert status == 200, body
    browser = Browser.sign_in(servers[1])  # the step-up rotated the first session's cookie
    older = browser.verify(servers[1], {"method": "totp", "code": totp.at(now - 30)})
    assert older[0] == 401 and older[1]["error"] == "invalid_code"
    # Not a lock: the next step's code (one step of drift) still works.
    newer = browser.verify(servers[0], {"method": "totp", "code": totp.at(now + 30)})
    assert newer[0] == 200, newer[1]
    assert step_up_events(app, "totp") == 2


def test_b10_one_step_of_drift_either_way_is_accepted_two_are_refused(
    app: Flask, actions: Actions, alice: int
) -> None:
    totp = enrol_totp(app, alice)
    client = actions.client
    tokens = [api_token(client)]

    def check(drift: int) -> int:
        response = api_verify(
            client, tokens[-1], {"method": "totp", "code": totp.at(clock.now() + drift)}
        )
        if response.status_code == 200:
            # A step-up rotates the CSRF token (docs/security.md case 54).
            tokens.append(response.get_json()["csrf_token"])
        status: int = response.status_code
        return status

    fresh_step()
    assert check(-60) == 401
    assert check(+60) == 401
    assert check(-30) == 200
    fresh_step()  # minutes later: a new window
    assert check(+30) == 200
    fresh_step()
    assert check(+60) == 401
    assert check(-60) == 401
    assert step_up_events(app, "totp") == 2


def _malformed(code: str) -> list[str]:
    """Values that are not a six-digit code, several of them built from the right one."""
    return [
        "",
        "12345",
        "1234567",
        "١٢٣٤٥٦",
        code.translate(ARABIC_DIGITS),
        code.translate(FULLWIDTH_DIGITS),
        code[:3] + "\x00" + code[3:],
        code + "\x00",
        "\x00" * 6,
        f" {code}",
        f"{code}\n",
        code + "0",
        code[:5],
        "9" * 10_240,
        code * 1_700,
    ]


#: not shaped like a PIN (4-64 ASCII digits): refused before counting or hashing
MALFORMED_PINS = [
    "",
    "123",
    PIN.translate(ARABIC_DIGITS),
    PIN.translate(FULLWIDTH_DIGITS),
    PIN[:3] + "\x00" + PIN[3:],
    PIN + "\x00",
    f" {PIN}",
    f"{PIN}\n",
    "48O975",
    "0" * 65,
    "9" * 10_240,
]


@pytest.mark.settings(**NO_DELAY)
def test_b11_malformed_codes_on_the_api_are_clear_4xx_and_never_match(
    app: Flask, actions: Actions, alice: int
) -> None:
    totp = enrol_totp(app, alice)
    fresh_step()
    client = actions.client
    token = api_token(client)
    code = totp.at(clock.now())
    bodies: list[Any] = [{"method": "totp", "code": value} for value in _malformed(code)]
    bodies += [
        {"method": "totp", "code": [code]},
        {"method": "totp", "code": {"code": code}},
        {"method": "totp", "code": int(code)},
        {"method": "totp", "code": float(code)},
        {"method": "totp", "code": None},
        {"method": "totp", "code": True},
        {"method": "totp"},
        {"method": ["totp"], "code": code},
        {"method": "totp\x00", "code": code},
        {"method": "TOTP", "code": code},
        [{"method": "totp", "code": code}],
        [code],
        code,
        int(code),
        None,
    ]
    for body in bodies:
        response = api_verify(client, token, body)
        assert 400 <= response.status_code < 500 and response.status_code != 429, (body, response)
        error = response.get_json()
        assert error["error"] in {"invalid_request", "invalid_code", "not_enrolled"}, body
        assert error["error_description"]
    raw = client.post(
        "/api/step-up/verify",
        data=b'{"method": "totp", "code": "\xff\xfe"}',
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert raw.status_code == 400 and raw.get_json()["error"] == "invalid_request"

    # Nothing was counted and nothing consumed: the right code still works.
    assert failures(app, alice, "totp") == 0
    assert step_up_events(app, "totp") == 0
    ok = api_verify(client, token, {"method": "totp", "code": code})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("method", "field", "counter"),
    [
        ("password", "password", "password"),
        ("pin", "pin", "pin"),
        ("totp", "code", "totp"),
        ("backup_code", "code", "backup_code"),
    ],
)
def test_b11_lone_surrogates_from_json_are_malformed_and_not_counted(
    app: Flask, actions: Actions, alice: int, method: str, field: str, counter: str
) -> None:
    """JSON can carry what no form can: a lone surrogate (a password's was a 500).
    The JSON body reader refuses it (docs/security.md case 53): a 400 before any
    factor is checked, so nothing is counted."""
    with app.app_context():
        factor(app, "pin").set_pin(alice, PIN, PIN)
        factor(app, "backup_code").generate(alice)
    enrol_totp(app, alice)
    client = actions.client
    token = api_token(client)
    for value in ("\ud800", "48\udfff75", PASSWORD + "\udc00"):
        response = api_verify(client, token, {"method": method, field: value})
        assert response.status_code == 400, response.text
        assert response.get_json()["error"] == "invalid_request"
    assert failures(app, alice, counter) == 0


@pytest.mark.settings(**NO_DELAY)
def test_b11_malformed_codes_and_pins_on_the_challenge_page_are_clear_errors(
    app: Flask, actions: Actions, alice: int
) -> None:
    with app.app_context():
        factor(app, "pin").set_pin(alice, PIN, PIN)
    totp = enrol_totp(app, alice)
    fresh_step()
    code = totp.at(clock.now())
    page = authorize(actions, acr_values=TWO_FA)
    assert 'id="totp-form"' in page.text, page.text[:500]
    for value in _malformed(code):
        response = challenge_post(actions, page, method="totp", code=value)
        assert response.status_code == 401, (value, response.status_code)
        assert 'class="error"' in response.text and 'id="totp-form"' in response.text
    for value in MALFORMED_PINS:
        response = challenge_post(actions, page, method="pin", pin=value)
        assert response.status_code == 401 and 'class="error"' in response.text
    tx = tx_of(page)
    garbage = actions.client.post(
        f"/challenge?tx={tx}",
        data=b"csrf_token=" + csrf_from(page.text).encode() + b"&method=totp&code=%FF%FE%00",
        content_type="application/x-www-form-urlencoded",
    )
    assert garbage.status_code == 401 and 'class="error"' in garbage.text
    assert failures(app, alice, "totp") == failures(app, alice, "pin") == 0
    done = challenge_post(actions, page, method="totp", code=code)
    assert done.status_code == 302 and "/authorize/resume" in done.headers["Location"]


def test_b12_the_totp_secret_is_shown_on_the_enrolment_page_only(
    app: Flask, actions: Actions, alice: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = actions.client
    page = client.get("/account")
    begun = client.post("/account/totp/begin", data={"csrf_token": csrf_from(page.text)})
    assert begun.status_code == 302 and "totp-secret" not in begun.text
    assert "#" in begun.headers["Location"] and "?" not in begun.headers["Location"]
    started = client.get("/account")  # the enrolment, shown once
    assert started.status_code == 200
    assert "no-store" in started.headers["Cache-Control"]
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text).group(1)
    totp = pyotp.TOTP(secret)
    forms = [secret, secret.lower(), " ".join(re.findall("....", secret))]

    # Pending: not offered, and a code from it is no step-up.
    methods = client.get("/api/step-up/methods").get_json()
    assert "totp" not in methods["methods"]
    token = methods["csrf_token"]
    pending = api_verify(client, token, {"method": "totp", "code": totp.now()})
    assert pending.status_code == 400 and pending.get_json()["error"] == "not_enrolled"

    # A mistyped first code shows the same enrolment again (still the enrolment page).
    mistyped = client.post(
        "/account/totp/confirm",
        data={"csrf_token": csrf_from(started.text), "code": wrong_code(totp, clock.now())},
    )
    assert mistyped.status_code == 400 and secret in mistyped.text
    confirmed = client.post(
        "/account/totp/confirm", data={"csrf_token": csrf_from(started.text), "code": totp.now()}
    )
    assert confirmed.status_code == 302

    seen = [
        client.get("/account"),
        client.get("/api/step-up/methods"),
        client.get("/login"),
        client.get("/.well-known/openid-configuration"),
    ]
    clock.set_offset(45)
    challenge = authorize(actions, acr_values=TWO_FA, max_age="0")
    assert 'id="totp-form"' in challenge.text
    seen += [challenge, challenge_post(actions, challenge, method="totp", code="000000")]
    for response in seen:
        assert not any(form in response.text for form in forms), response.request.path

    with app.app_context():
        dump = []
        meta = MetaData()
        meta.reflect(bind=db.engine)
        for table in meta.sorted_tables:
            dump += [repr(tuple(row)) for row in db.session.execute(table.select())]
        audit_rows = db.session.scalars(select(AuditEvent)).all()
        audited = [
            repr((a.event, a.result, a.method, a.reason, a.details, a.username)) for a in audit_rows
        ]
    assert any("factor_enrolled" in row for row in audited)
    for form in forms:
        assert not any(form in row for row in dump), "TOTP secret stored in the clear"
        assert not any(form in row for row in audited)
        assert form not in caplog.text


@pytest.mark.slow
def test_b13_10_parallel_uses_of_one_backup_code_across_servers_give_one_success(
    app: Flask, actions: Actions, servers: tuple[LiveServer, LiveServer]
) -> None:
    user = actions.create_user()
    enrol_totp(app, user)
    with app.app_context():
        codes = factor(app, "backup_code").generate(user)
    browsers = [Browser.sign_in(servers[i % 2]) for i in range(10)]
    results = in_parallel(
        [
            partial(browser.verify, servers[i % 2], {"method": "backup_code", "code": codes[0]})
            for i, browser in enumerate(browsers)
        ]
    )
    assert outcomes(results) == {(200, "verified"): 1, (401, "invalid_code"): 9}
    assert step_up_events(app, "backup_code") == 1
    reasons = audit_reasons(app, user, "step_up_api")
    assert reasons == {"success": 1, "replayed": 9}
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(BackupCode.used_at.is_not(None))) == 1
    # The other codes still work (nine failures, one success: no lock).
    other = Browser.sign_in(servers[1]).verify(
        servers[0], {"method": "backup_code", "code": codes[1]}
    )
    assert other[0] == 200, other[1]
