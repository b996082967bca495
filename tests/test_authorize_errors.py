"""Errors at the authorization endpoint (docs/security.md cases 32, 33, 36 and 37).

Before the client and its redirect URI are validated, every error is an HTML
page (400) and never a redirect (RFC 6749 §4.1.2.1). After that, errors go to
the registered redirect URI with ``error``, ``state`` and ``iss`` (RFC 9207).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest

from provider import clock
from tests.conftest import Actions, csrf_from, pkce_pair

ISSUER = "http://localhost"
REDIRECT = Actions.REDIRECT


# -- helpers -------------------------------------------------------------------


def _callback(response: Any) -> dict[str, list[str]]:
    """The query of a redirect to the registered redirect URI (and nowhere else)."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT, location
    assert parts.fragment == "", location
    return parse_qs(parts.query, keep_blank_values=True)


def _assert_error_redirect(
    response: Any, errors: str | set[str], state: str | None, label: Any = None
) -> dict[str, list[str]]:
    query = _callback(response)
    expected = {errors} if isinstance(errors, str) else errors
    assert query.get("error", [None])[0] in expected, (label, query)
    assert len(query["error"]) == 1
    assert query["iss"] == [ISSUER], query
    if state is not None:
        assert query["state"] == [state], query
    assert "code" not in query
    assert "access_token" not in query and "id_token" not in query
    return query


def _assert_error_page(response: Any, label: Any = None) -> None:
    assert response.status_code == 400, (
        label,
        response.status_code,
        response.headers.get("Location"),
    )
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert 'class="error"' in response.text
    assert "Traceback" not in response.text


def _get(actions: Actions, params: list[tuple[str, str]] | dict[str, str]) -> Any:
    return actions.client.get("/authorize?" + urlencode(params))


