"""One-time codes by email (a real local SMTP server, aiosmtpd) and by SMS (a
local HTTP sink for the webhook): sending, single use, expiry, resend limits,
delivery failures, races and malformed input (docs/design.md "Factors")."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from provider import clock
from provider.app import create_app
from provider.extensions import db
from provider.factors.base import InvalidCode, Locked, Replayed
from provider.factors.otp import (
    mask,
    normalise_code,
    normalise_email,
    normalise_phone,
    sign_in_context,
    step_up_context,
)
from provider.storage import throttle
from provider.storage.models import AuditEvent, OneTimeCode, User
from tests.conftest import (
    Actions,
    _empty_tables,
    base_config,
    confirmed_post,
    csrf_from,
    free_port,
    pkce_pair,
)

TWO_FA = "urn:belay:acr:2fa"
SMS_TOKEN = "sink-token-123"
#: a step-up context for tests that call the factor directly
STEP_UP_CONTEXT = step_up_context(1, "step_up")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def last_code(self) -> str:
        assert self.messages, "no email arrived"
        body = self.messages[-1].get_body(preferencelist=("plain",))
        assert body is not None
        return re.search(r"(?:code is|lautet) (\d{6})", body.get_content()).group(1)  # type: ignore[union-attr]


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    with contextlib.suppress(Exception):  # already stopped by the test
        controller.stop()


class SmsSink:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                sink.received.append(
                    {
                        "body": json.loads(self.rfile.read(length)),
                        "auth": self.headers.get("Authorization"),
                    }
                )
                self.send_response(sink.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def last_code(self) -> str:
        assert self.received, "no text message arrived"
        return re.search(r"code is (\d{6})", self.received[-1]["body"]["message"]).group(1)  # type: ignore[union-attr]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sms() -> Iterator[SmsSink]:
    sink = SmsSink()
    yield sink
    sink.close()


@pytest.fixture
def app(database: str, smtp: tuple[Controller, Mailbox], sms: SmsSink) -> Iterator[Flask]:
    controller, _ = smtp
    app = create_app(
        base_config(
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=controller.port,
            SMTP_SECURITY="none",
            SMTP_SENDER="Belay <no-reply@belay.test>",
            SMTP_SUBJECT="Your Belay code",
            SMS_WEBHOOK_URL=sms.url,
            SMS_WEBHOOK_TOKEN=SMS_TOKEN,
        )
    )
    _empty_tables(app)
    with app.app_context():
        from provider.oidc.keys import ensure_keys
        from provider.storage import ladder

        ladder.invalidate()
        ensure_keys(app.extensions["belay_data_key"])
    yield app
    clock.set_offset(0)


@pytest.fixture
def mailbox(smtp: tuple[Controller, Mailbox]) -> Mailbox:
    return smtp[1]


def _user(actions: Actions, **kw: Any) -> int:
    now = clock.now()
    defaults: dict[str, Any] = {
        "email": "alice@example.com",
        "email_verified_at": now,
        "phone": "+447700900123",
        "phone_verified_at": now,
    }
    defaults.update(kw)
    user_id = actions.create_user(**defaults)
    actions.create_client("rp")
    assert actions.login().status_code == 302
    return int(user_id)


def _authorize(actions: Actions, **params: Any) -> Any:
    _, challenge = pkce_pair()
    return actions.follow(
        actions.authorize(
            "rp",
            code_challenge=challenge,
            code_challenge_method="S256",
            acr_values=TWO_FA,
            **params,
        )
    )


def _tx(page: Any) -> str:
    return parse_qs(urlsplit(page.request.url).query)["tx"][0]


def _send(actions: Actions, page: Any, channel: str) -> Any:
    assert 'id="send-code-form"' in page.text, page.text[:1000]
    tx = _tx(page)
    sent = actions.client.post(
        "/challenge/send-code",
        data={"csrf_token": csrf_from(page.text), "tx": tx, "channel": channel},
    )
    assert sent.status_code == 303
    return actions.client.get(sent.headers["Location"])


def _submit(actions: Actions, page: Any, method: str, code: str) -> Any:
    tx = _tx(page)
    return actions.client.post(
        f"/challenge?tx={tx}",
        data={"csrf_token": csrf_from(page.text), "tx": tx, "method": method, "code": code},
    )


def _counter(app: Flask, user_id: int, factor: str) -> int:
    with app.app_context():
        row = throttle.state(user_id, factor)
        return int(row.failures) if row is not None else 0


def test_email_code_arrives_verifies_once_then_fails(
    actions: Actions, app: Flask, mailbox: Mailbox
) -> None:
    _user(actions)
    page = _authorize(actions)
    assert page.status_code == 200
    assert 'name="channel"' in page.text and 'id="sent-code-form"' not in page.text
    page = _send(actions, page, "email")
    assert "We sent a code to a…@example.com" in page.text
    assert 'id="sent-code-form"' in page.text
    message = mailbox.messages[-1]
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == "Your Belay code"
    assert message.get_body(preferencelist=("html",)) is not None
    code = mailbox.last_code()
    with app.app_context():
        stored = [r.code_hash for r in OneTimeCode.query.all()]
    assert stored and code not in "".join(stored)  # only the HMAC is kept

    done = _submit(actions, page, "email_otp", code)
    assert done.status_code == 302
    assert "/authorize" in done.headers["Location"]
    final = actions.follow(done)
    assert "code=" in final.headers["Location"]

    clock.set_offset(10)
    page = _authorize(actions, max_age="0")
    again = _submit(actions, page, "email_otp", code)
    assert again.status_code == 401
    assert "already used" in again.text


def test_sms_code_through_the_webhook(actions: Actions, app: Flask, sms: SmsSink) -> None:
    _user(actions)
    page = _send(actions, _authorize(actions), "sms")
    assert "We sent a code to +…0123" in page.text
    received = sms.received[-1]
    assert received["auth"] == f"Bearer {SMS_TOKEN}"
    assert received["body"]["to"] == "+447700900123"
    done = _submit(actions, page, "sms_otp", sms.last_code())
    assert done.status_code == 302
    with app.app_context():
        from provider.storage.models import AuthEvent

        assert any(e.amr == ["sms"] for e in AuthEvent.query.all())


def test_a_code_expires(actions: Actions, mailbox: Mailbox) -> None:
    _user(actions)
    page = _send(actions, _authorize(actions), "email")
    clock.set_offset(301)
    refused = _submit(actions, page, "email_otp", mailbox.last_code())
    assert refused.status_code == 401
    assert "expired" in refused.text


def test_resend_limit(actions: Actions, mailbox: Mailbox, sms: SmsSink) -> None:
    _user(actions)
    page = _authorize(actions)
    for _ in range(3):
        page = _send(actions, page, "email")
        assert "We sent a code" in page.text
    refused = _send(actions, page, "email")
    assert "Too many codes were sent lately" in refused.text
    assert len(mailbox.messages) == 3
    # Only the newest code works.
    assert _submit(actions, refused, "email_otp", mailbox.last_code()).status_code == 302


def test_resend_limit_is_per_destination_too(actions: Actions, app: Flask, sms: SmsSink) -> None:
    user_id = _user(actions)
    factor: Any = app.extensions["belay_factors"].get("sms_otp")
    other = actions.create_user("bob", phone="+447700900123", phone_verified_at=clock.now())
    with app.app_context():
        for _ in range(3):
            factor.send(user_id, purpose="step_up", context=STEP_UP_CONTEXT)
        with pytest.raises(Exception, match="Too many codes"):
            factor.send(other, purpose="step_up", context=STEP_UP_CONTEXT)
    assert len(sms.received) == 3


def test_smtp_down_is_shown_and_not_counted(
    actions: Actions, app: Flask, smtp: tuple[Controller, Mailbox]
) -> None:
    user_id = _user(actions)
    page = _authorize(actions)
    smtp[0].stop()
    shown = _send(actions, page, "email")
    assert shown.status_code == 200
    assert 'class="error"' in shown.text and "could not send the email" in shown.text
    assert 'id="sent-code-form"' not in shown.text
    assert _counter(app, user_id, "email_otp") == 0
    with app.app_context():
        audited = AuditEvent.query.filter_by(event="otp_sent", result="failure").one()
        assert audited.reason == "delivery_failed" and audited.method == "email_otp"
        # The undelivered code is forgotten: it counts against no resend limit.
        assert OneTimeCode.query.count() == 0


def test_sms_gateway_error_is_tried_twice_at_most(actions: Actions, sms: SmsSink) -> None:
    _user(actions)
    sms.status = 503
    shown = _send(actions, _authorize(actions), "sms")
    assert "could not send the text message" in shown.text
    assert len(sms.received) == 2


def test_wrong_codes_count_and_the_code_allows_five_tries(
    actions: Actions, app: Flask, mailbox: Mailbox
) -> None:
    user_id = _user(actions)
    page = _send(actions, _authorize(actions), "email")
    good = mailbox.last_code()
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(4):
        assert _submit(actions, page, "email_otp", wrong).status_code == 401
    assert _counter(app, user_id, "email_otp") == 4
    # tries 1-4 were wrong; the 5th is the last this code allows
    with app.app_context():
        factor: Any = app.extensions["belay_factors"].get("email_otp")
        row = OneTimeCode.query.one()
        assert row.tries == 4
    assert _submit(actions, page, "email_otp", good).status_code == 302
    assert _counter(app, user_id, "email_otp") == 0
    assert factor.method == "email_otp"


def test_too_many_tries_end_the_code(app: Flask, actions: Actions, mailbox: Mailbox) -> None:
    user_id = _user(actions)
    factor: Any = app.extensions["belay_factors"].get("email_otp")
    with app.app_context():
        factor.send(user_id, purpose="step_up", context=STEP_UP_CONTEXT)
        good = mailbox.last_code()
        wrong = "000000" if good != "000000" else "111111"
        for _ in range(4):
            with pytest.raises(InvalidCode):
                factor.verify(user_id, {"code": wrong}, context=STEP_UP_CONTEXT)
        throttle.reset(user_id, "email_otp")  # only the per-code limit matters here
        with pytest.raises(InvalidCode):
            factor.verify(user_id, {"code": wrong}, context=STEP_UP_CONTEXT)
        with pytest.raises(InvalidCode, match="Too many tries"):
            factor.verify(user_id, {"code": good}, context=STEP_UP_CONTEXT)


@pytest.mark.parametrize(
    "code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5x", "9" * 5000, "123\x00456"]
)
def test_malformed_codes_are_a_clear_4xx(
    actions: Actions, app: Flask, mailbox: Mailbox, code: str
) -> None:
    user_id = _user(actions)
    page = _send(actions, _authorize(actions), "email")
    refused = _submit(actions, page, "email_otp", code)
    assert 400 <= refused.status_code < 500
    assert 'class="error"' in refused.text
    assert _counter(app, user_id, "email_otp") == 0


def test_bad_channels_are_refused(actions: Actions) -> None:
    _user(actions, phone=None, phone_verified_at=None)
    page = _authorize(actions)
    assert 'value="sms"' not in page.text
    for channel in ["sms", "fax", "", "x" * 5000]:
        tx = _tx(page)
        sent = actions.client.post(
            "/challenge/send-code",
            data={"csrf_token": csrf_from(page.text), "tx": tx, "channel": channel},
        )
        assert sent.status_code == 303
        shown = actions.client.get(sent.headers["Location"])
        assert "not available" in shown.text


def test_ten_parallel_submissions_one_success(
    app: Flask, actions: Actions, mailbox: Mailbox
) -> None:
    user_id = _user(actions)
    factor: Any = app.extensions["belay_factors"].get("email_otp")
    with app.app_context():
        factor.send(user_id, purpose="step_up", context=STEP_UP_CONTEXT)
    code = mailbox.last_code()
    barrier = threading.Barrier(10)

    def attempt(_: int) -> str:
        with app.app_context():
            barrier.wait(timeout=60)
            try:
                factor.verify(user_id, {"code": code}, context=STEP_UP_CONTEXT)
            except Replayed:
                return "replayed"
            except Locked:
                return "locked"
            except InvalidCode:
                return "invalid"
            return "success"

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert results.count("success") == 1, results


def _account_confirmed(actions: Actions) -> Any:
    page = actions.client.get("/account")
    assert page.status_code == 200
    assert 'id="email-form"' in page.text, "a fresh sign-in confirms access"
    return page


def test_verify_a_new_email_address_on_the_account_page(
    actions: Actions, app: Flask, mailbox: Mailbox
) -> None:
    user_id = _user(actions, email=None, email_verified_at=None, phone=None, phone_verified_at=None)
    with app.app_context():
        assert app.extensions["belay_factors"].get("email_otp").enrolled(user_id) == []
    page = _account_confirmed(actions)
    bad = actions.client.post(
        "/account/email/add", data={"csrf_token": csrf_from(page.text), "email": "not-an-address"}
    )
    assert bad.status_code == 400 and 'class="error"' in bad.text
    sent = actions.client.post(
        "/account/email/add", data={"csrf_token": csrf_from(page.text), "email": "New@Example.com"}
    )
    assert sent.status_code == 302
    page = actions.client.get("/account")
    assert "We sent a code to N…@example.com" in page.text
    assert 'id="email-verify-form"' in page.text
    assert mailbox.messages[-1]["To"] == "New@example.com"
    wrong = actions.client.post(
        "/account/email/verify", data={"csrf_token": csrf_from(page.text), "code": "12"}
    )
    assert wrong.status_code == 400
    done = actions.client.post(
        "/account/email/verify",
        data={"csrf_token": csrf_from(page.text), "code": mailbox.last_code()},
    )
    assert done.status_code == 302
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.email == "New@example.com" and user.email_verified_at is not None
        assert app.extensions["belay_factors"].get("email_otp").enrolled(user_id)
    # Password + email codes is 2fa now: Confirm access asks for a code.
    page = actions.client.get("/account")
    assert 'id="send-code-form"' in page.text and 'id="email-form"' not in page.text
    sent = actions.client.post(
        "/challenge/send-code", data={"csrf_token": csrf_from(page.text), "channel": "email"}
    )
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/account")
    page = actions.client.get("/account")
    assert 'id="sent-code-form"' in page.text
    confirmed = actions.client.post(
        "/account/confirm",
        data={
            "csrf_token": csrf_from(page.text),
            "method": "email_otp",
            "code": mailbox.last_code(),
        },
    )
    assert confirmed.status_code == 302
    page = actions.client.get("/account")
    assert 'id="email-remove-form"' in page.text
    removed = confirmed_post(
        actions.client, "/account/email_otp/remove", {"csrf_token": csrf_from(page.text)}
    )
    assert removed.status_code == 302
    with app.app_context():
        assert not app.extensions["belay_factors"].get("email_otp").enrolled(user_id)


def test_a_new_address_the_mail_server_refuses_is_a_503_on_the_account_page(
    actions: Actions, app: Flask, smtp: tuple[Controller, Mailbox]
) -> None:
    """DeliveryFailed is a BelayError (503 ``delivery_failed``): the account
    page shows it in the form, the send is audited as failed, no code waits."""
    from provider.errors import BelayError
    from provider.factors.delivery import DeliveryFailed

    failed = DeliveryFailed("We could not send it.")
    assert isinstance(failed, BelayError)
    assert (failed.error, failed.status_code, failed.description) == (
        "delivery_failed",
        503,
        "We could not send it.",
    )
    _user(actions, email=None, email_verified_at=None, phone=None, phone_verified_at=None)
    page = _account_confirmed(actions)
    smtp[0].stop()
    shown = actions.client.post(
        "/account/email/add", data={"csrf_token": csrf_from(page.text), "email": "new@example.com"}
    )
    assert shown.status_code == 503
    assert 'class="error"' in shown.text and "could not send the email" in shown.text
    with app.app_context():
        audited = AuditEvent.query.filter_by(event="otp_sent").one()
        assert (audited.result, audited.reason) == ("failure", "delivery_failed")
        assert OneTimeCode.query.count() == 0


def test_account_changes_need_confirm_access(actions: Actions, app: Flask, sms: SmsSink) -> None:
    _user(actions, phone=None, phone_verified_at=None)
    clock.set_offset(3600)  # the sign-in is no longer fresh
    page = actions.client.get("/account")
    assert 'id="phone-form"' not in page.text
    refused = actions.client.post(
        "/account/phone/add", data={"csrf_token": csrf_from(page.text), "phone": "+447700900999"}
    )
    assert refused.status_code == 302
    assert sms.received == []


def test_email_verified_claim_follows_the_verification(actions: Actions, app: Flask) -> None:
    _user(actions, email="alice@example.com", email_verified_at=None)
    actions.create_client("spa", public=True)
    flow = actions.code_flow("spa", scope="openid email")
    tokens = actions.exchange(flow, "spa").get_json()
    assert actions.decode(tokens["id_token"])["email_verified"] is False
    with app.app_context():
        db.session.execute(db.update(User).values(email_verified_at=clock.now()))
        db.session.commit()
    tokens = actions.exchange(actions.code_flow("spa", scope="openid email"), "spa").get_json()
    claims = actions.decode(tokens["id_token"])
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True


def test_cli_sets_verified_destinations(runner: Any, actions: Actions, app: Flask) -> None:
    user_id = actions.create_user("carol")
    ok = runner.invoke(args=["user", "set-email", "carol", "Carol@Example.COM"])
    assert ok.exit_code == 0, ok.output
    ok = runner.invoke(args=["user", "set-phone", "carol", "+44 7700 900 555"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(args=["user", "set-phone", "carol", "12"])
    assert bad.exit_code != 0 and "phone number" in bad.output
    missing = runner.invoke(args=["user", "set-email", "nobody", "a@example.com"])
    assert missing.exit_code != 0
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.email == "Carol@example.com" and user.email_verified_at
        assert user.phone == "+447700900555" and user.phone_verified_at
        registry = app.extensions["belay_factors"]
        assert registry.get("email_otp").enrolled(user_id)
        assert registry.get("sms_otp").enrolled(user_id)


def test_helpers() -> None:
    assert normalise_code(" 123-456 ") == "123456"
    assert normalise_code("١٢٣٤٥٦") is None
    assert normalise_email("a@b") is None
    assert normalise_phone("0044 20 7946 0018") == "+442079460018"
    assert mask("email", "alice@example.com") == "a…@example.com"
    assert mask("sms", "+447700900123") == "+…0123"


def test_channels_are_off_unless_configured(database: str) -> None:
    plain = create_app(base_config())
    registry = plain.extensions["belay_factors"]
    assert registry.get("email_otp").channel is None
    assert registry.get("sms_otp").channel is None


# -- sign-in with a code (per client passwordless_login) ----------------------------


@pytest.fixture
def code_login_client(actions: Actions, app: Flask) -> int:
    """alice with a PIN and a verified phone; "bankapp" offers sign-in by code."""
    from tests.test_account_and_step_up import enrol_pin

    user_id = int(actions.create_user())
    actions.create_client("bankapp", public=True, client_policy={"passwordless_login": True})
    actions.create_client("rp", public=True)
    actions.login()
    assert enrol_pin(actions).status_code == 302
    page = actions.client.get("/logout")
    actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    with app.app_context():
        db.session.execute(
            db.update(User)
            .where(User.id == user_id)
            .values(phone="+447700900123", phone_verified_at=clock.now())
        )
        db.session.commit()
    return user_id


def _login_page(actions: Actions, client_id: str, **params: Any) -> tuple[Any, str]:
    verifier, challenge = pkce_pair()
    page = actions.follow(
        actions.authorize(
            client_id, code_challenge=challenge, code_challenge_method="S256", **params
        )
    )
    return page, verifier


def _ask_code(actions: Actions, page: Any, username: str, channel: str = "sms") -> Any:
    tx = _tx(page)
    return actions.client.post(
        f"/login/code?tx={tx}",
        data={"csrf_token": csrf_from(page.text), "username": username, "channel": channel},
    )


def _enter_code(actions: Actions, page: Any, code: str) -> Any:
    tx = _tx(page)
    return actions.client.post(
        f"/login/code/verify?tx={tx}", data={"csrf_token": csrf_from(page.text), "code": code}
    )


def _id_token(actions: Actions, response: Any, verifier: str, client_id: str) -> dict[str, Any]:
    assert response.status_code == 302, response.text[:600]
    callback = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    assert "code" in callback, callback
    body = actions.exchange({**callback, "code_verifier": verifier}, client_id).get_json()
    return actions.decode(body["id_token"])


def test_sms_sign_in_then_a_pin_is_2fa(
    actions: Actions, app: Flask, sms: SmsSink, code_login_client: int
) -> None:
    page, verifier = _login_page(actions, "bankapp")
    assert 'id="code-login-form"' in page.text and 'value="sms"' in page.text
    assert 'id="code-login-verify-form"' not in page.text
    asked = _ask_code(actions, page, "alice")
    assert asked.status_code == 303
    page = actions.client.get(asked.headers["Location"])
    assert "If alice has a verified phone number, a code is on its way" in page.text
    assert 'id="code-login-verify-form"' in page.text
    assert sms.received[-1]["body"]["to"] == "+447700900123"
    code = sms.last_code()

    wrong = _enter_code(actions, page, f"{(int(code) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 401 and "That code did not work" in wrong.text
    assert _enter_code(actions, page, "12ab").status_code == 401  # malformed: no session

    claims = _id_token(
        actions, actions.follow(_enter_code(actions, page, code)), verifier, "bankapp"
    )
    assert claims["amr"] == ["sms"] and claims["acr"] == "urn:belay:acr:1fa"

    # The "SMS login, then a PIN" pattern: possession + knowledge = 2fa.
    page, verifier = _login_page(actions, "bankapp", acr_values=TWO_FA)
    assert 'id="pin-form"' in page.text
    tx = _tx(page)
    done = actions.client.post(
        f"/challenge?tx={tx}",
        data={"csrf_token": csrf_from(page.text), "tx": tx, "method": "pin", "pin": "480975"},
    )
    claims = _id_token(actions, actions.follow(done), verifier, "bankapp")
    assert claims["acr"] == TWO_FA and set(claims["amr"]) >= {"sms", "pin"}
    with app.app_context():
        logins = AuditEvent.query.filter_by(event="login", method="sms_otp").all()
        assert [e.result for e in logins] == ["failure", "failure", "success"]


def test_sign_in_with_a_code_matches_the_username_whatever_its_case(
    actions: Actions, sms: SmsSink, code_login_client: int
) -> None:
    """docs/admin.md "Usernames": "Alice" on a phone reaches alice's account."""
    page, verifier = _login_page(actions, "bankapp")
    page = actions.client.get(_ask_code(actions, page, "Alice").headers["Location"])
    assert sms.received[-1]["body"]["to"] == "+447700900123"
    done = actions.follow(_enter_code(actions, page, sms.last_code()))
    assert _id_token(actions, done, verifier, "bankapp")["amr"] == ["sms"]


