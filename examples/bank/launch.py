"""``python -m examples.bank.launch``: the OP, the bank's API and its web app, together.

Starts three processes from the repository root —

- the OP: ``belay serve --host 127.0.0.1 --port 5000``;
- the bank API: ``python -m examples.bank.api`` on port 5002;
- the bank web app: ``python -m examples.bank.web`` on port 5001 —

waits until the three answer, then prints the demo's logins (last, so they
are what the terminal shows), forwards Ctrl-C / SIGTERM to all of them and
stops everything as soon as one of them exits. Run ``belay init`` and
``belay demo`` first (``make run`` does): the web app's client secret and the
logins are read from ``instance/demo-credentials.json``.

Quiet by default: what the children print on standard output (their
"listening" lines) is dropped; their standard error stays (errors, warnings,
and the codes of the development outbox). Unless already set, the OP runs with
``BELAY_LOG_LEVEL=warning`` (no line per request, no audit lines) and, with an
http://localhost issuer, ``BELAY_DEV_OUTBOX=on`` (codes by email and SMS shown
here and at /dev/outbox).

Ports: ``BANK_OP_PORT``, ``BANK_API_PORT``, ``BANK_WEB_PORT``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

from examples.bank.settings import demo_credentials

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]


def _belay() -> list[str]:
    found = shutil.which("belay", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "provider.cli"]


TOTP = ".venv/bin/python -m examples.bank.totp"
#: alice's verified email address and phone number (``belay demo``)
EMAIL, PHONE = "alice@example.test", "+447700900123"


def _instructions(web: str, op: str, creds: dict[str, object], outbox: bool) -> str:
    def get(key: str) -> object:
        return creds.get(key, "(run `belay demo`)")

    codes = (
        f"codes by email and SMS: printed here, and at {op}/dev/outbox"
        if outbox
        else "codes by email and SMS need BELAY_DEV_OUTBOX=on (or SMTP, an SMS webhook)"
    )
    return f"""
Belay demo: open {web}/ → Sign in with Belay → New transfer
  alice   password {get("alice_password")}   PIN {get("alice_pin")}   phone {PHONE}
          authenticator key {get("alice_totp_secret")}
          email {EMAIL}   account: {op}/account
  admin   password {get("admin_password")}   console: {op}/admin
          authenticator key {get("admin_totp_secret")}
  authenticator codes: {TOTP} [admin]
  {codes}
A transfer needs a second factor within 120 s; later, alice's PIN is enough.
More (clients, secrets): instance/demo-credentials.json, README "Try the bank".
Ctrl-C stops everything.
"""


def _wait_until_up(urls: list[str], children: dict[str, subprocess.Popen[bytes]]) -> str | None:
    """Poll until every URL answers; the name of a child that exited first, if any."""
    deadline = time.monotonic() + 60
    waiting = list(urls)
    while waiting and time.monotonic() < deadline:
        for name, child in children.items():
            if child.poll() is not None:
                return name
        try:
            with urllib.request.urlopen(waiting[0], timeout=2):  # noqa: S310 - our own URL
                waiting.pop(0)
                continue
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return None


def main() -> int:
    """Run until Ctrl-C, SIGTERM or the first child's exit; returns the exit status."""
    op_port = int(os.environ.get("BANK_OP_PORT") or 5000)
    api_port = int(os.environ.get("BANK_API_PORT") or 5002)
    web_port = int(os.environ.get("BANK_WEB_PORT") or 5001)
    op_url = (
        os.environ.get("BANK_ISSUER")
        or os.environ.get("BELAY_ISSUER")
        or f"http://localhost:{op_port}"
    )
    web_url = os.environ.get("BANK_WEB_URL") or f"http://localhost:{web_port}"
    creds = demo_credentials()
    if not os.environ.get("BANK_CLIENT_SECRET") and not creds.get("bank_secret"):
        print("No instance/demo-credentials.json: run `belay init` and `belay demo` first.")
        return 2
    outbox = op_url.startswith(("http://localhost:", "http://127.0.0.1:"))
    env = {
        "BELAY_ORIGINS": op_url,  # passkeys work on the OP's own origin
        "BELAY_LOG_LEVEL": "warning",
        **({"BELAY_DEV_OUTBOX": "on"} if outbox else {}),
        **os.environ,
        "BELAY_ISSUER": op_url,
        "BANK_ISSUER": op_url,
        "BANK_API_URL": os.environ.get("BANK_API_URL") or f"http://localhost:{api_port}",
        "BANK_WEB_URL": web_url,
        "BANK_API_PORT": str(api_port),
        "BANK_WEB_PORT": str(web_port),
    }
    commands = {
        "OP": [*_belay(), "serve", "--host", "127.0.0.1", "--port", str(op_port)],
        "bank API": [sys.executable, "-m", "examples.bank.api"],
        "bank web": [sys.executable, "-m", "examples.bank.web"],
    }
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for name, command in commands.items():
            # Each in its own session: Ctrl-C reaches this process only, and each
            # child gets one SIGTERM from us (a gunicorn worker hit by the terminal's
            # SIGINT and its master's signal at once could hang, keeping the port).
            children[name] = subprocess.Popen(  # noqa: S603
                command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True
            )
        urls = [
            f"http://127.0.0.1:{op_port}/healthz",
            f"http://127.0.0.1:{api_port}/api/health",
            f"http://127.0.0.1:{web_port}/",
        ]
        _wait_until_up(urls, children)
        outbox_on = env.get("BELAY_DEV_OUTBOX", "").lower() in {"1", "true", "yes", "on"}
        print(_instructions(web_url, op_url, creds, outbox_on), flush=True)
        status = 0
        while not stopping:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    print(f"{name} exited with status {code}; stopping the others.", flush=True)
                    stopping, status = True, code or 1
                    break
            time.sleep(0.2)
        return status
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            # whatever the child left behind in its session (gunicorn's workers)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