def _base(client_id: str = "rp", **extra: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


@pytest.fixture
def rp(actions: Actions) -> str:
    """A confidential client; returns its secret."""
    actions.create_user()
    secret = actions.create_client("rp")
    assert secret
    return secret


# -- case 32: redirect URIs match exactly ----------------------------------------

MISMATCHED_REDIRECTS = [
    "https://rp.example.test/callback/",  # trailing slash
    "https://rp.example.test/callback/extra",  # added path
    "https://rp.example.test/callbackx",  # prefix match
    "https://rp.example.test/callback?x=1",  # added query
    "https://rp.example.test/callback?",  # empty query
    "https://rp.example.test/callback#frag",  # fragment
    "https://rp.example.test/callback#",  # empty fragment
    "https://RP.example.test/callback",  # host case
    "https://rp.example.TEST/callback",  # host case
    "HTTPS://rp.example.test/callback",  # scheme case
    "https://rp.example.test/Callback",  # path case
    "https://rp.example.test:443/callback",  # explicit default port
    "https://rp.example.test:8443/callback",  # other port
    "https://rp.example.test/%63allback",  # percent-encoded character
    "https://rp.example.test/x/../callback",  # dot segments
    "https://user@rp.example.test/callback",  # userinfo
    "https://rp.example.test@evil.example/callback",  # userinfo pointing elsewhere
    "https://rp.example.test%40evil.example/callback",
    "http://rp.example.test/callback",  # http for a non-loopback host
    "https://rp.example.test.evil.example/callback",  # suffix host
    "https://evil.example/callback",
    "//rp.example.test/callback",  # scheme-relative
    "/callback",  # relative
    " https://rp.example.test/callback",  # leading space
    "https://rp.example.test/callback ",  # trailing space
    "https://rp.example.test/callback\n",
    "javascript:alert(1)//https://rp.example.test/callback",
]


def test_mismatched_redirect_uri_is_an_error_page(actions: Actions, rp: str) -> None:
    for redirect_uri in MISMATCHED_REDIRECTS:
        _assert_error_page(_get(actions, _base(redirect_uri=redirect_uri)), redirect_uri)


def test_mismatched_redirect_uri_never_redirects_even_with_a_session(
    actions: Actions, rp: str
) -> None:
    actions.login()
    for redirect_uri in MISMATCHED_REDIRECTS:
        _assert_error_page(_get(actions, _base(redirect_uri=redirect_uri)), redirect_uri)
        # Not even for a request that is otherwise broken.
        _assert_error_page(
            _get(actions, _base(redirect_uri=redirect_uri, response_type="token")), redirect_uri
        )


def test_exact_redirect_uri_is_accepted(actions: Actions, rp: str) -> None:
    """The control for the cases above: the registered value works."""
    actions.login()
    query = _callback(_get(actions, _base(state="ok")))
    assert query["code"][0]
    assert query["state"] == ["ok"]
    assert query["iss"] == [ISSUER]


def test_loopback_http_redirect_uri_registered_exactly(actions: Actions) -> None:
    actions.create_user()
    loopback = "http://127.0.0.1:8976/callback"
    actions.create_client("native", public=True, redirect_uris=[loopback])
    actions.login()
    ok = _get(actions, _base("native", redirect_uri=loopback))
    assert ok.status_code == 302
    assert ok.headers["Location"].startswith(loopback + "?")
    for other in (
        "http://127.0.0.1:8976/callback/",
        "http://127.0.0.1:8977/callback",
        "http://localhost:8976/callback",
        "https://127.0.0.1:8976/callback",
    ):
        _assert_error_page(_get(actions, _base("native", redirect_uri=other)))


def test_missing_redirect_uri_is_an_error_page(actions: Actions, rp: str) -> None:
    params = _base()
    del params["redirect_uri"]
    _assert_error_page(_get(actions, params))
    _assert_error_page(_get(actions, _base(redirect_uri="")))


def test_repeated_redirect_uri_is_an_error_page(actions: Actions, rp: str) -> None:
    for second in (REDIRECT, "https://evil.example/callback", ""):
        params = [*_base().items(), ("redirect_uri", second)]
        _assert_error_page(_get(actions, params), second)


def test_redirect_uri_of_another_client_is_an_error_page(actions: Actions, rp: str) -> None:
    actions.create_client("other", redirect_uris=["https://other.example.test/cb"])
    _assert_error_page(_get(actions, _base("rp", redirect_uri="https://other.example.test/cb")))
    _assert_error_page(_get(actions, _base("other", redirect_uri=REDIRECT)))


def test_unknown_or_missing_client_is_an_error_page(actions: Actions, rp: str) -> None:
    for client_id in (None, "", "unknown", "RP", "rp ", " rp", "x" * 300, "rp\x00", "rp%00", "ŕp"):
        params = _base()
        if client_id is None:
            del params["client_id"]
        else:
            params["client_id"] = client_id
        _assert_error_page(_get(actions, params), client_id)


def test_repeated_client_id_is_an_error_page(actions: Actions, rp: str) -> None:
    _assert_error_page(_get(actions, [*_base().items(), ("client_id", "rp")]))


def test_errors_before_redirect_validation_never_redirect(actions: Actions, rp: str) -> None:
    """An invalid response_type with a bad redirect URI is still only a page."""
    bad = "https://evil.example/callback"
    for extra in (
        {"response_type": "token"},
        {"request_uri": "https://evil.example/req"},
        {"code_challenge_method": "plain"},
        {"prompt": "bogus"},
    ):
        _assert_error_page(_get(actions, _base(redirect_uri=bad, **extra)))
        _assert_error_page(_get(actions, _base(client_id="nobody", **extra)))


def test_post_to_authorize_validates_the_redirect_uri_too(actions: Actions, rp: str) -> None:
    response = actions.client.post(
        "/authorize", data=_base(redirect_uri="https://rp.example.test/callback/")
    )
    _assert_error_page(response)
    _assert_error_redirect(
        actions.client.post("/authorize", data=_base(state="p", response_type="token")),
        "unsupported_response_type",
        "p",
    )


# -- case 36: only the code flow -----------------------------------------------------


OTHER_RESPONSE_TYPES = [
    "token",
    "id_token token",
    "code id_token",
    "id_token",
    "code token",
    "code id_token token",
    "none",
    "CODE",
    "code code",
    "token code",
    "code ",
    "ünïcode",
    '"code"',
]


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "session"])
def test_other_response_types_are_unsupported(actions: Actions, rp: str, logged_in: bool) -> None:
    if logged_in:
        actions.login()  # even with a session nothing is issued
    for response_type in OTHER_RESPONSE_TYPES:
        response = _get(actions, _base(response_type=response_type, state="rt"))
        _assert_error_redirect(response, "unsupported_response_type", "rt", response_type)


