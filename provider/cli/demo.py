"""``belay demo``: a demo admin, user and clients with secrets made at first run.

The generated passwords, secrets, alice's PIN and the authenticator keys of
alice and the admin (the admin console asks for a second factor) are kept in
``instance/demo-credentials.json`` (mode 0600) so that running the command
again prints the same logins. Both users have a verified email address and
phone number, so codes by email and SMS can be tried with BELAY_DEV_OUTBOX
(``make run`` turns it on; the codes appear at /dev/outbox). The ``demo-bank`` client accepts only
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
from typing import Any, Literal

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
#: A transfer at the demo bank needs a second factor, never the password again
#: (codes by email and SMS too: with BELAY_DEV_OUTBOX every factor can be tried).
BANK_STEP_UP_METHODS = ["totp", "pin", "passkey", "backup_code", "email_otp", "sms_otp"]
#: The demo users' verified email address and phone number (example.test is
#: reserved, RFC 2606; +44 7700 900xxx is Ofcom's range for drama).
DESTINATIONS = {
    "alice": ("alice@example.test", "+447700900123"),
    "admin": ("admin@example.test", "+447700900456"),
}
#: prints the demo authenticator's current code (examples/bank/totp.py)
TOTP_COMMAND = ".venv/bin/python -m examples.bank.totp"


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


def _totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()


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
        "alice_totp_secret": _totp_secret,
        "admin_totp_secret": _totp_secret,
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


def _factor(method: str) -> Any:
    return current_app.extensions["belay_factors"].get(method)


def _ensure_pin(username: str, pin: str) -> None:
    user = users.user_named(username)
    assert user is not None
    pin_factor = _factor("pin")
    assert isinstance(pin_factor, PinFactor)
    # Enrolled like any admin change: through the lifecycle kernel, audited.
    if not pin_factor.status(user.id).enrolled:
        lifecycle.set_pin(user, pin, pin, actor=lifecycle.by_admin("demo"))


def _ensure_totp(username: str, totp_secret: str) -> str:
    """Give the user a confirmed authenticator unless they have one; returns its
    otpauth:// URI."""
    user = users.user_named(username)
    assert user is not None
    totp_factor = _factor("totp")
    assert isinstance(totp_factor, TotpFactor)
    if not totp_factor.status(user.id).enrolled:
        return lifecycle.import_totp(user, totp_secret, actor=lifecycle.by_admin("demo")).uri
    # Only the URI is wanted: build it without touching the stored authenticator.
    issuer_name = totp_factor.issuer_name
    return pyotp.TOTP(totp_secret).provisioning_uri(name=username, issuer_name=issuer_name)


def _ensure_destinations(username: str, email: str, phone: str) -> None:
    """A verified email address and phone number (codes by email and SMS go there)."""
    user = users.user_named(username)
    assert user is not None
    factors = current_app.extensions["belay_factors"]
    kinds: tuple[tuple[Literal["email", "phone"], str], ...] = (("email", email), ("phone", phone))
    for kind, value in kinds:
        factor = factors.destination_factor(kind)
        if factor is not None and factor.destination(user.id) is None:
            lifecycle.set_destination(user, kind, value, actor=lifecycle.by_admin("demo"))


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
@click.option(
    "--quiet", is_flag=True, help="print one line, not the logins (make run prints them last)"
)
@with_appcontext
def demo_command(quiet: bool) -> None:
    """Seed a demo admin, user and clients, and print how to use them."""
    seed_demo(quiet=quiet)


def seed_demo(*, quiet: bool = False) -> dict[str, Any]:
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
    _ensure_pin("alice", creds["alice_pin"])
    alice_uri = _ensure_totp("alice", creds["alice_totp_secret"])
    admin_uri = _ensure_totp("admin", creds["admin_totp_secret"])
    for username, (email, phone) in DESTINATIONS.items():
        _ensure_destinations(username, email, phone)
    if quiet:
        click.echo(f"Demo users and clients ready (logins in {_relative(_credentials_file())})")
        return creds
    issuer = current_app.config["ISSUER"]
    alice_email, alice_phone = DESTINATIONS["alice"]
    lines = [
        "",
        "Belay demo is ready.",
        f"  OpenID Provider : {issuer}  (discovery: {issuer}/.well-known/openid-configuration)",
        f"  admin login     : admin / {creds['admin_password']}  (console: {issuer}/admin)",
        f"  admin's authenticator key: {creds['admin_totp_secret']}",
        f"                    {admin_uri}",
        f"  user login      : alice / {creds['alice_password']}",
        f"  alice's PIN: {creds['alice_pin']}",
        f"  alice's authenticator key: {creds['alice_totp_secret']} (add it to an app, "
        f"or run `{TOTP_COMMAND}` to print the current code; `{TOTP_COMMAND} admin` "
        "prints the admin's)",
        f"                    {alice_uri}",
        f"  alice's email and phone: {alice_email}, {alice_phone} (codes sent there are "
        f"listed at {issuer}/dev/outbox when BELAY_DEV_OUTBOX is on)",
        f"  confidential RP : client_id demo-bank, client_secret {creds['bank_secret']}",
        f"                    redirect_uri {BANK_URL}/callback",
        "  public RP       : client_id demo-public (PKCE S256), "
        "redirect_uri http://127.0.0.1:8976/callback",
        f"  (kept in {_credentials_file()})",
    ]
    for line in lines:
        click.echo(line)
    return creds


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