def test_a_sign_in_code_works_once_and_expires(
    actions: Actions, sms: SmsSink, code_login_client: int
) -> None:
    page, _ = _login_page(actions, "bankapp")
    page = actions.client.get(_ask_code(actions, page, "alice").headers["Location"])
    code = sms.last_code()
    clock.set_offset(301)
    expired = _enter_code(actions, page, code)
    assert expired.status_code == 401 and "That code did not work" in expired.text
    clock.set_offset(0)

    page, _ = _login_page(actions, "bankapp")
    page = actions.client.get(_ask_code(actions, page, "alice").headers["Location"])
    code = sms.last_code()
    assert actions.follow(_enter_code(actions, page, code)).status_code == 302
    # The pending code is gone with the sign-in; a new transaction cannot reuse it.
    page = actions.client.get("/logout")
    actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    page, _ = _login_page(actions, "bankapp")
    replay = _enter_code(actions, page, code)
    assert replay.status_code == 400 and "Ask for a sign-in code first" in replay.text


def test_asking_for_a_code_never_tells_whether_the_account_exists(
    actions: Actions, app: Flask, sms: SmsSink, code_login_client: int
) -> None:
    """Unknown user, no verified number, a code sent, a failed delivery and a
    spent resend limit all read alike, and none claims a code was sent
    (docs/security.md case 50; a failed delivery was a 503 that said so)."""
    actions.create_user("bob")  # no phone number

    def ask(username: str) -> str:
        page, _ = _login_page(actions, "bankapp")
        asked = _ask_code(actions, page, username)
        assert asked.status_code == 303
        shown = actions.client.get(asked.headers["Location"])
        assert 'id="code-login-verify-form"' in shown.text
        assert "Code sent to" not in shown.text and "We sent" not in shown.text
        text = shown.text.replace(username, "USER").replace(_tx(shown), "TX")
        return re.sub(r'(name="csrf_token" value|data-csrf)="[^"]+"', "", text)

    answers = {"nobody": ask("nobody"), "bob": ask("bob"), "alice": ask("alice")}
    assert "If USER has a verified phone number, a code is on its way" in answers["alice"]
    assert len(sms.received) == 1  # only alice's number got a code
    sms.status = 500
    answers["alice, delivery failed"] = ask("alice")
    sms.status = 200
    assert len(sms.received) == 3  # tried twice, not delivered
    ask("alice")
    ask("alice")
    answers["alice, resend limit spent"] = ask("alice")
    assert len(sms.received) == 5  # the third code was not sent
    assert len(set(answers.values())) == 1, answers.keys()
    with app.app_context():
        reasons = [
            e.reason for e in AuditEvent.query.filter_by(event="otp_sent").order_by(AuditEvent.id)
        ]
    assert reasons == [
        "unknown_user",
        "notenrolled",
        None,
        "delivery_failed",
        None,
        None,
        "resendlimited",
    ]
    page, _ = _login_page(actions, "bankapp")
    page = actions.client.get(_ask_code(actions, page, "nobody").headers["Location"])
    refused = _enter_code(actions, page, "123456")
    assert refused.status_code == 401 and "That code did not work" in refused.text


