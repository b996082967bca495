"""What ``make run`` shows a newcomer: ``belay init``, ``belay demo --quiet`` and
``python -m examples.bank.launch`` (the Makefile's run recipe, with its
BELAY_LOG_LEVEL=warning), run for real on free ports and a fresh instance folder.

The output fits one screen (24 lines of at most 80 columns), ends with the
logins (alice's and the admin's authenticator keys included), holds no log
line (no audit line, no JSON access line, no development-server banner), and
a code asked for by email shows up at /dev/outbox and in the terminal.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
import requests

from tests.conftest import FAST_ARGON2, ROOT, free_port

pytestmark = pytest.mark.slow

BELAY = [sys.executable, "-m", "provider.cli"]


def _read_until(stream: IO[str], marker: str, seconds: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} in the output: {lines}")


def test_make_run_fits_one_screen_and_every_factor_can_be_tried(tmp_path: Path) -> None:
    op, api, web = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "BELAY_INSTANCE_PATH": str(tmp_path / "instance"),
        "BELAY_DATABASE_URL": f"sqlite:///{tmp_path / 'belay.sqlite3'}",
        "BELAY_ISSUER": f"http://localhost:{op}",
        "BELAY_LOG_LEVEL": "warning",
        "BANK_OP_PORT": str(op),
        "BANK_API_PORT": str(api),
        "BANK_WEB_PORT": str(web),
        **{f"BELAY_{key}": str(value) for key, value in FAST_ARGON2.items()},
    }
    for name in ("BELAY_DEV_OUTBOX", "BELAY_CONFIG", "BANK_ISSUER", "BANK_WEB_URL"):
        env.pop(name, None)
    output: list[str] = []
    for command in (["init"], ["demo", "--quiet"]):
        done = subprocess.run(
            [*BELAY, *command], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        output += (done.stdout + done.stderr).splitlines()
    launch = subprocess.Popen(
        [sys.executable, "-m", "examples.bank.launch"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert launch.stdout is not None
        shown = _read_until(launch.stdout, "Ctrl-C stops everything.", 90)
        output += shown
        text = "\n".join(output)
        assert len(output) <= 24, text
        # (the lines before name this test's long temporary folder, not ./instance)
        assert max(len(line) for line in shown) <= 80, text
        assert not re.search(r"INFO|WARNING|development server|^\{", text, re.M), text
        creds = json.loads((tmp_path / "instance" / "demo-credentials.json").read_text())
        logins = text.split("Belay demo:")[1]
        for key in ("alice_password", "alice_pin", "alice_totp_secret", "admin_password"):
            assert creds[key] in logins, key
        assert f"authenticator key {creds['admin_totp_secret']}" in logins
        assert f"http://localhost:{op}/admin" in logins
        assert f"http://localhost:{op}/dev/outbox" in logins

        # The admin console, reached with the admin's password and an emailed code.
        session = requests.Session()
        base = f"http://localhost:{op}"

        def csrf(html: str) -> str:
            return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]

        page = session.get(f"{base}/login", timeout=10)
        session.post(
            f"{base}/login",
            data={
                "csrf_token": csrf(page.text),
                "username": "admin",
                "password": creds["admin_password"],
            },
            timeout=10,
        )
        page = session.get(f"{base}/admin/", timeout=10)
        assert page.status_code == 403 and 'id="send-code-form"' in page.text
        page = session.post(
            f"{base}/challenge/send-code",
            data={
                "csrf_token": csrf(page.text),
                "tx": "admin",
                "purpose": "admin_step_up",
                "channel": "email",
            },
            timeout=10,
        )
        outbox = requests.get(f"{base}/dev/outbox", timeout=10)
        assert outbox.status_code == 200 and "admin@example.test" in outbox.text
        code = re.search(r"code is (\d{6})", outbox.text).group(1)  # type: ignore[union-attr]
        action = re.search(r'<form id="sent-code-form"[^>]*action="([^"]+)"', page.text)
        assert action, page.text
        done = session.post(
            base + action.group(1).replace("&amp;", "&"),
            data={
                "csrf_token": csrf(page.text),
                "tx": "admin",
                "method": "email_otp",
                "code": code,
            },
            timeout=10,
        )
        assert done.status_code == 200 and "Dashboard" in done.text, done.text[:800]
        printed = _read_until(launch.stdout, "[dev outbox]", 10)
        assert printed[-1].startswith(f"[dev outbox] email to admin@example.test: code {code} (")
    finally:
        launch.send_signal(signal.SIGTERM)
        try:
            launch.wait(20)
        except subprocess.TimeoutExpired:
            launch.kill()
            launch.wait()
