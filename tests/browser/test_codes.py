"""A step-up by emailed code in a real browser, against a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller

from provider import clock
from tests.browser.conftest import CALLBACK, shot
from tests.browser.test_pages import authorize_url, sign_in
from tests.conftest import Actions, LiveServer, free_port, server_env


class Inbox:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        self.bodies.append(body.get_content() if body is not None else "")
        return "250 OK"

    def last_code(self) -> str:
        found = re.search(r"(?:code is|lautet) (\d{6})", self.bodies[-1])
        assert found, self.bodies[-1]
        return found.group(1)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def mail_op(app: Any, inbox: tuple[Inbox, int]) -> Iterator[LiveServer]:
    port = free_port()
    origin = f"http://localhost:{port}"
    env = server_env(
        port,
        BELAY_ISSUER=origin,
        BELAY_RP_ID="localhost",
        BELAY_ORIGINS=origin,
        BELAY_SMTP_HOST="127.0.0.1",
        BELAY_SMTP_PORT=str(inbox[1]),
        BELAY_SMTP_SECURITY="none",
        BELAY_SMTP_SENDER="Belay <no-reply@belay.test>",
    )
    server = LiveServer(port, env).start()
    server.url = origin
    yield server
    server.stop()


def test_step_up_with_a_code_by_email(
    actions: Actions, mail_op: LiveServer, page: Any, inbox: tuple[Inbox, int]
) -> None:
    box, _ = inbox
    actions.create_user(email="alice@example.com", email_verified_at=clock.now())
    actions.create_client("rp", redirect_uris=[CALLBACK])
    page.goto(authorize_url(mail_op.url, acr_values="urn:belay:acr:2fa"))
    sign_in(page)
    page.wait_for_selector("#send-code-form")
    assert page.locator("#sent-code-form").count() == 0
    page.click("#send-code-form button[type=submit]")
    page.wait_for_selector("#sent-code-form")
    assert "a…@example.com" in page.inner_text("#code-sent")
    shot(page, "challenge-email-code")

    wrong = f"{(int(box.last_code()) + 1) % 1_000_000:06d}"
    page.fill("#sent-code-form input[name=code]", wrong)
    page.click("#sent-code-form button[type=submit]")
    page.wait_for_selector(".error")
    assert "not right" in page.inner_text(".error")

    page.fill("#sent-code-form input[name=code]", box.last_code())
    page.click("#sent-code-form button[type=submit]")
    page.wait_for_url(f"{CALLBACK}*")
    assert parse_qs(urlsplit(page.url).query)["code"]
