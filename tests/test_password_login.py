"""Password login: throttling, one message for every failure, rehash, audit
(docs/security.md cases 6, 7, 40, 41)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from provider import clock
from provider.extensions import db
from provider.storage.models import AuditEvent, User
from tests.conftest import Actions

WRONG = "wrong password!"


def _message(response) -> str:
    import re

    match = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.text)
    assert match, response.text[:400]
    return match.group(1)


def test_login_sets_a_server_side_session_cookie(actions: Actions) -> None:
    actions.create_user()
    response = actions.login()
    assert response.status_code == 302
    (cookie,) = [
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("belay_session=")
    ]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert actions.client.get("/account").status_code == 200


def test_login_rotates_the_session_id(actions: Actions) -> None:
    """The cookie from before login stops working after login (fixation). An
    anonymous login page makes no session (case 55): a transaction does."""
    actions.create_user()
    actions.create_client()
    started = actions.authorize()
    before = actions.client.get_cookie("belay_session")
    assert started.status_code == 302 and before is not None
    tx = parse_qs(urlsplit(started.headers["Location"]).query)["tx"][0]
    actions.login(tx=tx)
    after = actions.client.get_cookie("belay_session")
    assert after is not None and after.value != before.value
    actions.client.set_cookie("belay_session", before.value)
    assert actions.client.get("/account").status_code == 302  # old id no longer signed in


def test_every_failure_has_the_same_message(actions: Actions) -> None:
    """Unknown user, wrong password and a locked account look the same (case 6)."""
    actions.create_user()
    wrong = actions.login(password=WRONG)
    unknown = actions.login(username="nobody", password=WRONG)
    assert wrong.status_code == unknown.status_code == 401
    assert _message(wrong) == _message(unknown)


@pytest.mark.settings(PASSWORD_DELAY_AFTER=3, PASSWORD_MAX_FAILURES=6, THROTTLE_MAX_DELAY=60)
def test_growing_delay_then_lock(actions: Actions, app: Flask) -> None:
    user_id = actions.create_user()
    for _ in range(3):
        assert actions.login(password=WRONG).status_code == 401
    # From the third failure a wait is in force: even the right password is refused.
    refused = actions.login()
    assert refused.status_code == 401
    assert _message(refused) == _message(actions.login(username="nobody", password=WRONG))
    for offset in (10, 20, 40, 80):
        clock.set_offset(offset)
        actions.login(password=WRONG)
    clock.set_offset(10_000)
    locked = actions.login()  # correct password, account now locked
    assert locked.status_code == 401
    with app.app_context():
        from provider.storage import throttle

        row = throttle.state(user_id, "password")
        assert row is not None and row.failures == 6
        assert (
            db.session.scalar(
                db.select(db.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.reason == "locked")
            )
            >= 1
        )


@pytest.mark.settings(PASSWORD_DELAY_AFTER=3, PASSWORD_MAX_FAILURES=6)
def test_success_resets_the_counter(actions: Actions, app: Flask) -> None:
    user_id = actions.create_user()
    actions.login(password=WRONG)
    actions.login(password=WRONG)
    assert actions.login().status_code == 302
    with app.app_context():
        from provider.storage import throttle

        assert throttle.state(user_id, "password").failures == 0


@pytest.mark.settings(PASSWORD_DELAY_AFTER=2, PASSWORD_MAX_FAILURES=3)
def test_admin_unlock(actions: Actions, runner) -> None:
    actions.create_user()
    for offset in (0, 10, 20):
        clock.set_offset(offset)
        actions.login(password=WRONG)
    clock.set_offset(1000)
    assert actions.login().status_code == 401
    assert runner.invoke(args=["user", "unlock", "alice"]).exit_code == 0
    assert actions.login().status_code == 302


def test_database_error_while_counting_is_never_a_success(actions: Actions, monkeypatch) -> None:
    """Case 7: fail closed."""
    actions.create_user()
    from provider.storage import throttle

    def broken(*args, **kwargs):
        raise OperationalError("UPDATE factor_counters", {}, Exception("database is down"))

    monkeypatch.setattr(throttle, "reserve", broken)
    response = actions.login()
    assert response.status_code == 503
    assert (
        "belay_session" not in response.headers.get("Set-Cookie", "")
        or actions.client.get("/account").status_code == 302
    )


@pytest.mark.settings(ARGON2_TIME_COST=1, ARGON2_MEMORY_COST=1024, ARGON2_PARALLELISM=1)
def test_old_argon2_parameters_are_rehashed_once(actions: Actions, app: Flask) -> None:
    """Case 40."""
    from argon2 import PasswordHasher

    old = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash("correct horse battery")
    actions.create_user()
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "alice"))
        user.password_hash = old
        db.session.commit()
    assert actions.login().status_code == 302
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "alice"))
        rehashed = user.password_hash
        assert rehashed != old and "m=1024" in rehashed
    actions.client.get("/logout")
    assert actions.login().status_code == 302
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.username == "alice"))
        assert user.password_hash == rehashed  # once only


def test_audit_records_attempts_without_secrets(actions: Actions, app: Flask) -> None:
    """Case 41."""
    actions.create_user()
    actions.login(password=WRONG)
    actions.login()
    with app.app_context():
        rows = list(db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id)))
    assert [(r.event, r.result, r.method) for r in rows[-2:]] == [
        ("login", "failure", "password"),
        ("login", "success", "password"),
    ]
    dump = repr([(r.event, r.result, r.username, r.reason, r.details) for r in rows])
    assert WRONG not in dump and "correct horse battery" not in dump


def test_a_busy_server_says_try_again_and_counts_nothing(actions: Actions, app: Flask) -> None:
    """argon2 load shedding: with every slot and queue place taken, a sign-in is
    refused at once (503, Retry-After) for known and unknown users alike, with
    nothing counted or audited; once a place is free it works."""
    import contextlib

    from provider.factors.hashing import HasherBusy
    from provider.storage import throttle

    user_id = actions.create_user()
    hasher = app.extensions["belay_hasher"]
    with contextlib.ExitStack() as held:
        with contextlib.suppress(HasherBusy):
            for _ in range(1000):  # take every place (the capacity depends on the CPUs)
                held.enter_context(hasher.admission())
        for username in ("alice", "nobody"):
            refused = actions.login(username, "not the password")
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert "Try again in a moment" in _message(refused)
    with app.app_context():
        assert throttle.state(user_id, "password") is None
        assert (
            db.session.scalars(db.select(AuditEvent).where(AuditEvent.event == "login")).all() == []
        )
    assert actions.login().status_code == 302
