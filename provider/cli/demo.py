"""``belay demo``: a demo admin, user and clients with secrets made at first run.

The generated passwords, secrets, alice's PIN and her authenticator key are
kept in ``instance/demo-credentials.json`` (mode 0600) so that running the
command again prints the same logins. The ``demo-bank`` client accepts only
real second factors as step-up (not the password again), which is what the
demo bank in ``examples/bank`` shows.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import pyotp
from flask import current_app
from flask.cli import with_appcontext

from provider.factors.pin import PinFactor
from provider.factors.pin_policy import PinRejected
from provider.factors.totp import TotpFactor
from provider.flows.admin import client_policy, clients, users
from provider.flows.assurance import lifecycle
from provider.flows.clients import allowed_resources

__all__ = ["demo_command", "seed_demo"]

#: Who the audit log says made the demo's changes.
ACTOR = "belay demo"

BANK_URL = "http://localhost:5001"
#: The demo bank's API: the one RFC 8707 resource demo-bank may ask tokens for.
BANK_API_URL = "http://localhost:5002"
#: A transfer at the demo bank needs a second factor, never the password again.
BANK_STEP_UP_METHODS = ["totp", "pin", "passkey", "backup_code"]


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials.json"


def _random_pin() -> str:
    """A six-digit PIN the PIN policy accepts (random until one passes)."""
    factor = current_app.extensions["belay_factors"].get("pin")
    assert isinstance(factor, PinFactor)
    length = max(6, factor.min_length)
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(length))
        try:
            factor.check_policy(pin)
        except PinRejected:
            continue
        return pin


def _load_or_create() -> dict[str, Any]:
    """The demo's secrets, made once; values added by newer versions are filled in."""
    path = _credentials_file()
    data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    missing: dict[str, Callable[[], str]] = {
        "admin_password": lambda: secrets.token_urlsafe(12),
        "alice_password": lambda: secrets.token_urlsafe(12),
        "bank_secret": lambda: secrets.token_urlsafe(32),
        "alice_pin": _random_pin,
        # 160 random bits, base32 (RFC 4226 §4's recommended shared-secret length)
        "alice_totp_secret": lambda: base64.b32encode(secrets.token_bytes(20)).decode(),
    }
    if all(key in data for key in missing):
        return data
    for key, make in missing.items():
        data.setdefault(key, make())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data


def _ensure_second_factors(username: str, pin: str, totp_secret: str) -> str:
    """Give the user the demo PIN and a confirmed authenticator unless they have them.

    Returns the authenticator's otpauth:// URI.
    """
    user = users.user_named(username)
    assert user is not None
    factors = current_app.extensions["belay_factors"]
    pin_factor, totp_factor = factors.get("pin"), factors.get("totp")
    assert isinstance(pin_factor, PinFactor) and isinstance(totp_factor, TotpFactor)
    # Enrolled like any admin change: through the lifecycle kernel, audited.
    actor = lifecycle.by_admin("demo")
    if not pin_factor.status(user.id).enrolled:
        lifecycle.set_pin(user, pin, pin, actor=actor)
    if not totp_factor.status(user.id).enrolled:
        return lifecycle.import_totp(user, totp_secret, actor=actor).uri
    # Only the URI is wanted: build it without touching the stored authenticator.
    issuer_name = totp_factor.issuer_name
    return pyotp.TOTP(totp_secret).provisioning_uri(name=username, issuer_name=issuer_name)


def _ensure_user(username: str, password: str, *, admin: bool, name: str, email: str) -> None:
    if users.user_named(username) is None:
        users.create_user(
            username, password=password, is_admin=admin, email=email, name=name, actor=ACTOR
        )


def _bank_policy_without_password() -> None:
    """An older demo's ``demo-bank``: make password re-entry no step-up for it."""
    client = clients.find_client("demo-bank")
    if client is None or (client.policy or {}).get("step_up_methods"):
        return  # already set (an admin's own choice is kept)
    client_policy.update_policy(
        "demo-bank", data={"step_up_methods": BANK_STEP_UP_METHODS}, actor=ACTOR
    )


def _bank_resources() -> None:
    """An older demo's ``demo-bank``: allow it the bank API as a resource (a client
    may name only its registered resources, docs/security.md case 56)."""
    client = clients.find_client("demo-bank")
    if client is None or allowed_resources(client):
        return  # already set (an admin's own choice is kept)
    clients.update_client("demo-bank", {"resources": [BANK_API_URL]}, actor=ACTOR)


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed a demo admin, user and clients, and print how to use them."""
    seed_demo()


def seed_demo() -> dict[str, Any]:
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
    if clients.find_client("demo-bank") is None:
        clients.create_client(
            {
                "client_id": "demo-bank",
                "name": "Demo Bank",
                "redirect_uris": [f"{BANK_URL}/callback"],
                "post_logout_redirect_uris": [f"{BANK_URL}/"],
                "client_type": "confidential",
                "first_party": True,
                "token_endpoint_auth_method": "client_secret_basic",
                "policy": {"step_up_methods": BANK_STEP_UP_METHODS},
                "resources": [BANK_API_URL],
            },
            actor=ACTOR,
            secret=creds["bank_secret"],
        )
    else:
        _bank_policy_without_password()
        _bank_resources()
    if clients.find_client("demo-public") is None:
        clients.create_client(
            {
                "client_id": "demo-public",
                "name": "Demo Public App",
                "redirect_uris": [
                    "http://localhost:5001/callback",
                    "http://127.0.0.1:8976/callback",
                ],
                "client_type": "public",
            },
            actor=ACTOR,
        )
    totp_uri = _ensure_second_factors("alice", creds["alice_pin"], creds["alice_totp_secret"])
    issuer = current_app.config["ISSUER"]
    click.echo("")
    click.echo("Belay demo is ready.")
    click.echo(
        f"  OpenID Provider : {issuer}  (discovery: {issuer}/.well-known/openid-configuration)"
    )
    click.echo(f"  admin login     : admin / {creds['admin_password']}")
    click.echo(f"  user login      : alice / {creds['alice_password']}")
    click.echo(f"  alice's PIN: {creds['alice_pin']}")
    click.echo(
        f"  alice's authenticator key: {creds['alice_totp_secret']} (add it to an app, "
        "or run `python -m examples.bank.totp` to print the current code)"
    )
    click.echo(f"                    {totp_uri}")
    click.echo(f"  confidential RP : client_id demo-bank, client_secret {creds['bank_secret']}")
    click.echo(f"                    redirect_uri {BANK_URL}/callback")
    click.echo(
        "  public RP       : client_id demo-public (PKCE S256), redirect_uri http://127.0.0.1:8976/callback"
    )
    click.echo(f"  (kept in {_credentials_file()})")
    return creds
