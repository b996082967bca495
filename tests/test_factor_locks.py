"""A factor locking is a lifecycle change with its own audit row
(provider/flows/assurance/lifecycle.py ``note_locked``; docs/security.md
cases 45 and 51).

- The request whose failed attempt crossed the threshold writes exactly one
  ``factor_locked`` row (method, user, for good or a lock window), however
  many wrong guesses race; refusals of the locked factor write none.
- An attempt that would have locked but succeeds writes none.
- The password writes one row per lock window opened and one for its hard
  limit; an unlock then writes its own row; the dashboard counts locks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from provider import clock
from provider.extensions import db
from provider.storage.models import AuditEvent
from tests.conftest import Actions, in_parallel

PIN = "480975"
WRONG_PIN = "000001"
WRONG = "not the password"
COOKIE = "belay_session"


def rows(app: Flask, event: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)
            )
        )


def signed_in_with_pin(app: Flask, actions: Actions) -> tuple[int, str]:
    """alice, signed in with her password, with a PIN; (user id, CSRF token)."""
    alice = int(actions.create_user())
    with app.app_context():
        app.extensions["belay_factors"].get("pin").set_pin(alice, PIN, PIN)
    assert actions.login().status_code == 302
    token = actions.client.get("/api/step-up/methods").get_json()["csrf_token"]
    return alice, token


def verify_pin(client: Any, token: str, pin: str) -> tuple[int, str]:
    """One step-up API check; a busy answer (nothing checked) is asked again."""
    while True:
        response = client.post(
            "/api/step-up/verify",
            json={"method": "pin", "pin": pin},
            headers={"X-CSRF-Token": token},
        )
        if response.status_code != 503:
            return response.status_code, str(response.get_json().get("error"))


@pytest.mark.settings(PIN_DELAY_AFTER=100)
def test_20_parallel_wrong_pins_write_exactly_one_factor_locked_row(
    app: Flask, actions: Actions
) -> None:
    from tests.test_admin_api import admin_token

    alice, token = signed_in_with_pin(app, actions)
    cookie = actions.client.get_cookie(COOKIE)
    assert cookie is not None
    clients = [app.test_client() for _ in range(20)]
    for other in clients:
        other.set_cookie(COOKIE, cookie.value)

    def guess(other: Any) -> Callable[[], tuple[int, str]]:
        return lambda: verify_pin(other, token, WRONG_PIN)

    results = in_parallel([guess(other) for other in clients])
    assert results.count((401, "invalid_code")) == 10
    assert results.count((429, "locked")) == 10
    locked = rows(app, "factor_locked")
    assert len(locked) == 1, [(r.method, r.details) for r in locked]
    assert locked[0].user_id == alice and locked[0].method == "pin"
    assert locked[0].details["for_good"] is True and "until" not in locked[0].details
    assert locked[0].details["failures"] == 10

    # Refusals of the locked factor write no further lock.
    assert verify_pin(actions.client, token, PIN) == (429, "locked")
    assert len(rows(app, "factor_locked")) == 1

    # The dashboard counts the lock once, not each refusal.
    headers = {"Authorization": f"Bearer {admin_token(app, actions)}"}
    stats = actions.client.get("/api/admin/stats", headers=headers).get_json()
    assert sum(stats["lockouts_per_day"]) == 1

    # An unlock writes its own row; the PIN works again.
    before = len(rows(app, "unlock"))
    unlocked = actions.client.post(
        f"/api/admin/users/{alice}/unlock", headers=headers, json={"factor": "pin"}
    )
    assert unlocked.status_code == 200, unlocked.text
    unlocks = rows(app, "unlock")[before:]
    assert [(r.event, r.method, r.user_id) for r in unlocks] == [("unlock", "pin", alice)]
    assert verify_pin(actions.client, token, PIN)[0] == 200
    assert len(rows(app, "factor_locked")) == 1


@pytest.mark.settings(PIN_DELAY_AFTER=100)
def test_the_last_allowed_try_succeeding_writes_no_lock(app: Flask, actions: Actions) -> None:
    _, token = signed_in_with_pin(app, actions)
    for _ in range(9):
        assert verify_pin(actions.client, token, WRONG_PIN) == (401, "invalid_code")
    assert verify_pin(actions.client, token, PIN)[0] == 200  # the 10th: right
    assert rows(app, "factor_locked") == []


@pytest.mark.settings(PIN_DELAY_AFTER=100)
def test_a_pin_sign_in_that_locks_writes_one_row(app: Flask, actions: Actions) -> None:
    """The PIN as a first factor shares the lock and its row (an anonymous
    browser, through /login)."""
    from tests.test_pin_login_and_devices import _pin_login, _start

    alice, token = signed_in_with_pin(app, actions)
    actions.create_client("kiosk", client_policy={"pin_login": True})
    for _ in range(9):
        assert verify_pin(actions.client, token, WRONG_PIN) == (401, "invalid_code")
    actions.client.delete_cookie(COOKIE)
    page, _ = _start(actions, "kiosk")
    assert _pin_login(actions, page, "alice", WRONG_PIN).status_code == 401
    assert _pin_login(actions, page, "alice", PIN).status_code == 401  # locked
    locked = rows(app, "factor_locked")
    assert [(r.method, r.user_id, r.details["for_good"]) for r in locked] == [("pin", alice, True)]


@pytest.mark.settings(
    PASSWORD_DELAY_AFTER=100,
    PASSWORD_MAX_FAILURES=3,
    PASSWORD_LOCK_WINDOW=600,
    PASSWORD_LOCK_WINDOW_MAX=2000,
    PASSWORD_FAILURE_LIMIT=6,
)
def test_each_password_lock_window_and_the_hard_limit_write_one_row(
    app: Flask, actions: Actions, runner: Any
) -> None:
    alice = int(actions.create_user())
    for _ in range(3):
        assert actions.login(password=WRONG).status_code == 401
    clock.set_offset(60)
    assert actions.login().status_code == 401  # inside the window: refused, no row
    first = rows(app, "factor_locked")
    assert len(first) == 1 and first[0].user_id == alice and first[0].method == "password"
    window = first[0].details
    assert window["for_good"] is False and window["window"] == 600
    assert window["until"] - first[0].at == 600

    clock.set_offset(700)  # the window lapsed: three more failures reach the hard limit
    for _ in range(3):
        assert actions.login(password=WRONG).status_code == 401
    clock.set_offset(1_000_000)
    assert actions.login().status_code == 401
    locked = rows(app, "factor_locked")
    assert len(locked) == 2
    assert locked[1].details["for_good"] is True and "until" not in locked[1].details

    assert runner.invoke(args=["user", "unlock", "alice", "--factor", "password"]).exit_code == 0
    assert [r.method for r in rows(app, "unlock")] == ["password"]
    assert actions.login().status_code == 302
    assert len(rows(app, "factor_locked")) == 2


# -- the challenge page names the exact way out (docs/security.md case 44) -----------------

TWO_FA = "urn:belay:acr:2fa"


def _totp_locked(app: Flask, actions: Actions, *, backup_codes: bool) -> int:
    """alice (password + TOTP, signed in with the password) whose TOTP is locked
    through the step-up API; a client ``rp`` asking for 2fa."""
    from tests.test_assurance_seams import _add_backup_codes, _add_totp, _lock_totp_through_the_api

    alice = int(actions.create_user())
    actions.create_client("rp", client_policy={"minimum_acr": TWO_FA})
    totp = _add_totp(actions, alice)
    if backup_codes:
        _add_backup_codes(actions, alice)
    assert actions.login().status_code == 302
    _lock_totp_through_the_api(actions, totp)
    return alice


def _authorize_rp(actions: Actions) -> Any:
    from tests.conftest import pkce_pair

    _, challenge = pkce_pair()
    return actions.follow(
        actions.authorize("rp", code_challenge=challenge, code_challenge_method="S256")
    )


def test_only_locked_methods_reach_the_level_the_page_explains_and_cancel_returns_unmet(
    app: Flask, actions: Actions
) -> None:
    """Before: /authorize answered unmet_authentication_requirements at the
    client, with no word to the user. Now the challenge page explains the lock
    and the administrator's reset, and keeps the bar; Cancel returns the error."""
    from tests.conftest import csrf_from

    _totp_locked(app, actions, backup_codes=False)
    page = _authorize_rp(actions)
    assert page.status_code == 200, (page.status_code, page.headers.get("Location"))
    assert "/challenge" in page.request.path
    assert 'id="locked-none-left"' in page.text and TWO_FA in page.text
    assert 'id="locked-totp"' in page.text and 'id="recovery-admin-reset"' in page.text
    assert "Sign in with another method to reset it" not in page.text
    assert 'id="totp-form"' not in page.text and 'id="password-form"' not in page.text
    # A guess at the locked factor is refused unchecked, with the exact words.
    tx = page.request.args["tx"]
    guess = actions.client.post(
        f"/challenge?tx={tx}",
        data={"csrf_token": csrf_from(page.text), "tx": tx, "method": "totp", "code": "123456"},
    )
    assert guess.status_code == 401 and "administrator unlocks or resets it" in guess.text
    # The bar stays: nothing else is accepted instead.
    password = actions.client.post(
        f"/challenge?tx={tx}",
        data={
            "csrf_token": csrf_from(page.text),
            "tx": tx,
            "method": "password",
            "password": "correct horse battery",
        },
    )
    assert password.status_code == 401
    cancelled = actions.client.post(
        f"/challenge?tx={tx}", data={"csrf_token": csrf_from(page.text), "tx": tx, "cancel": "1"}
    )
    assert cancelled.status_code == 302
    assert "error=unmet_authentication_requirements" in cancelled.headers["Location"]


