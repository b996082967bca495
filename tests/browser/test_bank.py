"""The demo bank's story in real Chromium, every party a real process over HTTP.

Alice signs in at the bank with her password, sees her balance and sends
money: the bank's API answers ``401 insufficient_user_authentication``, the
bank sends her to Belay, she types her authenticator code, and back at the bank
the transfer goes through. "A few minutes later" (the API's ``max_age`` is
shortened, as the processes' clocks cannot be moved) the API asks for a fresh
login again, and her PIN is enough: the session is still ``2fa``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests

from tests.browser.conftest import shot
from tests.conftest import ROOT, Actions, LiveServer, free_port

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery"
PIN = "480975"
TWO_FA_AND_ABOVE = "urn:belay:acr:2fa urn:belay:acr:phr urn:belay:acr:phrh"
#: The API's freshness window in this test: short enough to wait out.
MAX_AGE = 6


@dataclass
class Bank:
    web: str
    api: str
    totp: pyotp.TOTP
    processes: list[subprocess.Popen[bytes]]
    log: Path


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def bank(actions: Actions, op: LiveServer, tmp_path: Path) -> Iterator[Bank]:
    """alice (password, PIN, TOTP), the demo-bank client, and the bank's two processes."""
    web_port, api_port = free_port(), free_port()
    web, api = f"http://localhost:{web_port}", f"http://localhost:{api_port}"
    user_id = actions.create_user("alice", PASSWORD, name="Alice Example")
    secret = actions.create_client(
        "demo-bank",
        name="Demo Bank",
        redirect_uris=[f"{web}/callback"],
        post_logout_redirect_uris=[f"{web}/"],
        first_party=True,
        client_policy={"step_up_methods": ["totp", "pin", "passkey", "backup_code"]},
        metadata={"resources": [api]},
    )
    assert secret
    with actions.app.app_context():
        factors = actions.app.extensions["belay_factors"]
        factors.get("pin").set_pin(user_id, PIN, PIN)
        totp = pyotp.TOTP(factors.get("totp").add_confirmed(user_id, "alice").secret)
    env = {
        **os.environ,
        "BANK_ISSUER": op.url,
        "BANK_API_URL": api,
        "BANK_WEB_URL": web,
        "BANK_CLIENT_ID": "demo-bank",
        "BANK_CLIENT_SECRET": secret,
        "BANK_TRANSFER_MAX_AGE": str(MAX_AGE),
        "BANK_API_PORT": str(api_port),
        "BANK_WEB_PORT": str(web_port),
    }
    log = tmp_path / "bank.log"
    processes: list[subprocess.Popen[bytes]] = []
    with open(log, "wb") as out:
        for module, url in (("api", f"{api}/api/health"), ("web", f"{web}/")):
            process = subprocess.Popen(
                [sys.executable, "-m", f"examples.bank.{module}"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            processes.append(process)
            _wait_for(url, process, log)
        yield Bank(web=web, api=api, totp=totp, processes=processes, log=log)
    for process in processes:
        process.terminate()
        process.wait(10)


def _authorize_requests(page: Any, op_url: str) -> list[dict[str, str]]:
    """Every authorization request the browser makes to the OP, as a dict."""
    seen: list[dict[str, str]] = []

    def record(request: Any) -> None:
        if request.url.startswith(f"{op_url}/authorize?"):
            query = parse_qs(urlsplit(request.url).query)
            seen.append({k: v[0] for k, v in query.items()})

    page.on("request", record)
    return seen


def _transfer(page: Any, bank: Bank, to: str, amount: str) -> None:
    page.goto(f"{bank.web}/transfer")
    page.fill("#transfer-form input[name=to]", to)
    page.fill("#transfer-form input[name=amount]", amount)
    page.click("#transfer-form button[type=submit]")


def _signin_info(page: Any) -> tuple[str, int, str]:
    info = page.locator("#signin-info")
    acr = info.get_attribute("data-acr") or ""
    return acr, int(info.get_attribute("data-auth-time") or 0), page.inner_text("#signin-info")


def test_bank_transfer_steps_up_with_totp_then_a_pin(bank: Bank, op: LiveServer, page) -> None:
    authorize = _authorize_requests(page, op.url)

    # Sign in with Belay: a password is enough to look at the balance (1fa).
    page.goto(f"{bank.web}/")
    shot(page, "bank-home")
    page.click("#sign-in")
    page.wait_for_selector("#login-form")
    page.fill("#login-form input[name=username]", "alice")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{bank.web}/account")
    assert page.get_attribute("#balance", "data-balance") == "1250.00"
    assert _signin_info(page)[0] == "urn:belay:acr:1fa"
    assert authorize[0]["resource"] == bank.api and "acr_values" not in authorize[0]
    shot(page, "bank-account")

    # A transfer: the API wants 2fa within MAX_AGE seconds, the bank steps up.
    page.click("#new-transfer")
    page.fill("#transfer-form input[name=to]", "Bob's Bakery")
    page.fill("#transfer-form input[name=amount]", "25.00")
    shot(page, "bank-transfer")
    page.click("#transfer-form button[type=submit]")
    page.wait_for_selector("#totp-form")
    assert page.url.startswith(op.url)
    step_up = authorize[-1]
    assert step_up["acr_values"] == TWO_FA_AND_ABOVE
    assert step_up["max_age"] == str(MAX_AGE)
    assert step_up["resource"] == bank.api
    assert step_up["client_id"] == "demo-bank" and step_up["code_challenge_method"] == "S256"
    # Password + PIN is never 2fa, and the bank does not take the password again.
    assert page.locator("#pin-form").count() == 0
    assert page.locator("#password-form").count() == 0
    shot(page, "bank-challenge-totp")
    page.fill("#totp-form input[name=code]", bank.totp.now())
    page.click("#totp-form button[type=submit]")

    # Back at the bank: it says why it asked, then sends the remembered transfer.
    page.wait_for_selector("#step-up-confirmed")
    challenge = page.inner_text("#challenge")
    assert "insufficient_user_authentication" in challenge
    assert "urn:belay:acr:2fa" in challenge
    shot(page, "bank-step-up-confirmed")
    page.click("#resume-form button[type=submit]")
    page.wait_for_selector("#transfer-done")
    assert "Transfer done" in page.inner_text("#transfer-done")
    assert page.get_attribute("#balance", "data-balance") == "1225.00"
    acr, first_auth_time, text = _signin_info(page)
    assert acr == "urn:belay:acr:2fa" and "otp" in text
    shot(page, "bank-transfer-done")

    # "A few minutes later": the login is older than the API's max_age.
    time.sleep(MAX_AGE + 1)
    _transfer(page, bank, "Carol", "10.00")
    page.wait_for_selector("#pin-form")
    assert authorize[-1]["max_age"] == str(MAX_AGE)
    assert authorize[-1]["acr_values"] == TWO_FA_AND_ABOVE
    assert page.locator("#password-form").count() == 0
    shot(page, "bank-challenge-pin")
    page.fill("#pin-form input[name=pin]", PIN)
    page.click("#pin-form button[type=submit]")
    page.wait_for_selector("#step-up-confirmed")
    assert "More recent authentication" in page.inner_text("#challenge")
    page.click("#resume-form button[type=submit]")
    page.wait_for_selector("#transfer-done")
    assert page.get_attribute("#balance", "data-balance") == "1215.00"
    acr, second_auth_time, text = _signin_info(page)
    assert acr == "urn:belay:acr:2fa"  # still 2fa: the PIN only made it fresh
    assert "pin" in text
    assert second_auth_time >= first_auth_time + MAX_AGE
    shot(page, "bank-transfer-done-pin")

    # The account lists both, with how each was confirmed; signing out ends it.
    page.goto(f"{bank.web}/account")
    rows = page.locator(".transfers tbody tr")
    assert rows.count() == 2
    assert "pin" in rows.nth(0).inner_text() and "otp" in rows.nth(1).inner_text()
    page.click("nav form button[type=submit]")
    page.wait_for_selector("#logout-form")
    page.click("#logout-form button")
    page.wait_for_url(f"{bank.web}/")
    assert page.locator("#sign-in").count() == 1


def test_cancel_on_the_challenge_tells_the_bank_the_user_cancelled(
    bank: Bank, op: LiveServer, page
) -> None:
    """Cancel reaches the bank as access_denied (RFC 6749 §4.1.2.1): it says
    the transfer was not sent, never "your account has no second factor" to
    alice, who has an authenticator app and a PIN."""
    page.goto(f"{bank.web}/")
    page.click("#sign-in")
    page.wait_for_selector("#login-form")
    page.fill("#login-form input[name=username]", "alice")
    page.fill("#login-form input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{bank.web}/account")
    _transfer(page, bank, "Bob's Bakery", "25.00")
    page.wait_for_selector("#totp-form")
    page.click("#cancel-form button[type=submit]")
    page.wait_for_url(f"{bank.web}/**")
    text = page.inner_text("body")
    assert "You cancelled; the transfer was not sent." in text
    assert "no second factor" not in text
    shot(page, "bank-step-up-cancelled")
    page.goto(f"{bank.web}/account")
    assert page.get_attribute("#balance", "data-balance") == "1250.00"
