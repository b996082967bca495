"""No dead ends in Chromium (issue 17): Belay's own short 404/405 pages with
a way home, while the protocol endpoints keep answering JSON."""

from __future__ import annotations

from tests.browser.conftest import shot


def test_404_and_405_are_belays_short_pages_with_a_home_link(op, page) -> None:
    response = page.goto(f"{op.url}/no-such-page")
    assert response.status == 404
    assert page.inner_text("h1") == "Page not found"
    assert page.title().startswith("Page not found")
    shot(page, "error-404")
    page.click("#home-link")
    page.wait_for_url(f"{op.url}/login*")

    response = page.goto(f"{op.url}/admin/users/1/unlock")  # a form's POST-only URL
    assert response.status == 405
    assert page.inner_text("h1") == "Not available this way"
    assert "POST" in (response.headers.get("allow") or "")
    assert page.locator("#home-link").count() == 1
    shot(page, "error-405")

    # The protocol endpoints answer JSON, as before.
    response = page.goto(f"{op.url}/token")
    assert response.status == 405
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "method_not_allowed"


def test_login_page_cancel_returns_to_the_app_with_access_denied(actions, op, page) -> None:
    from urllib.parse import parse_qs, urlsplit

    from tests.browser.conftest import CALLBACK
    from tests.browser.test_pages import authorize_url

    actions.create_client("rp", name="Shop", redirect_uris=[CALLBACK])
    page.goto(authorize_url(op.url))
    page.wait_for_selector("#login-cancel-form")
    assert page.inner_text("#login-cancel-form button") == "Cancel and return to Shop"
    page.click("#login-cancel-form button")
    page.wait_for_url(f"{CALLBACK}*")
    query = parse_qs(urlsplit(page.url).query)
    assert query["error"] == ["access_denied"] and query["state"] == ["browser-state"]


def test_an_expired_sign_in_names_the_app_and_links_to_it(app, actions, op, page) -> None:
    from urllib.parse import parse_qs, urlsplit

    from provider.extensions import db
    from provider.storage.models import AuthorizeTransaction
    from tests.browser.conftest import CALLBACK
    from tests.browser.test_pages import authorize_url

    actions.create_client("rp", name="Shop", redirect_uris=[CALLBACK])
    page.goto(authorize_url(op.url))
    page.wait_for_selector("#login-form")
    tx = parse_qs(urlsplit(page.url).query)["tx"][0]
    with app.app_context():  # the sign-in waits too long
        db.session.get(AuthorizeTransaction, tx).expires_at = 1
        db.session.commit()
    page.goto(f"{op.url}/login?tx={tx}")
    assert "Go back to Shop and start again." in page.inner_text("main")
    assert page.get_attribute("#app-link", "href") == "http://localhost:8976/"
    assert page.inner_text("#app-link") == "Return to Shop"
    assert page.locator("#account-link").count() == 1
    shot(page, "expired-sign-in")
    # An unknown transaction names nothing, but still leads somewhere.
    page.goto(f"{op.url}/login?tx=unknown")
    assert page.locator("#app-link").count() == 0
    assert page.locator("#account-link").count() == 1


def test_signing_out_offers_a_way_back_and_account_and_console_link(app, actions, op, page) -> None:
    from tests.browser.conftest import CALLBACK
    from tests.browser.test_pages import sign_in

    actions.create_user()
    actions.create_client("rp", name="Shop", redirect_uris=[CALLBACK])
    page.goto(f"{op.url}/login")
    sign_in(page)
    page.wait_for_selector("#logout")
    assert page.locator("#admin-link").count() == 0  # not an administrator
    # The application's sign-out without a registered address to return to.
    page.goto(f"{op.url}/logout?client_id=rp")
    page.click("#logout-form button")
    page.wait_for_selector("#app-link")
    assert page.inner_text("#app-link") == "Return to Shop"
    assert page.get_attribute("#app-link", "href") == "http://localhost:8976/"
    assert page.locator("#sign-in-again").count() == 1
    shot(page, "logged-out-app-link")

    root = actions.create_user("root", is_admin=True)
    from tests.test_admin_console import add_totp

    add_totp(app, root, "root")
    page.goto(f"{op.url}/login")
    sign_in(page, "root")
    page.wait_for_selector("#admin-link")
    page.click("#admin-link")
    page.wait_for_selector("#admin-step-up")
    assert page.url.startswith(f"{op.url}/admin")
