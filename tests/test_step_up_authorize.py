"""The policy engine wired into /authorize (issue 3; docs/security.md cases 21–29,
and the OpenID conformance behaviours oidcc-max-age-*, oidcc-prompt-*,
oidcc-ensure-request-with-acr-values-succeeds, essential acr)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from provider import clock
from tests.conftest import Actions, csrf_from, pkce_pair

TWO_FA = "urn:belay:acr:2fa"
ONE_FA = "urn:belay:acr:1fa"
PASSWORD = "correct horse battery"


def _callback(response) -> dict[str, str]:
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    assert location.startswith(Actions.REDIRECT), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _tx(response) -> str:
    return parse_qs(urlsplit(response.request.url).query)["tx"][0]


def _authorize(actions: Actions, **params):
    verifier, challenge = pkce_pair()
    params.setdefault("code_challenge", challenge)
    params.setdefault("code_challenge_method", "S256")
    response = actions.follow(actions.authorize("rp", **params))
    return response, verifier


def _tokens(actions: Actions, secret: str, callback: dict[str, str], verifier: str) -> dict:
    body = actions.exchange({**callback, "code_verifier": verifier}, "rp", secret)
    assert body.status_code == 200, body.text
    return body.get_json()


def _confirm_password(actions: Actions, page, password: str = PASSWORD):
    assert 'id="password-form"' in page.text, page.text[:500]
    tx = _tx(page)
    return actions.follow(
        actions.client.post(
            f"/challenge?tx={tx}",
            data={
                "csrf_token": csrf_from(page.text),
                "method": "password",
                "password": password,
                "tx": tx,
            },
        )
    )


@pytest.fixture
def rp(actions: Actions) -> str:
    actions.create_user()
    return actions.create_client("rp")


def _set_policy(actions: Actions, **policy) -> None:
    from provider import storage
    from provider.storage import clients as client_store

    with actions.app.app_context():
        client = client_store.get_client("rp")
        client.policy = policy
        storage.commit()


def test_max_age_0_always_needs_a_new_event_and_does_not_loop(actions: Actions, rp: str) -> None:
    """Case 23: max_age=0 ⇒ a new event, a new auth_time, no loop."""
    first = actions.code_flow("rp")
    login_time = actions.decode(_tokens(actions, rp, first, first["code_verifier"])["id_token"])[
        "auth_time"
    ]
    clock.set_offset(30)
    page, verifier = _authorize(actions, max_age="0")
    assert page.status_code == 200 and 'id="password-form"' in page.text
    callback = _callback(_confirm_password(actions, page))
    claims = actions.decode(_tokens(actions, rp, callback, verifier)["id_token"])
    assert claims["auth_time"] >= login_time + 30
    assert claims["amr"] == ["pwd"]


def test_max_age_1_after_2_seconds_asks_again(actions: Actions, rp: str) -> None:
    """oidcc-max-age-1."""
    actions.code_flow("rp")
    clock.set_offset(2)
    page, _ = _authorize(actions, max_age="1")
    assert page.status_code == 200 and 'id="password-form"' in page.text


def test_max_age_10000_is_silent_with_the_same_auth_time(actions: Actions, rp: str) -> None:
    """oidcc-max-age-10000."""
    first = actions.code_flow("rp")
    auth_time = actions.decode(_tokens(actions, rp, first, first["code_verifier"])["id_token"])[
        "auth_time"
    ]
    clock.set_offset(60)
    response, verifier = _authorize(actions, max_age="10000")
    claims = actions.decode(_tokens(actions, rp, _callback(response), verifier)["id_token"])
    assert claims["auth_time"] == auth_time


@pytest.mark.parametrize("value", ["-1", "abc", "1e309", str(2**63), "1.5", "", " 5"])
def test_malformed_max_age_is_invalid_request(actions: Actions, rp: str, value: str) -> None:
    response, _ = _authorize(actions, max_age=value, state="s")
    callback = _callback(response)
    assert callback["error"] == "invalid_request"
    assert callback["state"] == "s"
    assert callback["iss"] == "http://localhost"


def test_prompt_login_gives_a_new_auth_time(actions: Actions, rp: str) -> None:
    """oidcc-prompt-login, case 25."""
    first = actions.code_flow("rp")
    before = actions.decode(_tokens(actions, rp, first, first["code_verifier"])["id_token"])[
        "auth_time"
    ]
    clock.set_offset(20)
    page, verifier = _authorize(actions, prompt="login")
    assert 'id="login-form"' in page.text
    callback = _callback(actions.follow(actions.login(tx=_tx(page))))
    claims = actions.decode(_tokens(actions, rp, callback, verifier)["id_token"])
    assert claims["auth_time"] >= before + 20


def test_prompt_none_when_logged_in_is_silent(actions: Actions, rp: str) -> None:
    """oidcc-prompt-none-logged-in."""
    actions.code_flow("rp")
    response, _ = _authorize(actions, prompt="none")
    assert "code" in _callback(response)


def test_prompt_none_without_a_session_is_login_required(actions: Actions, rp: str) -> None:
    """oidcc-prompt-none-not-logged-in."""
    response, _ = _authorize(actions, prompt="none", state="xyz")
    callback = _callback(response)
    assert callback["error"] == "login_required"
    assert callback["state"] == "xyz" and callback["iss"] == "http://localhost"


def test_prompt_none_with_max_age_exceeded_is_login_required(actions: Actions, rp: str) -> None:
    actions.code_flow("rp")
    clock.set_offset(100)
    response, _ = _authorize(actions, prompt="none", max_age="10")
    assert _callback(response)["error"] == "login_required"


def test_prompt_none_with_another_value_is_invalid_request(actions: Actions, rp: str) -> None:
    actions.code_flow("rp")
    response, _ = _authorize(actions, prompt="none login")
    assert _callback(response)["error"] == "invalid_request"


def test_prompt_none_never_redirects_to_an_unregistered_uri(actions: Actions, rp: str) -> None:
    response = actions.authorize("rp", prompt="none", redirect_uri="https://evil.example.test/cb")
    assert response.status_code == 400 and "Location" not in response.headers


def test_strict_client_unreachable_acr_is_unmet(actions: Actions, rp: str) -> None:
    """RFC 9470 §5 / case 22: never a silent downgrade."""
    actions.code_flow("rp")
    response, _ = _authorize(actions, acr_values=TWO_FA)
    assert _callback(response)["error"] == "unmet_authentication_requirements"


def test_voluntary_client_gets_the_actual_acr(actions: Actions, rp: str) -> None:
    """oidcc-ensure-request-with-acr-values-succeeds."""
    _set_policy(actions, acr_enforcement="voluntary")
    actions.code_flow("rp")
    response, verifier = _authorize(actions, acr_values=f"{TWO_FA} {ONE_FA}")
    claims = actions.decode(_tokens(actions, rp, _callback(response), verifier)["id_token"])
    assert claims["acr"] == ONE_FA


def test_preference_order_picks_the_first_reachable_value(actions: Actions, rp: str) -> None:
    actions.code_flow("rp")
    response, verifier = _authorize(actions, acr_values=f"urn:unknown:acr {TWO_FA} {ONE_FA}")
    claims = actions.decode(_tokens(actions, rp, _callback(response), verifier)["id_token"])
    assert claims["acr"] == ONE_FA


def test_essential_acr_unmet_fails_even_for_voluntary_clients(actions: Actions, rp: str) -> None:
    _set_policy(actions, acr_enforcement="voluntary")
    actions.code_flow("rp")
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": [TWO_FA]}}})
    response, _ = _authorize(actions, claims=claims)
    assert _callback(response)["error"] == "unmet_authentication_requirements"


def test_essential_acr_that_is_met(actions: Actions, rp: str) -> None:
    actions.code_flow("rp")
    claims = json.dumps({"id_token": {"acr": {"essential": True, "value": ONE_FA}}})
    response, verifier = _authorize(actions, claims=claims)
    assert (
        actions.decode(_tokens(actions, rp, _callback(response), verifier)["id_token"])["acr"]
        == ONE_FA
    )


def test_unknown_essential_acr_is_an_error(actions: Actions, rp: str) -> None:
    actions.code_flow("rp")
    claims = json.dumps({"id_token": {"acr": {"essential": True, "values": ["urn:nope"]}}})
    response, _ = _authorize(actions, claims=claims)
    assert _callback(response)["error"] == "unmet_authentication_requirements"


@pytest.mark.parametrize("claims", ["{", "[]", '{"id_token": {"acr": {"essential": "yes"}}}'])
def test_malformed_claims_is_invalid_request(actions: Actions, rp: str, claims: str) -> None:
    response, _ = _authorize(actions, claims=claims)
    assert _callback(response)["error"] == "invalid_request"


def test_client_floor_holds_whatever_acr_values_says(actions: Actions, rp: str) -> None:
    """Case 21: the floor is not lowered by lower, absent or unknown values."""
    _set_policy(actions, minimum_acr=TWO_FA)
    for acr_values in (None, ONE_FA, "urn:unknown"):
        response = actions.follow(
            actions.authorize(
                "rp",
                acr_values=acr_values,
                code_challenge=pkce_pair()[1],
                code_challenge_method="S256",
            )
        )
        if 'id="login-form"' in response.text:
            response = actions.follow(actions.login(tx=_tx(response)))
        assert _callback(response)["error"] == "unmet_authentication_requirements", acr_values


def test_oauth_only_step_up_without_openid_scope(actions: Actions, rp: str) -> None:
    """RFC 9470 §4: acr_values and max_age without openid; the access token carries them."""
    actions.code_flow("rp")
    clock.set_offset(40)
    page, verifier = _authorize(actions, scope="profile", max_age="0", acr_values=ONE_FA)
    callback = _callback(_confirm_password(actions, page))
    body = _tokens(actions, rp, callback, verifier)
    assert "id_token" not in body
    access = actions.decode(body["access_token"])
    assert access["acr"] == ONE_FA
    assert access["auth_time"] >= clock.now() - 2


def test_step_up_rotates_the_session_id(actions: Actions, rp: str) -> None:
    """Case 28."""
    actions.code_flow("rp")
    before = actions.client.get_cookie("belay_session").value
    clock.set_offset(5)
    page, _ = _authorize(actions, max_age="0")
    _callback(_confirm_password(actions, page))
    after = actions.client.get_cookie("belay_session").value
    assert after != before
    actions.client.set_cookie("belay_session", before)
    assert actions.client.get("/account").status_code == 302


def test_wrong_password_on_the_challenge_adds_nothing(actions: Actions, rp: str) -> None:
    actions.code_flow("rp")
    clock.set_offset(5)
    page, _ = _authorize(actions, max_age="0")
    again = _confirm_password(actions, page, password="nope nope")
    assert again.status_code == 401 and 'class="error"' in again.text


def test_cancel_on_the_challenge_is_access_denied(actions: Actions, rp: str) -> None:
    """Cancel is the user declining (RFC 6749 §4.1.2.1), not an unmet
    requirement: the client must not tell them they have no second factor."""
    actions.code_flow("rp")
    clock.set_offset(5)
    page, _ = _authorize(actions, max_age="0", state="st")
    tx = _tx(page)
    response = actions.client.post(
        f"/challenge?tx={tx}", data={"csrf_token": csrf_from(page.text), "cancel": "1", "tx": tx}
    )
    callback = _callback(response)
    assert callback["error"] == "access_denied"
    assert callback["state"] == "st"
    # The transaction is over: a replayed Cancel finds nothing to cancel.
    again = actions.client.post(
        f"/challenge?tx={tx}", data={"csrf_token": csrf_from(page.text), "cancel": "1", "tx": tx}
    )
    assert again.status_code != 302 or "error=access_denied" not in again.headers["Location"]


def test_transaction_is_bound_to_its_browser(actions: Actions, rp: str, app) -> None:
    actions.code_flow("rp")
    clock.set_offset(5)
    page, _ = _authorize(actions, max_age="0")
    tx = _tx(page)
    other = app.test_client()
    assert other.get(f"/challenge?tx={tx}").status_code == 400
    assert other.get(f"/authorize/resume?tx={tx}").status_code == 400
    assert other.get(f"/login?tx={tx}").status_code == 400


def test_expired_transaction(actions: Actions, rp: str) -> None:
    actions.code_flow("rp")
    clock.set_offset(5)
    page, _ = _authorize(actions, max_age="0")
    clock.set_offset(5 + 16 * 60)
    assert actions.client.get(f"/challenge?tx={_tx(page)}").status_code == 400


def test_level_lifetime_drops_the_level_when_idle(actions: Actions, rp: str) -> None:
    """Case 29 (with a client lifetime override on 1fa)."""
    _set_policy(actions, level_lifetimes={ONE_FA: {"idle_seconds": 600, "absolute_seconds": 86400}})
    actions.code_flow("rp")
    clock.set_offset(601)
    page, verifier = _authorize(actions, acr_values=ONE_FA)
    assert 'id="password-form"' in page.text
    # The lapse holds on the next request too: activity alone does not revive it.
    assert 'id="password-form"' in actions.client.get(page.request.url).text
    callback = _callback(_confirm_password(actions, page))
    claims = actions.decode(_tokens(actions, rp, callback, verifier)["id_token"])
    assert claims["auth_time"] >= clock.now() - 2


def test_refresh_never_satisfies_max_age(actions: Actions, rp: str) -> None:
    """Case 27: refresh keeps the original auth_time, however old."""
    callback = actions.code_flow("rp", max_age="100")
    body = _tokens(actions, rp, callback, callback["code_verifier"])
    original = actions.decode(body["id_token"])["auth_time"]
    clock.set_offset(1000)
    refreshed = actions.token(
        {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}, auth=("rp", rp)
    ).get_json()
    assert actions.decode(refreshed["access_token"])["auth_time"] == original


def test_decisions_are_audited_with_reason_codes(actions: Actions, rp: str, app) -> None:
    from provider.extensions import db
    from provider.storage.models import AuditEvent

    actions.code_flow("rp")
    _authorize(actions, acr_values=TWO_FA)
    clock.set_offset(5)
    page, _ = _authorize(actions, max_age="0")
    _confirm_password(actions, page)
    with app.app_context():
        rows = [(r.event, r.result, r.reason) for r in db.session.scalars(db.select(AuditEvent))]
    assert any(e == "authorize" and r == "refused" and reason for e, r, reason in rows)
    assert ("step_up_required", "pending", "max_age") in rows
    assert any(e == "step_up" and r == "success" for e, r, _ in rows)


def test_discovery_lists_the_ladder(actions: Actions) -> None:
    data = actions.client.get("/.well-known/openid-configuration").get_json()
    assert data["acr_values_supported"] == [
        ONE_FA,
        TWO_FA,
        "urn:belay:acr:phr",
        "urn:belay:acr:phrh",
    ]
    assert data["claims_parameter_supported"] is True
    assert {"acr", "amr", "auth_time"} <= set(data["claims_supported"])
    assert re.match(r"^http", data["issuer"])


def test_max_age_0_in_the_same_second_as_the_login_still_asks(actions: Actions, rp: str) -> None:
    """Case 23: a login in the same second is not a new authentication event."""
    page = actions.client.get("/login")
    actions.client.post(
        "/login",
        data={"csrf_token": csrf_from(page.text), "username": "alice", "password": PASSWORD},
    )
    frozen = clock.now()  # every request below happens "in the same second"
    import provider.clock as clock_module

    original = clock_module.now
    clock_module.now = lambda: frozen  # type: ignore[assignment]
    try:
        with actions.app.app_context():
            from provider.extensions import db
            from provider.storage.models import AuthEvent

            db.session.execute(db.update(AuthEvent).values(at=frozen))
            db.session.commit()
        page, verifier = _authorize(actions, max_age="0")
        assert 'id="password-form"' in page.text
        # ...and asks again on the challenge page itself (the login is not "during" it).
        again = actions.client.get(page.request.url)
        assert 'id="password-form"' in again.text
        callback = _callback(_confirm_password(actions, page))
        claims = actions.decode(_tokens(actions, rp, callback, verifier)["id_token"])
        assert claims["auth_time"] == frozen
    finally:
        clock_module.now = original  # type: ignore[assignment]
