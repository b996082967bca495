"""``belay audit``, ``belay simulate`` and ``belay stats``: the admin console's
audit log, policy simulator and dashboard on the command line (CLI parity,
docs/admin.md)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask.cli import with_appcontext

from provider.cli.common import echo_json, fail
from provider.flows.admin import audit_log, dashboard, simulator
from provider.flows.admin.errors import AdminError, NotFound

__all__ = ["audit_command", "simulate_command", "stats_command"]


@click.command("audit")
@click.option("--user", default=None, help="username or id")
@click.option("--client", "client_id", default=None)
@click.option("--event", default=None)
@click.option("--result", default=None)
@click.option("--since", default=None, help="YYYY-MM-DD, ISO 8601 or epoch seconds")
@click.option("--until", default=None, help="YYYY-MM-DD, ISO 8601 or epoch seconds")
@click.option("--limit", default=None)
@click.option("--csv", "as_csv", is_flag=True, help="CSV (as the console's export)")
@with_appcontext
def audit_command(as_csv: bool, **filters: Any) -> None:
    """Filter the audit log (JSON lines, or CSV)."""
    try:
        parsed = audit_log.parse_audit_filter({k: v for k, v in filters.items() if v is not None})
    except AdminError as exc:
        raise fail(exc) from None
    rows = audit_log.list_audit(parsed)
    if as_csv:
        sys.stdout.write(audit_log.audit_csv(rows))
        return
    for row in rows:
        click.echo(json.dumps(audit_log.audit_to_dict(row), sort_keys=True))


@click.command("simulate")
@click.argument("client_id")
@click.option("--enrolled", multiple=True, help="an enrolled method (repeatable)")
@click.option(
    "--event", "events", multiple=True, metavar="METHOD[:SECONDS_AGO]", help="a session event"
)
@click.option("--acr-values", default=None)
@click.option("--max-age", default=None)
@click.option("--claims", default=None, help="the claims request (JSON)")
@click.option("--prompt", default=None)
@with_appcontext
def simulate_command(
    client_id: str,
    enrolled: tuple[str, ...],
    events: tuple[str, ...],
    acr_values: str | None,
    max_age: str | None,
    claims: str | None,
    prompt: str | None,
) -> None:
    """Show the decision /authorize would make (outcome, methods, reason code)."""
    parsed: list[dict[str, Any]] = []
    for spec in events:
        method, _, ago = spec.partition(":")
        # Checked by the simulator like the console's and the API's (not read as 0).
        seconds_ago: int | str = int(ago) if ago.isdigit() else (ago or 0)
        parsed.append({"method": method, "seconds_ago": seconds_ago})
    params = {"acr_values": acr_values, "max_age": max_age, "claims": claims, "prompt": prompt}
    try:
        result = simulator.simulate(
            client_id,
            enrolled=list(enrolled),
            events=parsed,
            params={k: v for k, v in params.items() if v is not None},
        )
    except (AdminError, NotFound) as exc:
        raise fail(exc) from None
    echo_json(result.to_dict())


@click.command("stats")
@with_appcontext
def stats_command() -> None:
    """Step-ups by acr and method, failures and lockouts over the last 7 days (JSON)."""
    echo_json(dashboard.dashboard())
