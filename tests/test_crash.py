"""docs/security.md case 42: a process killed in the middle of a flow loses nothing
that was committed and leaves nothing half-written.

A real server (gunicorn, two workers) takes a storm of code redemptions and
refresh-token rotations; the whole process group is killed with SIGKILL in the
middle of it, a new server starts on the same database, and then:

- every response the relying party received is still true (each token it was
  given exists; the newest refresh token of each chain still refreshes unless
  its last request was cut off, when the outcome is the server's to decide);
- the database holds no half-written state: no family with two live refresh
  tokens, no unused code with tokens, no token without its fields, TOTP
  enrolments are either pending or confirmed, and SQLite's integrity check
  passes.

The same for enrolment: browsers set up authenticator apps and regenerate
backup codes on the account page when the server is killed. After the restart
every authenticator whose confirmation was answered is active with the secret
the browser was shown; one whose answer never came is either active with that
secret or still pending — never active with another; and every user has exactly
one whole set of 10 backup codes: the last set shown, or (when the last request
was cut off) the set that request made — never a mix, never none.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
import requests
from flask import Flask
from sqlalchemy import func, select, text

from provider.extensions import db
from provider.factors.backup_codes import normalise
from provider.storage.models import AuthorizationCode, BackupCode, Token, TotpCredential
from tests.conftest import (
    Actions,
    LiveServer,
    answer_confirmation,
    csrf_from,
    free_port,
    pkce_pair,
    server_env,
)

REDIRECT = "http://127.0.0.1:8976/callback"
PASSWORD = "correct horse battery"
CODES = 16
FAMILIES = 8


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def kill_hard(server: LiveServer) -> None:
    """SIGKILL the gunicorn master and its workers at once (no graceful anything)."""
    assert server.process is not None
    master = server.process.pid
    for pid in [*_children(master), master]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(10)


def basic(secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"rp:{secret}".encode()).decode()}


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def issue_codes(server: LiveServer, count: int) -> list[tuple[str, str]]:
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=30)
    signed_in = browser.post(
        server.url + "/login",
        data={"csrf_token": csrf_from(page.text), "username": "alice", "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302, signed_in.text[:300]
    codes = []
    for _ in range(count):
        verifier, challenge = pkce_pair()
        query = {
            "response_type": "code",
            "client_id": "rp",
            "redirect_uri": REDIRECT,
            "scope": "openid offline_access",
            "state": "s",
            "nonce": "n",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        response = browser.get(
            f"{server.url}/authorize?{urlencode(query)}", allow_redirects=False, timeout=30
        )
        location = response.headers["Location"]
        assert location.startswith(REDIRECT), location
        codes.append((parse_qs(urlsplit(location).query)["code"][0], verifier))
    return codes


def redeem(server: LiveServer, secret: str, code: str, verifier: str) -> requests.Response:
    return requests.post(
        server.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        headers=basic(secret),
        timeout=30,
    )


def refresh(server: LiveServer, secret: str, token: str) -> requests.Response:
    return requests.post(
        server.url + "/token",
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers=basic(secret),
        timeout=30,
    )


@pytest.mark.slow
def test_sigkill_during_code_redemption_and_refresh_rotation_loses_nothing_committed(
    app: Flask, actions: Actions
) -> None:
    user = actions.create_user("alice", PASSWORD)
    secret = actions.create_client("rp", redirect_uris=[REDIRECT])
    assert secret
    with app.app_context():
        # One confirmed authenticator and one enrolment pending (started, not confirmed).
        factor = app.extensions["belay_factors"].get("totp")
        factor.add_confirmed(user, "alice")
    bob = actions.create_user("bob", PASSWORD)
    with app.app_context():
        factor.begin(bob, "bob")
    port = free_port()
    server = LiveServer(port, server_env(port)).start()
    try:
        codes = issue_codes(server, CODES + FAMILIES)
        chains: list[dict[str, Any]] = []
        for code, verifier in codes[:FAMILIES]:
            response = redeem(server, secret, code, verifier)
            assert response.status_code == 200, response.text
            chains.append({"token": response.json()["refresh_token"], "cut": False})
        storm_codes = codes[FAMILIES:]

        received: list[dict[str, Any]] = []  # every 200 body the RP got
        lock = threading.Lock()
        stop = threading.Event()

        def rotate(chain: dict[str, Any]) -> None:
            while not stop.is_set():
                try:
                    response = refresh(server, secret, chain["token"])
                except requests.RequestException:
                    chain["cut"] = True  # cut off mid-request: the outcome is unknown
                    return
                if response.status_code != 200:
                    chain["refused"] = response.status_code
                    return
                with lock:
                    received.append(response.json())
                chain["token"] = response.json()["refresh_token"]

        redeemed: dict[str, Any] = {}

        def exchange(code: str, verifier: str) -> None:
            time.sleep(0.05 * (len(redeemed) % 8))
            try:
                response = redeem(server, secret, code, verifier)
            except requests.RequestException:
                redeemed[code] = "cut"
                return
            redeemed[code] = response.status_code
            if response.status_code == 200:
                with lock:
                    received.append(response.json())

        threads = [threading.Thread(target=rotate, args=(c,)) for c in chains]
        threads += [threading.Thread(target=exchange, args=pair) for pair in storm_codes]
        for thread in threads:
            thread.start()
        time.sleep(0.4)
        kill_hard(server)
        stop.set()
        for thread in threads:
            thread.join(30)
        # The storm was really cut in the middle: some answers came, some did not.
        assert received, "no request finished before the kill"
        assert any(c["cut"] for c in chains) or "cut" in redeemed.values()
        assert not any("refused" in c for c in chains), chains

        server = LiveServer(port, server_env(port)).start()

        # Nothing committed is lost: every token the RP was given exists.
        with app.app_context():
            db.session.remove()
            for body in received:
                row = db.session.scalar(
                    select(Token).where(Token.access_token_hash == sha256(body["access_token"]))
                )
                assert row is not None, "a token the client received is gone"
            # A code the RP redeemed is used; a code whose answer never came is
            # either used (tokens saved) or unused (nothing saved) — never in between.
            for code, outcome in redeemed.items():
                stored = db.session.scalar(
                    select(AuthorizationCode).where(AuthorizationCode.code_hash == sha256(code))
                )
                assert stored is not None
                if outcome == 200:
                    assert stored.used_at is not None

        # The newest refresh token of every chain not cut mid-request still works.
        for chain in chains:
            if not chain["cut"]:
                response = refresh(server, secret, chain["token"])
                assert response.status_code == 200, response.text

        # Nothing half-written remains.
        with app.app_context():
            db.session.remove()
            live = (
                select(Token.family_id, func.count(Token.id))
                .where(
                    Token.refresh_token_hash.is_not(None),
                    Token.refresh_used_at.is_(None),
                    Token.revoked_at.is_(None),
                )
                .group_by(Token.family_id)
            )
            for family, count in db.session.execute(live):
                assert count <= 1, f"family {family} has {count} live refresh tokens"
            unused_with_tokens = db.session.scalar(
                select(func.count(AuthorizationCode.id)).where(
                    AuthorizationCode.used_at.is_(None),
                    AuthorizationCode.id.in_(select(Token.code_id)),
                )
            )
            assert unused_with_tokens == 0
            incomplete = db.session.scalar(
                select(func.count(Token.id)).where(
                    (Token.jti.is_(None))
                    | (Token.access_token_hash.is_(None))
                    | (Token.family_id.is_(None))
                    | (Token.issued_at.is_(None))
                )
            )
            assert incomplete == 0
            creds = {c.user_id: c for c in db.session.scalars(select(TotpCredential))}
            for cred in creds.values():
                assert (cred.secret_encrypted is None) == (cred.confirmed_at is None)
            assert creds[user].confirmed_at is not None
            assert creds[bob].confirmed_at is None and creds[bob].pending_secret_encrypted
            if db.engine.dialect.name == "sqlite":
                assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        server.stop()


# -- enrolment ------------------------------------------------------------------------------

TOTP_USERS = 12
BACKUP_USERS = 4


def browser_on(server: LiveServer, username: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(server.url + "/login", timeout=30)
    signed_in = browser.post(
        server.url + "/login",
        data={"csrf_token": csrf_from(page.text), "username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302, signed_in.text[:300]
    return browser


def account_csrf(server: LiveServer, browser: requests.Session) -> str:
    return csrf_from(browser.get(server.url + "/account", timeout=30).text)


@pytest.mark.slow
def test_sigkill_during_enrolment_leaves_each_enrolment_whole_or_absent(
    app: Flask, actions: Actions
) -> None:
    factors = app.extensions["belay_factors"]
    totp_users = {f"t{i}": actions.create_user(f"t{i}", PASSWORD) for i in range(TOTP_USERS)}
    backup_users = {f"b{i}": actions.create_user(f"b{i}", PASSWORD) for i in range(BACKUP_USERS)}
    first_sets: dict[str, list[str]] = {}
    with app.app_context():
        for name, user in backup_users.items():
            first_sets[name] = factors.get("backup_code").generate(user)
    port = free_port()
    server = LiveServer(port, server_env(port)).start()
    try:
        # A password session confirms access for the authenticator-app users;
        # the backup-code users confirm with one of their codes.
        browsers = {name: browser_on(server, name) for name in totp_users}
        for name in backup_users:
            browser = browsers[name] = browser_on(server, name)
            confirmed = browser.post(
                server.url + "/account/confirm",
                data={
                    "csrf_token": account_csrf(server, browser),
                    "method": "backup_code",
                    "code": first_sets[name][0],
                },
                allow_redirects=False,
                timeout=30,
            )
            assert confirmed.status_code == 302, confirmed.text[:300]
        tokens = {name: account_csrf(server, browser) for name, browser in browsers.items()}

        #: per authenticator-app user: the secret shown, and whether the confirmation was answered
        shown: dict[str, dict[str, Any]] = {name: {} for name in totp_users}
        #: per backup-code user: the last set shown, and whether a later request was cut off
        sets: dict[str, dict[str, Any]] = {
            name: {"codes": first_sets[name], "cut": False, "made": 0} for name in backup_users
        }
        stop = threading.Event()
        problems: list[str] = []  # an unexpected answer in a thread fails the test

        def enrol(index: int, name: str) -> None:
            time.sleep(0.1 * index)
            state = shown[name]
            try:
                started = browsers[name].post(
                    server.url + "/account/totp/begin",
                    data={"csrf_token": tokens[name]},
                    timeout=30,
                )
            except requests.RequestException:
                state["begin"] = "cut"
                return
            found = re.search(r'id="totp-secret">([A-Z2-7]+)<', started.text)
            if started.status_code != 200 or found is None:
                problems.append(f"{name} begin: {started.status_code} {started.text[:200]}")
                return
            state["secret"] = found.group(1)
            try:
                done = browsers[name].post(
                    server.url + "/account/totp/confirm",
                    data={"csrf_token": tokens[name], "code": pyotp.TOTP(found.group(1)).now()},
                    allow_redirects=False,
                    timeout=30,
                )
            except requests.RequestException:
                state["confirm"] = "cut"
                return
            if done.status_code != 302:
                problems.append(f"{name} confirm: {done.status_code} {done.text[:200]}")
                return
            state["confirm"] = "done"

        def regenerate(name: str) -> None:
            state = sets[name]
            while not stop.is_set():
                try:
                    # The set to replace exists: the page asks first (the
                    # confirmed POST then shows the new codes, after its redirect).
                    page = answer_confirmation(
                        browsers[name],
                        browsers[name].post(
                            server.url + "/account/backup-codes",
                            data={"csrf_token": tokens[name]},
                            timeout=30,
                        ),
                        base=server.url,
                    )
                except requests.RequestException:
                    state["cut"] = True
                    return
                codes = re.findall(r"<li><code>([^<]+)</code></li>", page.text)
                if page.status_code != 200 or len(codes) != 10:
                    problems.append(f"{name} codes: {page.status_code} {page.text[:200]}")
                    return
                state["codes"] = codes
                state["made"] += 1

        threads = [
            threading.Thread(target=enrol, args=(i, name)) for i, name in enumerate(totp_users)
        ]
        threads += [threading.Thread(target=regenerate, args=(name,)) for name in backup_users]
        for thread in threads:
            thread.start()
        # Kill once the storm is well under way: a third of the authenticators
        # answered and a set of codes made for everyone (more are in flight).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            sum(s.get("confirm") == "done" for s in shown.values()) >= TOTP_USERS // 3
            and all(s["made"] for s in sets.values())
        ):
            time.sleep(0.01)
        kill_hard(server)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not problems, problems
        # Really cut in the middle: some enrolments were answered, some were not.
        assert any(s.get("confirm") == "done" for s in shown.values()), shown
        assert any(s.get("confirm") != "done" for s in shown.values()), shown
        assert all(s["made"] for s in sets.values()), sets
        assert any(s["cut"] for s in sets.values()), sets

        server = LiveServer(port, server_env(port)).start()

        with app.app_context():
            db.session.remove()
            data_key = app.extensions["belay_data_key"]
            for name, user in totp_users.items():
                state = shown[name]
                row = db.session.scalar(
                    select(TotpCredential).where(TotpCredential.user_id == user)
                )
                # All or nothing: an active secret exactly when confirmed.
                if row is not None:
                    assert (row.secret_encrypted is None) == (row.confirmed_at is None), name
                if "secret" not in state:  # the begin was cut: nothing can be active
                    assert row is None or row.confirmed_at is None, name
                    continue
                assert row is not None, f"{name}: an enrolment the browser was shown is gone"
                if row.confirmed_at is not None:
                    assert data_key.decrypt(row.secret_encrypted) == state["secret"], name
                    assert row.pending_secret_encrypted is None, name
                else:
                    assert state.get("confirm") != "done", f"{name}: a confirmed enrolment is lost"
                    assert data_key.decrypt(row.pending_secret_encrypted) == state["secret"]

            backup = factors.get("backup_code")
            for name, user in backup_users.items():
                state = sets[name]
                stored = set(
                    db.session.scalars(
                        select(BackupCode.code_hash).where(BackupCode.user_id == user)
                    )
                )
                last = {backup._hash(user, normalise(code)) for code in state["codes"]}
                assert len(stored) == 10, f"{name}: {len(stored)} backup codes (a mix?)"
                unused = db.session.scalar(
                    select(func.count(BackupCode.id)).where(
                        BackupCode.user_id == user, BackupCode.used_at.is_(None)
                    )
                )
                if stored != last:
                    # Only a request cut off may have replaced the last set shown,
                    # and then by a whole new set.
                    assert state["cut"] and not stored & last, name
                    assert unused == 10, name
                else:
                    # The first set lost the code that confirmed access; new ones are whole.
                    assert unused == (9 if state["codes"] is first_sets[name] else 10), name

        # The sets the server still holds work: each user's newest code logs in a step-up.
        for name, user in backup_users.items():
            with app.app_context():
                db.session.remove()
                stored = set(
                    db.session.scalars(
                        select(BackupCode.code_hash).where(BackupCode.user_id == user)
                    )
                )
            codes = sets[name]["codes"]
            if {backup._hash(user, normalise(c)) for c in codes} == stored:
                with app.app_context():
                    assert backup.verify(user, {"code": codes[-1]}).method == "backup_code"
        with app.app_context():
            db.session.remove()
            if db.engine.dialect.name == "sqlite":
                assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        server.stop()