def test_sign_in_with_a_code_is_only_for_clients_that_allow_it(
    actions: Actions, sms: SmsSink, code_login_client: int
) -> None:
    page, _ = _login_page(actions, "rp")
    assert 'id="code-login-form"' not in page.text
    refused = _ask_code(actions, page, "alice")
    assert refused.status_code == 400 and "not available here" in refused.text
    bad_channel = _ask_code(actions, _login_page(actions, "bankapp")[0], "alice", "pigeon")
    assert bad_channel.status_code == 400
    assert sms.received == []
    no_tx = actions.client.post(
        "/login/code", data={"csrf_token": csrf_from(page.text), "username": "alice"}
    )
    assert no_tx.status_code in {400, 404, 410} and sms.received == []


def test_ten_parallel_sign_ins_with_one_code_one_wins(
    app: Flask, sms: SmsSink, code_login_client: int
) -> None:
    from provider.flows import code_login

    context = sign_in_context(1, "tx")
    with app.app_context():
        factor: Any = app.extensions["belay_factors"].get("sms_otp")
        factor.send(code_login_client, purpose="login", context=context)
    code = sms.last_code()

    def attempt(_: int) -> bool:
        with app.app_context():
            result = code_login.verify_login_code(
                "alice", "sms", code, context=context, ip="127.0.0.1", client_id="bankapp"
            )
            return result.user is not None

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert results.count(True) == 1


