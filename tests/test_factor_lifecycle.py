"""The factor lifecycle (provider/flows/assurance/lifecycle.py) through every
door: the account page, the passkey endpoints, the admin API and the CLI.

- Enrolment is not authentication (docs/security.md case 45): enrolling a
  factor never raises the session's level, for a client or for /admin.
- Every enrolment and removal needs Confirm access, on the server.
- One password rule set for the account page, the admin API and the CLI.
- The CLI unlock refuses unknown users and unknown factors.
- Every lifecycle change writes exactly one audit row.
- A replayed or concurrent TOTP enrolment confirm succeeds once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select

from provider import clock, policy
from provider.extensions import db
from provider.flows.assurance import events
from provider.storage.models import AuditEvent, AuthEvent
from tests.conftest import Actions, confirmed_post, csrf_from, in_parallel, pkce_pair
from tests.webauthn_soft import SoftAuthenticator

TWO_FA = "urn:belay:acr:2fa"
ONE_FA = "urn:belay:acr:1fa"
PASSWORD = "correct horse battery"
PIN = "480975"
COOKIE = "belay_session"


@pytest.fixture(autouse=True)
def _restore_ladder(app: Flask) -> Iterator[None]:
    yield
    with app.app_context():
        from provider.storage.ladder import save_ladder

        save_ladder(policy.default_ladder_data())


# -- helpers -------------------------------------------------------------------------


def account(actions: Actions) -> Any:
    page = actions.client.get("/account")
    assert page.status_code == 200, page.text[:300]
    return page


def post_form(actions: Actions, path: str, **data: str) -> Any:
    page = account(actions)
    return actions.client.post(path, data={"csrf_token": csrf_from(page.text), **data})


def begin_totp(actions: Actions) -> tuple[str, str]:
    """Start enrolling an authenticator app; (secret, CSRF token of the page)."""
    page = account(actions)
    begun = actions.client.post("/account/totp/begin", data={"csrf_token": csrf_from(page.text)})
    assert begun.status_code == 302, begun.text[:300]
    assert begun.headers["Location"].endswith("/account#totp-setup")
    started = account(actions)  # the QR code and key, shown once
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text)
    assert match, started.text[:500]
    return match.group(1), csrf_from(started.text)


def enrol_totp(actions: Actions) -> str:
    secret, token = begin_totp(actions)
    done = actions.client.post(
        "/account/totp/confirm", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert done.status_code == 302, done.text[:500]
    return secret


def authorize_2fa(actions: Actions) -> Any:
    """An authorization for ``rp`` (minimum 2fa), redirects followed on the OP."""
    _, challenge = pkce_pair()
    return actions.follow(
        actions.authorize("rp", code_challenge=challenge, code_challenge_method="S256")
    )


def audit_rows(app: Flask, user_id: int | None = None) -> list[AuditEvent]:
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        if user_id is not None:
            query = query.where(AuditEvent.user_id == user_id)
        return list(db.session.scalars(query))


def auth_events(app: Flask, method: str) -> int:
    """Authentication events of ``method`` that the policy engine counts: an
    enrolment proof is kept in the session's history with its own origin and
    is not one of them (docs/security.md case 45)."""
    with app.app_context():
        rows = db.session.scalars(select(AuthEvent).where(AuthEvent.method == method))
        return sum(1 for row in rows if events.policy_event(row) is not None)


def enrolment_proofs(app: Flask, method: str) -> int:
    with app.app_context():
        rows = db.session.scalars(select(AuthEvent).where(AuthEvent.method == method))
        return sum(1 for row in rows if events.origin_of(row.details) is events.Origin.ENROLMENT)


def add_totp(app: Flask, user_id: int, username: str = "alice") -> pyotp.TOTP:
    with app.app_context():
        enrolment = app.extensions["belay_factors"].get("totp").add_confirmed(user_id, username)
    return pyotp.TOTP(enrolment.secret)


def remember_a_browser(app: Flask, user_id: int) -> None:
    from provider.storage import devices

    with app.app_context():
        devices.create(
            user_id=user_id,
            client_id="rp",
            method="totp",
            amr=["otp"],
            credential_id=None,
            details={},
            event_at=clock.now(),
            user_agent="test",
            lifetime=86400,
        )


def remembered(app: Flask, user_id: int) -> int:
    from provider.storage import devices

    with app.app_context():
        return len(devices.list_for_user(user_id))


@pytest.fixture
def admin_user(actions: Actions) -> int:
    """``root``, an admin with a password only, signed in, and a 2fa client ``rp``."""
    user_id = int(actions.create_user("root", is_admin=True))
    actions.create_client("rp", client_policy={"minimum_acr": TWO_FA})
    assert actions.login("root").status_code == 302
    return user_id


# -- enrolment is not authentication (case 45) -----------------------------------------


def test_totp_enrolment_leaves_a_password_session_at_1fa(
    app: Flask, actions: Actions, admin_user: int
) -> None:
    """The outside review's takeover, step 3: the enrolment code made the
    session 2fa (a 2fa token, the admin console). It no longer does."""
    secret = enrol_totp(actions)
    assert auth_events(app, "totp") == 0
    assert enrolment_proofs(app, "totp") == 1
    # A client with minimum 2fa asks for the new factor: the challenge page, no code.
    page = authorize_2fa(actions)
    assert page.status_code == 200, page.headers.get("Location")
    assert 'id="totp-form"' in page.text
    # The console stays closed: it asks for a step-up too.
    console = actions.client.get("/admin/")
    assert console.status_code == 403 and 'id="totp-form"' in console.text
    # A real step-up with the new app (a later code: the enrolment code is spent) opens it.
    clock.set_offset(31)
    done = actions.client.post(
        "/admin/confirm",
        data={
            "csrf_token": csrf_from(console.text),
            "method": "totp",
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert done.status_code == 302, done.text[:300]
    assert actions.client.get("/admin/").status_code == 200


def test_the_enrolment_code_cannot_be_replayed_as_a_step_up(
    app: Flask, actions: Actions, admin_user: int
) -> None:
    secret, token = begin_totp(actions)
    code = pyotp.TOTP(secret).now()
    done = actions.client.post("/account/totp/confirm", data={"csrf_token": token, "code": code})
    assert done.status_code == 302
    console = actions.client.get("/admin/")
    again = actions.client.post(
        "/admin/confirm",
        data={"csrf_token": csrf_from(console.text), "method": "totp", "code": code},
    )
    assert again.status_code != 302
    assert actions.client.get("/admin/").status_code == 403


@pytest.mark.settings(ORIGINS="http://localhost", RP_ID="localhost")
def test_passkey_registration_leaves_a_password_session_at_1fa(
    app: Flask, actions: Actions, admin_user: int
) -> None:
    from tests.test_passkeys import register

    auth = SoftAuthenticator()
    response = register(actions, auth)
    assert response.status_code == 200, response.text
    assert auth_events(app, "passkey") == 0
    page = authorize_2fa(actions)
    assert page.status_code == 200, page.headers.get("Location")
    assert "/challenge" in page.request.url
    assert actions.client.get("/admin/").status_code == 403


def test_pin_and_backup_code_enrolment_add_no_event(
    app: Flask, actions: Actions, admin_user: int
) -> None:
    assert post_form(actions, "/account/pin", pin=PIN, pin_confirm=PIN).status_code == 302
    assert post_form(actions, "/account/backup-codes").status_code == 302
    assert 'id="backup-codes"' in account(actions).text
    with app.app_context():
        events = int(db.session.scalar(select(func.count(AuthEvent.id))) or 0)
    assert events == 1  # the password login, nothing else
    assert authorize_2fa(actions).status_code == 200
    assert actions.client.get("/admin/").status_code == 403


# -- every enrolment and removal needs Confirm access, on the server --------------------


@pytest.mark.settings(ORIGINS="http://localhost", RP_ID="localhost")
def test_every_change_needs_confirm_access_at_the_accounts_level(
    app: Flask, actions: Actions
) -> None:
    """alice has an authenticator app (2fa) but signed in with her password only:
    no change goes through, whatever the door."""
    user_id = int(actions.create_user())
    add_totp(app, user_id)
    assert actions.login().status_code == 302
    before = len(audit_rows(app, user_id))
    token = csrf_from(account(actions).text)
    for path, data in (
        ("/account/password", {"password": "another good one", "password_confirm": "x"}),
        ("/account/pin", {"pin": PIN, "pin_confirm": PIN}),
        ("/account/totp/begin", {}),
        ("/account/totp/confirm", {"code": "123456"}),
        ("/account/totp/remove", {}),
        ("/account/backup-codes", {}),
        ("/account/email/add", {"email": "alice@example.test"}),
        ("/account/email/verify", {"code": "123456"}),
        ("/account/passkeys/1/delete", {}),
        ("/account/passkeys/1/rename", {"name": "x"}),
    ):
        response = actions.client.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 302, path
        assert response.headers["Location"].endswith("/account#confirm-access"), path
    for path in ("/webauthn/register/options", "/webauthn/register/verify"):
        response = actions.client.post(
            path, json={"credential": {}, "name": "x"}, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 403 and response.get_json()["error"] == "confirm_access"
    rows = audit_rows(app, user_id)[before:]
    assert [r.event for r in rows] == []
    with app.app_context():
        status = app.extensions["belay_factors"].get("totp").status(user_id)
    assert status.enrolled and not status.pending


@pytest.mark.settings(ORIGINS="http://localhost", RP_ID="localhost")
def test_passkey_registration_is_refused_when_access_lapses_between_its_calls(
    app: Flask, actions: Actions
) -> None:
    from tests.test_passkeys import post

    alice = int(actions.create_user())
    assert actions.login().status_code == 302
    options = post(actions, "/webauthn/register/options", {})
    assert options.status_code == 200
    credential = SoftAuthenticator().create(options.get_json())
    clock.set_offset(app.config["CONFIRM_ACCESS_MAX_AGE"] + 1)
    late = post(actions, "/webauthn/register/verify", {"credential": credential, "name": "x"})
    assert late.status_code == 403 and late.get_json()["error"] == "confirm_access"
    with app.app_context():
        from provider.storage import passkeys as passkey_store

        assert passkey_store.list_for_user(alice) == []


# -- one password rule set ---------------------------------------------------------------

PASSWORD_TABLE = [
    ("1234567", False),
    ("12345678", True),
    ("p" * 1024, True),
    ("p" * 1025, False),
    ("nul\x00inside-it", False),
    ("späce and ünïcode", True),
]


@pytest.mark.parametrize(("password", "allowed"), PASSWORD_TABLE)
def test_password_rules_are_the_same_on_every_door(
    app: Flask, actions: Actions, runner: Any, password: str, allowed: bool
) -> None:
    from tests.test_admin_api import admin_token

    # The account page: alice changes her own password.
    alice = int(actions.create_user())
    assert actions.login().status_code == 302
    page = post_form(actions, "/account/password", password=password, password_confirm=password)
    page_ok = page.status_code == 302
    # The admin API: a new user with this password.
    headers = {"Authorization": f"Bearer {admin_token(app, actions)}"}
    created = actions.client.post(
        "/api/admin/users", headers=headers, json={"username": "bob", "password": password}
    )
    api_ok = created.status_code == 201
    # The CLI: set a password, and create a user with one.
    cli_set = runner.invoke(
        args=["user", "set-password", "alice", "--password-stdin"], input=password + "\n"
    )
    cli_create = runner.invoke(
        args=["user", "create", "carol", "--password-stdin"], input=password + "\n"
    )
    assert (page_ok, api_ok, cli_set.exit_code == 0, cli_create.exit_code == 0) == (allowed,) * 4
    if not allowed:
        # The same words everywhere.
        if "\x00" in password:
            # JSON with a NUL never reaches the rule: the one JSON reader refuses
            # the body (docs/security.md case 53); the other doors say the rule.
            assert created.get_json()["error"] == "invalid_request"
            message = "A password cannot contain a NUL character."
            assert message in cli_set.output
        else:
            message = created.get_json()["errors"]["password"]
        assert message in page.text
        assert message in cli_set.output and message in cli_create.output
    else:
        with app.app_context():
            from provider.flows.login import hasher
            from provider.storage import users as user_store

            user = user_store.get_user(alice)
            assert user is not None and hasher().verify(user.password_hash, password).ok


def test_a_too_long_password_is_refused_not_cut(app: Flask, actions: Actions) -> None:
    actions.create_user()
    assert actions.login().status_code == 302
    long = "x" * 1030
    page = post_form(actions, "/account/password", password=long, password_confirm=long)
    assert page.status_code == 400
    # The old password still works; the first 1024 characters are not a password.
    assert actions.login().status_code == 302
    assert actions.login(password="x" * 1024).status_code != 302


def test_a_password_change_forgets_remembered_browsers(app: Flask, actions: Actions) -> None:
    alice = int(actions.create_user())
    remember_a_browser(app, alice)
    assert actions.login().status_code == 302
    new = "a new good password"
    assert (
        post_form(actions, "/account/password", password=new, password_confirm=new).status_code
        == 302
    )
    assert remembered(app, alice) == 0


# -- the CLI unlock ----------------------------------------------------------------------


def test_cli_unlock_refuses_unknown_users_and_factors(
    app: Flask, actions: Actions, runner: Any
) -> None:
    alice = int(actions.create_user())
    before = len(audit_rows(app))
    unknown = runner.invoke(args=["user", "unlock", "nobody"])
    assert unknown.exit_code != 0 and "no user 'nobody'" in unknown.output
    bad = runner.invoke(args=["user", "unlock", "alice", "--factor", "bogus"])
    assert bad.exit_code != 0
    assert "must be one of" in bad.output and "totp" in bad.output
    empty = runner.invoke(args=["user", "unlock", "", "--factor", "pin"])
    assert empty.exit_code != 0
    assert len(audit_rows(app)) == before  # nothing was done, nothing audited
    good = runner.invoke(args=["user", "unlock", "alice", "--factor", "totp"])
    assert good.exit_code == 0, good.output
    rows = audit_rows(app, alice)
    assert rows[-1].event == "unlock" and rows[-1].method == "totp"
    assert rows[-1].details["by"] == "cli"


def test_unlock_totp_also_clears_the_enrolment_counter(
    app: Flask, actions: Actions, runner: Any
) -> None:
    from provider.storage import throttle

    alice = int(actions.create_user())
    limits = throttle.Limits(max_failures=1, delay_after=100, max_delay=1)
    with app.app_context():
        for counter in ("totp", "totp_enrol"):
            throttle.reserve(alice, counter, limits)
            throttle.reserve(alice, counter, limits)
            assert throttle.is_locked(alice, counter, limits)
    assert runner.invoke(args=["user", "unlock", "alice", "--factor", "totp"]).exit_code == 0
    with app.app_context():
        assert not throttle.is_locked(alice, "totp", limits)
        assert not throttle.is_locked(alice, "totp_enrol", limits)


# -- exactly one audit row per change ------------------------------------------------------


@pytest.mark.settings(ORIGINS="http://localhost", RP_ID="localhost")
def test_every_lifecycle_change_writes_exactly_one_audit_row(
    app: Flask, actions: Actions, runner: Any
) -> None:
    from tests.test_admin_api import admin_token
    from tests.test_passkeys import confirm_with, register

    alice = int(actions.create_user())
    assert actions.login().status_code == 302

    def one_row(change: Callable[[], Any], event: str, method: str | None) -> None:
        remember_a_browser(app, alice)  # each change forgets it, in the same row
        before = len(audit_rows(app))
        change()
        rows = audit_rows(app)[before:]
        assert [(r.event, r.method) for r in rows] == [(event, method)], event
        assert rows[0].user_id == alice and rows[0].result == "success"
        assert "by" in rows[0].details

    def ask_first(path: str) -> Any:  # a destructive form, then its confirmation
        return confirmed_post(
            actions.client, path, {"csrf_token": csrf_from(account(actions).text)}
        )

    new = "another good password"
    one_row(
        lambda: post_form(actions, "/account/password", password=new, password_confirm=new),
        "password_changed",
        "password",
    )
    one_row(
        lambda: post_form(actions, "/account/pin", pin=PIN, pin_confirm=PIN),
        "factor_enrolled",
        "pin",
    )
    one_row(
        lambda: ask_first("/account/pin/remove"),
        "factor_removed",
        "pin",
    )
    auth = SoftAuthenticator()
    one_row(lambda: register(actions, auth), "factor_enrolled", "passkey")
    with app.app_context():
        from provider.storage import passkeys as passkey_store

        passkey_id = passkey_store.list_for_user(alice)[0].id
    # The passkey made the account stronger: confirm access with it first.
    confirm_with(actions, auth)
    one_row(
        lambda: post_form(actions, f"/account/passkeys/{passkey_id}/rename", name="Phone"),
        "passkey_renamed",
        "passkey",
    )
    one_row(
        lambda: post_form(actions, "/account/backup-codes"),
        "backup_codes_generated",
        "backup_code",
    )
    one_row(
        lambda: ask_first("/account/backup-codes"),
        "backup_codes_generated",
        "backup_code",
    )
    one_row(
        lambda: ask_first(f"/account/passkeys/{passkey_id}/delete"),
        "factor_removed",
        "passkey",
    )
    one_row(lambda: enrol_totp_cli(runner), "factor_enrolled", "totp")
    one_row(
        lambda: runner.invoke(args=["user", "set-pin", "alice", "--pin-stdin"], input=PIN + "\n"),
        "factor_enrolled",
        "pin",
    )
    one_row(
        lambda: runner.invoke(args=["user", "set-email", "alice", "alice@example.test"]),
        "factor_enrolled",
        "email_otp",
    )
    one_row(
        lambda: runner.invoke(
            args=["user", "set-password", "alice", "--password-stdin"], input=PASSWORD + "\n"
        ),
        "password_changed",
        "password",
    )
    one_row(lambda: runner.invoke(args=["user", "unlock", "alice"]), "unlock", None)
    headers = {"Authorization": f"Bearer {admin_token(app, actions)}"}
    one_row(
        lambda: actions.client.post(
            f"/api/admin/users/{alice}/unlock", headers=headers, json={"factor": "pin"}
        ),
        "unlock",
        "pin",
    )
    one_row(
        lambda: actions.client.post(f"/api/admin/users/{alice}/reset-factors", headers=headers),
        "factors_reset",
        None,
    )
    assert remembered(app, alice) == 0


def enrol_totp_cli(runner: Any) -> None:
    result = runner.invoke(args=["user", "add-totp", "alice"])
    assert result.exit_code == 0, result.output


# -- replayed and concurrent enrolment confirms ----------------------------------------------


def test_a_replayed_totp_enrolment_code_succeeds_once(app: Flask, actions: Actions) -> None:
    alice = int(actions.create_user())
    assert actions.login().status_code == 302
    secret, token = begin_totp(actions)
    code = pyotp.TOTP(secret).now()
    first = actions.client.post("/account/totp/confirm", data={"csrf_token": token, "code": code})
    assert first.status_code == 302
    # The account is now 2fa: confirm access with a later code, then replay the first.
    clock.set_offset(31)
    page = account(actions)
    confirmed = actions.client.post(
        "/account/confirm",
        data={
            "csrf_token": csrf_from(page.text),
            "method": "totp",
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert confirmed.status_code == 302
    again = actions.client.post(
        "/account/totp/confirm", data={"csrf_token": csrf_from(account(actions).text), "code": code}
    )
    assert again.status_code == 400
    enrolled = [r for r in audit_rows(app, alice) if r.event == "factor_enrolled"]
    assert len(enrolled) == 1


def test_two_parallel_totp_enrolment_confirms_succeed_once(app: Flask, actions: Actions) -> None:
    alice = int(actions.create_user())
    assert actions.login().status_code == 302
    secret, token = begin_totp(actions)
    code = pyotp.TOTP(secret).now()
    cookie = actions.client.get_cookie(COOKIE)
    assert cookie is not None
    clients = [app.test_client() for _ in range(2)]
    for other in clients:
        other.set_cookie(COOKIE, cookie.value)

    def confirm(other: Any) -> Callable[[], str]:
        def call() -> str:
            response = other.post("/account/totp/confirm", data={"csrf_token": token, "code": code})
            if response.status_code != 302:
                return str(response.status_code)
            path = urlsplit(response.headers["Location"]).path
            # Only the confirm that enrolled keeps its proof in the session,
            # which rotates the session cookie.
            rotated = any(
                header.startswith(f"{COOKIE}=") for header in response.headers.getlist("Set-Cookie")
            )
            return "enrolled" if path == "/account" and rotated else path

        return call

    outcomes = sorted(in_parallel([confirm(other) for other in clients]))
    # One confirm succeeds. The other is refused: the code was used (400); or,
    # when it arrives after the first committed, the enrolment proof has rotated
    # the session id and the old cookie signs in again (/login); or, when it
    # read the session before the rotation, the account's level is now the
    # app's and the password-only session must confirm access first (/account,
    # no new cookie).
    assert outcomes in (["400", "enrolled"], ["/login", "enrolled"], ["/account", "enrolled"]), (
        outcomes
    )
    enrolled = [r for r in audit_rows(app, alice) if r.event == "factor_enrolled"]
    assert len(enrolled) == 1
    assert auth_events(app, "totp") == 0


def test_admin_flows_refuse_an_unknown_factor_to_unlock(app: Flask, actions: Actions) -> None:
    from tests.test_admin_api import admin_token

    alice = int(actions.create_user())
    headers = {"Authorization": f"Bearer {admin_token(app, actions)}"}
    response = actions.client.post(
        f"/api/admin/users/{alice}/unlock", headers=headers, json={"factor": "bogus"}
    )
    assert response.status_code == 400
    assert "factor" in response.get_json()["errors"]
    # The same list the CLI names.
    assert "email_otp" in response.get_json()["errors"]["factor"]