def test_missing_response_type_is_refused(actions: Actions, rp: str) -> None:
    actions.login()
    params = _base(state="rt")
    del params["response_type"]
    _assert_error_redirect(
        _get(actions, params), {"invalid_request", "unsupported_response_type"}, "rt"
    )
    params["response_type"] = ""
    _assert_error_redirect(
        _get(actions, params), {"invalid_request", "unsupported_response_type"}, "rt"
    )


def test_other_response_modes_are_refused(actions: Actions, rp: str) -> None:
    actions.login()
    for mode in ("fragment", "form_post", "query.jwt", "web_message", ""):
        response = _get(actions, _base(response_mode=mode, state="rm"))
        _assert_error_redirect(response, "invalid_request", "rm", mode)


def test_other_grant_types_are_unsupported(actions: Actions, rp: str) -> None:
    for grant_type in (
        "password",
        "implicit",
        "token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:grant-type:device_code",
        "AUTHORIZATION_CODE",
        "",
    ):
        response = actions.token(
            {
                "grant_type": grant_type,
                "username": "alice",
                "password": "correct horse battery",
                "scope": "openid",
            },
            auth=("rp", rp),
        )
        assert response.status_code == 400, (grant_type, response.text)
        body = response.get_json()
        expected = {"unsupported_grant_type"}
        if not grant_type:
            expected.add("invalid_request")
        assert body["error"] in expected, (grant_type, body)
        assert "access_token" not in body