def test_an_admin_factor_reset_removes_the_code_destinations(
    actions: Actions, app: Flask, sms: SmsSink
) -> None:
    from provider.flows.admin import users as admin_users

    user_id = _user(actions)
    with app.app_context():
        user = db.session.get(User, user_id)
        removed = admin_users.reset_factors(user, actor="test")
        assert {"email_otp", "sms_otp"} <= set(removed)
        registry = app.extensions["belay_factors"]
        assert registry.get("email_otp").enrolled(user_id) == []
        assert registry.get("sms_otp").enrolled(user_id) == []


# -- codes are bound to the transaction or page they were sent for (case 50) ----------


def _browser(app: Flask) -> Actions:
    """Another browser: its own cookies."""
    return Actions(app, app.test_client())


def test_a_step_up_code_cannot_sign_in_in_another_browser(
    actions: Actions, app: Flask, sms: SmsSink
) -> None:
    """Browser B waits for a sign-in code for alice; alice's step-up code from
    browser A must not sign B in (it did: both were "login" codes, and the
    newest one of the user was checked)."""
    _user(actions)
    actions.create_client("bankapp", public=True, client_policy={"passwordless_login": True})
    other = _browser(app)
    page_b, _ = _login_page(other, "bankapp")
    page_b = other.client.get(_ask_code(other, page_b, "alice").headers["Location"])
    sign_in_code = sms.last_code()

    page_a = _send(actions, _authorize(actions), "sms")
    step_up_code = sms.last_code()
    assert step_up_code != sign_in_code or len(sms.received) == 2
    refused = _enter_code(other, page_b, step_up_code)
    assert refused.status_code == 401 and "That code did not work" in refused.text
    assert other.client.get("/account").status_code == 302  # not signed in

    # Each code still works where it was sent.
    assert _submit(actions, page_a, "sms_otp", step_up_code).status_code == 302
    assert other.follow(_enter_code(other, page_b, sign_in_code)).status_code == 302
    assert other.client.get("/account").status_code == 200


