"""The demo bank's API (examples/bank/api.py) against tokens from the in-process OP.

The API fetches discovery and the JWKS through the OP's Flask test client, so
this runs without server processes; tests/browser/test_bank.py runs the whole
story over real HTTP in Chromium.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from examples.bank.api import create_app
from provider import clock
from provider.extensions import db
from provider.relying_party import parse_www_authenticate, step_up_requirement
from provider.resource_server import ProviderUnavailable
from provider.storage.models import SigningKey
from tests.conftest import Actions, csrf_from, pkce_pair

API = "https://bank-api.example.test"
TWO_FA = "urn:belay:acr:2fa"
PIN = "480975"
STEP_UP_METHODS = ["totp", "pin", "passkey", "backup_code"]
TRANSFER_CHALLENGE = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="A different authentication level is required", '
    'acr_values="urn:belay:acr:2fa urn:belay:acr:phr urn:belay:acr:phrh", '
    'max_age="120"'
)


class OpOverTestClient:
    """The resource-server kit's HttpClient, answered by the OP's test client."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get_json(self, url: str) -> dict[str, Any]:
        response = self.client.get(urlsplit(url).path)
        if response.status_code != 200:
            raise ProviderUnavailable(f"GET {url} answered {response.status_code}")
        body = response.get_json()
        assert isinstance(body, dict)
        return body

    def post_form(self, url: str, *, data: Any, headers: Any) -> dict[str, Any]:
        raise AssertionError("the bank's API does not introspect")


