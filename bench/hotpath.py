"""Server CPU per request on the hot path, in process (issue 20 item 2).

    .venv/bin/python -m bench.hotpath [--flows 300] [--database-url URL] [--profile out.pstats]

Runs ``--flows`` full code + PKCE flows with a live session through the Flask test
client (no HTTP server, no driver; the relying party's calls without the
browser's cookie): ``GET /authorize`` (session, silent) →
``POST /token`` (client_secret_basic) → ``GET /userinfo`` → ``POST /introspect``,
plus a step-up ``GET /authorize`` (``acr_values`` above the session's) and the
challenge page it redirects to. Reports per endpoint the thread CPU time per
request inside the WSGI application (``time.thread_time``; the test client's own
work is left out) and the SQL statements sent per request (counted with
SQLAlchemy's ``before_cursor_execute``). The JSON request log goes to a null
stream (under ``belay serve`` it goes to a pipe); Prometheus samples go to
multiprocess files as under ``belay serve`` (``--no-multiproc``: in memory).

The machine is shared: compare runs made back to back, use the median column,
and read CPU, not wall time. ``--profile FILE`` writes a cProfile of the timed
flows (``python -m pstats FILE``, or ``--top N`` prints the top functions).
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import logging
import os
import pstats
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
REDIRECT = "https://rp.example.test/callback"
PASSWORD = "correct horse battery"
TWO_FA = "urn:belay:acr:2fa"


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _make_app(database_url: str, tmp: Path) -> Any:
    os.environ["BELAY_INSTANCE_PATH"] = str(tmp / "instance")
    from provider.app import create_app

    return create_app(
        {
            "ISSUER": "http://localhost",
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-secret-key",
            "DATA_KEY": "Vb7CwFz3oQd8J9s3p2yFh2k3wX1k3Vx6m8Q9n2Yc1aA=",
            "KEY_PUBLISH_DELAY": 0,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            "ARGON2_PARALLELISM": 1,
        }
    )


def _prepare(app: Any) -> str:
    """Migrate an empty database; a user with a password and TOTP, a confidential client."""
    from flask_migrate import upgrade
    from sqlalchemy import MetaData

    from provider import clock, storage
    from provider.extensions import db
    from provider.factors.totp import TotpFactor
    from provider.flows.clients import register_client
    from provider.oidc.keys import ensure_keys
    from provider.storage.models import User

    with app.app_context():
        meta = MetaData()
        meta.reflect(bind=db.engine)
        meta.drop_all(bind=db.engine)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        upgrade(directory=str(ROOT / "migrations"))
        ensure_keys(app.extensions["belay_data_key"])
        hasher = app.extensions["belay_hasher"]
        user = User(username="alice", password_hash=hasher.hash(PASSWORD), created_at=clock.now())
        storage.save(user)
        totp = app.extensions["belay_factors"].get("totp")
        assert isinstance(totp, TotpFactor)
        totp.add_confirmed(user.id, "alice", None)
        secret = register_client(
            "rp",
            redirect_uris=[REDIRECT],
            public=False,
            secret=None,
            name="bench",
            auth_method="client_secret_basic",
            first_party=True,
            token_format="jwt",
            post_logout_redirect_uris=[],
            grant_types=None,
            client_policy=None,
            jwks=None,
            id_token_alg="ES256",
        )
        db.session.remove()
    assert secret
    return secret


class Meter:
    """Server CPU and statement counts per endpoint.

    The CPU is the thread's time inside the WSGI application (the response body
    included), so the test client's own work (building the request, reading the
    answer) is left out, as a real client's would be.
    """

    def __init__(self) -> None:
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.statements: dict[str, list[int]] = defaultdict(list)
        self.counting = 0
        self.server = 0.0

    def on_statement(self, *_args: Any, **_kw: Any) -> None:
        self.counting += 1

    def wrap(self, wsgi_app: Any) -> Any:
        def metered(environ: Any, start_response: Any) -> Any:
            start = time.thread_time()
            answer = wsgi_app(environ, start_response)
            try:
                body = list(answer)
            finally:
                if hasattr(answer, "close"):
                    answer.close()
            self.server += time.thread_time() - start
            return body

        return metered

    def call(self, name: str, fn: Callable[[], Any]) -> Any:
        self.counting = 0
        self.server = 0.0
        result = fn()
        self.cpu[name].append(self.server)
        self.statements[name].append(self.counting)
        return result


def _login(client: Any) -> None:
    import re

    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    answer = client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": "alice", "password": PASSWORD},
    )
    assert answer.status_code in (200, 302), answer.status_code


def _authorize_query(challenge: str, **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": "rp",
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/authorize?" + urlencode(query)


def one_flow(client: Any, rp: Any, meter: Meter, basic: str) -> None:
    verifier, challenge = _pkce()
    answer = meter.call("authorize", lambda: client.get(_authorize_query(challenge)))
    assert answer.status_code == 302, answer.text[:300]
    callback = parse_qs(urlsplit(answer.headers["Location"]).query)
    code = callback["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    answer = meter.call(
        "token",
        lambda: rp.post("/token", data=form, headers={"Authorization": basic}),
    )
    assert answer.status_code == 200, answer.text[:300]
    access = answer.get_json()["access_token"]
    answer = meter.call(
        "userinfo",
        lambda: rp.get("/userinfo", headers={"Authorization": f"Bearer {access}"}),
    )
    assert answer.status_code == 200, answer.text[:300]
    answer = meter.call(
        "introspect",
        lambda: rp.post("/introspect", data={"token": access}, headers={"Authorization": basic}),
    )
    assert answer.status_code == 200 and answer.get_json()["active"], answer.text[:300]
    answer = meter.call(
        "authorize_step_up",
        lambda: client.get(_authorize_query(challenge, acr_values=TWO_FA)),
    )
    assert answer.status_code == 302, answer.text[:300]
    location = answer.headers["Location"]
    assert "/challenge" in location, location
    answer = meter.call("challenge_page", lambda: client.get(location))
    assert answer.status_code == 200, answer.text[:300]


FULL_FLOW = ("authorize", "token", "userinfo")


def report(meter: Meter, flows: int) -> str:
    lines = [
        f"{flows} flows; CPU ms per request (median / mean), SQL statements per request",
        f"{'endpoint':<20}{'median':>8}{'mean':>8}{'stmts':>7}",
    ]
    for name, values in meter.cpu.items():
        counts = meter.statements[name]
        lines.append(
            f"{name:<20}{statistics.median(values) * 1000:8.2f}"
            f"{statistics.fmean(values) * 1000:8.2f}{statistics.fmean(counts):7.1f}"
        )
    full = sum(statistics.median(meter.cpu[n]) for n in FULL_FLOW) * 1000
    full_mean = sum(statistics.fmean(meter.cpu[n]) for n in FULL_FLOW) * 1000
    stmts = sum(statistics.fmean(meter.statements[n]) for n in FULL_FLOW)
    lines.append(
        f"flow (authorize+token+userinfo) {full:.2f} / {full_mean:.2f} ms, {stmts:.0f} stmts"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flows", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--database-url", default=os.environ.get("BELAY_DATABASE_URL"))
    parser.add_argument("--profile", help="write a cProfile of the timed flows here")
    parser.add_argument("--top", type=int, default=0, help="print the top N functions (cumtime)")
    parser.add_argument(
        "--no-multiproc",
        action="store_true",
        help="Prometheus samples in memory (belay serve uses multiprocess files)",
    )
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="belay-hotpath-"))
    if not args.no_multiproc:
        (tmp / "metrics").mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")
    database_url = args.database_url or f"sqlite:///{tmp / 'hotpath.sqlite3'}"
    app = _make_app(database_url, tmp)
    secret = _prepare(app)
    from provider.observability import configure_logging

    configure_logging("json")  # as belay serve logs, into a null stream
    for name in ("belay", "provider"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(open(os.devnull, "w"))  # noqa: SIM115

    from sqlalchemy import event

    from provider.extensions import db

    meter = Meter()
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", meter.on_statement)
    app.wsgi_app = meter.wrap(app.wsgi_app)
    client = app.test_client()  # the browser, with its session cookie
    rp = app.test_client()  # the relying party's back channel: no cookie
    _login(client)
    basic = "Basic " + base64.b64encode(f"rp:{secret}".encode()).decode()
    for _ in range(args.warmup):
        one_flow(client, rp, meter, basic)
    meter.cpu.clear()
    meter.statements.clear()
    profiler = cProfile.Profile() if args.profile or args.top else None
    if profiler:
        profiler.enable()
    for _ in range(args.flows):
        one_flow(client, rp, meter, basic)
    if profiler:
        profiler.disable()
        if args.profile:
            profiler.dump_stats(args.profile)
        if args.top:
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(args.top)
    print(f"database: {database_url.split('://', 1)[0]}")
    print(report(meter, args.flows))


if __name__ == "__main__":
    main()
