"""The development outbox (BELAY_DEV_OUTBOX): codes by email and SMS kept, not sent,
printed on standard error and listed at /dev/outbox — only in development.

Off: /dev/outbox is a 404 and codes go to the configured channels. On: a sign-in
by code works from the code the page shows; the messages live in the database,
so a second server process (gunicorn runs two) lists them too. With an issuer
that is not http on a loopback host the setting stops the start.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from provider import clock
from provider.app import create_app
from provider.config import ConfigError, load_config, validate
from provider.extensions import db
from provider.policy.model import CATALOGUE
from provider.storage import dev_outbox as store
from provider.storage.models import DevOutboxMessage, User
from tests import test_factor_email_sms as email_sms
from tests.conftest import Actions, base_config
from tests.test_factor_email_sms import _ask_code, _enter_code, _id_token, _login_page

#: alice with a PIN and a verified phone; "bankapp" offers sign-in by code (a fixture)
code_login_client = email_sms.code_login_client

OUTBOX = pytest.mark.settings(DEV_OUTBOX=True)


def _outbox_codes(html: str) -> list[str]:
    return re.findall(r"code is (\d{6})", html)


def _verify_email(app: Flask, user_id: int) -> None:
    with app.app_context():
        db.session.execute(
            db.update(User)
            .where(User.id == user_id)
            .values(email="alice@example.test", email_verified_at=clock.now())
        )
        db.session.commit()


def test_off_by_default_the_outbox_is_a_404(client: Any, app: Flask) -> None:
    assert app.config["DEV_OUTBOX"] is False
    assert client.get("/dev/outbox").status_code == 404


def test_off_no_channel_is_the_outbox(app: Flask) -> None:
    """Without SMTP or an SMS webhook the code factors have no channel at all."""
    factors = app.extensions["belay_factors"]
    assert factors.code_factor("email").channel is None
    assert factors.code_factor("sms").channel is None


@OUTBOX
def test_an_email_code_from_the_outbox_signs_in(
    actions: Actions, app: Flask, code_login_client: int, capfd: pytest.CaptureFixture[str]
) -> None:
    _verify_email(app, code_login_client)
    empty = actions.client.get("/dev/outbox")
    assert empty.status_code == 200 and 'id="outbox-empty"' in empty.text
    assert empty.headers["Cache-Control"] == "no-store"
    # An HTML page, not its source shown as text (no title or language for a reader).
    assert empty.mimetype == "text/html"

    page, verifier = _login_page(actions, "bankapp")
    asked = _ask_code(actions, page, "alice", channel="email")
    assert asked.status_code == 303
    page = actions.client.get(asked.headers["Location"])
    listed = actions.client.get("/dev/outbox")
    assert listed.status_code == 200
    assert "Email" in listed.text and "alice@example.test" in listed.text
    assert "Subject: Your Belay sign-in code" in listed.text
    (code,) = _outbox_codes(listed.text)
    # ... and the terminal showed it too (standard error, one line)
    printed = capfd.readouterr().err
    assert f"[dev outbox] email to alice@example.test: code {code} (login;" in printed

    claims = _id_token(
        actions, actions.follow(_enter_code(actions, page, code)), verifier, "bankapp"
    )
    assert claims["amr"] == list(CATALOGUE["email_otp"].amr)


@OUTBOX
def test_sms_codes_are_listed_newest_first(
    actions: Actions, app: Flask, code_login_client: int
) -> None:
    first, _ = _login_page(actions, "bankapp")
    assert _ask_code(actions, first, "alice", channel="sms").status_code == 303
    second, _ = _login_page(actions, "bankapp")
    assert _ask_code(actions, second, "alice", channel="sms").status_code == 303
    listed = actions.client.get("/dev/outbox").text
    assert listed.count("Text message") == 2 and "+447700900123" in listed
    with app.app_context():
        rows = store.recent()
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    assert _outbox_codes(listed) == [re.search(r"code is (\d{6})", r.text).group(1) for r in rows]  # type: ignore[union-attr]
    assert "Your Belay sign-in code is" in rows[0].text


@OUTBOX
def test_another_server_process_lists_the_same_messages(
    actions: Actions, app: Flask, code_login_client: int
) -> None:
    """gunicorn's two workers are two apps: the outbox is the database, not memory."""
    page, _ = _login_page(actions, "bankapp")
    _ask_code(actions, page, "alice", channel="sms")
    other = create_app(base_config(DEV_OUTBOX=True))
    listed = other.test_client().get("/dev/outbox")
    assert listed.status_code == 200 and len(_outbox_codes(listed.text)) == 1


@OUTBOX
@pytest.mark.parametrize(
    "environ",
    [
        {"REMOTE_ADDR": "192.0.2.7"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.7"},
        {"REMOTE_ADDR": "127.0.0.1", "HTTP_FORWARDED": "for=192.0.2.7"},
    ],
)
def test_on_the_outbox_is_only_for_this_host(client: Any, environ: dict[str, str]) -> None:
    assert client.get("/dev/outbox", environ_base=environ).status_code == 404
    assert client.get("/dev/outbox", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


@OUTBOX
def test_the_outbox_keeps_the_last_hundred(app: Flask) -> None:
    with app.app_context():
        for n in range(store.KEEP + 5):
            store.add(channel="sms", recipient="+447700900123", text=f"m{n}", now=clock.now())
        assert db.session.query(DevOutboxMessage).count() == store.KEEP
        assert store.recent(1)[0].text == f"m{store.KEEP + 4}"


@OUTBOX
def test_the_outbox_page_escapes_what_it_shows(client: Any, app: Flask) -> None:
    with app.app_context():
        store.add(channel="email", recipient="a@example.test", text="<script>x</script>", now=1)
    page = client.get("/dev/outbox").text
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


@pytest.mark.parametrize(
    "issuer", ["https://id.example.com", "http://id.example.com", "https://localhost:5000"]
)
def test_production_refuses_to_start_with_the_outbox(issuer: str) -> None:
    with pytest.raises(ConfigError, match=r"BELAY_DEV_OUTBOX .* development only"):
        load_config({"BELAY_DEV_OUTBOX": "on", "BELAY_ISSUER": issuer})
    with pytest.raises(ConfigError, match="BELAY_DEV_OUTBOX"):
        create_app(base_config(DEV_OUTBOX=True, ISSUER=issuer))


@pytest.mark.parametrize("issuer", ["http://localhost:5000", "http://127.0.0.1:8000"])
def test_a_local_issuer_may_use_the_outbox(issuer: str) -> None:
    assert load_config({"BELAY_DEV_OUTBOX": "on", "BELAY_ISSUER": issuer})["DEV_OUTBOX"] is True


def test_log_level_is_checked() -> None:
    assert load_config({"BELAY_LOG_LEVEL": "WARNING"})["LOG_LEVEL"] == "warning"
    with pytest.raises(ConfigError, match="BELAY_LOG_LEVEL"):
        validate({**load_config({}), "LOG_LEVEL": "loud"})
