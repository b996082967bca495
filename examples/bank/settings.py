"""The bank's configuration: environment variables with demo defaults.

- ``BANK_ISSUER`` (``http://localhost:5000``): the OP, its issuer and base URL;
- ``BANK_API_URL`` (``http://localhost:5002``): the API's base URL, also the
  audience of its access tokens;
- ``BANK_WEB_URL`` (``http://localhost:5001``): the web app's base URL
  (``/callback`` is under it);
- ``BANK_CLIENT_ID`` (``demo-bank``) and ``BANK_CLIENT_SECRET`` (default: the
  ``bank_secret`` in ``instance/demo-credentials.json``): the web app's
  credentials at the OP (``client_secret_basic``);
- ``BANK_TRANSFER_MAX_AGE`` (``120``): seconds a login counts as fresh for a transfer;
- ``BANK_SECRET_KEY`` (random per process): signs the web app's session cookie;
- ``BANK_API_HOST``/``BANK_API_PORT`` (``127.0.0.1``/``5002``) and
  ``BANK_WEB_HOST``/``BANK_WEB_PORT`` (``127.0.0.1``/``5001``): where
  ``python -m examples.bank.api`` and ``python -m examples.bank.web`` listen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULTS", "demo_credentials", "from_env", "listen_address"]

DEFAULTS: dict[str, Any] = {
    "BANK_ISSUER": "http://localhost:5000",
    "BANK_API_URL": "http://localhost:5002",
    "BANK_WEB_URL": "http://localhost:5001",
    "BANK_CLIENT_ID": "demo-bank",
    "BANK_CLIENT_SECRET": "",
    "BANK_TRANSFER_MAX_AGE": 120,
}


def demo_credentials(instance_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """What ``belay demo`` wrote to ``instance/demo-credentials.json`` (empty when missing)."""
    folder = Path(instance_path or os.environ.get("BELAY_INSTANCE_PATH") or "instance")
    path = folder / "demo-credentials.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``BANK_*`` settings from the environment, over :data:`DEFAULTS`."""
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for name in DEFAULTS:
        if env.get(name):
            config[name] = env[name]
    config["BANK_TRANSFER_MAX_AGE"] = int(config["BANK_TRANSFER_MAX_AGE"])
    for name in ("BANK_ISSUER", "BANK_API_URL", "BANK_WEB_URL"):
        config[name] = str(config[name]).rstrip("/")
    if not config["BANK_CLIENT_SECRET"]:
        config["BANK_CLIENT_SECRET"] = demo_credentials().get("bank_secret", "")
    return config


def listen_address(prefix: str, default_port: int) -> tuple[str, int]:
    """``(host, port)`` from ``<prefix>_HOST`` / ``<prefix>_PORT``."""
    host = os.environ.get(f"{prefix}_HOST") or "127.0.0.1"
    port = int(os.environ.get(f"{prefix}_PORT") or default_port)
    return host, port
