"""A level that needs more than one new event is reached through a sequence of
challenges (or a new login), never refused while the user holds the factors
(docs/security.md case 49).

The client here gives ``2fa`` a 10-minute absolute lifetime, so a session that
reached ``2fa`` with password + TOTP loses it when both events are 10 minutes old:
one challenge cannot bring it back, two do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from provider import clock
from tests.conftest import Actions, csrf_from, pkce_pair
from tests.test_account_and_step_up import enrol_totp, relogin

TWO_FA = "urn:belay:acr:2fa"
ONE_FA = "urn:belay:acr:1fa"
PASSWORD = "correct horse battery"
LIFETIME = 600  # the client's absolute lifetime of 2fa
SHORT_2FA = {TWO_FA: {"idle_seconds": None, "absolute_seconds": LIFETIME}}


def _set_policy(actions: Actions, **policy: Any) -> None:
    from provider import storage
    from provider.storage import clients as client_store

    with actions.app.app_context():
        client = client_store.get_client("rp")
        assert client is not None
        client.policy = policy
        storage.commit()


def _authorize(actions: Actions, **params: str) -> tuple[Any, str]:
    verifier, challenge = pkce_pair()
    response = actions.follow(
        actions.authorize("rp", code_challenge=challenge, code_challenge_method="S256", **params)
    )
    return response, verifier


def _tx(response: Any) -> str:
    return parse_qs(urlsplit(response.request.url).query)["tx"][0]


def _answer(actions: Actions, page: Any, method: str, **fields: str) -> Any:
    """Post one challenge answer from ``page`` (not following redirects)."""
    tx = _tx(page)
    return actions.client.post(
        f"/challenge?tx={tx}",
        data={"csrf_token": csrf_from(page.text), "tx": tx, "method": method, **fields},
    )


def _callback(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(Actions.REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _claims(actions: Actions, secret: str, response: Any, verifier: str) -> dict[str, Any]:
    callback = _callback(response)
    assert "code" in callback, callback
    body = actions.exchange({**callback, "code_verifier": verifier}, "rp", secret)
    assert body.status_code == 200, body.text
    return actions.decode(body.get_json()["id_token"])


@pytest.fixture
def lapsed(actions: Actions) -> tuple[str, str]:
    """A session that reached 2fa with password + TOTP, then lost it: both events are
    past the client's 2fa lifetime. Returns the client secret and the TOTP secret."""
    actions.create_user()
    secret = actions.create_client("rp")
    _set_policy(actions, level_lifetimes=SHORT_2FA)
    actions.login()
    totp = enrol_totp(actions)
    relogin(actions)
    clock.set_offset(31)
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    done = actions.follow(_answer(actions, page, "totp", code=pyotp.TOTP(totp).at(clock.now())))
    assert _claims(actions, secret, done, verifier)["acr"] == TWO_FA
    clock.set_offset(31 + LIFETIME + 100)
    return secret, totp


def test_lapsed_2fa_is_reached_by_two_challenges(actions: Actions, lapsed: tuple[str, str]) -> None:
    """Before: unmet_authentication_requirements (no single factor brings 2fa back)."""
    secret, totp = lapsed
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    assert page.status_code == 200, page.headers.get("Location")
    assert 'id="totp-form"' in page.text and 'id="password-form"' in page.text
    assert 'id="another-step"' not in page.text
    step_one_at = clock.now()
    after_one = actions.follow(
        _answer(actions, page, "totp", code=pyotp.TOTP(totp).at(step_one_at))
    )
    # No dead end: the same transaction's challenge page now asks for the other factor.
    assert after_one.status_code == 200, after_one.text[:500]
    assert 'id="password-form"' in after_one.text
    assert 'id="totp-form"' not in after_one.text
    assert 'id="another-step"' in after_one.text  # progress: one step done, one to go
    assert _tx(after_one) == _tx(page)
    clock.set_offset(31 + LIFETIME + 110)
    step_two_at = clock.now()
    done = actions.follow(_answer(actions, after_one, "password", password=PASSWORD))
    claims = _claims(actions, secret, done, verifier)
    assert claims["acr"] == TWO_FA
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    # auth_time is the second step's, the latest event (clock.now() keeps ticking).
    assert step_two_at <= claims["auth_time"] <= clock.now()
    assert claims["auth_time"] >= step_one_at + 10


def test_lapsed_2fa_prompt_none_is_interaction_required(
    actions: Actions, lapsed: tuple[str, str]
) -> None:
    response, _ = _authorize(actions, acr_values=TWO_FA, prompt="none")
    assert _callback(response)["error"] == "interaction_required"


