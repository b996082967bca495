"""Every page type, in every language, checked for accessibility (issue 17).

Four walks reach the sign-in and error pages, the account and enrolment pages,
every variant of the challenge page, and the admin console; each page is
checked by :class:`tests.browser.a11y.PageAudit`: no axe-core violation of
impact serious or critical at 1280 px and 375 px, no sideways scroll at 375 px,
and a screenshot under ``tests/artifacts/pages/<lang>/<width>/<page>.png``.

The walks run once per language in :data:`tests.browser.a11y.LANGUAGES` (the
browser sends it as ``Accept-Language``). They use one server with email (a
local SMTP server) and SMS (a local webhook) delivery, and short PIN limits so
that the wait and locked pages are reached in seconds.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyotp
import pytest
from aiosmtpd.controller import Controller

from provider import clock
from tests.browser.a11y import LANGUAGES, PageAudit
from tests.browser.conftest import CALLBACK
from tests.browser.test_codes import Inbox
from tests.browser.test_pages import authorize_url, sign_in
from tests.browser.test_passkeys import virtual_authenticator
from tests.conftest import Actions, LiveServer, free_port, server_env
from tests.test_admin_console import add_totp

PIN = "480975"
TWO_FA = "urn:belay:acr:2fa"
PHR = "urn:belay:acr:phr"


class SmsBox:
    """A local SMS webhook: keeps the texts the OP sends."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        box = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                box.texts.append(json.loads(self.rfile.read(length))["message"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def last_code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.texts[-1])
        assert found, self.texts[-1]
        return found.group(1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def sms() -> Iterator[SmsBox]:
    box = SmsBox()
    yield box
    box.close()


@pytest.fixture
def walk_op(app: Any, mail: tuple[Inbox, int], sms: SmsBox) -> Iterator[LiveServer]:
    """The OP with email and SMS delivery, and a PIN that waits after one wrong
    try and locks after two."""
    port = free_port()
    origin = f"http://localhost:{port}"
    env = server_env(
        port,
        BELAY_ISSUER=origin,
        BELAY_RP_ID="localhost",
        BELAY_ORIGINS=origin,
        BELAY_SMTP_HOST="127.0.0.1",
        BELAY_SMTP_PORT=str(mail[1]),
        BELAY_SMTP_SECURITY="none",
        BELAY_SMTP_SENDER="Belay <no-reply@belay.test>",
        BELAY_SMS_WEBHOOK_URL=sms.url,
        BELAY_PIN_DELAY_AFTER="1",
        BELAY_PIN_MAX_FAILURES="2",
    )
    server = LiveServer(port, env).start()
    server.url = origin
    yield server
    server.stop()


@pytest.fixture(params=LANGUAGES)
def lang(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tab(browser: Any, lang: str) -> Iterator[Any]:
    """A browser tab that asks for ``lang``."""
    # Unwatched: the walk checks each page itself, at both widths.
    context = browser.unwatched.new_context(
        viewport={"width": 1280, "height": 800},
        locale=lang,
        extra_http_headers={"Accept-Language": lang},
    )
    page = context.new_page()
    page.route(
        f"{CALLBACK}*",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>callback</h1>"),
    )
    yield page
    context.close()


@pytest.fixture
def audit(lang: str) -> PageAudit:
    return PageAudit(lang)


def _mail_code(inbox: Inbox) -> str:
    """The code in the last email, in any language."""
    found = re.search(r"\b(\d{6})\b", inbox.bodies[-1])
    assert found, inbox.bodies[-1]
    return found.group(1)


def _totp_code(secret: str, step: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + 30 * step)


def _expire_transactions(app: Any) -> None:
    from provider.extensions import db
    from provider.storage.models import AuthorizeTransaction

    with app.app_context():
        db.session.query(AuthorizeTransaction).update({"expires_at": clock.now() - 1})
        db.session.commit()


def test_sign_in_and_error_pages(
    app: Any,
    actions: Actions,
    walk_op: LiveServer,
    tab: Any,
    audit: PageAudit,
    mail: tuple[Inbox, int],
) -> None:
    op, page = walk_op.url, tab
    actions.create_user(email="alice@example.com", email_verified_at=clock.now())
    actions.create_client("rp", redirect_uris=[CALLBACK])
    actions.create_client(
        "third",
        redirect_uris=[CALLBACK],
        first_party=False,
        name="Third Party App",
        client_policy={"passwordless_login": True},
    )

    page.goto(authorize_url(op, "third"))
    page.wait_for_selector("#login-form")
    audit.check(page, "login")
    sign_in(page, password="not my password")
    page.wait_for_selector(".error")
    audit.check(page, "login-error")
    page.fill("#code-login-form input[name=username]", "alice")
    page.click("#code-login-form button[value=email]")
    page.wait_for_selector("#code-login-verify-form")
    audit.check(page, "login-code-sent")
    page.fill("#code-login-verify-form input[name=code]", _mail_code(mail[0]))
    page.click("#code-login-verify-form button[type=submit]")
    page.wait_for_selector("#consent-form")
    audit.check(page, "consent")

    # The transaction expires while the consent page is open.
    _expire_transactions(app)
    page.click("#consent-form button[value=allow]")
    page.wait_for_load_state()
    audit.check(page, "error-expired-transaction")
    page.goto(f"{op}/challenge?tx=no-such-transaction")
    audit.check(page, "error-unknown-transaction")
    page.goto(authorize_url(op, redirect_uri="http://localhost:8976/other"))
    page.wait_for_selector(".error")
    audit.check(page, "error-bad-request")
    page.goto(f"{op}/no-such-page")
    audit.check(page, "error-not-found")
    page.goto(f"{op}/challenge/send-code")
    audit.check(page, "error-method-not-allowed")

    page.goto(f"{op}/logout")
    page.wait_for_selector("#logout-form")
    audit.check(page, "logout")
    page.click("#logout-form button[type=submit]")
    page.wait_for_load_state()
    audit.check(page, "logged-out")
    audit.assert_clean()


def test_account_and_enrolment_pages(
    actions: Actions,
    walk_op: LiveServer,
    tab: Any,
    audit: PageAudit,
    mail: tuple[Inbox, int],
    sms: SmsBox,
) -> None:
    op, page = walk_op.url, tab
    virtual_authenticator(page, user_verified=True)
    actions.create_user()
    actions.create_client("rp", redirect_uris=[CALLBACK])
    page.goto(f"{op}/login")
    sign_in(page)
    page.wait_for_selector("#pin-enrol-form")
    audit.check(page, "account-new")
    # A fresh sign-in asked for while the password is the only method: re-enter it.
    page.goto(authorize_url(op, max_age="0"))
    page.wait_for_selector("#password-form")
    audit.check(page, "challenge-password")
    page.fill("#password-form input[name=password]", "correct horse battery")
    page.click("#password-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")
    page.goto(f"{op}/account")

    page.fill("#pin-enrol-form input[name=pin]", PIN)
    page.fill("#pin-enrol-form input[name=pin_confirm]", PIN)
    page.click("#pin-enrol-form button[type=submit]")
    page.wait_for_selector("#pin-remove-form")
    audit.check(page, "account-pin-set")
    page.click("#pin-remove-form button[type=submit]")
    page.wait_for_selector("#confirm-action-form")
    audit.check(page, "confirm-remove-pin")
    page.click("#confirm-cancel")
    page.wait_for_selector("#pin-remove-form")

    page.click("#totp-begin-form button")
    page.wait_for_selector("#totp-enrol-form")
    audit.check(page, "account-totp-qr")
    secret = page.inner_text("#totp-secret")
    page.fill("#totp-enrol-form input[name=code]", _totp_code(secret))
    page.click("#totp-enrol-form button[type=submit]")
    # The account is now 2fa and this session 1fa: Confirm access first.
    page.wait_for_selector("#totp-form")
    audit.check(page, "account-confirm-access")
    page.fill("#totp-form input[name=code]", _totp_code(secret, 1))
    page.click("#totp-form button[type=submit]")

    page.click("#backup-codes-form button")
    page.wait_for_selector("#backup-codes")
    audit.check(page, "account-backup-codes")

    page.fill("#email-form input[name=email]", "alice@example.com")
    page.click("#email-form button[type=submit]")
    page.wait_for_selector("#email-verify-form")
    audit.check(page, "account-email-pending")
    page.fill("#email-verify-form input[name=code]", _mail_code(mail[0]))
    page.click("#email-verify-form button[type=submit]")
    page.wait_for_selector("#email-remove-form")

    page.fill("#phone-form input[name=phone]", "+41 79 123 45 67")
    page.click("#phone-form button[type=submit]")
    page.wait_for_selector("#phone-verify-form")
    audit.check(page, "account-phone-pending")
    page.fill("#phone-verify-form input[name=code]", sms.last_code())
    page.click("#phone-verify-form button[type=submit]")
    page.wait_for_selector("#phone-remove-form")

    page.goto(f"{op}/account")
    page.wait_for_selector("#passkey-register:not([disabled])")
    page.fill("#passkey-name", "Chromium")
    page.click("#passkey-register")
    page.wait_for_selector("text=Chromium")
    page.wait_for_selector("#passkey-button")
    audit.check(page, "account-all-methods")

    # A step-up to phr: the passkey is the way.
    page.goto(authorize_url(op, acr_values=PHR))
    page.wait_for_selector("#passkey-button:not([hidden])")
    audit.check(page, "challenge-passkey")
    audit.assert_clean()


def _seed_second_factors(app: Any, user_id: int) -> str:
    """PIN, authenticator app and backup codes for ``user_id``; the TOTP secret."""
    secret = add_totp(app, user_id, "alice")
    with app.app_context():
        factors = app.extensions["belay_factors"]
        factors.get("pin").set_pin(user_id, PIN, PIN)
        factors.get("backup_code").generate(user_id)
    return secret


def _show(page: Any, selector: str) -> None:
    """Open any folded ``<details>`` around ``selector`` (the challenge page may
    fold the other methods away under "Use another way")."""
    page.wait_for_selector(selector, state="attached")
    page.eval_on_selector(
        selector,
        "el => { for (let d = el.closest('details'); d; d = d.parentElement.closest('details'))"
        " d.open = true; }",
    )


def _fill(page: Any, selector: str, value: str) -> None:
    _show(page, selector)
    page.fill(selector, value)


def _click(page: Any, selector: str) -> None:
    _show(page, selector)
    page.click(selector)


def _lock(app: Any, user_id: int, counter: str) -> None:
    from provider.extensions import db
    from provider.storage.models import FactorCounter

    with app.app_context():
        db.session.add(FactorCounter(user_id=user_id, factor=counter, failures=0, locked=True))
        db.session.commit()


def test_challenge_pages(
    app: Any,
    actions: Actions,
    walk_op: LiveServer,
    tab: Any,
    audit: PageAudit,
    mail: tuple[Inbox, int],
    sms: SmsBox,
) -> None:
    op, page = walk_op.url, tab
    user_id = actions.create_user(
        email="alice@example.com",
        email_verified_at=clock.now(),
        phone="+41791234567",
        phone_verified_at=clock.now(),
    )
    secret = _seed_second_factors(app, user_id)
    actions.create_client("rp", redirect_uris=[CALLBACK])

    # A step-up to 2fa after a password sign-in: the second factors are offered.
    page.goto(authorize_url(op, acr_values=TWO_FA))
    sign_in(page)
    page.wait_for_selector("#totp-form", state="attached")
    audit.check(page, "challenge-second-factor")
    _click(page, "#send-code-form button[value=email]")
    page.wait_for_selector("#sent-code-form", state="attached")
    audit.check(page, "challenge-code-sent")
    _fill(page, "#totp-form input[name=code]", "000000")
    _click(page, "#totp-form button[type=submit]")
    page.wait_for_selector(".error")
    audit.check(page, "challenge-error")
    _fill(page, "#sent-code-form input[name=code]", _mail_code(mail[0]))
    _click(page, "#sent-code-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")

    # A fresh confirmation: the PIN; a wrong one asks to wait, the next locks it.
    page.goto(authorize_url(op, acr_values=TWO_FA, max_age="0"))
    page.wait_for_selector("#pin-form", state="attached")
    audit.check(page, "challenge-pin")
    _fill(page, "#pin-form input[name=pin]", "111111")
    _click(page, "#pin-form button[type=submit]")
    page.wait_for_selector(".error")
    audit.check(page, "challenge-wait")
    time.sleep(1.1)
    _fill(page, "#pin-form input[name=pin]", "111111")
    _click(page, "#pin-form button[type=submit]")
    page.wait_for_selector("#locked-pin")
    audit.check(page, "challenge-locked")
    _fill(page, "#totp-form input[name=code]", _totp_code(secret))
    _click(page, "#totp-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")

    # Bob's only second factor that reaches 2fa, his authenticator app, is locked.
    bob = actions.create_user("bob")
    add_totp(app, bob, "bob")
    _lock(app, bob, "totp")
    page.context.clear_cookies()
    page.goto(authorize_url(op, acr_values=TWO_FA))
    sign_in(page, "bob")
    page.wait_for_selector("#locked-recovery")
    audit.check(page, "challenge-blocked")
    audit.assert_clean()


def test_admin_pages(app: Any, actions: Actions, walk_op: LiveServer, tab: Any, audit: PageAudit):
    op, page = walk_op.url, tab
    user_id = actions.create_user("root", is_admin=True)
    secret = add_totp(app, user_id, "root")
    actions.create_client("bank", client_policy={"minimum_acr": TWO_FA}, name="Demo Bank")
    with app.app_context():
        from provider.storage import audit as audit_log

        audit_log.record("step_up", "success", user_id=user_id, method="totp", acr=TWO_FA)
        audit_log.record("step_up", "failure", user_id=user_id, method="pin", reason="locked")
    page.goto(f"{op}/login")
    sign_in(page, "root")
    page.goto(f"{op}/admin/")
    page.wait_for_selector("#admin-step-up #totp-form")
    audit.check(page, "admin-step-up")
    page.fill("#totp-form input[name=code]", _totp_code(secret))
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
        page.goto(op + path)
        page.wait_for_selector(selector)
        audit.check(page, name)
    page.goto(op + "/admin/clients/bank")
    page.click("#delete-client-form button[type=submit]")
    page.wait_for_selector("#confirm-action-form")
    audit.check(page, "admin-confirm-delete-client")
    page.goto(op + "/admin/clients/bank")
    page.fill("#p-default_max_age", "soon")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#err-default_max_age")
    audit.check(page, "admin-client-error")
    page.goto(op + "/admin/simulator")
    page.check("#simulator-form input[name=enrolled][value=totp]")
    page.check("#simulator-form input[name=event][value=password]")
    page.click("#simulator-form button[type=submit]")
    page.wait_for_selector("#simulation-result")
    audit.check(page, "admin-simulation")
    audit.assert_clean()


def test_development_outbox_page(app: Any, actions: Actions, tab: Any, audit: PageAudit) -> None:
    """/dev/outbox (BELAY_DEV_OUTBOX, development only) after a code was sent."""
    port = free_port()
    origin = f"http://localhost:{port}"
    env = server_env(
        port,
        BELAY_ISSUER=origin,
        BELAY_RP_ID="localhost",
        BELAY_ORIGINS=origin,
        BELAY_DEV_OUTBOX="1",
    )
    server = LiveServer(port, env).start()
    try:
        actions.create_user(email="alice@example.com", email_verified_at=clock.now())
        actions.create_client("rp", redirect_uris=[CALLBACK])
        tab.goto(authorize_url(origin, acr_values=TWO_FA))
        sign_in(tab)
        _click(tab, "#send-code-form button[type=submit]")
        tab.wait_for_selector("#sent-code-form", state="attached")
        tab.goto(f"{origin}/dev/outbox")
        audit.check(tab, "dev-outbox")
    finally:
        server.stop()
    audit.assert_clean()
