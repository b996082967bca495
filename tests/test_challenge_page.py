"""The challenge page (issue 17, "The challenge page"): one primary way, the
others under "Use another way"; the error next to its field; tries left; a
wait said in words with the button disabled; a locked way as an error with
the next step; code controls that name where the code comes from."""

from __future__ import annotations

import re
import time
import types

import pytest
from flask import Flask

from provider import clock
from provider.extensions import db
from provider.storage.models import FactorCounter
from tests.conftest import Actions, csrf_from
from tests.test_account_and_step_up import (
    PIN,
    TWO_FA,
    _authorize,
    _post,
    _step_up,
    _tx,
    confirm_with_totp,
    enrol_pin,
    enrol_totp,
    rp,  # noqa: F401 (fixture)
)


def _primary_form(html: str) -> str:
    """The id of the first factor form: the primary way (before <details>)."""
    head = html.split('<details id="other-ways"', 1)[0]
    ids = re.findall(
        r'<(?:form|div) id="((?:pin|totp|backup|password|send-code|sent-code|passkey)-form)"', head
    )
    assert ids, html[:1500]
    return ids[0]


def _other_ways(html: str) -> list[str]:
    if '<details id="other-ways"' not in html:
        return []
    tail = html.split('<details id="other-ways"', 1)[1].split("</details>", 1)[0]
    return re.findall(r'<(?:form|div) id="([a-z-]+-form)"', tail)


@pytest.fixture
def three_ways(actions: Actions, rp: str) -> str:  # noqa: F811
    """alice with a PIN, an authenticator app and backup codes; a 2fa session."""
    enrol_pin(actions)
    secret = enrol_totp(actions)
    confirm_with_totp(actions, secret)
    page = actions.client.get("/account")
    assert _post(actions, "/account/backup-codes", page).status_code in (200, 302, 303)
    return secret


def test_one_primary_way_and_the_others_under_use_another_way(
    actions: Actions, three_ways: str
) -> None:
    clock.set_offset(100)
    page, _ = _authorize(actions, acr_values=TWO_FA, max_age="0")
    assert page.status_code == 200
    # The least effort first: the PIN; then the app, the password, backup codes last.
    assert _primary_form(page.text) == "pin-form"
    assert _other_ways(page.text) == ["totp-form", "password-form", "backup-form"]
    assert "<summary>Use another way</summary>" in page.text
    assert page.text.count('class="primary"') == 1
    assert re.search(r'<input id="pin"[^>]*autofocus', page.text)
    assert not re.search(r'<input id="totp-code"[^>]*autofocus', page.text)
    # Every form of the page contract is still in the page (docs/design.md).
    for form in ("pin-form", "totp-form", "backup-form"):
        assert f'id="{form}"' in page.text


def test_a_picked_way_is_primary(actions: Actions, three_ways: str) -> None:
    clock.set_offset(100)
    page, _ = _authorize(actions, acr_values=TWO_FA, max_age="0")
    picked = actions.client.get(f"/challenge?tx={_tx(page)}&method=backup_code")
    assert _primary_form(picked.text) == "backup-form"
    assert _other_ways(picked.text) == ["pin-form", "totp-form", "password-form"]
    # A method that is not offered, or nonsense, changes nothing.
    for nonsense in ("sms_otp", "x" * 500, "%00"):
        shown = actions.client.get(f"/challenge?tx={_tx(page)}&method={nonsense}")
        assert shown.status_code == 200 and _primary_form(shown.text) == "pin-form"


def test_the_error_goes_next_to_its_field_with_tries_left(
    actions: Actions, three_ways: str
) -> None:
    clock.set_offset(100)
    page, _ = _authorize(actions, acr_values=TWO_FA, max_age="0")
    # A wrong code from the app (a secondary way): it becomes primary, with its error.
    wrong = _step_up(actions, page, "totp-form", "totp", code="000000")
    assert wrong.status_code == 401
    assert _primary_form(wrong.text) == "totp-form"
    field = re.search(r'<input id="totp-code"[^>]*>', wrong.text).group(0)
    assert 'aria-invalid="true"' in field and "autofocus" in field
    assert 'aria-describedby="totp-code-error totp-code-tries"' in field
    assert re.search(r'<p class="error" id="totp-code-error" role="alert">[^<]+</p>', wrong.text)
    assert "9 tries left before your authenticator app is locked." in wrong.text
    # Said once: not again at the top of the page.
    assert wrong.text.count('role="alert"') == 1
    # The PIN form shows no error of the app's.
    assert not re.search(r'<input id="pin"[^>]*aria-invalid', wrong.text)
    again = _step_up(actions, wrong, "pin-form", "pin", pin="000001")
    assert _primary_form(again.text) == "pin-form"
    assert "9 tries left before your PIN is locked." in again.text
    # The app's count stays on its form.
    assert "9 tries left before your authenticator app is locked." in again.text