def test_a_sign_in_code_is_bound_to_its_transaction(
    actions: Actions, app: Flask, sms: SmsSink, code_login_client: int
) -> None:
    page1, _ = _login_page(actions, "bankapp")
    _ask_code(actions, page1, "alice")
    first = sms.last_code()
    page2, verifier = _login_page(actions, "bankapp")
    page2 = actions.client.get(_ask_code(actions, page2, "alice").headers["Location"])
    second = sms.last_code()
    if first != second:
        refused = _enter_code(actions, page2, first)
        assert refused.status_code == 401
    claims = _id_token(
        actions, actions.follow(_enter_code(actions, page2, second)), verifier, "bankapp"
    )
    assert claims["amr"] == ["sms"]


def test_a_code_asked_for_confirm_access_does_not_confirm_a_challenge(
    actions: Actions, app: Flask, sms: SmsSink
) -> None:
    """Same browser, another page: the code counts only where it was asked for."""
    _user(actions)
    page = actions.client.get("/account")
    assert (
        'id="send-code-form"' in page.text and 'name="purpose" value="confirm_access"' in page.text
    )
    sent = actions.client.post(
        "/challenge/send-code",
        data={"csrf_token": csrf_from(page.text), "channel": "sms", "purpose": "confirm_access"},
    )
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/account")
    code = sms.last_code()
    challenge = _authorize(actions)
    assert 'name="purpose" value="step_up"' in challenge.text
    assert 'id="sent-code-form"' not in challenge.text  # that code was not sent for this page
    refused = _submit(actions, challenge, "sms_otp", code)
    assert refused.status_code == 401
    page = actions.client.get("/account")
    assert 'id="sent-code-form"' in page.text
    confirmed = actions.client.post(
        "/account/confirm",
        data={"csrf_token": csrf_from(page.text), "method": "sms_otp", "code": code},
    )
    assert confirmed.status_code == 302
    assert 'id="email-form"' in actions.client.get("/account").text  # access confirmed


