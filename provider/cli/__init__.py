"""The ``belay`` command line: the admin's and the scripts' interface.

The commands are grouped by subject (:mod:`.operations`, :mod:`.users`,
:mod:`.clients`, :mod:`.ladder`, :mod:`.passkeys`, :mod:`.reports`,
:mod:`.demo`); each parses its arguments and calls the flows, as the pages and
the admin API do. Secrets are read from standard input (``--password-stdin``,
``--secret-stdin``), never from argv.

The command line sits above the application (``cli → app``): it builds the
app with :func:`provider.app.create_app` and adds its own commands; the app
knows nothing of it. ``flask --app provider.cli …`` offers the same commands:
Flask finds :func:`create_app` here, the application with the commands added.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from provider.app import create_app as create_application
from provider.cli.clients import client_group
from provider.cli.demo import demo_command
from provider.cli.ladder import ladder_group
from provider.cli.operations import init_command, keys_group, purge_command, serve_command
from provider.cli.passkeys import passkeys_group
from provider.cli.reports import audit_command, simulate_command, stats_command
from provider.cli.users import user_group
from provider.flows.data_key import DataKeyMismatch

__all__ = ["COMMANDS", "belay", "create_app", "main", "register"]

#: Every top-level command (``belay db …`` is Flask-Migrate's, a Flask plugin).
COMMANDS: tuple[click.Command, ...] = (
    init_command,
    serve_command,
    user_group,
    client_group,
    ladder_group,
    keys_group,
    passkeys_group,
    purge_command,
    demo_command,
    audit_command,
    simulate_command,
    stats_command,
)


def register(app: Flask) -> None:
    """Add the commands to ``app.cli`` (as Flask's test CLI runner uses it)."""
    for command in COMMANDS:
        app.cli.add_command(command)


def create_app() -> Flask:
    """The application with the ``belay`` commands (``flask --app provider.cli …``)."""
    app = _make_app()
    register(app)
    return app


def _make_app() -> Flask:
    try:
        return create_application()
    except DataKeyMismatch as exc:
        # A clear message and exit status 1, not a traceback (docs/security.md case 57).
        raise click.ClickException(str(exc)) from None


belay = FlaskGroup(
    name="belay",
    create_app=_make_app,
    add_default_commands=False,
    add_version_option=False,
)
for _command in COMMANDS:
    belay.add_command(_command)


def main() -> None:
    belay(prog_name="belay")
