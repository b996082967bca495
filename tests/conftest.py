"""Fixtures in the Flask tutorial's style: ``app``, ``client``, ``runner`` and an
``actions`` helper that drives the pages and the protocol like a browser and a
relying party would.

The database is made once per test session by the Alembic migrations (never by
``create_all``) and emptied between tests. Set ``BELAY_TEST_DATABASE_URL`` to
run the suite on PostgreSQL (``.ci/run`` does); the default is a SQLite file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings

from provider import clock
from provider.app import create_app
from provider.extensions import db

# Example budgets stay per test; what this profile drops are the wall-clock
# checks (generation speed, per-example deadline), which only measure how busy
# a shared 2-core CI machine is, never the property under test.
settings.register_profile(
    "belay", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("belay")

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"

# Cheap argon2 for speed; tests about parameters set their own.
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}

_TMP = Path(tempfile.mkdtemp(prefix="belay-tests-"))


def _database_url() -> str:
    url = os.environ.get("BELAY_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{_TMP / 'belay-test.sqlite3'}"


def base_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "ISSUER": "http://localhost",
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": "test-secret-key",
        "DATA_KEY": "Vb7CwFz3oQd8J9s3p2yFh2k3wX1k3Vx6m8Q9n2Yc1aA=",
        "KEY_PUBLISH_DELAY": 0,
        "KEY_CACHE_TTL": 0,
        **FAST_ARGON2,
    }
    config.update(overrides)
    return config


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    """Migrate a fresh database once for the whole run."""
    os.environ["BELAY_INSTANCE_PATH"] = str(_TMP / "instance")
    app = create_app(base_config())
    with app.app_context():
        from sqlalchemy import MetaData

        meta = MetaData()
        meta.reflect(bind=db.engine)
        meta.drop_all(bind=db.engine)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
    yield _database_url()


def _empty_tables(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if table.name != "settings":
                    conn.execute(table.delete())


@pytest.fixture
def app(database: str, request: pytest.FixtureRequest) -> Iterator[Flask]:
    overrides: dict[str, Any] = {}
    for marker in request.node.iter_markers("settings"):
        overrides.update(marker.kwargs)
    app = create_app(base_config(**overrides))
    _empty_tables(app)
    with app.app_context():
        from provider.oidc.keys import ensure_keys
        from provider.storage import ladder

        ladder.invalidate()
        ensure_keys(app.extensions["belay_data_key"])
    yield app
    clock.set_offset(0)
    with app.app_context():
        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    # The command line adds its commands to the app (provider.app does not import it).
    from provider.cli import register

    register(app)
    return app.test_cli_runner()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


def answer_confirmation(client: Any, page: Any, *, base: str = "") -> Any:
    """Press the button of a confirmation page (provider/web/confirmation.py):
    the destructive action's confirmed POST, with the page's single-use value."""
    html = page.text
    form = re.search(
        r'<form id="confirm-action-form" method="post" action="([^"]+)">(.*?)</form>', html, re.S
    )
    assert form, f"not a confirmation page: {html[:300]}"
    fields = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
    )
    assert fields.get("confirmation") and fields.get("csrf_token"), fields
    return client.post(base + form.group(1), data=fields)


def confirmed_post(client: Any, path: str, data: dict[str, str], *, base: str = "") -> Any:
    """POST a destructive form, then confirm it: the unconfirmed POST must show
    the confirmation page (status 200) and change nothing until confirmed."""
    asked = client.post(base + path, data=data)
    assert asked.status_code == 200 and 'id="confirm-action-form"' in asked.text, asked.text[:300]
    return answer_confirmation(client, asked, base=base)


class Actions:
    """What a user and a relying party do, as helper calls."""

    REDIRECT = "https://rp.example.test/callback"

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        self.app = app
        self.client = client

    # -- setup -------------------------------------------------------------
    def create_user(
        self, username: str = "alice", password: str = "correct horse battery", **kw: Any
    ) -> Any:
        from provider import storage
        from provider.flows.login import hasher
        from provider.storage.models import User

        with self.app.app_context():
            user = User(
                username=username,
                password_hash=hasher().hash(password),
                created_at=clock.now(),
                **kw,
            )
            storage.save(user)
            return user.id

    def create_client(
        self, client_id: str = "rp", *, public: bool = False, **kw: Any
    ) -> str | None:
        from provider.flows.clients import register_client

        kw.setdefault("redirect_uris", [self.REDIRECT])
        kw.setdefault("first_party", True)
        with self.app.app_context():
            return register_client(client_id, public=public, secret=kw.pop("secret", None), **kw)

    # -- browser -----------------------------------------------------------
    def login(
        self,
        username: str = "alice",
        password: str = "correct horse battery",
        tx: str | None = None,
    ) -> Any:
        page = self.client.get("/login" + (f"?tx={tx}" if tx else ""))
        data = {"csrf_token": csrf_from(page.text), "username": username, "password": password}
        return self.client.post("/login" + (f"?tx={tx}" if tx else ""), data=data)

    def authorize(self, client_id: str = "rp", **params: Any) -> Any:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": self.REDIRECT,
            "scope": "openid profile",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
        }
        query.update({k: v for k, v in params.items() if v is not None})
        for k in [k for k, v in params.items() if v is None]:
            query.pop(k, None)
        return self.client.get("/authorize?" + urlencode(query))

    def follow(self, response: Any, limit: int = 10) -> Any:
        """Follow redirects that stay on the OP; stop at the RP's redirect URI."""
        for _ in range(limit):
            if response.status_code not in (301, 302, 303):
                return response
            location = response.headers["Location"]
            if location.startswith(self.REDIRECT) or (
                location.startswith("http") and not location.startswith("http://localhost/")
            ):
                return response
            response = self.client.get(location)
        return response

    def code_flow(
        self, client_id: str = "rp", *, login: bool = True, **params: Any
    ) -> dict[str, Any]:
        """Authorize (logging in when asked) and return the callback parameters."""
        verifier, challenge = pkce_pair()
        params.setdefault("code_challenge", challenge)
        params.setdefault("code_challenge_method", "S256")
        response = self.follow(self.authorize(client_id, **params))
        if response.status_code == 200 and 'id="login-form"' in response.text and login:
            tx = parse_qs(urlsplit(response.request.url).query).get("tx", [None])[0]
            response = self.follow(self.login(tx=tx))
        assert response.status_code == 302, response.text[:500]
        callback = parse_qs(urlsplit(response.headers["Location"]).query)
        result = {k: v[0] for k, v in callback.items()}
        result["code_verifier"] = verifier
        return result

    def token(self, data: dict[str, Any], auth: tuple[str, str] | None = None) -> Any:
        headers = {}
        if auth:
            headers["Authorization"] = (
                "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            )
        return self.client.post("/token", data=data, headers=headers)

    def exchange(
        self, callback: dict[str, Any], client_id: str = "rp", secret: str | None = None
    ) -> Any:
        data = {
            "grant_type": "authorization_code",
            "code": callback["code"],
            "redirect_uri": self.REDIRECT,
            "code_verifier": callback["code_verifier"],
        }
        if secret is None:
            data["client_id"] = client_id
            return self.token(data)
        return self.token(data, auth=(client_id, secret))

    def decode(self, token: str) -> dict[str, Any]:
        from joserfc import jwt

        with self.app.app_context():
            keys = self.app.extensions["belay_keys"].public_key_set()
        return dict(jwt.decode(token, keys, algorithms=["ES256", "RS256", "EdDSA"]).claims)


@pytest.fixture
def actions(app: Flask, client: FlaskClient) -> Actions:
    return Actions(app, client)


# -- a real server process ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        log = open(_TMP / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "provider.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )
        # A generous wait: on a 2-core machine shared with other test runs a server
        # on PostgreSQL took 26-39 s to answer; it returns as soon as it does.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/jwks.json", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            "server did not start: " + (_TMP / f"server-{self.port}.log").read_text()[-2000:]
        )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def server_env(port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BELAY_ISSUER=f"http://127.0.0.1:{port}",
        BELAY_DATABASE_URL=_database_url(),
        BELAY_SECRET_KEY="test-secret-key",
        BELAY_DATA_KEY=base_config()["DATA_KEY"],
        BELAY_INSTANCE_PATH=str(_TMP / "instance"),
        BELAY_ARGON2_TIME_COST="1",
        BELAY_ARGON2_MEMORY_COST="1024",
        BELAY_ARGON2_PARALLELISM="1",
        BELAY_KEY_PUBLISH_DELAY="0",
    )
    env.update(extra)
    return env


