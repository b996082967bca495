"""The account page's forms in Chromium (issue 17): every change made
redirects to /account#section (POST/redirect/GET), one-time material is shown
once, registering a passkey after another form never ends in a 405, and
removing a factor or replacing backup codes asks first."""

from __future__ import annotations

from tests.browser.conftest import shot
from tests.browser.test_pages import sign_in
from tests.browser.test_passkeys import virtual_authenticator
from tests.conftest import Actions


def test_backup_codes_then_a_passkey_never_ends_in_405(actions: Actions, op, page) -> None:
    virtual_authenticator(page, user_verified=True)
    actions.create_user()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_selector("#backup-codes-form")
    page.click("#backup-codes-form button")
    page.wait_for_selector("#backup-codes")
    # Redirected to the account page, scrolled to the codes (not the POST URL).
    assert page.url == f"{op.url}/account#backup-codes"
    assert page.locator("#backup-codes code").count() == 10
    assert page.locator("#backup-codes").is_visible()
    code = page.locator("#backup-codes code").first.inner_text()
    shot(page, "account-backup-codes")
    # The codes were shown once: a reload does not show them again.
    page.reload()
    page.wait_for_selector("#confirm-access")
    assert page.locator("#backup-codes").count() == 0
    # The account is 2fa now: confirm access with one of the codes.
    page.fill("#backup-form input[name=code]", code)
    page.click("#backup-form button[type=submit]")
    page.wait_for_selector("#backup-codes-form")
    page.click("#backup-codes-form button")  # replace them ...
    page.wait_for_selector("#confirm-action-form")  # ... asks first
    page.goto(f"{op.url}/account")
    page.wait_for_selector("#passkey-register:not([disabled])")
    page.fill("#passkey-name", "Laptop")
    page.click("#passkey-register")
    page.wait_for_selector("strong:text('Laptop')")
    assert page.url.startswith(f"{op.url}/account")
    assert "not allowed" not in page.content()


def test_passkey_after_a_post_page_is_not_a_405(actions: Actions, op, page) -> None:
    """The page passkey.js reloads may be a POST-only URL (an older page, a
    refused form): a GET there is the account page, never a 405."""
    virtual_authenticator(page, user_verified=True)
    actions.create_user()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_selector("#pin-enrol-form")
    # A refused form is shown at its POST URL (nothing changed) ...
    page.fill("#pin-enrol-form input[name=pin]", "123456")
    page.fill("#pin-enrol-form input[name=pin_confirm]", "123456")
    page.click("#pin-enrol-form button[type=submit]")
    page.wait_for_selector(".error")
    assert page.url == f"{op.url}/account/pin"
    # ... and a passkey registered from there lands on the account page.
    page.wait_for_selector("#passkey-register:not([disabled])")
    page.fill("#passkey-name", "Phone")
    page.click("#passkey-register")
    page.wait_for_url(f"{op.url}/account#passkeys")
    page.wait_for_selector("strong:text('Phone')")
    for path in (
        "/account/backup-codes",
        "/account/pin",
        "/account/totp/begin",
        "/account/pin/remove",
    ):
        response = page.goto(op.url + path)
        assert response.status == 200 and page.url == f"{op.url}/account", path


def test_totp_enrolment_is_shown_once_in_view(actions: Actions, op, page) -> None:
    actions.create_user()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_selector("#totp-begin-form")
    page.click("#totp-begin-form button")
    page.wait_for_selector("#totp-secret")
    assert page.url == f"{op.url}/account#totp-setup"
    assert page.locator("#totp-setup").is_visible()
    assert "totp" not in page.url.split("#")[0].split("/account")[1]  # no secret in the URL
    page.reload()
    page.wait_for_selector("#totp-begin-form")
    assert page.locator("#totp-secret").count() == 0


def test_removing_the_pin_asks_first(actions: Actions, op, page) -> None:
    actions.create_user()
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_selector("#pin-enrol-form")
    page.fill("#pin-enrol-form input[name=pin]", "480975")
    page.fill("#pin-enrol-form input[name=pin_confirm]", "480975")
    page.click("#pin-enrol-form button[type=submit]")
    page.wait_for_selector("text=Your PIN is set.")
    assert page.url == f"{op.url}/account#pin"
    page.click("#pin-remove-form button")
    page.wait_for_selector("#confirm-action-form")
    assert "Remove PIN" in page.inner_text("h1")
    shot(page, "account-confirm-remove-pin")
    page.click("#confirm-cancel")
    page.wait_for_selector("#pin-remove-form")  # Cancel: still there
    assert page.url == f"{op.url}/account#pin"
    page.click("#pin-remove-form button")
    page.click("#confirm-action-form button[type=submit]")
    page.wait_for_selector("text=PIN removed.")
    assert page.locator("#pin-remove-form").count() == 0
