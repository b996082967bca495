"""Assurance across seams, at the HTTP level (docs/security.md cases 44, 47 and 48).

- Case 44: a locked factor never lowers a requirement: "Confirm access", the
  admin console and the step-up API ask for the level of the strongest
  *enrolled* factor; while it is locked the page names a recovery path that
  keeps the bar (a backup code, or an administrator's reset).
- Case 47: a replay from a remembered browser never satisfies ``max_age``, also
  through a transaction opened before the replay, and never shows up in the
  tokens of a client that does not accept remembered browsers.
- Case 48: ``max_age`` and ``auth_time`` of a client follow only events of
  methods that client accepts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask

from provider import clock
from provider.extensions import db
from provider.storage.models import AuthEvent
from tests.conftest import Actions, csrf_from, pkce_pair

ONE_FA = "urn:belay:acr:1fa"
TWO_FA = "urn:belay:acr:2fa"
PASSWORD = "correct horse battery"


# -- helpers ----------------------------------------------------------------------


def _factor(app: Flask, method: str) -> Any:
    return app.extensions["belay_factors"].get(method)


def _add_totp(actions: Actions, user_id: int) -> pyotp.TOTP:
    """An active authenticator (as ``belay user add-totp`` makes it)."""
    with actions.app.app_context():
        enrolment = _factor(actions.app, "totp").add_confirmed(user_id, "alice")
    return pyotp.TOTP(enrolment.secret)


def _add_backup_codes(actions: Actions, user_id: int) -> list[str]:
    with actions.app.app_context():
        return list(_factor(actions.app, "backup_code").generate(user_id))


def _wrong_code(totp: pyotp.TOTP, now: int) -> str:
    valid = {totp.at(now + drift) for drift in (-90, -60, -30, 0, 30, 60, 90)}
    return next(c for c in (f"{n:06d}" for n in range(100_000, 999_999, 7919)) if c not in valid)


def _logout(actions: Actions) -> None:
    page = actions.client.get("/logout")
    actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})


def _lock_totp_through_the_api(actions: Actions, totp: pyotp.TOTP) -> int:
    """Wrong codes through /api/step-up/verify, honouring retry_after (the test
    clock waits as long as asked), until the authenticator is locked for good."""
    token = actions.client.get("/api/step-up/methods").get_json()["csrf_token"]
    offset = 0
    for _ in range(60):
        response = actions.client.post(
            "/api/step-up/verify",
            json={"method": "totp", "code": _wrong_code(totp, clock.now())},
            headers={"X-CSRF-Token": token},
        )
        body = response.get_json()
        if response.status_code == 429:
            if not body.get("retry_after"):
                return offset  # locked, no wait announced: locked until reset
            offset += int(body["retry_after"])
        else:
            assert response.status_code == 401, response.text
            offset += 1
        clock.set_offset(offset)
    raise AssertionError("the authenticator never locked")


def _start(actions: Actions, client_id: str, **params: Any) -> tuple[Any, str]:
    verifier, challenge = pkce_pair()
    page = actions.follow(
        actions.authorize(
            client_id, code_challenge=challenge, code_challenge_method="S256", **params
        )
    )
    return page, verifier


def _tx(page: Any) -> str:
    return parse_qs(urlsplit(page.request.url).query)["tx"][0]


def _challenge(actions: Actions, page: Any, method: str, **fields: str) -> Any:
    tx = _tx(page)
    return actions.follow(
        actions.client.post(
            f"/challenge?tx={tx}",
            data={"csrf_token": csrf_from(page.text), "tx": tx, "method": method, **fields},
        )
    )


def _claims(actions: Actions, response: Any, verifier: str, client_id: str, secret: str) -> dict:
    assert response.status_code == 302, response.text[:600]
    callback = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    assert "code" in callback, callback
    body = actions.exchange({**callback, "code_verifier": verifier}, client_id, secret).get_json()
    return actions.decode(body["id_token"])


def _confirmed(page: Any) -> bool:
    return "You can change your sign-in methods until" in page.text


# -- case 44: a locked factor never lowers Confirm access --------------------------------


@pytest.fixture
def victim(actions: Actions) -> dict[str, Any]:
    """alice with a password and TOTP; the attacker signs in with the password."""
    user_id = actions.create_user()
    totp = _add_totp(actions, user_id)
    assert actions.login().status_code == 302
    return {"user_id": user_id, "totp": totp}


def test_locked_totp_keeps_confirm_access_at_2fa_and_offers_backup_codes(
    actions: Actions, victim: dict[str, Any]
) -> None:
    codes = _add_backup_codes(actions, victim["user_id"])
    _lock_totp_through_the_api(actions, victim["totp"])
    # The fresh password alone does not confirm access: 2fa is still asked.
    actions.login()
    page = actions.client.get("/account")
    assert page.status_code == 200
    assert not _confirmed(page)
    assert f"<code>{TWO_FA}</code>" in page.text
    assert 'id="locked-recovery"' in page.text and "authenticator app is locked" in page.text
    assert 'id="recovery-backup-code"' in page.text and 'href="#backup-form"' in page.text
    assert 'id="backup-form"' in page.text and 'id="totp-form"' not in page.text
    assert 'id="password-form"' not in page.text
    # The step-up API says the same.
    methods = actions.client.get("/api/step-up/methods").get_json()
    assert methods["confirm_acr"] == TWO_FA and methods["confirmed"] is False
    assert methods["locked"] == ["totp"] and methods["recovery"] == "backup_code"
    assert methods["confirm_methods"] == ["backup_code"]
    # Enrolling anything stays closed.
    refused = actions.client.post("/account/totp/begin", data={"csrf_token": csrf_from(page.text)})
    assert refused.status_code in (302, 403) or "totp-secret" not in refused.text
    # Password (the sign-in) + a backup code: 2fa, access confirmed.
    done = actions.client.post(
        "/account/confirm",
        data={"csrf_token": csrf_from(page.text), "method": "backup_code", "code": codes[0]},
    )
    assert done.status_code in (200, 302)
    assert _confirmed(actions.client.get("/account"))


def test_locked_totp_without_backup_codes_names_the_admin_reset(
    actions: Actions, victim: dict[str, Any]
) -> None:
    _lock_totp_through_the_api(actions, victim["totp"])
    actions.login()
    page = actions.client.get("/account")
    assert not _confirmed(page)
    assert f"<code>{TWO_FA}</code>" in page.text
    assert 'id="recovery-admin-reset"' in page.text
    assert "Ask an administrator to reset your authenticator app" in page.text
    assert 'id="recovery-link"' in page.text
    methods = actions.client.get("/api/step-up/methods").get_json()
    assert methods["confirm_acr"] == TWO_FA and methods["recovery"] == "admin_reset"
    # A password re-entry is not a way around it.
    refused = actions.client.post(
        "/account/confirm",
        data={"csrf_token": methods["csrf_token"], "method": "password", "password": PASSWORD},
    )
    assert refused.status_code in (400, 401, 403)
    assert not _confirmed(actions.client.get("/account"))


def test_locked_totp_keeps_the_admin_console_closed_and_names_the_reset(
    actions: Actions,
) -> None:
    user_id = actions.create_user(is_admin=True)
    totp = _add_totp(actions, user_id)
    actions.login()
    _lock_totp_through_the_api(actions, totp)
    actions.login()
    page = actions.client.get("/admin/")
    assert page.status_code == 403 and 'id="admin-step-up"' in page.text
    assert f"<code>{TWO_FA}</code>" in page.text
    assert 'id="recovery-admin-reset"' in page.text


# -- case 47: remembered browsers -------------------------------------------------------


@pytest.fixture
def remembering(actions: Actions) -> dict[str, Any]:
    """alice with TOTP; "rp" needs 2fa and remembers browsers for 30 days; "other"
    (1fa) does not accept remembered browsers. The browser is remembered."""
    user_id = actions.create_user()
    totp = _add_totp(actions, user_id)
    secrets = {
        "rp": actions.create_client(
            "rp", client_policy={"minimum_acr": TWO_FA, "remember_device_days": 30}
        )
        or "",
        "other": actions.create_client("other") or "",
    }
    actions.login()
    clock.set_offset(31)
    page, verifier = _start(actions, "rp")
    assert 'name="remember_device"' in page.text
    done = _challenge(actions, page, "totp", code=totp.at(clock.now()), remember_device="1")
    assert _claims(actions, done, verifier, "rp", secrets["rp"])["acr"] == TWO_FA
    assert actions.client.get_cookie("belay_device") is not None
    _logout(actions)
    return {"totp": totp, "secrets": secrets}


def test_a_replay_by_a_parallel_transaction_never_meets_max_age_0(
    actions: Actions, remembering: dict[str, Any]
) -> None:
    clock.set_offset(600)
    actions.login()
    clock.set_offset(660)
    # tx1: max_age=0 wants a new event.
    tx1_page, tx1_verifier = _start(actions, "rp", max_age="0")
    assert tx1_page.status_code == 200 and 'id="totp-form"' in tx1_page.text
    tx1 = _tx(tx1_page)
    clock.set_offset(665)
    # tx2 (no max_age): the remembered browser is replayed for it.
    tx2_page, tx2_verifier = _start(actions, "rp")
    claims = _claims(actions, tx2_page, tx2_verifier, "rp", remembering["secrets"]["rp"])
    assert claims["acr"] == TWO_FA
    with actions.app.app_context():
        replays = [
            e for e in db.session.scalars(db.select(AuthEvent)) if e.details.get("remembered")
        ]
        assert len(replays) == 1 and replays[0].details["origin"] == "remembered"
    # tx1 resumed: still a challenge, no code without a new event.
    clock.set_offset(670)
    resumed = actions.follow(actions.client.get(f"/authorize/resume?tx={tx1}"))
    assert resumed.status_code == 200, resumed.headers.get("Location")
    assert 'id="totp-form"' in resumed.text
    # A real TOTP code then completes it, with a new auth_time.
    done = _challenge(actions, resumed, "totp", code=remembering["totp"].at(clock.now()))
    claims = _claims(actions, done, tx1_verifier, "rp", remembering["secrets"]["rp"])
    assert claims["auth_time"] >= clock.now() - 1


def test_a_replay_by_a_parallel_transaction_never_answers_prompt_login(
    actions: Actions, remembering: dict[str, Any]
) -> None:
    clock.set_offset(600)
    actions.login()
    clock.set_offset(660)
    tx1_page, _ = _start(actions, "rp", prompt="login")
    assert tx1_page.status_code == 200 and 'id="login-form"' in tx1_page.text
    tx1 = _tx(tx1_page)
    clock.set_offset(665)
    tx2_page, tx2_verifier = _start(actions, "rp")
    assert _claims(actions, tx2_page, tx2_verifier, "rp", remembering["secrets"]["rp"])
    clock.set_offset(670)
    resumed = actions.follow(actions.client.get(f"/authorize/resume?tx={tx1}"))
    assert resumed.status_code == 200, resumed.headers.get("Location")
    assert 'id="login-form"' in resumed.text


def test_a_replay_never_appears_for_a_client_that_does_not_remember(
    actions: Actions, remembering: dict[str, Any]
) -> None:
    clock.set_offset(600)
    actions.login()
    page, verifier = _start(actions, "rp")
    rp = _claims(actions, page, verifier, "rp", remembering["secrets"]["rp"])
    assert rp["acr"] == TWO_FA and rp["amr"] == ["pwd", "otp", "mfa"]
    # The same session, another client: no replayed otp, no mfa.
    page, verifier = _start(actions, "other")
    other = _claims(actions, page, verifier, "other", remembering["secrets"]["other"])
    assert other["acr"] == ONE_FA
    assert other["amr"] == ["pwd"]
    assert other["auth_time"] == rp["auth_time"]  # the password, not the replay
    # The OP's own pages do not count it either.
    assert actions.client.get("/api/step-up/methods").get_json()["acr"] == ONE_FA


# -- case 48: freshness and auth_time follow the client's own methods --------------------


def test_a_password_at_another_client_does_not_refresh_a_totp_only_client(
    actions: Actions,
) -> None:
    user_id = actions.create_user()
    totp = _add_totp(actions, user_id)
    bank = (
        actions.create_client(
            "bank",
            client_policy={"minimum_acr": TWO_FA, "step_up_methods": ["totp", "passkey"]},
        )
        or ""
    )
    plain = actions.create_client("plain") or ""
    actions.login()
    clock.set_offset(10)
    page, verifier = _start(actions, "bank")
    done = _challenge(actions, page, "totp", code=totp.at(clock.now()))
    totp_time = _claims(actions, done, verifier, "bank", bank)["auth_time"]
    # Ten minutes later a password re-entry at a client that accepts it.
    clock.set_offset(610)
    page, verifier = _start(actions, "plain", max_age="60")
    assert 'id="password-form"' in page.text
    done = _challenge(actions, page, "password", password=PASSWORD)
    plain_claims = _claims(actions, done, verifier, "plain", plain)
    assert plain_claims["auth_time"] >= clock.now() - 1
    # The bank still sees its TOTP time, and its max_age is not met by the password.
    clock.set_offset(620)
    page, verifier = _start(actions, "bank")
    assert _claims(actions, page, verifier, "bank", bank)["auth_time"] == totp_time
    page, _ = _start(actions, "bank", max_age="120")
    assert page.status_code == 200 and 'id="totp-form"' in page.text
    assert 'id="password-form"' not in page.text


def test_a_locked_factor_for_phr_is_not_replaced_by_a_backup_code(
    actions: Actions, app: Flask
) -> None:
    """No backup code reaches phr: the recovery is the admin reset, and the page says
    that a backup code cannot be used (passkeys do not lock today, so the locked
    passkey is given to the same engine call Confirm access and the console make)."""
    from flask import render_template

    from provider.flows import account as account_flow
    from provider.policy import EnrolledMethod
    from provider.storage.models import User, WebSession

    actions.create_user()
    actions.login()
    enrolled = [
        EnrolledMethod("password"),
        EnrolledMethod("passkey", credential_id="k", backup_eligible=False, locked=True),
        EnrolledMethod("backup_code"),
    ]
    with app.test_request_context("/account"):
        row = db.session.scalars(db.select(WebSession).where(WebSession.user_id.is_not(None))).one()
        user = db.session.get(User, row.user_id)
        access = account_flow.check_level(
            user,
            row,
            None,
            None,
            target="urn:belay:acr:phr",
            max_age=300,
            enrolled=enrolled,
            at_least_enrolled=True,
        )
        assert not access.confirmed and access.target_acr == "urn:belay:acr:phrh"
        assert access.methods == ()  # the backup code does not reach it
        assert access.locked == ("passkey",)
        assert access.recovery == account_flow.RECOVERY_ADMIN_RESET
        assert access.backup_codes_too_weak
        html = render_template("_locked_recovery.html", access=access)
    assert "A backup code cannot reach" in html and 'id="recovery-admin-reset"' in html