def test_transaction_expired_mid_sequence(actions: Actions, lapsed: tuple[str, str]) -> None:
    """The first step is kept in the session, but the transaction it was made for
    expires: the second answer gets the expired page, never a code."""
    _secret, totp = lapsed
    page, _ = _authorize(actions, acr_values=TWO_FA)
    after_one = actions.follow(
        _answer(actions, page, "totp", code=pyotp.TOTP(totp).at(clock.now()))
    )
    assert 'id="password-form"' in after_one.text
    ttl = actions.app.config["AUTHORIZE_TRANSACTION_TTL"]
    clock.set_offset(31 + LIFETIME + 100 + ttl + 1)
    late = _answer(actions, after_one, "password", password=PASSWORD)
    assert late.status_code == 400
    assert "expired" in late.text
    assert "code=" not in late.headers.get("Location", "")
    # Resuming the expired transaction gives no code either.
    resumed = actions.client.get(f"/authorize/resume?tx={_tx(page)}")
    assert "code=" not in resumed.headers.get("Location", "")


def test_replayed_steps_do_not_advance_the_sequence(
    actions: Actions, lapsed: tuple[str, str]
) -> None:
    secret, totp = lapsed
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    code = pyotp.TOTP(totp).at(clock.now())
    after_one = actions.follow(_answer(actions, page, "totp", code=code))
    assert 'id="password-form"' in after_one.text
    # The first answer replayed as it was: its CSRF token rotated with the step
    # (docs/security.md case 54), so it is refused outright.
    stale = _answer(actions, page, "totp", code=code)
    assert stale.status_code == 403
    assert "code=" not in stale.headers.get("Location", "")
    # Replayed with the current page's token: the TOTP is no longer what this step
    # asks for, and the code was used; the sequence does not move on, no code.
    replayed = actions.follow(_answer(actions, after_one, "totp", code=code))
    assert "code=" not in replayed.headers.get("Location", "")
    assert 'id="password-form"' in replayed.text
    clock.set_offset(31 + LIFETIME + 110)
    final = _answer(actions, after_one, "password", password=PASSWORD)
    done = actions.follow(final)
    claims = _claims(actions, secret, done, verifier)
    assert claims["acr"] == TWO_FA
    # The last answer replayed after the code was issued: the transaction is spent.
    again = _answer(actions, after_one, "password", password=PASSWORD)
    assert "code=" not in again.headers.get("Location", "")


def test_lapsed_2fa_when_the_password_is_no_step_up_needs_a_new_login(
    actions: Actions, lapsed: tuple[str, str]
) -> None:
    """A client that accepts only TOTP and passkeys for step-up: the plan needs the
    password again, so the answer is a new login, then the TOTP challenge."""
    secret, totp = lapsed
    _set_policy(actions, level_lifetimes=SHORT_2FA, step_up_methods=["totp", "passkey"])
    page, verifier = _authorize(actions, acr_values=TWO_FA)
    assert page.status_code == 200, page.headers.get("Location")
    assert 'id="login-form"' in page.text
    challenge = actions.follow(actions.login(tx=_tx(page)))
    assert challenge.status_code == 200, challenge.text[:500]
    assert 'id="totp-form"' in challenge.text and 'id="password-form"' not in challenge.text
    step_at = clock.now()
    done = actions.follow(_answer(actions, challenge, "totp", code=pyotp.TOTP(totp).at(step_at)))
    claims = _claims(actions, secret, done, verifier)
    assert claims["acr"] == TWO_FA
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert step_at <= claims["auth_time"] <= clock.now()


def test_step_up_api_reaches_a_lapsed_level_in_two_calls(actions: Actions) -> None:
    """The first-party step-up API: each call adds one event and answers the acr the
    session now holds; two calls bring a lapsed 2fa back, with no dead end between."""
    actions.app.config["SESSION_ABSOLUTE_TIMEOUT"] = 3 * 86_400
    actions.app.config["SESSION_IDLE_TIMEOUT"] = 3 * 86_400
    actions.create_user()
    actions.create_client("rp")
    actions.login()
    totp = enrol_totp(actions)
    relogin(actions)

    def verify(**body: str) -> dict[str, Any]:
        token = actions.client.get("/api/step-up/methods").get_json()["csrf_token"]
        response = actions.client.post(
            "/api/step-up/verify", json=body, headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 200, response.text
        return dict(response.get_json())

    clock.set_offset(31)
    assert verify(method="totp", code=pyotp.TOTP(totp).at(clock.now()))["acr"] == TWO_FA
    clock.set_offset(31 + 86_401)  # past the default ladder's 24 h for 2fa
    assert actions.client.get("/api/step-up/methods").get_json()["acr"] == ONE_FA
    first = verify(method="totp", code=pyotp.TOTP(totp).at(clock.now()))
    assert first["acr"] == ONE_FA  # the password is too old to pair with it
    step_at = clock.now()
    second = verify(method="password", password=PASSWORD)
    assert second["acr"] == TWO_FA
    assert step_at <= second["auth_time"] <= clock.now()
