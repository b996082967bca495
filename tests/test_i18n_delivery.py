# ruff: noqa: F811 - the fixtures of tests/test_factor_email_sms.py, imported by name
"""The code a sign-in sends, by text message and by email, is in the language of
the sign-in request's ``ui_locales`` — whatever the browser says (docs/i18n.md)."""

from __future__ import annotations

from typing import Any

from flask import Flask

from provider import clock
from provider.extensions import db
from provider.storage.models import User
from tests.conftest import Actions
from tests.test_factor_email_sms import (  # noqa: F401 - fixtures
    Mailbox,
    SmsSink,
    _ask_code,
    _login_page,
    app,
    code_login_client,
    mailbox,
    sms,
    smtp,
)


def test_a_sign_in_code_by_sms_follows_ui_locales(
    actions: Actions, code_login_client: int, sms: SmsSink
) -> None:
    actions.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    page, _verifier = _login_page(actions, "bankapp", ui_locales="de-DE")
    assert '<html lang="de">' in page.text
    assert _ask_code(actions, page, "alice").status_code in (200, 302, 303)
    message = sms.received[-1]["body"]["message"]
    assert message.startswith("Ihr Belay-Anmeldecode ist "), message
    assert "never" not in message


def test_a_sign_in_code_by_email_follows_ui_locales(
    actions: Actions, app: Flask, code_login_client: int, mailbox: Mailbox
) -> None:
    with app.app_context():
        db.session.execute(
            db.update(User)
            .where(User.id == code_login_client)
            .values(email="alice@example.com", email_verified_at=clock.now())
        )
        db.session.commit()
    page, _verifier = _login_page(actions, "bankapp", ui_locales="de")
    assert _ask_code(actions, page, "alice", channel="email").status_code in (200, 302, 303)
    message: Any = mailbox.messages[-1]
    assert message["Subject"] == "Your Belay code"  # configured: sent as is
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Ihr Belay-Anmeldecode lautet "), text
    assert "Minuten gültig" in text and "valid for" not in text
    # the English request of another sign-in: English
    page, _verifier = _login_page(actions, "bankapp")
    clock.set_offset(120)
    try:
        _ask_code(actions, page, "alice", channel="email")
    finally:
        clock.set_offset(0)
    text = mailbox.messages[-1].get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Your Belay sign-in code is "), text
