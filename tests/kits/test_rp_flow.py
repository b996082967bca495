"""The RP kit's next authorization request, the acr/auth_time check (RFC 9470
§4, OIDC Core §3.1.3.7 items 12–13) and the Flask step-up helper."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, request, session

from provider.relying_party import (
    StepUpFlowError,
    StepUpNotMet,
    StepUpRequirement,
    build_authorization_request,
    check_authentication,
)
from provider.relying_party.flask_adapter import StepUpFlow

ENDPOINT = "https://op.example/authorize"
TWO = "urn:belay:acr:2fa"
PHR = "urn:belay:acr:phr"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def test_request_carries_pkce_state_nonce_and_requirement() -> None:
    auth = build_authorization_request(
        authorization_endpoint=ENDPOINT + "?tenant=acme",
        client_id="bank",
        redirect_uri="https://bank.example/cb",
        scope=["openid", "profile"],
        requirement=StepUpRequirement(acr_values=(TWO, PHR), max_age=0),
        extra={"prompt": "login", "login_hint": "alice"},
    )
    assert auth.url.startswith(ENDPOINT + "?")
    q = query(auth.url)
    verifier_hash = hashlib.sha256(auth.code_verifier.encode()).digest()
    assert q == {
        "tenant": "acme",
        "response_type": "code",
        "client_id": "bank",
        "redirect_uri": "https://bank.example/cb",
        "scope": "openid profile",
        "state": auth.state,
        "nonce": auth.nonce,
        "code_challenge": base64.urlsafe_b64encode(verifier_hash).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "acr_values": f"{TWO} {PHR}",
        "max_age": "0",
        "prompt": "login",
        "login_hint": "alice",
    }
    assert 43 <= len(auth.code_verifier) <= 128
    assert len(auth.state) >= 32 and len(auth.nonce) >= 32


def test_each_request_is_fresh_and_requirement_is_optional() -> None:
    kw: dict[str, Any] = {
        "authorization_endpoint": ENDPOINT,
        "client_id": "bank",
        "redirect_uri": "https://bank.example/cb",
        "scope": "openid",
    }
    a, b = build_authorization_request(**kw), build_authorization_request(**kw)
    assert len({a.state, b.state, a.nonce, b.nonce, a.code_verifier, b.code_verifier}) == 6
    assert "acr_values" not in query(a.url) and "max_age" not in query(a.url)


@pytest.mark.parametrize(
    "bad",
    [
        {"extra": {"state": "fixed"}},
        {"extra": {"code_challenge_method": "plain"}},
        {"authorization_endpoint": "javascript:alert(1)"},
        {"authorization_endpoint": "/relative"},
    ],
)
def test_request_builder_refuses_misuse(bad: dict[str, Any]) -> None:
    kw: dict[str, Any] = {
        "authorization_endpoint": ENDPOINT,
        "client_id": "bank",
        "redirect_uri": "https://bank.example/cb",
        "scope": "openid",
        **bad,
    }
    with pytest.raises(ValueError):
        build_authorization_request(**kw)


NOW = 1_700_000_000
REQUESTED = NOW - 60


@pytest.mark.parametrize(
    ("claims", "requirement", "leeway", "reason"),
    [
        ({"acr": TWO}, StepUpRequirement(acr_values=(TWO,)), 30, None),
        ({"acr": PHR}, StepUpRequirement(acr_values=(TWO, PHR)), 30, None),
        ({"acr": "urn:belay:acr:1fa"}, StepUpRequirement(acr_values=(TWO,)), 30, "acr_not_met"),
        # Only the values asked count, even a "stronger" one.
        ({"acr": PHR}, StepUpRequirement(acr_values=(TWO,)), 30, "acr_not_met"),
        ({}, StepUpRequirement(acr_values=(TWO,)), 30, "acr_missing"),
        ({"acr": ""}, StepUpRequirement(acr_values=(TWO,)), 30, "acr_missing"),
        ({"acr": ["x"]}, StepUpRequirement(acr_values=(TWO,)), 30, "acr_missing"),
        ({}, StepUpRequirement(), 30, None),
        ({"auth_time": REQUESTED - 120}, StepUpRequirement(max_age=120), 0, None),
        ({"auth_time": REQUESTED - 121}, StepUpRequirement(max_age=120), 0, "max_age"),
        ({"auth_time": REQUESTED - 150}, StepUpRequirement(max_age=120), 30, None),
        ({"auth_time": REQUESTED - 151}, StepUpRequirement(max_age=120), 30, "max_age"),
        # max_age=0: a new login after the request was sent.
        ({"auth_time": REQUESTED + 10}, StepUpRequirement(max_age=0), 0, None),
        ({"auth_time": REQUESTED - 1}, StepUpRequirement(max_age=0), 0, "max_age"),
        # A slow user does not fail: freshness is judged from the request.
        ({"auth_time": REQUESTED + 1}, StepUpRequirement(max_age=5), 0, None),
        ({}, StepUpRequirement(max_age=300), 30, "auth_time_missing"),
        ({"auth_time": "1700000000"}, StepUpRequirement(max_age=300), 30, "auth_time_missing"),
        ({"auth_time": True}, StepUpRequirement(max_age=300), 30, "auth_time_missing"),
        ({"auth_time": NOW + 31}, StepUpRequirement(max_age=300), 30, "auth_time_in_future"),
        ({"auth_time": NOW + 30}, StepUpRequirement(max_age=300), 30, None),
        ({"auth_time": float("nan")}, StepUpRequirement(max_age=300), 30, "auth_time_in_future"),
        (
            {"acr": TWO, "auth_time": REQUESTED - 1000},
            StepUpRequirement(acr_values=(TWO,), max_age=60),
            30,
            "max_age",
        ),
    ],
)
def test_check_authentication(
    claims: dict[str, Any], requirement: StepUpRequirement, leeway: int, reason: str | None
) -> None:
    kwargs: dict[str, Any] = {"requirement": requirement, "requested_at": REQUESTED, "now": NOW}
    if reason is None:
        check_authentication(claims, leeway=leeway, **kwargs)
    else:
        with pytest.raises(StepUpNotMet) as info:
            check_authentication(claims, leeway=leeway, **kwargs)
        assert info.value.reason == reason


# -- Flask helper -----------------------------------------------------------------------


class FakeApiResponse:
    def __init__(self, status_code: int, headers: dict[str, str]) -> None:
        self.status_code = status_code
        self.headers = headers


CHALLENGE = (
    'Bearer error="insufficient_user_authentication", '
    'error_description="A different authentication level is required", '
    'acr_values="urn:belay:acr:2fa", max_age="300"'
)


@pytest.fixture
def rp() -> tuple[Flask, StepUpFlow]:
    app = Flask(__name__)
    app.secret_key = "test"
    flow = StepUpFlow(
        authorization_endpoint=ENDPOINT,
        client_id="bank",
        redirect_uri="https://bank.example/cb",
        expected_issuer="https://op.example",
    )
    flow.init_app(app)
    state = {"acr": "urn:belay:acr:1fa"}

    @app.route("/transfer", methods=["GET", "POST"])
    def transfer() -> str:
        if state["acr"] != TWO:
            flow.raise_for_step_up(FakeApiResponse(401, {"WWW-Authenticate": CHALLENGE}))
        return f"sent {request.form.get('amount') or request.args.get('amount')}"

    @app.get("/cb")
    def callback() -> Any:
        pending = flow.complete()
        assert pending.code == "the-code"
        check_authentication(
            {"acr": TWO, "auth_time": pending.requested_at},
            requirement=pending.requirement,
            requested_at=pending.requested_at,
            now=pending.requested_at,
        )
        state["acr"] = TWO
        return flow.resume(pending)

    return app, flow


def test_step_up_round_trip_resumes_a_post(rp: tuple[Flask, StepUpFlow]) -> None:
    app, _ = rp
    client = app.test_client()
    response = client.post("/transfer", data={"amount": "100", "to": 'Bob "B" <x>'})
    assert response.status_code == 303
    q = query(response.headers["Location"])
    assert q["acr_values"] == TWO and q["max_age"] == "300"
    with client.session_transaction() as session:
        stored = session["belay_step_up"][q["state"]]
        assert "access_token" not in str(stored) and "id_token" not in str(stored)
        assert stored["path"] == "/transfer" and stored["method"] == "POST"

    # Wrong state or wrong issuer: refused.
    bad = client.get(
        "/cb", query_string={"state": "nope", "code": "x", "iss": "https://op.example"}
    )
    assert bad.status_code == 500  # StepUpFlowError surfaces to the app's error handling

    page = client.get(
        "/cb", query_string={"state": q["state"], "code": "the-code", "iss": "https://op.example"}
    )
    assert page.status_code == 200
    assert '<form method="post" action="/transfer">' in page.text
    assert 'name="amount" value="100"' in page.text
    assert 'value="Bob &#34;B&#34; &lt;x&gt;"' in page.text
    # Replaying the callback finds nothing pending.
    again = client.get(
        "/cb", query_string={"state": q["state"], "code": "the-code", "iss": "https://op.example"}
    )
    assert again.status_code == 500
    assert client.post("/transfer", data={"amount": "100"}).text == "sent 100"


def test_step_up_round_trip_redirects_a_get(rp: tuple[Flask, StepUpFlow]) -> None:
    app, _ = rp
    client = app.test_client()
    response = client.get("/transfer?amount=5")
    q = query(response.headers["Location"])
    back = client.get(
        "/cb", query_string={"state": q["state"], "code": "the-code", "iss": "https://op.example"}
    )
    assert back.status_code == 303
    assert back.headers["Location"] == "/transfer?amount=5"


def test_complete_checks_state_issuer_and_errors(rp: tuple[Flask, StepUpFlow]) -> None:
    app, flow = rp
    with app.test_request_context("/transfer", method="POST"):
        flow.begin(StepUpRequirement(acr_values=(TWO,)))
        (state,) = session["belay_step_up"]
        cases = [
            ({"state": "other", "code": "c", "iss": "https://op.example"}, "invalid_state"),
            ({"state": state, "code": "c", "iss": "https://evil.example"}, "invalid_issuer"),
        ]
        for args, error in cases:
            with pytest.raises(StepUpFlowError) as info:
                flow.complete(args)
            assert info.value.error == error
        # The failed issuer check consumed the attempt.
        assert session["belay_step_up"] == {}
        flow.begin(StepUpRequirement(acr_values=(TWO,)))
        (state,) = session["belay_step_up"]
        with pytest.raises(StepUpFlowError) as info:
            flow.complete(
                {
                    "state": state,
                    "error": "unmet_authentication_requirements",
                    "iss": "https://op.example",
                }
            )
        assert info.value.error == "unmet_authentication_requirements"


def test_requirement_from_ignores_other_answers(rp: tuple[Flask, StepUpFlow]) -> None:
    _, flow = rp
    assert flow.requirement_from(FakeApiResponse(200, {})) is None
    assert flow.requirement_from(FakeApiResponse(401, {})) is None
    assert (
        flow.requirement_from(
            FakeApiResponse(401, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        )
        is None
    )
    assert flow.requirement_from(FakeApiResponse(401, {"WWW-Authenticate": CHALLENGE})) == (
        StepUpRequirement(
            acr_values=(TWO,),
            max_age=300,
            error_description="A different authentication level is required",
        )
    )
