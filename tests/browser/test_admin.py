"""The admin console in Chromium at phone width (375 px): every page is
screenshotted to tests/artifacts/ and has no horizontal page scroll."""

from __future__ import annotations

import pyotp
import pytest

from provider import clock
from tests.browser.conftest import shot
from tests.browser.test_pages import sign_in
from tests.conftest import Actions
from tests.test_admin_console import add_totp


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport={"width": 375, "height": 740})
    tab = context.new_page()
    yield tab
    context.close()


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 376, f"{page.url} scrolls sideways at 375 px ({width} px wide)"


def test_console_pages_at_375px(app, actions: Actions, op, phone) -> None:
    user_id = actions.create_user("root", is_admin=True)
    secret = add_totp(app, user_id, "root")
    actions.create_client("bank", client_policy={"minimum_acr": "urn:belay:acr:2fa"})
    with app.app_context():
        from provider.storage import audit

        audit.record("step_up", "success", user_id=user_id, method="totp", acr="urn:belay:acr:2fa")
        audit.record("step_up", "failure", user_id=user_id, method="pin", reason="locked")
    page = phone
    page.goto(f"{op.url}/login")
    sign_in(page, "root")
    page.goto(f"{op.url}/admin/")
    page.wait_for_selector("#admin-step-up #totp-form")
    shot(page, "admin-step-up-375")
    _fits(page)
    page.fill("#totp-form input[name=code]", pyotp.TOTP(secret).at(clock.now()))
    page.click("#totp-form button[type=submit]")
    page.wait_for_selector("#chart-acr")
    for path, name, selector in (
        ("/admin/", "admin-dashboard", "#chart-failures"),
        ("/admin/clients", "admin-clients", "#client-create-form"),
        ("/admin/clients/bank", "admin-client", "#policy-form"),
        ("/admin/simulator", "admin-simulator", "#simulator-form"),
        ("/admin/ladder", "admin-ladder", "#ladder-form"),
        ("/admin/users", "admin-users", "#user-create-form"),
        (f"/admin/users/{user_id}", "admin-user", "#factors-table"),
        ("/admin/audit", "admin-audit", "#audit-filter-form"),
    ):
        page.goto(op.url + path)
        page.wait_for_selector(selector)
        shot(page, f"{name}-375")
        _fits(page)
    # A validation message next to its field, and a simulation, at phone width.
    page.goto(op.url + "/admin/clients/bank")
    page.fill("#p-default_max_age", "soon")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#err-default_max_age")
    shot(page, "admin-policy-error-375")
    page.goto(op.url + "/admin/simulator")
    page.check("#simulator-form input[name=enrolled][value=totp]")
    page.check("#simulator-form input[name=event][value=password]")
    page.click("#simulator-form button[type=submit]")
    page.wait_for_selector("#simulation-result")
    assert page.inner_text("#sim-outcome") == "step_up"
    shot(page, "admin-simulation-375")
    _fits(page)


def _one_line_words(page) -> list[str]:
    """The single words of the console's table cells, headers and buttons that
    the layout breaks across lines (letter by letter: "s u cc e ss")."""
    return page.evaluate(
        """() => {
          const broken = [];
          for (const el of document.querySelectorAll('.admin th, .admin td, .admin button')) {
            const text = el.textContent.trim();
            if (!text || /\\s/.test(text) || text.length > 20) continue;
            const lines = new Set();
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              const range = document.createRange();
              range.selectNodeContents(node);
              for (const r of range.getClientRects()) {
                if (r.width > 1) lines.add(Math.round(r.top));
              }
            }
            if (lines.size > 1) broken.push(text);
          }
          return broken;
        }"""
    )


@pytest.mark.settings(PIN_DELAY_AFTER=100)
def test_lockouts_on_the_dashboard_and_users_and_words_unbroken_at_375px(
    app, actions: Actions, op, phone
) -> None:
    from tests.test_factor_locks import WRONG_PIN, signed_in_with_pin, verify_pin

    # alice locks her PIN for good (ten wrong tries through the step-up API).
    alice, token = signed_in_with_pin(app, actions)
    for _ in range(10):
        verify_pin(actions.client, token, WRONG_PIN)
    bob = actions.create_user("bob")
    root = actions.create_user("root", is_admin=True)
    secret = add_totp(app, root, "root")
    page = phone
    # /admin before signing in: after the sign-in the console, not the account page.
    page.goto(f"{op.url}/admin/")
    page.wait_for_selector("#login-form")
    sign_in(page, "root")
    page.wait_for_selector("#admin-step-up #totp-form")
    page.fill("#totp-form input[name=code]", pyotp.TOTP(secret).at(clock.now()))
    page.click("#totp-form button[type=submit]")
    page.wait_for_selector("#chart-acr")
    assert page.get_attribute("#account-link", "href") == "/account"  # console -> account
    lockouts = page.locator("#dashboard-table tbody tr").last.locator("td").nth(3).inner_text()
    assert int(lockouts) >= 1, lockouts

    page.goto(f"{op.url}/admin/users")
    page.wait_for_selector("#users-table")
    assert page.locator(f"#user-{alice}-locked-pin").count() == 1
    assert page.locator(f"[id^=user-{bob}-locked-]").count() == 0
    assert _one_line_words(page) == []
    _fits(page)
    shot(page, "admin-users-locked-375")

    page.goto(f"{op.url}/admin/users/{bob}")  # nothing locked: no Unlock at all
    page.wait_for_selector("#factors-table")
    assert page.locator("form[id^=unlock-]").count() == 0
    page.goto(f"{op.url}/admin/users/{alice}")
    page.wait_for_selector("#factors-table")
    assert page.locator("#unlock-pin-form").count() == 1
    assert page.locator("#unlock-totp-form, #unlock-password-form").count() == 0
    page.click("#unlock-pin-form button")
    page.wait_for_selector("text=Unlocked pin.")
    assert page.locator("form[id^=unlock-]").count() == 0

    page.goto(f"{op.url}/admin/audit")
    page.wait_for_selector("#audit-table")
    assert "factor_locked" in page.inner_text("#audit-table")
    assert _one_line_words(page) == []
    _fits(page)
    shot(page, "admin-audit-words-375")
