"""Several instances on one database (docs/design.md, story 8, docs/deploy.md).

Two real server processes (gunicorn, two workers each) on different ports share
the test database, the issuer and the keys, like instances behind a load
balancer. A browser and a relying party hop between them: login on one, step-up
on the other, tokens on the first. Then the operator's view: both logs are one
JSON object per line, carry request ids and never a secret; /metrics counts the
requests and the step-up.

Then the races of docs/security.md across the two instances (issue 9): wrong PINs
split over both lock at exactly the limit and the lock holds on both (case 1);
one TOTP code or one backup code sent to both from many sessions succeeds once
(cases 8, 13); one authorization code redeemed on both gives one token response
and the tokens it gave are revoked (case 34); one refresh token rotated on both
succeeds once and revokes its family (case 35).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from provider.crypto import sha256_hex
from provider.extensions import db
from provider.storage.models import AuthorizationCode, Token
from tests.conftest import _TMP, Actions, LiveServer, csrf_from, free_port, pkce_pair, server_env

REDIRECT = "http://127.0.0.1:8976/callback"
PASSWORD = "correct horse battery"
TWO_FA = "urn:belay:acr:2fa"


@pytest.fixture(scope="module")
def instances(database: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    ports = [free_port(), free_port()]
    issuer = f"http://127.0.0.1:{ports[0]}"
    started: list[LiveServer] = []
    try:
        for port in ports:
            # No growing PIN delay: a burst of guesses runs into the lock itself
            # (the delay has its own tests in test_factor_pin.py).
            env = server_env(
                port, BELAY_ISSUER=issuer, BELAY_KEY_CACHE_TTL="0", BELAY_PIN_DELAY_AFTER="10"
            )
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            started.append(LiveServer(port, env).start())
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def on(server: LiveServer, location: str) -> str:
    """The same path and query on ``server`` (a load balancer's choice)."""
    parts = urlsplit(location)
    return server.url + parts.path + (f"?{parts.query}" if parts.query else "")


def drive(browser: requests.Session, servers: list[LiveServer], url: str) -> requests.Response:
    """GET ``url`` then follow the OP's redirects, each hop on the next server in turn."""
    response = browser.get(url, allow_redirects=False, timeout=30)
    hop = 0
    while response.status_code in (302, 303) and not response.headers["Location"].startswith(
        REDIRECT
    ):
        hop += 1
        server = servers[hop % len(servers)]
        response = browser.get(on(server, response.headers["Location"]), allow_redirects=False)
    return response


def authorize_url(server: LiveServer, challenge: str, nonce: str, **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": REDIRECT,
        "scope": "openid profile offline_access",
        "state": secrets.token_urlsafe(8),
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"{server.url}/authorize?{urlencode(query)}"


def callback_code(response: requests.Response) -> str:
    assert response.status_code in (302, 303), response.text[:400]
    location = response.headers["Location"]
    assert location.startswith(REDIRECT), location
    return parse_qs(urlsplit(location).query)["code"][0]


def token(server: LiveServer, secret: str, data: dict[str, str]) -> requests.Response:
    basic = base64.b64encode(f"rp:{secret}".encode()).decode()
    return requests.post(
        server.url + "/token",
        data=data,
        headers={"Authorization": f"Basic {basic}", "X-Request-Id": "rid-token-1"},
        timeout=30,
    )


def verify_id_token(server: LiveServer, issuer: str, id_token: str, nonce: str) -> dict[str, Any]:
    keys = KeySet.import_key_set(requests.get(server.url + "/jwks.json", timeout=10).json())
    claims = dict(jwt.decode(id_token, keys, algorithms=["ES256"]).claims)
    assert claims["iss"] == issuer and claims["aud"] == "rp" and claims["nonce"] == nonce
    return claims


@pytest.mark.slow
def test_flows_hop_between_two_instances_and_logs_and_metrics_hold_no_secret(
    app: Flask, actions: Actions, instances: tuple[LiveServer, LiveServer]
) -> None:
    first, second = instances
    issuer = first.url
    user = actions.create_user("alice", PASSWORD)
    secret = actions.create_client("rp", redirect_uris=[REDIRECT])
    assert secret
    with app.app_context():
        enrolment = app.extensions["belay_factors"].get("totp").add_confirmed(user, "alice")
    totp = pyotp.TOTP(enrolment.secret)
    secrets_seen: list[str] = [PASSWORD, secret, enrolment.secret]
    browser = requests.Session()

    # 1. Login on the first instance, the code redeemed on the second.
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(8)
    page = drive(browser, [first], authorize_url(first, challenge, nonce))
    assert 'id="login-form"' in page.text, page.text[:400]
    response = browser.post(
        page.url,
        data={"csrf_token": csrf_from(page.text), "username": "alice", "password": PASSWORD},
        allow_redirects=False,
        headers={"X-Request-Id": "rid-login-1"},
    )
    assert response.headers["X-Request-Id"] == "rid-login-1"
    code = callback_code(drive(browser, [first, second], on(first, response.headers["Location"])))
    granted = token(
        second,
        secret,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert granted.status_code == 200, granted.text
    assert granted.headers["X-Request-Id"] == "rid-token-1"
    first_tokens = granted.json()
    claims = verify_id_token(first, issuer, first_tokens["id_token"], nonce)
    assert claims["acr"] == "urn:belay:acr:1fa"
    secrets_seen += [code, verifier, browser.cookies["belay_session"]]

    # 2. Step-up on the second instance (the session made on the first), the
    #    code redeemed on the first.
    verifier, challenge = pkce_pair()
    nonce = secrets.token_urlsafe(8)
    page = drive(browser, [second], authorize_url(second, challenge, nonce, acr_values=TWO_FA))
    assert 'id="totp-form"' in page.text, page.text[:400]
    assert urlsplit(page.url).port == second.port
    tx = parse_qs(urlsplit(page.url).query)["tx"][0]
    otp = totp.now()
    response = browser.post(
        f"{second.url}/challenge?tx={tx}",
        data={"csrf_token": csrf_from(page.text), "tx": tx, "method": "totp", "code": otp},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:400]
    code = callback_code(drive(browser, [second, first], on(second, response.headers["Location"])))
    granted = token(
        first,
        secret,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )
    assert granted.status_code == 200, granted.text
    stepped = granted.json()
    claims = verify_id_token(second, issuer, stepped["id_token"], nonce)
    assert claims["acr"] == TWO_FA and "otp" in claims["amr"]
    secrets_seen += [otp, code, verifier]

    # 3. Refresh rotation across instances: rotate on the second, replay on the
    #    first is refused (and revokes the family everywhere).
    refresh = stepped["refresh_token"]
    rotated = token(second, secret, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert rotated.status_code == 200, rotated.text
    replay = token(first, secret, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    newest = rotated.json()["refresh_token"]
    after = token(second, secret, {"grant_type": "refresh_token", "refresh_token": newest})
    assert after.status_code == 400
    for body in (first_tokens, stepped, rotated.json()):
        secrets_seen += [v for k, v in body.items() if k.endswith("_token")]

    # 4. Metrics: each instance adds up its two workers.
    metrics = {s.port: requests.get(s.url + "/metrics", timeout=10) for s in instances}
    for response in metrics.values():
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "belay_http_requests_total" in response.text
        assert "belay_http_request_duration_seconds_bucket" in response.text
    step_ups = re.search(
        r'belay_step_ups_total\{acr="urn:belay:acr:2fa",method="totp"\} (\d+)',
        metrics[second.port].text,
    )
    assert step_ups and float(step_ups.group(1)) == 1.0
    tokens = re.findall(
        r'belay_http_requests_total\{endpoint="/token",method="POST",status="(\d+)"\} (\S+)',
        metrics[first.port].text,
    )
    assert dict(tokens) == {"200": "1.0", "400": "1.0"}

    # 5. Logs: one JSON object per line from Belay, request ids, no secret.
    lines: list[dict[str, Any]] = []
    for server in instances:
        text = (_TMP / f"server-{server.port}.log").read_text()
        for secret_value in secrets_seen:
            assert secret_value not in text, "a secret reached the log"
        lines += [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests_logged = [line for line in lines if line["logger"] == "belay.access"]
    assert {"rid-login-1", "rid-token-1"} <= {line["request_id"] for line in requests_logged}
    assert all(re.fullmatch(r"[\w.:-]+", line["request_id"]) for line in requests_logged)
    assert all("?" not in line["path"] for line in requests_logged)
    token_lines = [line for line in requests_logged if line["path"] == "/token"]
    assert token_lines and all(line["client_id"] == "rp" for line in token_lines)
    audits = {(line["event"], line["result"]) for line in lines if line["logger"] == "belay.audit"}
    assert ("step_up", "success") in audits


# -- races across the two instances (docs/security.md cases 1, 8, 13, 34, 35) ----------------------

PIN = "480975"
WRONG_PIN = "731952"


def signed_in(server: LiveServer, username: str = "alice") -> tuple[str, str]:
    """A browser signed in with its password on ``server``: (session cookie, API CSRF token)."""
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=30)
    response = browser.post(
        server.url + "/login",
        data={"csrf_token": csrf_from(page.text), "username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:300]
    methods = browser.get(server.url + "/api/step-up/methods", timeout=30)
    assert methods.status_code == 200, methods.text[:300]
    return browser.cookies["belay_session"], methods.json()["csrf_token"]


def step_up(server: LiveServer, browser: tuple[str, str], body: dict[str, str]) -> Any:
    cookie, csrf = browser
    return requests.post(
        server.url + "/api/step-up/verify",
        json=body,
        cookies={"belay_session": cookie},
        headers={"X-CSRF-Token": csrf},
        timeout=60,
    )


def step_up_until_admitted(
    server: LiveServer, browser: tuple[str, str], body: dict[str, str]
) -> Any:
    """``step_up``, again while the instance answers busy (a 503 from argon2
    load shedding checked and counted nothing: it is no attempt)."""
    while True:
        response = step_up(server, browser, body)
        if response.status_code != 503:
            return response
        assert response.json()["error"] == "temporarily_unavailable"
        assert response.headers["Retry-After"] == "1"


def at_once(calls: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run every call in its own thread, released together."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], requests.Response]) -> requests.Response:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def outcomes(responses: list[requests.Response]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for response in responses:
        assert response.headers["Content-Type"].startswith("application/json"), response.text
        key = f"{response.status_code} {response.json().get('error', 'ok')}"
        counted[key] = counted.get(key, 0) + 1
    return counted


def introspect(server: LiveServer, secret: str, value: str) -> dict[str, Any]:
    response = requests.post(
        server.url + "/introspect",
        data={"token": value},
        auth=("rp", secret),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def code_for(browser: requests.Session, server: LiveServer) -> tuple[str, str]:
    """A fresh authorization code (and its verifier) for the signed-in ``browser``."""
    verifier, challenge = pkce_pair()
    response = drive(browser, [server], authorize_url(server, challenge, "n"))
    return callback_code(response), verifier


def redeem(server: LiveServer, secret: str, code: str, verifier: str) -> requests.Response:
    return token(
        server,
        secret,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )


def rp_browser(server: LiveServer) -> requests.Session:
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=30)
    response = browser.post(
        server.url + "/login",
        data={"csrf_token": csrf_from(page.text), "username": "alice", "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, response.text[:300]
    return browser


@pytest.mark.slow
def test_100_wrong_pins_across_instances_lock_at_exactly_ten(
    app: Flask, actions: Actions, instances: tuple[LiveServer, LiveServer]
) -> None:
    """Case 1 across instances (and 2, 4): exactly 10 guesses are checked, no
    success, and the right PIN is then refused on both like a wrong one."""
    user = actions.create_user("alice", PASSWORD)
    with app.app_context():
        pin = app.extensions["belay_factors"].get("pin")
        pin.set_pin(user, PIN, PIN)
    # Ten attackers' sessions, five made on each instance.
    browsers = [signed_in(instances[i % 2]) for i in range(10)]
    calls = [
        (
            lambda i=i: step_up_until_admitted(
                instances[i % 2], browsers[i % 10], {"method": "pin", "pin": WRONG_PIN}
            )
        )
        for i in range(100)
    ]
    assert outcomes(at_once(calls)) == {"401 invalid_code": 10, "429 locked": 90}
    with app.app_context():
        db.session.remove()
        status = pin.status(user)
        assert status.failures == 10 and status.locked
    for server in instances:
        right = step_up(server, browsers[0], {"method": "pin", "pin": PIN})
        assert right.status_code == 429 and right.json()["error"] == "locked", right.text
        wrong = step_up(server, browsers[1], {"method": "pin", "pin": WRONG_PIN})
        assert (right.status_code, right.json()) == (wrong.status_code, wrong.json())
    with app.app_context():
        db.session.remove()
        assert pin.status(user).failures == 10


@pytest.mark.slow
def test_one_totp_code_and_one_backup_code_across_instances_succeed_once(
    app: Flask, actions: Actions, instances: tuple[LiveServer, LiveServer]
) -> None:
    """Cases 8 and 13: the same code from 20 sessions, split over both instances."""
    user = actions.create_user("alice", PASSWORD)
    with app.app_context():
        factors = app.extensions["belay_factors"]
        totp = pyotp.TOTP(factors.get("totp").add_confirmed(user, "alice").secret)
        backup = factors.get("backup_code").generate(user)
    browsers = [signed_in(instances[i % 2]) for i in range(20)]

    code = totp.now()
    calls = [
        (lambda i=i: step_up(instances[i % 2], browsers[i], {"method": "totp", "code": code}))
        for i in range(20)
    ]
    responses = at_once(calls)
    results = outcomes(responses)
    assert results.pop("200 ok") == 1, results
    # The others: the code was used (or, past the 5th failure, the growing delay).
    assert set(results) <= {"401 invalid_code", "429 locked"}, results

    # The winner's session id was rotated by its step-up: the other ten go on.
    others = [b for b, r in zip(browsers, responses, strict=True) if r.status_code != 200]
    calls = [
        (
            lambda i=i: step_up(
                instances[i % 2], others[i], {"method": "backup_code", "code": backup[0]}
            )
        )
        for i in range(10)
    ]
    results = outcomes(at_once(calls))
    assert results.pop("200 ok") == 1, results
    assert set(results) <= {"401 invalid_code", "429 locked"}, results
    with app.app_context():
        db.session.remove()
        assert factors.get("backup_code").remaining(user) == 9


@pytest.mark.slow
def test_one_code_redeemed_on_both_instances_gives_one_response_then_revokes_it(
    app: Flask, actions: Actions, instances: tuple[LiveServer, LiveServer]
) -> None:
    """Case 34 across instances: 20 redemptions of one code, one token response;
    the replays revoke the tokens it gave (RFC 6749 §4.1.2)."""
    actions.create_user("alice", PASSWORD)
    secret = actions.create_client("rp", redirect_uris=[REDIRECT])
    assert secret
    browser = rp_browser(instances[0])
    code, verifier = code_for(browser, instances[0])
    responses = at_once(
        [(lambda i=i: redeem(instances[i % 2], secret, code, verifier)) for i in range(20)]
    )
    assert outcomes(responses) == {"200 ok": 1, "400 invalid_grant": 19}
    granted = next(r.json() for r in responses if r.status_code == 200)
    for server in instances:
        assert introspect(server, secret, granted["access_token"]) == {"active": False}
        assert introspect(server, secret, granted["refresh_token"]) == {"active": False}
        again = token(
            server,
            secret,
            {"grant_type": "refresh_token", "refresh_token": granted["refresh_token"]},
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    with app.app_context():
        db.session.remove()
        stored = db.session.scalar(
            select(AuthorizationCode).where(AuthorizationCode.code_hash == sha256_hex(code))
        )
        assert stored is not None and stored.used_at is not None
        rows = list(db.session.scalars(select(Token).where(Token.code_id == stored.id)))
        assert len(rows) == 1 and rows[0].revoked_at is not None


@pytest.mark.slow
def test_one_refresh_token_rotated_on_both_instances_succeeds_once_and_revokes_the_family(
    app: Flask, actions: Actions, instances: tuple[LiveServer, LiveServer]
) -> None:
    """Case 35 across instances: 10 rotations of one refresh token, at most one
    success (here exactly one: someone is first); the others are reuse, which
    revokes the whole family — the token just rotated in included."""
    actions.create_user("alice", PASSWORD)
    secret = actions.create_client("rp", redirect_uris=[REDIRECT])
    assert secret
    browser = rp_browser(instances[0])
    code, verifier = code_for(browser, instances[0])
    first = redeem(instances[1], secret, code, verifier)
    assert first.status_code == 200, first.text
    refresh = first.json()["refresh_token"]
    # Another grant of the same user and client: reuse in one family leaves it alone.
    code, verifier = code_for(browser, instances[0])
    other = redeem(instances[0], secret, code, verifier).json()

    responses = at_once(
        [
            (
                lambda i=i: token(
                    instances[i % 2],
                    secret,
                    {"grant_type": "refresh_token", "refresh_token": refresh},
                )
            )
            for i in range(10)
        ]
    )
    assert outcomes(responses) == {"200 ok": 1, "400 invalid_grant": 9}
    rotated = next(r.json() for r in responses if r.status_code == 200)
    for server in instances:
        assert introspect(server, secret, rotated["access_token"]) == {"active": False}
        again = token(
            server,
            secret,
            {"grant_type": "refresh_token", "refresh_token": rotated["refresh_token"]},
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    with app.app_context():
        db.session.remove()
        family = db.session.scalar(
            select(Token.family_id).where(Token.refresh_token_hash == sha256_hex(refresh))
        )
        rows = list(db.session.scalars(select(Token).where(Token.family_id == family)))
        assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
    assert introspect(instances[1], secret, other["access_token"])["active"] is True
    kept = token(
        instances[1],
        secret,
        {"grant_type": "refresh_token", "refresh_token": other["refresh_token"]},
    )
    assert kept.status_code == 200, kept.text
