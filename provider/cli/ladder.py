"""``belay ladder …``: show the acr ladder, or replace it from a JSON file."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from provider import policy
from provider.cli.common import ACTOR
from provider.flows.admin import ladder as admin_ladder

__all__ = ["ladder_group"]


@click.group("ladder")
def ladder_group() -> None:
    """Show or replace the acr ladder."""


@ladder_group.command("show")
@with_appcontext
def ladder_show() -> None:
    """Print the ladder as JSON (the format ``ladder set`` reads)."""
    click.echo(json.dumps(admin_ladder.ladder_data(), indent=2))


@ladder_group.command("set")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def ladder_set(path: str) -> None:
    """Validate and store a ladder from a JSON file."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    try:
        ladder = admin_ladder.save_ladder(data, actor=ACTOR)
    except policy.LadderError as exc:
        raise click.ClickException("invalid ladder:\n  " + "\n  ".join(exc.errors)) from exc
    click.echo(f"Ladder saved: {', '.join(ladder.acr_values)}")