class Bank:
    """The OP's user alice (password, PIN, TOTP), the bank as its client, and the API."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.user_id = actions.create_user("alice")
        self.secret = actions.create_client(
            "bank",
            client_policy={"step_up_methods": STEP_UP_METHODS},
            metadata={"resources": [API]},
        )
        with actions.app.app_context():
            factors = actions.app.extensions["belay_factors"]
            factors.get("pin").set_pin(self.user_id, PIN, PIN)
            self.totp = pyotp.TOTP(factors.get("totp").add_confirmed(self.user_id, "alice").secret)
        api = create_app(
            {"BANK_ISSUER": "http://localhost", "BANK_API_URL": API},
            http=OpOverTestClient(actions.client),
        )
        self.api: FlaskClient = api.test_client()

    def tokens(self, response: Any, verifier: str) -> dict[str, Any]:
        assert response.status_code == 302, response.text[:500]
        query = parse_qs(urlsplit(response.headers["Location"]).query)
        callback = {k: v[0] for k, v in query.items()}
        body = self.actions.exchange({**callback, "code_verifier": verifier}, "bank", self.secret)
        assert body.status_code == 200, body.text
        return dict(body.get_json())

    def sign_in(self, **params: str) -> str:
        """Password login; the access token, for the API."""
        callback = self.actions.code_flow("bank", resource=API, **params)
        return str(self.actions.exchange(callback, "bank", self.secret).get_json()["access_token"])

    def step_up(self, form_id: str, method: str, **params: str) -> dict[str, Any]:
        """Authorize again with ``params``, answer the challenge with ``form_id``."""
        verifier, challenge = pkce_pair()
        page = self.actions.follow(
            self.actions.authorize(
                "bank",
                code_challenge=challenge,
                code_challenge_method="S256",
                resource=API,
                **params,
            )
        )
        assert f'id="{form_id}"' in page.text, page.text[:800]
        assert 'id="password-form"' not in page.text  # not a step-up method for the bank
        tx = parse_qs(urlsplit(page.request.url).query)["tx"][0]
        fields = {"code": self.totp.at(clock.now())} if method == "totp" else {"pin": PIN}
        done = self.actions.follow(
            self.actions.client.post(
                f"/challenge?tx={tx}",
                data={"csrf_token": csrf_from(page.text), "tx": tx, "method": method, **fields},
            )
        )
        return self.tokens(done, verifier)

    def get(self, path: str, token: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.api.get(path, headers=headers)

    def post(self, token: str | None, body: Any = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.api.post("/api/transfers", json=body, headers=headers, **kw)


@pytest.fixture
def bank(actions: Actions) -> Bank:
    return Bank(actions)


def test_balance_at_1fa_and_transfer_challenge(bank: Bank) -> None:
    token = bank.sign_in()
    claims = bank.actions.decode(token)
    assert claims["acr"] == "urn:belay:acr:1fa" and claims["aud"] == API

    balance = bank.get("/api/balance", token)
    assert balance.status_code == 200, balance.text
    assert balance.get_json()["balance"] == "1250.00"
    assert balance.get_json()["owner"] == claims["sub"]

    refused = bank.post(token, {"to": "Bob", "amount": "25.00"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == TRANSFER_CHALLENGE
    assert refused.get_json()["error"] == "insufficient_user_authentication"
    # The relying-party kit reads it back as the next authorization request's needs.
    needed = step_up_requirement(parse_www_authenticate(refused.headers["WWW-Authenticate"]))
    assert needed is not None
    assert needed.acr_values == (TWO_FA, "urn:belay:acr:phr", "urn:belay:acr:phrh")
    assert needed.max_age == 120
    assert bank.get("/api/balance", token).get_json()["balance"] == "1250.00"


def test_totp_step_up_then_transfer(bank: Bank) -> None:
    bank.sign_in()
    tokens = bank.step_up(
        "totp-form", "totp", acr_values=f"{TWO_FA} urn:belay:acr:phr", max_age="120"
    )
    token = tokens["access_token"]
    assert bank.actions.decode(token)["acr"] == TWO_FA

    sent = bank.post(token, {"to": "Bob's Bakery", "amount": "25.50"})
    assert sent.status_code == 201, sent.text
    body = sent.get_json()
    assert body["to"] == "Bob's Bakery" and body["amount"] == "25.50"
    assert body["balance"] == "1224.50"
    assert "otp" in body["confirmed"]["amr"]
    statement = bank.get("/api/balance", token).get_json()  # 2fa also reads the balance
    assert statement["balance"] == "1224.50" and statement["transfers"][0]["id"] == body["id"]


def test_an_old_2fa_login_must_be_refreshed_and_a_pin_does_it(bank: Bank) -> None:
    """The fintech story: TOTP some minutes ago, now a transfer: the PIN is enough."""
    with bank.actions.app.app_context():  # the OP's keys were made ten minutes ago
        db.session.execute(update(SigningKey).values(activates_at=SigningKey.activates_at - 600))
        db.session.commit()
    clock.set_offset(-300)  # everything below happens "five minutes ago"…
    bank.sign_in()
    old = bank.step_up("totp-form", "totp", acr_values=TWO_FA)["access_token"]
    clock.set_offset(0)  # … and now
    refused = bank.post(old, {"to": "Bob", "amount": "10"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="More recent authentication is required", '
        'acr_values="urn:belay:acr:2fa urn:belay:acr:phr urn:belay:acr:phrh", '
        'max_age="120"'
    )
    fresh = bank.step_up("pin-form", "pin", acr_values=TWO_FA, max_age="120")
    claims = bank.actions.decode(fresh["access_token"])
    assert claims["acr"] == TWO_FA and "pin" in claims["amr"]
    assert claims["auth_time"] >= bank.actions.decode(old)["auth_time"] + 299
    assert bank.post(fresh["access_token"], {"to": "Bob", "amount": "10"}).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "to=Bob&amount=1",
        {"to": "Bob"},
        {"amount": "5.00"},
        {"to": "", "amount": "5.00"},
        {"to": "Bob\nEve", "amount": "5.00"},
        {"to": "x" * 65, "amount": "5.00"},
        {"to": "Bob", "amount": "abc"},
        {"to": "Bob", "amount": "-5"},
        {"to": "Bob", "amount": "0"},
        {"to": "Bob", "amount": "0.00"},
        {"to": "Bob", "amount": "1.234"},
        {"to": "Bob", "amount": "1e3"},
        {"to": "Bob", "amount": "10000.01"},
        {"to": "Bob", "amount": True},
        {"to": "Bob", "amount": None},
        {"to": "Bob", "amount": "5", "from": "someone else"},
    ],
)
def test_malformed_transfers_are_400(bank: Bank, body: Any) -> None:
    bank.sign_in()
    token = bank.step_up("totp-form", "totp", acr_values=TWO_FA)["access_token"]
    if isinstance(body, str):
        response = bank.api.post(
            "/api/transfers",
            data=body,
            headers={"Authorization": f"Bearer {token}"},
            content_type="application/x-www-form-urlencoded",
        )
    else:
        response = bank.post(token, body)
    assert response.status_code == 400, response.text
    assert response.get_json()["error"] in {
        "invalid_request",
        "invalid_amount",
        "invalid_recipient",
    }
    assert bank.get("/api/balance", token).get_json()["balance"] == "1250.00"


def test_overdraft_is_refused(bank: Bank) -> None:
    bank.sign_in()
    token = bank.step_up("totp-form", "totp", acr_values=TWO_FA)["access_token"]
    response = bank.post(token, {"to": "Bob", "amount": "1250.01"})
    assert response.status_code == 422 and response.get_json()["error"] == "insufficient_funds"
    assert bank.post(token, {"to": "Bob", "amount": 1250}).status_code == 201


def test_token_errors_follow_rfc_6750(bank: Bank, app: Flask) -> None:
    missing = bank.get("/api/balance", None)
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert bank.post(None, {"to": "Bob", "amount": "1"}).status_code == 401

    malformed = bank.api.get("/api/balance", headers={"Authorization": "Bearer two tokens"})
    assert malformed.status_code == 400
    assert malformed.headers["WWW-Authenticate"].startswith('Bearer error="invalid_request"')

    garbage = bank.get("/api/balance", "not-a-jwt")
    assert garbage.status_code == 401
    assert garbage.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

    # A token the OP made for the client itself (no resource=) is not for this API.
    callback = bank.actions.code_flow("bank")
    own = bank.actions.exchange(callback, "bank", bank.secret).get_json()["access_token"]
    wrong_audience = bank.get("/api/balance", own)
    assert wrong_audience.status_code == 401
    assert 'error="invalid_token"' in wrong_audience.headers["WWW-Authenticate"]

    # The ID token is not an access token.
    id_token = bank.actions.exchange(
        bank.actions.code_flow("bank", resource=API), "bank", bank.secret
    ).get_json()["id_token"]
    assert bank.get("/api/balance", id_token).status_code == 401
