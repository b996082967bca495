"""The servers under test: Belay under ``belay serve`` (SQLite or PostgreSQL), oidc-provider.

Each target starts its server, seeds the same users and an equivalent
confidential client, and knows how to sign a browser in and how to answer its
own TOTP step-up page; everything else (authorize, token, ID token check) is
the same code for both, driven through the discovery document.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from joserfc.jwk import KeySet

from bench.browser import Browser, Response, form_encode

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = Path(__file__).resolve().parent / "oidc_provider"
REDIRECT = "http://127.0.0.1:8976/callback"
CLIENT_ID = "bench"
PASSWORD = "correct horse battery"
PIN = "730519"
ACR_2FA = "urn:belay:acr:2fa"
CLK_TCK = os.sysconf("SC_CLK_TCK")
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_tree_cpu_ms(root: int) -> float:
    """utime+stime (ms) of ``root`` and its live children (one level: gunicorn's workers)."""
    pids = [root]
    for task in Path(f"/proc/{root}/task").glob("*"):
        with contextlib.suppress(OSError):
            pids += [int(p) for p in (task / "children").read_text().split()]
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total * 1000 / CLK_TCK


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start; see {log}")


class Target(abc.ABC):
    name = "?"
    process: subprocess.Popen[bytes] | None = None

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client_secret = secrets.token_urlsafe(32)
        self.totp_secrets: dict[str, str] = {}
        self.meta: dict[str, Any] = {}
        self.keys: KeySet | None = None

    # -- lifecycle ----------------------------------------------------------------------

    @abc.abstractmethod
    def setup(
        self,
        users: list[str],
        totp_users: list[str],
        pin_users: list[str],
        locked_pin_users: Sequence[str] = (),
    ) -> None:
        """Start the server and create the users (some with TOTP, PINs, locked PINs)."""

    def start(
        self,
        command: list[str],
        *,
        cwd: Path,
        ready_path: str,
        env: dict[str, str] | None = None,
    ) -> None:
        """Run the server (its output in ``server.log``), wait until ``ready_path``
        answers, then read its discovery document and keys."""
        log = self.workdir / "server.log"
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        wait_ready(self.url + ready_path, self.process, log)
        self.discover()

    def discover(self) -> None:
        self.meta = requests.get(self.url + "/.well-known/openid-configuration", timeout=10).json()
        self.keys = KeySet.import_key_set(requests.get(self.meta["jwks_uri"], timeout=10).json())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def cpu_ms(self) -> float:
        assert self.process is not None
        return process_tree_cpu_ms(self.process.pid)

    @abc.abstractmethod
    def version(self) -> str:
        """The server's name and versions, for the report."""

    # -- browser steps ------------------------------------------------------------------

    def authorize_url(self, query: dict[str, str]) -> str:
        return f"{self.meta['authorization_endpoint']}?{form_encode(query)}"

    def absolute(self, location: str) -> str:
        return urljoin(self.url + "/", location)

    @abc.abstractmethod
    def sign_in(self, browser: Browser, username: str) -> None:
        """Sign ``username`` in with the password (a live session in ``browser``)."""

    @abc.abstractmethod
    def step_up_totp(self, browser: Browser, location: str, code: str) -> str:
        """From the step-up page at ``location`` to the redirect back to the client."""

    def follow(self, browser: Browser, response: Response) -> str:
        """Follow redirects by hand until one goes to the client's redirect_uri."""
        for _ in range(10):
            assert response.status in (302, 303), (response.status, response.text[:300])
            location = response.headers["location"]
            if location.startswith(REDIRECT):
                return location
            response = browser.get(self.absolute(location))
        raise AssertionError("too many redirects")


class BelayTarget(Target):
    def __init__(self, workdir: Path, database: str) -> None:
        super().__init__(workdir)
        self.database = database
        self.name = f"Belay ({'PostgreSQL' if database.startswith('postgres') else 'SQLite'})"
        self.env = dict(os.environ)
        self.env.update(
            BELAY_ISSUER=self.url,
            BELAY_DATABASE_URL=database,
            BELAY_INSTANCE_PATH=str(workdir / "instance"),
            BELAY_KEY_PUBLISH_DELAY="0",
            BELAY_LOG_FORMAT="json",
            # Straight to the lock after PIN_MAX_FAILURES (10) wrong PINs: the storm
            # then measures argon2 work, not the growing waits (which would hash less).
            BELAY_PIN_DELAY_AFTER="100",
            PROMETHEUS_MULTIPROC_DIR=str(workdir / "metrics"),
        )
        (workdir / "metrics").mkdir(parents=True, exist_ok=True)

    def run_cli(self, *args: str, stdin: str | None = None, module: str = "provider.cli") -> str:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def setup(
        self,
        users: list[str],
        totp_users: list[str],
        pin_users: list[str],
        locked_pin_users: Sequence[str] = (),
    ) -> None:
        self.run_cli("init")
        spec = {
            "client_id": CLIENT_ID,
            "client_secret": self.client_secret,
            "redirect_uri": REDIRECT,
            "password": PASSWORD,
            "pin": PIN,
            "users": users,
            "totp_users": totp_users,
            "pin_users": pin_users,
            "locked_pin_users": list(locked_pin_users),
        }
        out = self.run_cli(stdin=json.dumps(spec), module="bench.seed")
        self.totp_secrets = json.loads(out.strip().splitlines()[-1])["totp"]
        self.start(
            [sys.executable, "-m", "provider.cli", "serve", "--port", str(self.port)],
            cwd=ROOT,
            ready_path="/readyz",
            env=self.env,
        )

    def version(self) -> str:
        from importlib.metadata import version

        return f"belay {version('belay')}, gunicorn {version('gunicorn')} (2 workers x 4 threads)"

    def sign_in(self, browser: Browser, username: str) -> None:
        page = browser.get(self.url + "/login", follow=True)
        csrf = _CSRF.search(page.text)
        assert csrf, page.text[:300]
        while True:
            response = browser.post(
                self.url + "/login",
                {"csrf_token": csrf.group(1), "username": username, "password": PASSWORD},
            )
            if response.status != 503:
                break
            # argon2 load shedding ("try again in a moment"): as a person would.
            time.sleep(float(response.headers.get("retry-after", "1")))
        assert response.status == 302, response.text[:300]

    def challenge_form(self, browser: Browser, location: str) -> tuple[str, str, str]:
        """(tx, csrf token, page) of the step-up page at ``location``."""
        page = browser.get(self.absolute(location), follow=True)
        tx = parse_qs(urlsplit(page.url).query)["tx"][0]
        csrf = _CSRF.search(page.text)
        assert csrf, page.text[:300]
        return tx, csrf.group(1), page.text

    def post_challenge(
        self, browser: Browser, tx: str, csrf: str, fields: dict[str, str]
    ) -> Response:
        return browser.post(
            f"{self.url}/challenge?tx={tx}", {"csrf_token": csrf, "tx": tx, **fields}
        )

    def step_up_totp(self, browser: Browser, location: str, code: str) -> str:
        tx, csrf, _ = self.challenge_form(browser, location)
        response = self.post_challenge(browser, tx, csrf, {"method": "totp", "code": code})
        return self.follow(browser, response)

    def step_up_pin(self, browser: Browser, location: str, pin: str) -> str:
        tx, csrf, page = self.challenge_form(browser, location)
        assert 'name="pin"' in page, "the PIN should be offered"
        response = self.post_challenge(browser, tx, csrf, {"method": "pin", "pin": pin})
        return self.follow(browser, response)

    def argon2_operations(self) -> float:
        """belay_argon2_operations_total from /metrics (all workers)."""
        text = requests.get(self.url + "/metrics", timeout=30).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith("belay_argon2_operations_total"):
                total += float(line.rsplit(" ", 1)[1])
        return total


class NodeTarget(Target):
    name = "node oidc-provider"

    def setup(
        self,
        users: list[str],
        totp_users: list[str],
        pin_users: list[str],
        locked_pin_users: Sequence[str] = (),
    ) -> None:
        import pyotp

        npm = shutil.which("npm")
        node = shutil.which("node")
        if npm is None or node is None:
            raise RuntimeError("node and npm are needed for the oidc-provider side of the bench")
        if not (NODE_DIR / "node_modules" / "oidc-provider").is_dir():
            install = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
            subprocess.run(
                [npm, install, "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                check=True,
            )
        self.totp_secrets = {name: pyotp.random_base32(32) for name in totp_users}
        config = {
            "client_id": CLIENT_ID,
            "client_secret": self.client_secret,
            "redirect_uri": REDIRECT,
            "users": {
                name: {"password": PASSWORD, "totp": self.totp_secrets.get(name)} for name in users
            },
        }
        path = self.workdir / "oidc-provider.json"
        path.write_text(json.dumps(config))
        self.start(
            [node, str(NODE_DIR / "server.mjs"), str(self.port), str(path)],
            cwd=NODE_DIR,
            ready_path="/.well-known/openid-configuration",
        )

    def version(self) -> str:
        package = json.loads(
            (NODE_DIR / "node_modules" / "oidc-provider" / "package.json").read_text()
        )
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        return f"oidc-provider {package['version']} on node {node.strip()} (one process)"

    def sign_in(self, browser: Browser, username: str) -> None:
        from bench.driver import authorize_query

        query, _ = authorize_query(self)
        response = browser.get(self.authorize_url(query))
        location = response.headers["location"]
        uid = location.rstrip("/").rsplit("/", 1)[1]
        response = browser.post(
            f"{self.url}/interaction/{uid}/login", {"username": username, "password": PASSWORD}
        )
        self.follow(browser, response)

    def step_up_totp(self, browser: Browser, location: str, code: str) -> str:
        page = browser.get(self.absolute(location), follow=True)
        action = re.search(r'action="([^"]+/totp)"', page.text)
        assert action, page.text[:300]
        response = browser.post(self.absolute(action.group(1)), {"code": code})
        return self.follow(browser, response)