@pytest.fixture
def live_server(app: Flask) -> Iterator[LiveServer]:
    port = free_port()
    server = LiveServer(port, server_env(port)).start()
    yield server
    server.stop()


def fresh_database(app: Flask) -> None:
    """Empty the tables and make the signing keys again, as the ``app`` fixture does
    before each test: for property tests that need a clean database per example
    (tests/test_attacker_model.py)."""
    _empty_tables(app)
    with app.app_context():
        from provider.oidc.keys import ensure_keys
        from provider.storage import ladder

        ladder.invalidate()
        ensure_keys(app.extensions["belay_data_key"])
        db.session.remove()


def snapshot_tables(app: Flask) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table but ``settings``, to put back with
    :func:`restore_tables` (a set-up made once, restored per example)."""
    with app.app_context():
        db.session.remove()
        with db.engine.connect() as conn:
            return {
                table.name: [dict(row._mapping) for row in conn.execute(table.select())]
                for table in db.metadata.sorted_tables
                if table.name != "settings"
            }


def restore_tables(app: Flask, snapshot: dict[str, list[dict[str, Any]]]) -> None:
    """Empty the tables and insert ``snapshot``'s rows again (on PostgreSQL the id
    sequences move past them, so new rows do not collide)."""
    _empty_tables(app)
    with app.app_context():
        with db.engine.begin() as conn:
            for table in db.metadata.sorted_tables:
                rows = snapshot.get(table.name)
                if rows:
                    conn.execute(table.insert(), rows)
            if conn.dialect.name == "postgresql":
                from sqlalchemy import Integer

                for table in db.metadata.sorted_tables:
                    column = table.c.get("id")
                    if column is not None and isinstance(column.type, Integer):
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                        )
        from provider.storage import ladder

        ladder.invalidate()
        db.session.remove()


T = TypeVar("T")


def in_parallel(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call at once: one thread each, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))