def test_password_grant_is_unsupported_for_a_public_client(actions: Actions) -> None:
    actions.create_user()
    actions.create_client("spa", public=True)
    response = actions.token(
        {
            "grant_type": "password",
            "client_id": "spa",
            "username": "alice",
            "password": "correct horse battery",
        }
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"


def test_discovery_advertises_only_the_code_flow(client: Any) -> None:
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["response_types_supported"] == ["code"]
    assert "password" not in meta["grant_types_supported"]
    assert "implicit" not in meta["grant_types_supported"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True


# -- case 37: iss in every authorization response -----------------------------------


def test_iss_in_a_successful_response(actions: Actions, rp: str) -> None:
    actions.login()
    query = _callback(_get(actions, _base(state="s-ok")))
    assert query["iss"] == [ISSUER]
    assert query["state"] == ["s-ok"]
    assert len(query["code"]) == 1


def test_iss_in_the_response_after_an_interactive_login(actions: Actions, rp: str) -> None:
    callback = actions.code_flow("rp", state="s-login")
    assert callback["iss"] == ISSUER
    assert callback["state"] == "s-login"


def test_iss_when_prompt_none_has_no_session(actions: Actions, rp: str) -> None:
    response = _get(actions, _base(prompt="none", state="pn"))
    _assert_error_redirect(response, {"login_required", "interaction_required"}, "pn")


def test_iss_when_consent_is_needed_silently(actions: Actions) -> None:
    actions.create_user()
    actions.create_client("third", first_party=False)
    actions.login()
    response = _get(actions, _base("third", prompt="none", state="pc"))
    _assert_error_redirect(response, {"consent_required", "interaction_required"}, "pc")


def test_iss_when_the_user_denies_consent(actions: Actions) -> None:
    actions.create_user()
    actions.create_client("third", first_party=False)
    response = actions.follow(_get(actions, _base("third", state="deny-me")))
    tx = parse_qs(urlsplit(response.request.url).query)["tx"][0]
    page = actions.follow(actions.login(tx=tx))
    assert 'id="consent-form"' in page.text
    denied = actions.client.post(
        f"/consent?tx={tx}", data={"csrf_token": csrf_from(page.text), "decision": "deny", "tx": tx}
    )
    _assert_error_redirect(denied, "access_denied", "deny-me")


def test_iss_when_the_user_cancels_a_step_up(actions: Actions, rp: str) -> None:
    actions.login()
    clock.set_offset(5)
    page = actions.follow(_get(actions, _base(max_age="0", state="cancel-me")))
    assert 'id="cancel-form"' in page.text, page.text[:300]
    tx = parse_qs(urlsplit(page.request.url).query)["tx"][0]
    cancelled = actions.client.post(
        f"/challenge?tx={tx}", data={"csrf_token": csrf_from(page.text), "tx": tx, "cancel": "1"}
    )
    _assert_error_redirect(cancelled, "access_denied", "cancel-me")  # the user declined


ERRORS_AFTER_VALIDATION = [
    ({"max_age": "-1"}, "invalid_request"),
    ({"max_age": "ten"}, "invalid_request"),
    ({"prompt": "bogus"}, "invalid_request"),
    ({"prompt": "none login"}, "invalid_request"),
    ({"claims": "{not json"}, "invalid_request"),
    ({"resource": "not-absolute"}, "invalid_target"),
    ({"resource": "https://api.example.test/#frag"}, "invalid_target"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://rp.example.test/request.jwt"}, "request_uri_not_supported"),
    ({"request_uri": "urn:ietf:params:oauth:request_uri:abc"}, "request_uri_not_supported"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
]


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "session"])
def test_errors_after_validation_redirect_with_state_and_iss(
    actions: Actions, rp: str, logged_in: bool
) -> None:
    if logged_in:
        actions.login()
    for extra, error in ERRORS_AFTER_VALIDATION:
        state = "st-" + secrets.token_hex(4)
        _assert_error_redirect(_get(actions, _base(state=state, **extra)), error, state, extra)


def test_error_redirect_without_state_still_carries_iss(actions: Actions, rp: str) -> None:
    params = _base(response_type="token")
    del params["state"]
    query = _assert_error_redirect(_get(actions, params), "unsupported_response_type", None)
    assert "state" not in query


def test_request_object_refused_even_for_a_logged_in_user(actions: Actions, rp: str) -> None:
    actions.login()
    _assert_error_redirect(
        _get(actions, _base(state="ro", request="eyJhbGciOiJub25lIn0.e30.")),
        "request_not_supported",
        "ro",
    )
    _assert_error_redirect(
        _get(actions, _base(state="ru", request_uri="https://rp.example.test/r")),
        "request_uri_not_supported",
        "ru",
    )


# -- case 33: PKCE, S256 only --------------------------------------------------------


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_plain_pkce_is_refused(actions: Actions, public: bool) -> None:
    actions.create_user()
    actions.create_client("c", public=public)
    actions.login()
    verifier, _ = pkce_pair()
    response = _get(
        actions, _base("c", code_challenge=verifier, code_challenge_method="plain", state="pl")
    )
    _assert_error_redirect(response, "invalid_request", "pl")


MALFORMED_PKCE = [
    {"code_challenge_method": ""},
    {"code_challenge_method": None},
    {"code_challenge_method": "s256"},
    {"code_challenge_method": "S512"},
    {"code_challenge_method": "S256 "},
    {"code_challenge": None},
    {"code_challenge": ""},
    {"code_challenge": "short"},
    {"code_challenge": "a" * 129},
    {"code_challenge": "+" * 43},
    {"code_challenge": "=" * 43},
]


@pytest.mark.parametrize("public", [False, True], ids=["confidential", "public"])
def test_malformed_pkce_is_refused(actions: Actions, public: bool) -> None:
    """A challenge without a method, a method without a challenge, anything but S256."""
    actions.create_user()
    actions.create_client("c", public=public)
    actions.login()
    for extra in MALFORMED_PKCE:
        params = _base("c", state="pk")
        for key, value in extra.items():
            if value is None:
                del params[key]
            else:
                params[key] = value
        _assert_error_redirect(_get(actions, params), "invalid_request", "pk", extra)


def test_repeated_pkce_parameters_are_refused(actions: Actions, rp: str) -> None:
    actions.login()
    _, other = pkce_pair()
    params = [*_base(state="rp2").items(), ("code_challenge", other)]
    _assert_error_redirect(_get(actions, params), "invalid_request", None)


def _public_callback(actions: Actions, **params: Any) -> dict[str, Any]:
    actions.create_user()
    actions.create_client("spa", public=True)
    return actions.code_flow("spa", **params)


def _redeem(
    actions: Actions,
    callback: dict[str, Any],
    client_id: str,
    secret: str | None,
    verifier: str | None,
) -> Any:
    data = {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT}
    if verifier is not None:
        data["code_verifier"] = verifier
    if secret is None:
        data["client_id"] = client_id
        return actions.token(data)
    return actions.token(data, auth=(client_id, secret))


def _assert_token_error(response: Any, errors: str | set[str]) -> None:
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.mimetype == "application/json"
    body = response.get_json()
    expected = {errors} if isinstance(errors, str) else errors
    assert body["error"] in expected, body
    assert "access_token" not in body and "id_token" not in body


def test_public_client_without_verifier_gets_invalid_grant(actions: Actions) -> None:
    callback = _public_callback(actions)
    _assert_token_error(_redeem(actions, callback, "spa", None, None), "invalid_grant")
    _assert_token_error(_redeem(actions, callback, "spa", None, ""), "invalid_grant")


def test_confidential_client_without_verifier_gets_invalid_grant(actions: Actions, rp: str) -> None:
    callback = actions.code_flow("rp")
    _assert_token_error(_redeem(actions, callback, "rp", rp, None), "invalid_grant")


@pytest.mark.parametrize("public", [True, False], ids=["public", "confidential"])
def test_wrong_verifier_gets_invalid_grant(actions: Actions, public: bool) -> None:
    actions.create_user()
    secret = actions.create_client("c", public=public)
    callback = actions.code_flow("c")
    wrong, _ = pkce_pair()
    _assert_token_error(_redeem(actions, callback, "c", secret, wrong), "invalid_grant")
    # The code is gone: even the right verifier does not work afterwards.
    _assert_token_error(
        _redeem(actions, callback, "c", secret, callback["code_verifier"]), "invalid_grant"
    )


def test_malformed_verifier_is_refused(actions: Actions) -> None:
    callback = _public_callback(actions)
    _assert_token_error(
        _redeem(actions, callback, "spa", None, "short"), {"invalid_grant", "invalid_request"}
    )


def test_challenge_itself_is_not_a_verifier(actions: Actions) -> None:
    _, challenge = pkce_pair()
    callback = _public_callback(actions, code_challenge=challenge)
    _assert_token_error(_redeem(actions, callback, "spa", None, challenge), "invalid_grant")


def test_verifier_without_a_challenge_is_refused(actions: Actions, rp: str) -> None:
    """RFC 9700 §4.8.2: a code_verifier for a code issued without a challenge."""
    actions.login()
    params = _base(state="nc")
    del params["code_challenge"], params["code_challenge_method"]
    query = _callback(_get(actions, params))
    callback = {"code": query["code"][0]}
    verifier, _ = pkce_pair()
    _assert_token_error(
        _redeem(actions, callback, "rp", rp, verifier), {"invalid_request", "invalid_grant"}
    )


def test_confidential_client_without_pkce_still_works(actions: Actions, rp: str) -> None:
    """The control for the case above: no challenge, no verifier."""
    actions.login()
    params = _base()
    del params["code_challenge"], params["code_challenge_method"]
    query = _callback(_get(actions, params))
    response = _redeem(actions, {"code": query["code"][0]}, "rp", rp, None)
    assert response.status_code == 200, response.text


def test_right_verifier_works(actions: Actions) -> None:
    callback = _public_callback(actions)
    response = _redeem(actions, callback, "spa", None, callback["code_verifier"])
    assert response.status_code == 200, response.text


# -- malformed values never give a 500 ------------------------------------------------

HUGE = "A" * 10_240
MALFORMED_VALUES = {
    "nul": "abc\x00def",
    "huge": HUGE,
    "unicode": "ünïcødé-😀-\u202e-\u200b",
    "newline": "a\r\nLocation: https://evil.example/",
    "quote": "\"'<script>alert(1)</script>",
    "percent": "%ff%fe%00",
}
FIELDS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "acr_values",
    "claims",
    "code_challenge",
    "code_challenge_method",
    "resource",
    "response_mode",
    "login_hint",
    "ui_locales",
    "id_token_hint",
    "display",
]


@pytest.mark.parametrize("kind", list(MALFORMED_VALUES))
def test_malformed_values_never_give_500(actions: Actions, rp: str, kind: str) -> None:
    for field in FIELDS:
        params = _base()
        params[field] = MALFORMED_VALUES[kind]
        response = _get(actions, params)
        assert response.status_code < 500, (field, response.text[:500])
        if response.status_code in (301, 302, 303):
            location = response.headers["Location"]
            assert location.startswith((REDIRECT + "?", "/login", "http://localhost/login")), (
                location
            )
            if location.startswith(REDIRECT):
                assert parse_qs(urlsplit(location).query)["iss"] == [ISSUER]
        if field in ("client_id", "redirect_uri"):
            _assert_error_page(response, field)


def test_malformed_values_with_a_session_never_give_500(actions: Actions, rp: str) -> None:
    actions.login()
    for field in FIELDS:
        for value in MALFORMED_VALUES.values():
            params = _base()
            params[field] = value
            response = _get(actions, params)
            assert response.status_code < 500, (field, value[:20], response.text[:500])
            if response.status_code == 302:
                location = response.headers["Location"]
                assert location.startswith(REDIRECT + "?"), (field, location)


def test_nul_bytes_are_refused_after_validation(actions: Actions, rp: str) -> None:
    for field in ("scope", "nonce", "prompt", "acr_values"):
        params = _base(state="nul")
        params[field] = "x\x00y"
        _assert_error_redirect(_get(actions, params), "invalid_request", "nul")


def test_repeated_parameters_are_refused(actions: Actions, rp: str) -> None:
    actions.login()
    for field in FIELDS:
        if field in ("client_id", "redirect_uri"):
            continue
        base = _base()
        value = base.get(field, "x")
        params = [*base.items(), (field, value)]
        if field not in base:
            params.append((field, value))
        _assert_error_redirect(_get(actions, params), "invalid_request", None, field)


@pytest.mark.parametrize("logged_in", [False, True], ids=["anonymous", "session"])
def test_raw_invalid_percent_encoding_never_gives_500(
    actions: Actions, rp: str, logged_in: bool
) -> None:
    if logged_in:
        actions.login()
    for query in (
        "response_type=code&client_id=rp&redirect_uri=%zz&state=%",
        "response_type=%ff&client_id=rp&redirect_uri=" + REDIRECT + "&state=%c3%28",
        "client_id=%00&redirect_uri=%00",
        "&&&==&client_id&redirect_uri",
        "client_id=rp&redirect_uri=" + REDIRECT + "&scope=%E2%82&code_challenge=%",
        urlencode(_base()) + "&%00=1",
        urlencode(_base()) + "&x%00y=1&%ff%fe=%ff",
    ):
        response = actions.client.get("/authorize?" + query)
        assert response.status_code < 500, (query, response.text[:300])
        if "Location" in response.headers:
            # The registered redirect URI, or (anonymous, valid request) the login page.
            allowed = (REDIRECT + "?",) if logged_in else (REDIRECT + "?", "/login?tx=")
            assert response.headers["Location"].startswith(allowed), query


# -- case 52: iss whatever the registered redirect URI's query holds --------------------


def _registered(actions: Actions, uri: str) -> str:
    actions.create_user()
    secret = actions.create_client("qrp", redirect_uris=[uri])
    assert secret
    return secret


def _response_query(response: Any, uri: str) -> list[tuple[str, str]]:
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    parts, registered = urlsplit(location), urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == (
        registered.scheme,
        registered.netloc,
        registered.path,
    ), location
    # the registered query is kept as registered, at the front
    kept = [s for s in registered.query.split("&") if s.partition("=")[0] not in RESPONSE_KEYS]
    assert parts.query.split("&")[: len(kept)] == kept, (location, kept)
    return parse_qsl(parts.query, keep_blank_values=True)


RESPONSE_KEYS = {"code", "state", "iss", "error", "error_description", "error_uri"}


@pytest.mark.parametrize(
    "uri",
    [
        "https://rp.example.test/cb?dismiss=1",
        "https://rp.example.test/cb?mississippi=iss%3D&kiss=iss=",
        "https://rp.example.test/cb?a=1&b=&c",
    ],
)
def test_iss_when_the_redirect_uris_query_merely_contains_iss(actions: Actions, uri: str) -> None:
    secret = _registered(actions, uri)
    actions.login()
    verifier, challenge = pkce_pair()
    params = _base("qrp", redirect_uri=uri, state="s1", code_challenge=challenge)
    ok = _response_query(_get(actions, params), uri)
    assert [v for k, v in ok if k == "iss"] == [ISSUER], ok
    assert [v for k, v in ok if k == "state"] == ["s1"], ok
    assert len([v for k, v in ok if k == "code"]) == 1, ok
    code = dict(ok)["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": uri,
        "code_verifier": verifier,
    }
    assert actions.token(data, auth=("qrp", secret)).status_code == 200
    error = _response_query(
        _get(actions, _base("qrp", redirect_uri=uri, state="s2", max_age="x")), uri
    )
    assert [v for k, v in error if k == "iss"] == [ISSUER], error
    assert [v for k, v in error if k == "error"] == ["invalid_request"], error


def test_the_ops_own_parameters_win_over_the_registered_query(actions: Actions) -> None:
    """A registered URI carrying ``iss``, ``state``, ``code`` or ``error`` keys: the
    response holds exactly one of each, the OP's (RFC 9207 §2.4); other keys stay."""
    uri = (
        "https://rp.example.test/cb?iss=https%3A%2F%2Fevil.example&keep=1"
        "&state=registered&code=registered&error=registered&error_description=x&ISS=upper"
    )
    _registered(actions, uri)
    actions.login()
    ok = _response_query(_get(actions, _base("qrp", redirect_uri=uri, state="s1")), uri)
    assert [v for k, v in ok if k == "iss"] == [ISSUER], ok
    assert [v for k, v in ok if k == "state"] == ["s1"], ok
    assert len([v for k, v in ok if k == "code"]) == 1 and ("code", "registered") not in ok, ok
    assert "error" not in dict(ok), ok
    assert ("keep", "1") in ok and ("ISS", "upper") in ok, ok
    for extra in ({"max_age": "x"}, {"prompt": "none login"}):
        error = _response_query(
            _get(actions, _base("qrp", redirect_uri=uri, state="s2", **extra)), uri
        )
        assert [v for k, v in error if k == "iss"] == [ISSUER], error
        assert [v for k, v in error if k == "error"] == ["invalid_request"], error
        assert [v for k, v in error if k == "state"] == ["s2"], error
        assert "code" not in dict(error), error
    # without state, the registered state does not pass for the OP's
    params = _base("qrp", redirect_uri=uri)
    del params["state"]
    ok = _response_query(_get(actions, params), uri)
    assert "state" not in dict(ok), ok