def test_one_try_left_is_singular(app: Flask, actions: Actions, three_ways: str) -> None:
    user_id = _set_counter(app, "pin", failures=9)
    assert user_id
    clock.set_offset(100)
    page, _ = _authorize(actions, acr_values=TWO_FA, max_age="0")
    assert "1 try left before your PIN is locked." in page.text


def _set_counter(
    app: Flask, factor: str, *, failures: int, wait: int = 0, locked: bool = False
) -> int:
    with app.app_context():
        from provider.storage.models import User

        user_id = db.session.scalar(db.select(User.id).where(User.username == "alice"))
        db.session.execute(db.delete(FactorCounter).where(FactorCounter.factor == factor))
        db.session.add(
            FactorCounter(
                user_id=user_id,
                factor=factor,
                failures=failures,
                locked=locked,
                next_allowed_at=clock.now() + wait if wait else None,
            )
        )
        db.session.commit()
        return int(user_id)


@pytest.mark.parametrize(("wait", "words"), [(1, "1 second"), (7, "7 seconds")])
def test_a_wait_is_said_in_words_and_disables_the_button(
    app: Flask,
    actions: Actions,
    three_ways: str,
    wait: int,
    words: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock.set_offset(100)
    page, _ = _authorize(actions, acr_values=TWO_FA, max_age="0")
    # The clock stands still: a busy machine must not let the wait pass early.
    frozen = time.time()
    monkeypatch.setattr(clock, "time", types.SimpleNamespace(time=lambda: frozen))
    _set_counter(app, "pin", failures=5, wait=wait)
    shown = actions.client.get(page.request.url)
    form = shown.text.split('id="pin-form"', 1)[1].split("</form>", 1)[0]
    assert f'data-wait="{wait}"' in form
    assert f"wait <span data-wait-words>{words}</span> before the next one" in form
    assert re.search(r'<button type="submit" class="primary" disabled data-wait-button>', form)
    assert "<noscript> Then reload this page.</noscript>" in form
    # Without JavaScript an early try is refused by the server, in words, uncounted.
    early = _step_up(actions, shown, "pin-form", "pin", pin=PIN)
    assert early.status_code == 401
    assert f"Too many wrong PINs. Try again in {words}." in early.text
    with app.app_context():
        row = db.session.scalar(db.select(FactorCounter).where(FactorCounter.factor == "pin"))
        assert row.failures == 5
    # Once it passed, the button is enabled and the PIN works.
    clock.set_offset(100 + wait + 1)
    later = actions.client.get(page.request.url)
    assert "data-wait-button" not in later.text
    done = _step_up(actions, later, "pin-form", "pin", pin=PIN)
    assert done.status_code == 302 and "code=" in done.headers["Location"]


def test_a_locked_way_is_an_error_with_the_next_step(
    app: Flask, actions: Actions, three_ways: str
) -> None:
    _set_counter(app, "pin", failures=10, locked=True)
    clock.set_offset(100)
    page, _ = _authorize(actions, acr_values=TWO_FA, max_age="0")
    locked = re.search(r'<p class="error" role="alert" id="locked-pin">(.*?)</p>', page.text, re.S)
    assert locked, page.text[:2000]
    assert "Your PIN is locked after too many tries." in locked.group(1)
    link = re.search(r'<a href="([^"]+)">enter a backup code</a>', locked.group(1)).group(1)
    # No fragment: a URL with one would keep the browser from the autofocus.
    assert link == f"/challenge?tx={_tx(page)}&amp;method=backup_code"
    # The PIN is not offered; the app is primary; the link makes the backup code primary.
    assert 'id="pin-form"' not in page.text and _primary_form(page.text) == "totp-form"
    picked = actions.client.get(link.replace("&amp;", "&"))
    assert _primary_form(picked.text) == "backup-form"
    assert re.search(r'<input id="backup-code"[^>]*autofocus', picked.text)


def test_the_codes_controls_say_where_the_code_comes_from(
    app: Flask,
    actions: Actions,
    rp: str,  # noqa: F811
) -> None:
    """Rendered without sending: the labels of a code by email next to the app's."""
    with app.test_request_context("/challenge?tx=t"):
        from flask import render_template

        html = render_template(
            "factor_forms/_ways.html",
            factors=[
                {
                    "method": "totp",
                    "methods": ["totp"],
                    "form_id": "totp-form",
                    "primary": True,
                    "error": None,
                    "tries_left": None,
                    "retry_after": 0,
                    "wait": "0 seconds",
                },
                {
                    "method": "email_otp",
                    "methods": ["email_otp", "sms_otp"],
                    "form_id": "code-form",
                    "primary": False,
                    "error": None,
                    "tries_left": None,
                    "retry_after": 0,
                    "wait": "0 seconds",
                    "purpose": "step_up",
                    "sent": {"method": "email_otp", "channel": "email", "masked": "a…@example.com"},
                    "channels": [
                        {"channel": "email", "method": "email_otp", "label": "Email"},
                        {"channel": "sms", "method": "sms_otp", "label": "Text message"},
                    ],
                },
            ],
            tx="t",
            action="/challenge?tx=t",
            remember_days=0,
        )
    assert "6-digit code from your authenticator app" in html
    assert "Confirm with the authenticator app" in html
    assert "Code from the email we sent you" in html
    assert "Confirm with the code from the email" in html
    assert ">Send a new code by email<" in html and ">Text me a code<" in html
    assert "We sent a code to a…@example.com by email." in html


def test_the_sign_in_page_is_ready_for_phones(actions: Actions) -> None:
    actions.create_user()
    page = actions.client.get("/login")
    username = re.search(r'<input id="username"[^>]*>', page.text).group(0)
    for attribute in (
        'autocomplete="username webauthn"',
        'autocapitalize="none"',
        'autocorrect="off"',
        'spellcheck="false"',
        "autofocus",
    ):
        assert attribute in username, attribute
    assert 'data-passkey-status role="status" aria-live="polite"' in page.text
    # A wrong password: the username stays, the password field has the focus.
    wrong = actions.login("alice", "not it at all")
    assert wrong.status_code == 401
    username = re.search(r'<input id="username"[^>]*>', wrong.text).group(0)
    password = re.search(r'<input id="password"[^>]*>', wrong.text).group(0)
    assert 'value="alice"' in username and "autofocus" not in username
    assert "autofocus" in password and 'aria-describedby="login-error"' in password
    assert 'id="login-error"' in wrong.text
    # Nothing typed: the username field keeps the focus.
    empty = actions.client.post(
        "/login", data={"csrf_token": csrf_from(page.text), "username": "", "password": ""}
    )
    assert re.search(r'<input id="username"[^>]*autofocus', empty.text)


def test_a_wait_on_codes_is_said_before_a_code_is_sent(app: Flask) -> None:
    with app.test_request_context("/challenge?tx=t"):
        from flask import render_template

        html = render_template(
            "factor_forms/_ways.html",
            factors=[
                {
                    "method": "sms_otp",
                    "methods": ["sms_otp"],
                    "form_id": "code-form",
                    "primary": True,
                    "error": None,
                    "tries_left": None,
                    "retry_after": 3,
                    "wait": "3 seconds",
                    "purpose": "step_up",
                    "sent": None,
                    "channels": [{"channel": "sms", "method": "sms_otp", "label": "Text message"}],
                }
            ],
            tx="t",
            action="/challenge?tx=t",
            remember_days=0,
        )
    assert "Too many wrong codes: wait 3 seconds before the next one." in html
    assert 'class="primary" autofocus>Text me a code<' in html
    assert 'id="sent-code-form"' not in html
