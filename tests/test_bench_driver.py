"""The bench's load driver (bench/driver.py, bench/browser.py) against a live Belay:
its flow completes and its ID token verifies, in forked workers too; the bench's
pre-fill (bench/prefill.py) at a tiny scale; the hot statements it explains
(bench/plans.py) are still sent by the storage functions it calls. Never timings."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from bench.browser import Browser
from bench.driver import one_flow, run_lanes, sign_in_all
from bench.plans import explain
from bench.prefill import prefill
from bench.targets import CLIENT_ID, PASSWORD, REDIRECT, BelayTarget
from provider.extensions import db
from provider.storage.models import AuditEvent, AuthorizationCode, Token, User, WebSession
from tests.conftest import Actions, LiveServer


def live_target(actions: Actions, live_server: LiveServer, tmp_path: Path) -> BelayTarget:
    """A bench target for the already running test server, with users f0 and f1."""
    target = BelayTarget(tmp_path, "sqlite://")
    target.url = live_server.url
    target.process = live_server.process  # for its CPU figures; the fixture stops it
    secret = actions.create_client(CLIENT_ID, redirect_uris=[REDIRECT])
    assert secret is not None
    target.client_secret = secret
    for name in ("f0", "f1"):
        actions.create_user(name, PASSWORD)
    target.discover()
    return target


def test_one_flow_verifies_the_id_token(
    actions: Actions, live_server: LiveServer, tmp_path: Path
) -> None:
    target = live_target(actions, live_server, tmp_path)
    browser = sign_in_all(target, ["f0"])[0]
    back = Browser(target.url)
    for _ in range(2):  # the second on the same keep-alive connections
        times = one_flow(target, browser, back)
        assert list(times) == ["authorize", "token", "verify", "flow"]


def test_forked_workers_run_every_flow_and_keep_the_sessions(
    actions: Actions, live_server: LiveServer, tmp_path: Path
) -> None:
    target = live_target(actions, live_server, tmp_path)
    browsers = sign_in_all(target, ["f0", "f1"])
    lanes = [[(0, None), (0, None)], [(1, None)]]
    result = run_lanes(target, browsers, lanes, processes=2)
    assert (result.flows, result.processes) == (3, 2)
    assert result.driver_cpu_ms > 0
    # the sessions came back from the workers: the parent's browsers still sign in
    one_flow(target, browsers[1], Browser(target.url))


def test_cookies_follow_path_and_expiry() -> None:
    browser = Browser("http://127.0.0.1:9")
    browser._store("s=1; Path=/; HttpOnly", "/login")
    browser._store("i=2; path=/interaction/abc", "/auth")
    browser._store("t=3", "/a/b")
    browser._store("x=4; Path=/; Secure", "/")
    assert browser._cookie_header("/interaction/abc") == "i=2; s=1"
    assert browser._cookie_header("/interaction/abcd") == "s=1"
    assert browser._cookie_header("/a/c") == "t=3; s=1"
    browser._store("i=; path=/interaction/abc; expires=Thu, 01 Jan 1970 00:00:00 GMT", "/")
    browser._store("s=; Max-Age=0; Path=/", "/")
    assert browser._cookie_header("/interaction/abc") == ""


def test_prefill_adds_its_rows_and_the_flow_still_runs(
    actions: Actions, live_server: LiveServer, tmp_path: Path, app: Flask
) -> None:
    target = live_target(actions, live_server, tmp_path)
    browser = sign_in_all(target, ["f0"])[0]
    added = prefill(live_server.env["BELAY_DATABASE_URL"], 0.0005)["rows"]
    assert added == {
        "users": 50,
        "audit_events": 500,
        "sessions": 100,
        "tokens": 250,
        "codes": 50,
    }
    with app.app_context():

        def count(model: type) -> int:
            return int(db.session.scalar(select(func.count()).select_from(model)) or 0)

        assert count(User) == 50 + 2
        assert count(WebSession) >= 100 + 1
        assert count(Token) == 250
        assert count(AuthorizationCode) == 50
        assert count(AuditEvent) >= 500
    times = one_flow(target, browser, Browser(target.url))
    assert times["flow"] > 0


def test_every_hot_statement_is_sent_and_explained(app: Flask) -> None:
    plans = explain(app)
    assert len(plans) == 8
    for plan in plans:
        assert plan["sql"], plan  # "not run" means a storage function was renamed
        if not plan["sql"].startswith("INSERT"):
            assert plan["plan"], plan