def test_a_failed_resend_keeps_the_earlier_code_and_says_so(
    actions: Actions, app: Flask, smtp: tuple[Controller, Mailbox]
) -> None:
    """On the challenge the user is known: the page is exact. A failed resend
    sends nothing and ends nothing (it ended the earlier code, while the page
    still said "We sent a code")."""
    _user(actions)
    page = _send(actions, _authorize(actions), "email")
    code = smtp[1].last_code()
    smtp[0].stop()
    shown = _send(actions, page, "email")
    assert "No code was sent. We could not send the email just now" in shown.text
    assert "We sent a code to a…@example.com" in shown.text  # the earlier one, still valid
    assert _submit(actions, shown, "email_otp", code).status_code == 302


def test_each_purpose_has_its_own_text(actions: Actions, app: Flask, mailbox: Mailbox) -> None:
    """A sign-in code is the whole sign-in: its mail must not say it is useless
    without the password (it did). Sign-in, step-up and verification texts differ."""
    from provider.factors.delivery import sms_text

    _user(actions)
    actions.create_client("bankapp", public=True, client_policy={"passwordless_login": True})
    _send(actions, _authorize(actions), "email")
    step_up_mail = mailbox.messages[-1]
    other = _browser(app)
    page, _ = _login_page(other, "bankapp")
    assert _ask_code(other, page, "alice", "email").status_code == 303
    sign_in_mail = mailbox.messages[-1]

    def text(message: Any, kind: str) -> str:
        body = message.get_body(preferencelist=(kind,))
        return " ".join(body.get_content().split())

    for kind in ("plain", "html"):
        sign_in = text(sign_in_mail, kind)
        step_up = text(step_up_mail, kind)
        assert "without your password" not in sign_in and "without your password" not in step_up
        assert "sign-in code is" in sign_in and "can sign in as you" in sign_in
        assert "confirmation code is" in step_up and "confirm it's you" in step_up
    with app.test_request_context():
        channel = app.extensions["belay_factors"].get("email_otp").channel
        verify = channel.message("a@example.com", "123456", ttl=300, purpose="verify")
        body = verify.get_body(preferencelist=("plain",)).get_content()
        assert "confirm this address" in body and "sign" not in body.lower()
    texts = {
        p: sms_text("Belay", "123456", ttl=300, purpose=p) for p in ("login", "step_up", "verify")
    }
    assert len(set(texts.values())) == 3
    assert "sign-in code" in texts["login"] and "never share" in texts["login"]
    assert all("123456" in t and len(t) <= 160 for t in texts.values())


