"""The account page's forms and the confirmation of destructive actions
(issue 17): one-time material sealed in the session and shown once, and
"ask first" (provider/web/confirmation.py) on the account page and in the
admin console."""

from __future__ import annotations

import re
import time

import pytest
from flask import Flask
from sqlalchemy import select

from provider import clock
from provider.extensions import db
from tests.conftest import Actions, answer_confirmation, csrf_from
from tests.test_admin_console import Admin, _audit, add_totp
from tests.test_factor_lifecycle import PIN, account, audit_rows, post_form


@pytest.fixture
def root(app: Flask, actions: Actions) -> Admin:
    """An administrator whose console access is confirmed (tests/test_admin_console.py)."""
    user_id = actions.create_user("root", is_admin=True)
    admin = Admin(actions, add_totp(app, user_id, "root"))
    assert actions.login("root").status_code == 302
    admin.step_up()
    return admin


def test_removing_a_factor_and_new_backup_codes_ask_first_once(
    app: Flask, actions: Actions
) -> None:
    """Destructive account changes ask first: the unconfirmed POST shows the
    confirmation page and changes nothing; the confirmed POST acts; a replay
    of it only asks again."""
    alice = int(actions.create_user())
    assert actions.login().status_code == 302
    assert post_form(actions, "/account/pin", pin=PIN, pin_confirm=PIN).status_code == 302
    asked = post_form(actions, "/account/pin/remove")
    assert asked.status_code == 200 and 'id="confirm-action-form"' in asked.text
    assert "Remove PIN" in asked.text
    with app.app_context():
        assert app.extensions["belay_factors"].get("pin").status(alice).enrolled
    removed = answer_confirmation(actions.client, asked)
    assert removed.status_code == 302 and removed.headers["Location"].endswith("/account#pin")
    assert "PIN removed." in account(actions).text
    replayed = answer_confirmation(actions.client, asked)
    assert replayed.status_code == 200 and 'id="confirm-action-form"' in replayed.text
    assert [r.event for r in audit_rows(app, alice)].count("factor_removed") == 1

    # The first backup codes need no confirmation (nothing to void); new ones do.
    assert post_form(actions, "/account/backup-codes").status_code == 302
    first = re.findall(r"<li><code>([^<]+)</code></li>", account(actions).text)
    assert len(first) == 10
    # Backup codes made the account 2fa: confirm access with one of them.
    page = account(actions)
    confirmed = actions.client.post(
        "/account/confirm",
        data={"csrf_token": csrf_from(page.text), "method": "backup_code", "code": first[0]},
    )
    assert confirmed.status_code == 302
    asked = post_form(actions, "/account/backup-codes")
    assert asked.status_code == 200 and "stop working" in asked.text
    assert "<li><code>" not in asked.text
    made = answer_confirmation(actions.client, asked)
    assert made.status_code == 302 and made.headers["Location"].endswith("/account#backup-codes")
    second = re.findall(r"<li><code>([^<]+)</code></li>", account(actions).text)
    assert len(second) == 10 and not set(first) & set(second)
    assert "<li><code>" not in account(actions).text  # shown once
    again = answer_confirmation(actions.client, asked)
    assert again.status_code == 200 and 'id="confirm-action-form"' in again.text
    assert [r.event for r in audit_rows(app, alice)].count("backup_codes_generated") == 2


def test_one_time_material_waits_sealed_in_the_session_and_is_gone_once_shown(
    app: Flask, actions: Actions
) -> None:
    """Fresh backup codes and a new authenticator's key travel from the POST to
    the next page in the server-side session, encrypted (never in the clear in
    the session row, never in the URL), and are dropped when shown; an old
    sealed value is not shown."""
    from provider.storage.models import WebSession

    def session_data() -> str:
        with app.app_context():
            rows = db.session.scalars(select(WebSession)).all()
            return " ".join(str(r.data) for r in rows)

    actions.create_user()
    assert actions.login().status_code == 302
    begun = post_form(actions, "/account/totp/begin")
    assert begun.status_code == 302 and "?" not in begun.headers["Location"]
    assert "account_once" in session_data()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', account(actions).text)
    assert secret is not None
    stored = session_data()
    assert "account_once" not in stored and secret.group(1) not in stored
    assert 'id="totp-secret"' not in account(actions).text  # shown once

    made = post_form(actions, "/account/backup-codes")
    assert made.status_code == 302 and "?" not in made.headers["Location"]
    sealed = session_data()
    assert "account_once" in sealed and "backup_codes" not in sealed  # encrypted
    clock.set_offset(clock.now() - int(time.time()) + 301)  # past ONE_TIME_MAX_AGE
    page = account(actions).text
    assert "<li><code>" not in page  # too old: not shown
    assert "account_once" not in session_data()


def test_a_confirmation_is_single_use_for_its_own_url_fresh_and_csrf_protected(
    app: Flask, root: Admin
) -> None:
    """Destructive actions ask first (provider/web/confirmation.py): only the
    confirmed POST of the page's own URL acts, once, within MAX_AGE, with the
    form's CSRF token."""
    from provider import clock
    from provider.web.confirmation import MAX_AGE

    bob_id = root.actions.create_user("bob")
    add_totp(app, bob_id, "bob")
    detail = root.get(f"/admin/users/{bob_id}")

    def enrolled() -> int:
        with app.app_context():
            return len(app.extensions["belay_factors"].enrolled(bob_id))

    before = enrolled()
    # The value of one confirmation page does not confirm another URL.
    asked = root.post(f"/admin/users/{bob_id}/revoke-sessions", detail)
    nonce = re.search(r'name="confirmation" value="([^"]+)"', asked.text).group(1)
    other = root.post(f"/admin/users/{bob_id}/reset-factors", asked, confirmation=nonce)
    assert other.status_code == 200 and 'id="confirm-action-form"' in other.text
    assert enrolled() == before
    # A guessed or empty value, and a stale page, only ask again.
    for value in ("guess", ""):
        again = root.post(f"/admin/users/{bob_id}/reset-factors", other, confirmation=value)
        assert again.status_code == 200 and enrolled() == before
    stale = root.post(f"/admin/users/{bob_id}/reset-factors", detail)
    offset = clock.now() - int(time.time())
    clock.set_offset(offset + MAX_AGE + 1)
    late = answer_confirmation(root.client, stale)
    assert late.status_code != 302 and enrolled() == before
    clock.set_offset(offset)
    # Without the CSRF token: refused before anything is looked at.
    fresh = root.post(f"/admin/users/{bob_id}/reset-factors", detail)
    nonce = re.search(r'name="confirmation" value="([^"]+)"', fresh.text).group(1)
    forged = root.client.post(f"/admin/users/{bob_id}/reset-factors", data={"confirmation": nonce})
    assert forged.status_code == 403 and enrolled() == before
    assert _audit(app, "factors_reset") == []
