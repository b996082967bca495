"""``python -m conformance --issuer URL [--config FILE]``.

Without ``--issuer`` it starts its own Belay on a temporary database (through
the ``belay`` command line only) and provisions the test user and client.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
import requests

from conformance.modules import MODULES
from conformance.report import Result, table, write
from conformance.rp import Context, Fail, Skip, Warn

HERE = Path(__file__).resolve().parent


def load_config(path: str) -> dict[str, Any]:
    text = Path(path).read_text()
    if path.endswith(".json"):
        return dict(json.loads(text))
    return tomllib.loads(text)


def run_modules(issuer: str, config: dict[str, Any], only: list[str] | None = None) -> list[Result]:
    results: list[Result] = []
    shared = Context(issuer, config)
    for mod in MODULES:
        if only and mod.name not in only:
            continue
        ctx = Context(issuer, config)
        ctx.user = shared.user  # one TOTP step counter for the whole run
        started = time.monotonic()
        try:
            mod.run(ctx)
            verdict, reason = "PASS", ""
        except Fail as exc:
            verdict, reason = "FAIL", str(exc)
        except Warn as exc:
            verdict, reason = "WARNING", str(exc)
        except Skip as exc:
            verdict, reason = "SKIPPED", str(exc)
        except Exception as exc:
            verdict, reason = "FAIL", f"{type(exc).__name__}: {exc}"
            ctx.log(traceback.format_exc(limit=3))
        results.append(
            Result(
                mod.name,
                mod.description,
                mod.spec,
                verdict,
                reason,
                round(time.monotonic() - started, 2),
                ctx.evidence,
            )
        )
    return results


# -- its own Belay ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _belay() -> list[str]:
    exe = shutil.which(
        "belay", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    )
    return [exe] if exe else [sys.executable, "-m", "provider.cli"]


@contextmanager
def own_server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A Belay on a temporary SQLite database, with a test user (password + TOTP) and client."""
    tmp = Path(tempfile.mkdtemp(prefix="belay-conformance-"))
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        BELAY_ISSUER=issuer,
        BELAY_DATABASE_URL=f"sqlite:///{tmp / 'belay.sqlite3'}",
        BELAY_INSTANCE_PATH=str(tmp / "instance"),
        BELAY_KEY_PUBLISH_DELAY="0",
        BELAY_ARGON2_TIME_COST="1",
        BELAY_ARGON2_MEMORY_COST="1024",
        BELAY_ARGON2_PARALLELISM="1",
    )
    env.pop("BELAY_CONFIG", None)
    password, secret = secrets.token_urlsafe(16), pyotp.random_base32(32)
    client_secret = secrets.token_urlsafe(32)
    redirect = "http://127.0.0.1:9/callback"

    def belay(*args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [*_belay(), *args], env=env, input=stdin, text=True, check=True, capture_output=True
        )

    belay("init")
    belay(
        "user",
        "create",
        "conformance",
        "--password-stdin",
        "--name",
        "Conformance User",
        stdin=password + "\n",
    )
    belay("user", "add-totp", "conformance", "--secret-stdin", stdin=secret + "\n")
    belay(
        "client",
        "create",
        "conformance-rp",
        "--redirect-uri",
        redirect,
        "--redirect-uri",
        redirect + "?dummy1=lorem&dummy2=ipsum",
        "--secret-stdin",
        "--first-party",
        "--name",
        "Conformance suite",
        stdin=client_secret + "\n",
    )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [*_belay(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(issuer + "/jwks.json", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(
                    "Belay did not start: " + (tmp / "server.log").read_text()[-2000:]
                )
            time.sleep(0.2)
        config = {
            "user": {"username": "conformance", "password": password, "totp_secret": secret},
            "client": {
                "client_id": "conformance-rp",
                "client_secret": client_secret,
                "redirect_uri": redirect,
                "redirect_uri_with_query": redirect + "?dummy1=lorem&dummy2=ipsum",
            },
        }
        yield issuer, config
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="OpenID Provider conformance checks (OIDC, PKCE, RFC 9207, RFC 9470) "
        "against a running issuer.",
    )
    parser.add_argument("--issuer", help="the OP's issuer URL (default: start a Belay of our own)")
    parser.add_argument("--config", help="TOML or JSON file naming the test user and client")
    parser.add_argument(
        "--module",
        action="append",
        dest="modules",
        metavar="NAME",
        help="run only this module (repeatable)",
    )
    parser.add_argument("--report-dir", default=str(HERE), help="where report.md/json go")
    parser.add_argument("--list", action="store_true", help="list the modules and exit")
    args = parser.parse_args(argv)

    if args.list:
        for mod in MODULES:
            print(f"{mod.name}\n    {mod.description}\n    {mod.spec}")
        return 0
    unknown = set(args.modules or []) - {m.name for m in MODULES}
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}")

    if args.issuer:
        if not args.config:
            parser.error("--issuer needs --config (the test user and client)")
        results = run_modules(args.issuer, load_config(args.config), args.modules)
        issuer = args.issuer
    else:
        with own_server() as (issuer, config):
            if args.config:
                config.update(load_config(args.config))
            print(f"Started Belay at {issuer} on a temporary database")
            results = run_modules(issuer, config, args.modules)
    print(table(results))
    md, js = write(results, issuer, Path(args.report_dir))
    print(f"\nReports: {md} {js}")
    return 1 if any(r.result == "FAIL" for r in results) else 0
