"""/authorize parses once: the request is validated on /authorize only and every
re-entry (the challenge page, /authorize/resume, consent, the passkey step-up)
reads the stored, typed request back; a stored request it cannot read is an
expired sign-in, and a step-up call naming no known context is a 400."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from provider import policy
from provider.extensions import db
from provider.flows.authorize import AuthorizeRequest
from provider.oidc.server.authorization_code import CodeGrant
from provider.storage.models import AuthorizeTransaction
from tests.conftest import Actions, csrf_from, pkce_pair

PASSWORD = "correct horse battery"


@pytest.fixture
def rp(actions: Actions) -> str:
    actions.create_user()
    secret = actions.create_client("rp")
    assert secret is not None
    return secret


def _tx(response: Any) -> str:
    return parse_qs(urlsplit(response.request.url).query)["tx"][0]


def _count_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_step_up_validates_the_request_once(
    actions: Actions, rp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/authorize, the challenge page (GET and POST) and /authorize/resume: one
    Authlib validation and one parse of the policy parameters in all."""
    actions.code_flow("rp")
    validations = _count_calls(monkeypatch, CodeGrant, "validate_authorization_request")
    parses = _count_calls(monkeypatch, policy, "parse_requirement")
    verifier, challenge = pkce_pair()
    page = actions.follow(
        actions.authorize("rp", max_age="0", code_challenge=challenge, code_challenge_method="S256")
    )
    assert page.status_code == 200 and 'id="password-form"' in page.text
    tx = _tx(page)
    again = actions.client.get(f"/challenge?tx={tx}")
    assert again.status_code == 200 and 'id="password-form"' in again.text
    done = actions.follow(
        actions.client.post(
            f"/challenge?tx={tx}",
            data={
                "csrf_token": csrf_from(page.text),
                "method": "password",
                "password": PASSWORD,
                "tx": tx,
            },
        )
    )
    assert done.status_code == 302 and done.headers["Location"].startswith(Actions.REDIRECT)
    callback = {k: v[0] for k, v in parse_qs(urlsplit(done.headers["Location"]).query).items()}
    assert "code" in callback, callback
    assert (len(validations), len(parses)) == (1, 1)
    tokens = actions.exchange({**callback, "code_verifier": verifier}, "rp", rp)
    assert tokens.status_code == 200, tokens.text


def test_the_stored_request_reads_back_as_it_was_validated(actions: Actions, rp: str) -> None:
    actions.login()
    page = actions.follow(
        actions.authorize(
            "rp",
            max_age="0",
            acr_values="urn:belay:acr:2fa urn:unknown",
            prompt="login",
            code_challenge="x" * 43,
            code_challenge_method="S256",
        )
    )
    with actions.app.app_context():
        stored = db.session.get(AuthorizeTransaction, _tx(page))
        assert stored is not None
        request = AuthorizeRequest.from_json(stored.params)
    assert request.to_json() == stored.params
    assert request.max_age == 0 and request.prompts == frozenset({"login"})
    assert request.requirement.unknown_acr_values == ("urn:unknown",)
    assert request.scopes == ("openid", "profile") and request.code_challenge == "x" * 43
    assert request.explicit_step_up


@pytest.mark.parametrize(
    "stored",
    [
        # the shape of earlier releases: the raw parameters
        {"response_type": "code", "client_id": "rp", "redirect_uri": Actions.REDIRECT},
        {"v": 1, "client_id": "rp"},
        {"v": 99},
        {},
    ],
)
def test_an_unreadable_stored_transaction_is_an_expired_sign_in(
    actions: Actions, app: Flask, rp: str, stored: dict[str, Any]
) -> None:
    actions.login()
    page = actions.follow(actions.authorize("rp", max_age="0"))
    tx = _tx(page)
    with app.app_context():
        row = db.session.get(AuthorizeTransaction, tx)
        assert row is not None
        row.params = stored
        db.session.commit()
    for path in (f"/authorize/resume?tx={tx}", f"/challenge?tx={tx}", f"/consent?tx={tx}"):
        response = actions.client.get(path)
        assert response.status_code == 400, (path, response.status_code)
        assert "expired" in response.text, path


def _signed_in_csrf(actions: Actions) -> str:
    actions.login()
    page = actions.client.get("/account")
    return csrf_from(page.text)


@pytest.mark.parametrize("value", [5, None, ["tx"], "../admin", "a" * 65, "tx id"])
@pytest.mark.parametrize("path", ["/webauthn/step-up/options", "/webauthn/step-up/verify"])
def test_an_unknown_step_up_context_is_a_clear_400(
    actions: Actions, rp: str, path: str, value: Any
) -> None:
    token = _signed_in_csrf(actions)
    response = actions.client.post(
        path,
        data=json.dumps({"tx": value, "credential": {"id": "AA"}}),
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    body = response.get_json()
    assert body["error"] == "invalid_request"
    assert "step-up context" in body["error_description"]


def test_a_step_up_for_a_transaction_gone_is_expired(actions: Actions, rp: str) -> None:
    token = _signed_in_csrf(actions)
    response = actions.client.post(
        "/webauthn/step-up/options",
        data=json.dumps({"tx": "no-such-transaction"}),
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.get_json()["error"] == "expired"
