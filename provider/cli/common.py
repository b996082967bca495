"""What every ``belay`` command shares: secrets from standard input, JSON
output, a user by name, and turning a flow's error into a message with exit
status 1."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from provider.flows.admin import users
from provider.flows.admin.errors import AdminError
from provider.storage.models import User

__all__ = ["ACTOR", "echo_json", "fail", "read_secret", "user_named"]

#: Who the audit log says made a change from the command line.
ACTOR = "cli"


def read_secret(label: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise click.UsageError(f"expected the {label} on standard input")
    return value


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def fail(exc: Exception) -> click.ClickException:
    """A flow's error as a message (exit status 1)."""
    if isinstance(exc, AdminError):
        return click.ClickException(
            "invalid input:\n  " + "\n  ".join(f"{k}: {v}" for k, v in exc.errors.items())
        )
    return click.ClickException(str(exc.args[0]) if exc.args else str(exc))


def user_named(username: str) -> User:
    """The user named ``username``; a clear error (exit status 1) otherwise."""
    user = users.user_named(username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user