def test_the_step_up_api_takes_only_a_code_asked_for_it(actions: Actions, sms: SmsSink) -> None:
    _user(actions)
    token = actions.client.get("/api/step-up/methods").get_json()["csrf_token"]

    def ask(purpose: str) -> str:
        sent = actions.client.post(
            "/challenge/send-code",
            data={"csrf_token": token, "channel": "sms", "purpose": purpose},
        )
        assert sent.status_code == 303
        return sms.last_code()

    def verify(code: str) -> Any:
        return actions.client.post(
            "/api/step-up/verify",
            json={"method": "sms_otp", "code": code},
            headers={"X-CSRF-Token": token},
        )

    page_code = ask("confirm_access")
    refused = verify(page_code)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_code"
    done = verify(ask("step_up_api"))
    assert done.status_code == 200, done.text
    assert "sms" in done.get_json()["amr"]


def test_the_admin_console_step_up_by_code(actions: Actions, app: Flask, sms: SmsSink) -> None:
    """The admin console's send-code form asks for its own purpose, goes back to
    the console, and its code opens the console (and only there)."""
    actions.create_user("root", is_admin=True, phone="+447700900123", phone_verified_at=clock.now())
    assert actions.login("root").status_code == 302
    page = actions.client.get("/admin/")
    assert 'name="purpose" value="admin_step_up"' in page.text, page.text[:800]
    sent = actions.client.post(
        "/challenge/send-code",
        data={"csrf_token": csrf_from(page.text), "channel": "sms", "purpose": "admin_step_up"},
    )
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/admin/")
    page = actions.client.get(sent.headers["Location"])
    assert 'id="sent-code-form"' in page.text
    assert 'id="sent-code-form"' not in actions.client.get("/account").text
    done = actions.client.post(
        "/admin/confirm",
        data={"csrf_token": csrf_from(page.text), "method": "sms_otp", "code": sms.last_code()},
    )
    assert done.status_code == 302
    assert actions.client.get("/admin/").status_code == 200
