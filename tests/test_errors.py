"""One error hierarchy (provider/errors.py), mapped to HTTP once (provider/web/errors.py)."""

from __future__ import annotations

import pytest
from flask import Flask

from provider.errors import BelayError, LoginRequired, UnstorableText
from provider.factors.base import Busy, FactorError, InvalidCode, Locked
from provider.flows.admin.errors import AdminError
from provider.flows.assurance.lifecycle import NotConfirmed, Rejected
from provider.flows.clients import ClientRegistrationError
from provider.flows.registration import InvalidToken, RegistrationError
from provider.policy import LadderError, PolicyValidationError, RequirementError
from provider.web.errors import error_response, form_error
from provider.web.json_body import JSONBodyError


def test_every_root_is_a_belay_error() -> None:
    roots: list[BelayError] = [
        InvalidCode("Wrong code."),
        RequirementError("bad acr_values"),
        LadderError(["levels: missing"]),
        PolicyValidationError({"default_max_age": "must be a number"}),
        RegistrationError("invalid_redirect_uri", "http://x: not https"),
        ClientRegistrationError("a client_id is 1-200 characters without spaces"),
        AdminError({"client_id": "is required"}),
        Rejected("The two passwords are not the same.", field="password_confirm"),
        JSONBodyError("The JSON is larger than 10 bytes.", 413),
        UnstorableText(),
    ]
    for exc in roots:
        assert isinstance(exc, BelayError)
        assert exc.error and exc.description and 400 <= exc.status_code < 600


def test_the_fields_of_each_root() -> None:
    factor = InvalidCode("Wrong code.")
    assert (factor.error, factor.status_code, factor.description) == (
        "invalid_code",
        400,
        "Wrong code.",
    )
    assert (factor.code, factor.message) == ("invalid_code", "Wrong code.")
    registration = RegistrationError("invalid_redirect_uri", "not https")
    assert (registration.error, registration.description) == ("invalid_redirect_uri", "not https")
    assert ClientRegistrationError("no").error == "invalid_client_metadata"
    too_large = JSONBodyError("too big", 413)
    assert (too_large.error, too_large.status_code) == ("too_large", 413)
    requirement = RequirementError("bad", error="invalid_request")
    assert (requirement.description, str(requirement)) == ("bad", "invalid_request: bad")
    rejected = Rejected("Locked.", status=429, field="pin")
    assert (rejected.status_code, rejected.message, rejected.field) == (429, "Locked.", "pin")
    refused = NotConfirmed()
    assert (refused.error, refused.status_code) == ("confirm_access", 403)
    assert NotConfirmed("Add a passkey later.").description == "Add a passkey later."
    assert (LoginRequired().error, LoginRequired().status_code) == ("login_required", 401)


def test_body_and_headers_carry_the_wait() -> None:
    locked = Locked("Too many tries.", retry_after=30)
    assert locked.get_body() == {
        "error": "locked",
        "error_description": "Too many tries.",
        "retry_after": 30,
    }
    assert locked.get_headers() == {"Retry-After": "30"}
    assert Locked("Locked.", retry_after=None).get_headers() == {}
    assert Busy().get_headers() == {"Retry-After": "1"}
    assert InvalidToken().get_headers()["WWW-Authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("path", ["/api/step-up/verify", "/webauthn/register/options"])
def test_error_response_is_json_for_the_api(app: Flask, path: str) -> None:
    with app.test_request_context(path):
        response = error_response(Locked("Too many tries.", retry_after=None), retry_after=0)
    assert response.status_code == 429
    assert response.get_json() == {
        "error": "locked",
        "error_description": "Too many tries.",
        "retry_after": 0,
    }
    assert response.headers["Retry-After"] == "0"
    assert response.headers["Cache-Control"] == "no-store"


def test_error_response_is_a_page_elsewhere(app: Flask) -> None:
    with app.test_request_context("/account"):
        response = error_response(InvalidCode("Wrong code."), status=401)
    assert response.status_code == 401 and response.mimetype == "text/html"
    assert "Wrong code." in response.get_data(as_text=True)


def test_form_error_renders_the_views_own_page(app: Flask) -> None:
    shown: list[tuple[int, dict[str, object]]] = []

    def page(status: int, **context: object) -> str:
        shown.append((status, context))
        return "page"

    exc: FactorError = Locked("Wait.", retry_after=5)
    with app.test_request_context("/account/pin", method="POST"):
        assert form_error(page, exc, extra=1) == "page"
        form_error(page, exc, status=401)
    assert shown == [(429, {"error": "Wait.", "extra": 1}), (401, {"error": "Wait."})]


def test_a_propagated_error_is_answered_once(client) -> None:
    response = client.get("/api/step-up/methods")
    assert response.status_code == 401
    assert response.get_json() == {"error": "login_required", "error_description": "Sign in first."}
    assert response.headers["Cache-Control"] == "no-store"


def test_404_and_405_are_short_belay_pages_and_json_for_the_protocol(client) -> None:
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "<h1>Page not found</h1>" in missing.text and 'id="home-link"' in missing.text
    wrong = client.get("/admin/users/1/unlock")
    assert wrong.status_code == 405 and "<h1>Not available this way</h1>" in wrong.text
    assert "POST" in wrong.headers["Allow"]
    for path in ("/token", "/api/step-up/verify"):
        answer = client.get(path)
        assert answer.status_code == 405 and answer.is_json, path
        assert answer.get_json()["error"] == "method_not_allowed"
        assert "Allow" in answer.headers
    assert client.get("/.well-known/nothing").get_json()["error"] == "not_found"


def test_a_get_on_a_post_only_account_url_goes_to_the_account_page(client) -> None:
    for path in (
        "/account/confirm",
        "/account/pin",
        "/account/pin/remove",
        "/account/totp/begin",
        "/account/totp/confirm",
        "/account/backup-codes",
        "/account/email/add",
        "/account/sessions/revoke",
        "/account/devices/3/revoke",
        "/account/passkeys/3/delete",
    ):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"] == "/account", path
