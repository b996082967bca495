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
