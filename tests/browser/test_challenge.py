"""The challenge page and the sign-in page in Chromium (issue 17): one primary
way with the focus, the others under "Use another way"; the error next to its
field, tries left; a wait that enables the button when it passes; a locked way
with its next step; passkey autofill on the username (conditional mediation)
and the "Waiting for your passkey…" status."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from flask import Flask

from provider import clock
from provider.extensions import db
from provider.storage.models import FactorCounter
from tests.browser.conftest import CALLBACK, other_way, shot
from tests.browser.test_pages import authorize_url, sign_in
from tests.browser.test_passkeys import register_passkey, virtual_authenticator
from tests.conftest import Actions

PIN = "480975"
TWO_FA = "urn:belay:acr:2fa"


@pytest.fixture
def alice(app: Flask, actions: Actions) -> pyotp.TOTP:
    """alice with a PIN, an authenticator app and backup codes; client rp."""
    user_id = int(actions.create_user())
    actions.create_client("rp", redirect_uris=[CALLBACK])
    with app.app_context():
        factors = app.extensions["belay_factors"]
        factors.get("pin").set_pin(user_id, PIN, PIN)
        secret = factors.get("totp").add_confirmed(user_id, "alice").secret
        factors.get("backup_code").generate(user_id)
    return pyotp.TOTP(secret)


def _focused(page: Any, element_id: str) -> bool:
    """Whether ``element_id`` gets the focus (autofocus runs at the next rendering)."""
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id", arg=element_id
    )
    return True


def _counter(
    app: Flask, factor: str, *, failures: int, wait: int = 0, locked: bool = False
) -> None:
    with app.app_context():
        db.session.execute(db.delete(FactorCounter).where(FactorCounter.factor == factor))
        user_id = db.session.scalar(db.text("SELECT id FROM users WHERE username = 'alice'"))
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


def _challenge(page: Any, op_url: str, **params: str) -> None:
    page.goto(authorize_url(op_url, acr_values=TWO_FA, **params))
    sign_in(page)
    page.wait_for_selector("#totp-form")


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_one_primary_way_then_use_another_way(
    app: Flask, actions: Actions, op: Any, page: Any, alice: pyotp.TOTP
) -> None:
    # After a password sign-in, 2fa: the app, or a backup code (PIN + password is no 2fa).
    _challenge(page, op.url)
    shot(page, "challenge-one-primary")
    visible_primaries = page.locator("button.primary:visible")
    assert visible_primaries.count() == 1
    assert visible_primaries.first.inner_text() == "Confirm with the authenticator app"
    assert _focused(page, "totp-code")
    assert not page.is_visible("#backup-form")
    assert page.get_attribute("#other-ways", "open") is None

    # A wrong code: the error next to the field, the focus back on it, tries left.
    page.fill("#totp-code", _wrong(alice.now()))
    page.click("#totp-form button[type=submit]")
    page.wait_for_selector("#totp-code-error")
    assert _focused(page, "totp-code")
    assert page.get_attribute("#totp-code", "aria-invalid") == "true"
    assert page.get_attribute("#totp-code", "aria-describedby") == "totp-code-error totp-code-tries"
    assert page.inner_text("#totp-code-tries") == (
        "9 tries left before your authenticator app is locked."
    )
    shot(page, "challenge-wrong-code")

    # Use another way: a backup code; a wrong one makes it the primary way.
    other_way(page, "#backup-form")
    shot(page, "challenge-use-another-way")
    page.fill("#backup-code", "aaaa-bbbb-cc")
    page.click("#backup-form button[type=submit]")
    page.wait_for_selector("#backup-code-error")
    assert _focused(page, "backup-code")
    assert page.is_visible("#backup-form") and not page.is_visible("#totp-form")
    other_way(page, "#totp-form")
    page.fill("#totp-code", alice.now())
    page.click("#totp-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")

    # Later a fresh confirmation of the 2fa session: the PIN is the least effort.
    page.goto(authorize_url(op.url, acr_values=TWO_FA, max_age="0"))
    page.wait_for_selector("#pin-form")
    assert _focused(page, "pin")
    assert page.locator("button.primary:visible").first.inner_text() == "Confirm with PIN"
    assert not page.is_visible("#totp-form")
    shot(page, "challenge-pin-primary")
    page.fill("#pin", PIN)
    page.click("#pin-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")


def test_a_wait_enables_the_button_when_it_passes(
    app: Flask, actions: Actions, op: Any, page: Any, alice: pyotp.TOTP
) -> None:
    _challenge(page, op.url)
    _counter(app, "totp", failures=5, wait=3)
    page.reload()
    page.wait_for_selector("#totp-code-wait")
    assert page.is_disabled("#totp-form button[type=submit]")
    assert "second" in page.inner_text("#totp-code-wait")
    shot(page, "challenge-wait")
    page.wait_for_selector("#totp-form button[type=submit]:not([disabled])", timeout=10_000)
    assert page.inner_text("#totp-code-wait") == "You can try again now."
    page.fill("#totp-code", alice.now())
    page.click("#totp-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")


def test_a_locked_way_says_what_to_do_and_links_to_it(
    app: Flask, actions: Actions, op: Any, page: Any, alice: pyotp.TOTP
) -> None:
    _counter(app, "totp", failures=10, locked=True)
    page.goto(authorize_url(op.url, acr_values=TWO_FA))
    sign_in(page)
    page.wait_for_selector("#locked-totp")
    assert "error" in (page.get_attribute("#locked-totp", "class") or "")
    assert page.locator("#totp-form").count() == 0
    shot(page, "challenge-locked")
    page.click("#recovery-backup-code a")
    page.wait_for_selector("#backup-form")
    assert "method=backup_code" in page.url
    assert _focused(page, "backup-code")
    assert page.is_visible("#backup-form button.primary")


def test_passkey_autofill_on_the_username_and_the_waiting_status(
    actions: Actions, op: Any, page: Any
) -> None:
    actions.create_user()
    virtual_authenticator(page, user_verified=True, autofill=True)
    page.goto(f"{op.url}/login")  # no passkey yet: nothing to offer
    sign_in(page)
    register_passkey(page, op.url)
    page.goto(f"{op.url}/logout")
    page.click("#logout-form button")

    # The username field asks the browser to offer passkeys in its autofill.
    page.goto(f"{op.url}/login")
    assert page.get_attribute("#username", "autocomplete") == "username webauthn"
    assert page.evaluate(
        "PublicKeyCredential.isConditionalMediationAvailable"
        " ? PublicKeyCredential.isConditionalMediationAvailable() : false"
    )
    # The page's quiet request is pending (conditional mediation); with the
    # virtual authenticator Chromium answers it without a prompt, as choosing
    # the passkey from the autofill list would, and the user is signed in.
    page.wait_for_url(f"{op.url}/account", timeout=15_000)
    assert "Hello, alice" in page.inner_text("h1")


def test_the_page_says_it_waits_for_the_passkey(actions: Actions, op: Any, page: Any) -> None:
    actions.create_user()
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    # No simulated touch: the browser's prompt stays open, as for a person.
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": False,
            }
        },
    )
    page.goto(f"{op.url}/login")
    page.wait_for_selector("#passkey-login:not([hidden])")
    status = page.locator("#passkey-login-box [data-passkey-status]")
    assert status.get_attribute("aria-live") == "polite" and status.inner_text() == ""
    page.click("#passkey-login")
    page.wait_for_function(
        "() => document.querySelector('#passkey-login-box [data-passkey-status]')"
        ".textContent === 'Waiting for your passkey…'"
    )
    assert page.is_disabled("#passkey-login")
    # The quiet autofill request was aborted for the button's: no error shown.
    assert page.is_hidden("#passkey-login-box [data-passkey-error]")
    shot(page, "login-waiting-for-passkey")