def test_prompt_none_with_only_locked_methods_still_answers_the_client(
    app: Flask, actions: Actions
) -> None:
    _totp_locked(app, actions, backup_codes=False)
    answer = actions.authorize("rp", prompt="none")
    assert answer.status_code == 302
    assert "error=" in answer.headers["Location"]
    assert "code=" not in answer.headers["Location"]


def test_a_locked_totp_with_backup_codes_offers_a_backup_code(app: Flask, actions: Actions) -> None:
    _totp_locked(app, actions, backup_codes=True)
    page = _authorize_rp(actions)
    assert page.status_code == 200 and "/challenge" in page.request.path
    assert 'id="locked-totp"' in page.text and 'id="recovery-backup-code"' in page.text
    assert 'id="backup-form"' in page.text
    assert 'id="locked-none-left"' not in page.text
    assert "Sign in with another method to reset it" not in page.text


@pytest.mark.parametrize("hard_limit", [False, True])
@pytest.mark.settings(PASSWORD_DELAY_AFTER=100, PASSWORD_MAX_FAILURES=3, PASSWORD_LOCK_WINDOW=600)
def test_a_locked_password_says_when_to_try_again_or_that_an_admin_unlocks_it(
    app: Flask, actions: Actions, hard_limit: bool
) -> None:
    """Before: "Sign in with another method to reset it" for every factor, untrue
    for the password (its window lapses by itself; at the hard limit an
    administrator unlocks it)."""
    from tests.conftest import csrf_from

    if hard_limit:
        app.config["PASSWORD_FAILURE_LIMIT"] = 3
    _totp_locked(app, actions, backup_codes=False)
    other = app.test_client()  # someone else guesses alice's password
    for _ in range(3):
        form = other.get("/login")
        other.post(
            "/login",
            data={"csrf_token": csrf_from(form.text), "username": "alice", "password": WRONG},
        )
    page = _authorize_rp(actions)
    assert page.status_code == 200 and "/challenge" in page.request.path
    assert 'id="locked-password"' in page.text
    if hard_limit:
        assert 'id="recovery-admin-unlock"' in page.text and 'id="recovery-wait"' not in page.text
    else:
        assert 'id="recovery-wait"' in page.text and "UTC" in page.text
    assert "Sign in with another method to reset it" not in page.text
    tx = page.request.args["tx"]
    guess = actions.client.post(
        f"/challenge?tx={tx}",
        data={
            "csrf_token": csrf_from(page.text),
            "tx": tx,
            "method": "password",
            "password": "correct horse battery",
        },
    )
    assert guess.status_code == 401
    if hard_limit:
        assert "until an administrator unlocks it" in guess.text
    else:
        assert "try again after then" in guess.text
