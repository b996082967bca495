"""``belay demo``: a demo admin, user and clients with secrets made at first run.

The generated passwords and secrets are kept in ``instance/demo-credentials.json``
(mode 0600) so that running the command again prints the same logins.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import click
from flask import current_app

from provider import clock
from provider.flows.login import hasher
from provider.storage import accounts
from provider.storage.models import User

__all__ = ["seed_demo"]

BANK_URL = "http://localhost:5001"


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials.json"


def _load_or_create() -> dict[str, Any]:
    path = _credentials_file()
    if path.exists():
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    data = {
        "admin_password": secrets.token_urlsafe(12),
        "alice_password": secrets.token_urlsafe(12),
        "bank_secret": secrets.token_urlsafe(32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data


def _ensure_user(username: str, password: str, *, admin: bool, name: str, email: str) -> None:
    if accounts.user_by_name(username) is None:
        accounts.add(
            User(
                username=username,
                password_hash=hasher().hash(password),
                is_admin=admin,
                name=name,
                email=email,
                created_at=clock.now(),
            )
        )


def seed_demo() -> dict[str, Any]:
    from provider.flows.clients import register_client

    creds = _load_or_create()
    _ensure_user(
        "admin", creds["admin_password"], admin=True, name="Demo Admin", email="admin@example.test"
    )
    _ensure_user(
        "alice",
        creds["alice_password"],
        admin=False,
        name="Alice Example",
        email="alice@example.test",
    )
    if accounts.get_client("demo-bank") is None:
        register_client(
            "demo-bank",
            name="Demo Bank",
            redirect_uris=[f"{BANK_URL}/callback"],
            post_logout_redirect_uris=[f"{BANK_URL}/"],
            public=False,
            secret=creds["bank_secret"],
            first_party=True,
            auth_method="client_secret_basic",
        )
    if accounts.get_client("demo-public") is None:
        register_client(
            "demo-public",
            name="Demo Public App",
            redirect_uris=["http://localhost:5001/callback", "http://127.0.0.1:8976/callback"],
            public=True,
            secret=None,
        )
    issuer = current_app.config["ISSUER"]
    click.echo("")
    click.echo("Belay demo is ready.")
    click.echo(
        f"  OpenID Provider : {issuer}  (discovery: {issuer}/.well-known/openid-configuration)"
    )
    click.echo(f"  admin login     : admin / {creds['admin_password']}")
    click.echo(f"  user login      : alice / {creds['alice_password']}")
    click.echo(f"  confidential RP : client_id demo-bank, client_secret {creds['bank_secret']}")
    click.echo(f"                    redirect_uri {BANK_URL}/callback")
    click.echo(
        "  public RP       : client_id demo-public (PKCE S256), redirect_uri http://127.0.0.1:8976/callback"
    )
    click.echo(f"  (kept in {_credentials_file()})")
    return creds
