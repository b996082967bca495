"""``python -m examples.bank.launch``: the OP, the bank's API and its web app, together.

Starts three processes from the repository root —

- the OP: ``belay serve --host 127.0.0.1 --port 5000``;
- the bank API: ``python -m examples.bank.api`` on port 5002;
- the bank web app: ``python -m examples.bank.web`` on port 5001 —

prints how to try the story, forwards Ctrl-C / SIGTERM to all of them and
stops everything as soon as one of them exits. Run ``belay init`` and
``belay demo`` first (``make run`` does): the web app's client secret and
alice's logins are read from ``instance/demo-credentials.json``.

Ports: ``BANK_OP_PORT``, ``BANK_API_PORT``, ``BANK_WEB_PORT``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from examples.bank.settings import demo_credentials

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[2]


def _belay() -> list[str]:
    found = shutil.which("belay", path=os.path.dirname(sys.executable))
    return [found] if found else [sys.executable, "-m", "provider.cli"]


def _instructions(web: str, op: str, creds: dict[str, object]) -> str:
    password = creds.get("alice_password", "(run `belay demo`)")
    pin = creds.get("alice_pin", "(run `belay demo`)")
    return f"""
Belay demo bank
  bank (web app)  : {web}/
  OpenID Provider : {op}/   (alice's factors: {op}/account)
  sign in as      : alice / {password}
  step up with    : the authenticator code — `python -m examples.bank.totp` prints it
  later, the PIN  : {pin}

Try it: open {web}/ → Sign in with Belay → look at the balance → New transfer.
The API answers 401 insufficient_user_authentication (it wants urn:belay:acr:2fa
within 120 s); Belay asks for the authenticator code; back at the bank, press
Continue: "Transfer done". Wait two minutes and send another: this time the PIN
is enough (the session is still 2fa; the PIN makes auth_time fresh).
Ctrl-C stops everything.
"""


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
    env = {
        "BELAY_ORIGINS": op_url,  # passkeys work on the OP's own origin
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
            children[name] = subprocess.Popen(command, env=env, cwd=ROOT)  # noqa: S603
        time.sleep(1.5)
        print(_instructions(web_url, op_url, creds), flush=True)
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


if __name__ == "__main__":
    sys.exit(main())
