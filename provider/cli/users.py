"""``belay user …``: create users, set their password, PIN, authenticator and
verified addresses, unlock them, and the console's user operations (list,
show, reset-factors, revoke-sessions, events)."""

from __future__ import annotations

import json
from typing import Literal

import click
from flask.cli import with_appcontext

from provider.cli.common import ACTOR, echo_json, fail, read_secret, user_named
from provider.flows.admin import audit_log, users
from provider.flows.admin.errors import AdminError, NotFound
from provider.flows.assurance import lifecycle
from provider.storage.models import User

__all__ = ["user_group"]


@click.group("user")
def user_group() -> None:
    """Manage users."""


def _admin() -> lifecycle.Actor:
    return lifecycle.by_admin(ACTOR)


def _user(key: str) -> User:
    """The user with this id or username; a clear error otherwise."""
    try:
        return users.find_user(key)
    except NotFound as exc:
        raise fail(exc) from None


@user_group.command("create")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--admin", is_flag=True)
@click.option("--email", default=None)
@click.option("--name", default=None)
@with_appcontext
def user_create(
    username: str, password_stdin: bool, admin: bool, email: str | None, name: str | None
) -> None:
    """Create a user (the password rules are those of the account page)."""
    # Asked before the password is read, so nobody types one in vain.
    existing = users.user_named(username)
    if existing is not None:
        same = "" if existing.username == username else " (usernames match whatever their case)"
        raise click.ClickException(f"user {existing.username!r} already exists{same}")
    password = read_secret("password") if password_stdin else None
    try:
        user = users.create_user(
            username, password=password, is_admin=admin, email=email, name=name, actor=ACTOR
        )
    except AdminError as exc:
        raise fail(exc) from None
    click.echo(f"Created user {username} (id {user.id}){' as admin' if admin else ''}")


@user_group.command("set-password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, required=True, help="read the password from standard input"
)
@with_appcontext
def user_set_password(username: str, password_stdin: bool) -> None:
    """Set a user's password (and clear the password's failure counter)."""
    user = user_named(username)
    password = read_secret("password")
    try:
        lifecycle.set_password(user, password, actor=_admin())
    except lifecycle.Rejected as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Password set for {user.username}")


@user_group.command("set-pin")
@click.argument("username")
@click.option("--pin-stdin", is_flag=True, required=True, help="read the PIN from standard input")
@with_appcontext
def user_set_pin(username: str, pin_stdin: bool) -> None:
    """Set a user's PIN (checked against the PIN policy; clears the PIN's lock)."""
    user = user_named(username)
    pin = read_secret("PIN")
    try:
        lifecycle.set_pin(user, pin, pin, actor=_admin())
    except lifecycle.Rejected as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"PIN set for {user.username}")


@user_group.command("add-totp")
@click.argument("username")
@click.option(
    "--secret",
    default=None,
    metavar="BASE32",
    help="import this base32 secret (at least 160 bits) instead of making one",
)
@click.option(
    "--secret-stdin",
    is_flag=True,
    help="read the base32 secret to import from standard input (keeps it out of argv)",
)
@with_appcontext
def user_add_totp(username: str, secret: str | None, secret_stdin: bool) -> None:
    """Give a user an authenticator app, active at once; prints its otpauth:// URI.

    Replaces the user's authenticator. Made by an admin, so no code is asked."""
    if secret is not None and secret_stdin:
        raise click.UsageError("use --secret or --secret-stdin, not both")
    user = user_named(username)
    if secret_stdin:
        secret = read_secret("TOTP secret")
    try:
        enrolment = lifecycle.import_totp(user, secret, actor=_admin())
    except lifecycle.Rejected as exc:
        raise click.ClickException(exc.message) from None
    click.echo(enrolment.uri)


def _set_destination(username: str, kind: Literal["email", "phone"], value: str) -> None:
    user = user_named(username)
    try:
        cleaned = lifecycle.set_destination(user, kind, value, actor=_admin())
    except lifecycle.Rejected as exc:
        raise click.ClickException(exc.message) from None
    click.echo(
        f"Set the verified {'email address' if kind == 'email' else 'phone number'} "
        f"of {user.username} to {cleaned}"
    )


@user_group.command("set-email")
@click.argument("username")
@click.argument("email")
@with_appcontext
def user_set_email(username: str, email: str) -> None:
    """Set a user's email address, marked verified (codes by email go there)."""
    _set_destination(username, "email", email)


@user_group.command("set-phone")
@click.argument("username")
@click.argument("phone")
@with_appcontext
def user_set_phone(username: str, phone: str) -> None:
    """Set a user's phone number (E.164, +country code), marked verified."""
    _set_destination(username, "phone", phone)


@user_group.command("unlock")
@click.argument("username")
@click.option(
    "--factor",
    default=None,
    help=f"only this factor: {', '.join(users.UNLOCKABLE_FACTORS)} (default: all)",
)
@with_appcontext
def user_unlock(username: str, factor: str | None) -> None:
    """Clear failure counters and locks."""
    user = user_named(username)
    try:
        count = users.unlock_user(user, factor, actor=ACTOR)
    except AdminError as exc:
        raise click.ClickException("; ".join(f"--{k} {v}" for k, v in exc.errors.items())) from None
    click.echo(f"Unlocked {user.username} ({count} counter(s) cleared)")


@user_group.command("list")
@click.option("--query", "-q", default="", help="part of a username, name or email")
@with_appcontext
def user_list(query: str) -> None:
    """Search users."""
    for user in users.search_users(query):
        click.echo(
            f"{user.id}\t{user.username}\t{user.email or ''}\t{'admin' if user.is_admin else ''}"
        )


@user_group.command("show")
@click.argument("username")
@with_appcontext
def user_show(username: str) -> None:
    """Print a user with the state of each factor (JSON)."""
    echo_json(users.user_to_dict(_user(username), detail=True))


@user_group.command("reset-factors")
@click.argument("username")
@with_appcontext
def user_reset_factors(username: str) -> None:
    """Remove every second factor (PIN, TOTP, backup codes, passkeys); clear locks."""
    removed = users.reset_factors(_user(username), actor=ACTOR)
    click.echo(f"Removed: {', '.join(removed) or 'nothing'}")


@user_group.command("revoke-sessions")
@click.argument("username")
@with_appcontext
def user_revoke_sessions(username: str) -> None:
    """End every browser session of a user."""
    count = users.revoke_sessions(_user(username), actor=ACTOR)
    click.echo(f"Revoked {count} session(s)")


@user_group.command("events")
@click.argument("username")
@click.option("--limit", type=int, default=50)
@with_appcontext
def user_events(username: str, limit: int) -> None:
    """A user's audit events (JSON lines, newest first)."""
    try:
        rows = audit_log.user_events(_user(username), limit=limit)
    except AdminError as exc:
        raise fail(exc) from None
    for row in rows:
        click.echo(json.dumps(audit_log.audit_to_dict(row), sort_keys=True))
