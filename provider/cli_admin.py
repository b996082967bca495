"""``belay`` commands with the admin console's and the admin API's operations
(CLI parity, docs/admin.md): client list/show/update/rotate-secret/delete,
user list/show/reset-factors/revoke-sessions/events, audit, simulate, stats.
They call :mod:`provider.flows.admin`, as the console and the API do."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import with_appcontext

from provider.flows import admin as admin_flow
from provider.flows.clients import GRANT_TYPES, ClientRegistrationError, update_metadata
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS

__all__ = ["attach"]

_ACTOR = "cli"


def _echo(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True))


def _fail(exc: Exception) -> click.ClickException:
    if isinstance(exc, admin_flow.AdminError):
        return click.ClickException(
            "invalid input:\n  " + "\n  ".join(f"{k}: {v}" for k, v in exc.errors.items())
        )
    return click.ClickException(str(exc.args[0]) if exc.args else str(exc))


def _user(key: str) -> Any:
    try:
        return admin_flow.find_user(key)
    except admin_flow.NotFound as exc:
        raise _fail(exc) from None


# -- clients -------------------------------------------------------------------------


@click.command("list")
@with_appcontext
def client_list() -> None:
    """List clients (id, type, auth method, flags)."""
    for client in admin_flow.list_clients():
        data = admin_flow.client_to_dict(client)
        flags = [f for f in ("first_party", "is_admin") if data[f]]
        click.echo(
            f"{data['client_id']}\t{data['client_type']}\t"
            f"{data['token_endpoint_auth_method']}\t{','.join(flags)}"
        )


@click.command("show")
@click.argument("client_id")
@with_appcontext
def client_show(client_id: str) -> None:
    """Print a client's registration and policy as JSON."""
    try:
        _echo(admin_flow.client_to_dict(admin_flow.get_client(client_id)))
    except admin_flow.NotFound as exc:
        raise _fail(exc) from None


@click.command("update")
@click.argument("client_id")
@click.option("--name", default=None)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="replaces the list")
@click.option("--clear-redirect-uris", is_flag=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True, help="replaces the list")
@click.option("--clear-post-logout-redirect-uris", is_flag=True)
@click.option("--type", "client_type", type=click.Choice(["public", "confidential"]), default=None)
@click.option("--auth-method", type=click.Choice(AUTH_METHODS), default=None)
@click.option("--token-format", type=click.Choice(["jwt", "opaque"]), default=None)
@click.option("--first-party/--no-first-party", default=None)
@click.option("--admin/--no-admin", "is_admin", default=None, help="mark for administration")
@click.option("--grant-type", "grant_types", multiple=True, type=click.Choice(GRANT_TYPES))
@click.option("--id-token-alg", type=click.Choice(SUPPORTED_ALGS), default=None)
@click.option(
    "--metadata",
    "metadata_json",
    default=None,
    metavar="JSON",
    help='merged into the registration metadata ({"resources": [...]}; null removes a key)',
)
@with_appcontext
def client_update(
    client_id: str,
    name: str | None,
    redirect_uris: tuple[str, ...],
    clear_redirect_uris: bool,
    post_logout: tuple[str, ...],
    clear_post_logout_redirect_uris: bool,
    client_type: str | None,
    auth_method: str | None,
    token_format: str | None,
    first_party: bool | None,
    is_admin: bool | None,
    grant_types: tuple[str, ...],
    id_token_alg: str | None,
    metadata_json: str | None,
) -> None:
    """Change a client's registration (prints a new secret once when needed)."""
    metadata = None
    if metadata_json is not None:
        try:
            metadata = json.loads(metadata_json)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"not valid JSON: {exc}") from None
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if redirect_uris or clear_redirect_uris:
        changes["redirect_uris"] = list(redirect_uris)
    if post_logout or clear_post_logout_redirect_uris:
        changes["post_logout_redirect_uris"] = list(post_logout)
    for key, value in (
        ("client_type", client_type),
        ("token_endpoint_auth_method", auth_method),
        ("access_token_format", token_format),
        ("first_party", first_party),
        ("is_admin", is_admin),
        ("id_token_signed_response_alg", id_token_alg),
    ):
        if value is not None:
            changes[key] = value
    if grant_types:
        changes["grant_types"] = list(grant_types)
    secret = None
    try:
        if changes or metadata is None:
            _, secret = admin_flow.update_client(client_id, changes, actor=_ACTOR)
        if metadata is not None:
            update_metadata(client_id, metadata, actor=_ACTOR)
    except (admin_flow.AdminError, admin_flow.NotFound, ClientRegistrationError) as exc:
        raise _fail(exc) from None
    click.echo(f"Updated client {client_id}")
    if secret:
        click.echo(f"client_secret: {secret}  (shown once)")


@click.command("rotate-secret")
@click.argument("client_id")
@with_appcontext
def client_rotate_secret(client_id: str) -> None:
    """Give a confidential client a new secret (printed once)."""
    try:
        secret = admin_flow.rotate_secret(client_id, actor=_ACTOR)
    except (admin_flow.AdminError, admin_flow.NotFound) as exc:
        raise _fail(exc) from None
    click.echo(f"client_secret: {secret}  (shown once)")


@click.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@with_appcontext
def client_delete(client_id: str, yes: bool) -> None:
    """Delete a client."""
    if not yes:
        click.confirm(f"Delete client {client_id}?", abort=True)
    try:
        admin_flow.delete_client(client_id, actor=_ACTOR)
    except admin_flow.NotFound as exc:
        raise _fail(exc) from None
    click.echo(f"Deleted client {client_id}")


# -- users ---------------------------------------------------------------------------


@click.command("list")
@click.option("--query", "-q", default="", help="part of a username, name or email")
@with_appcontext
def user_list(query: str) -> None:
    """Search users."""
    for user in admin_flow.search_users(query):
        click.echo(
            f"{user.id}\t{user.username}\t{user.email or ''}\t{'admin' if user.is_admin else ''}"
        )


@click.command("show")
@click.argument("username")
@with_appcontext
def user_show(username: str) -> None:
    """Print a user with the state of each factor (JSON)."""
    _echo(admin_flow.user_to_dict(_user(username), detail=True))


@click.command("reset-factors")
@click.argument("username")
@with_appcontext
def user_reset_factors(username: str) -> None:
    """Remove every second factor (PIN, TOTP, backup codes, passkeys); clear locks."""
    removed = admin_flow.reset_factors(_user(username), actor=_ACTOR)
    click.echo(f"Removed: {', '.join(removed) or 'nothing'}")


@click.command("revoke-sessions")
@click.argument("username")
@with_appcontext
def user_revoke_sessions(username: str) -> None:
    """End every browser session of a user."""
    count = admin_flow.revoke_sessions(_user(username), actor=_ACTOR)
    click.echo(f"Revoked {count} session(s)")


@click.command("events")
@click.argument("username")
@click.option("--limit", type=int, default=50)
@with_appcontext
def user_events(username: str, limit: int) -> None:
    """A user's audit events (JSON lines, newest first)."""
    user = _user(username)
    for row in admin_flow.list_audit(admin_flow.AuditFilter(user=str(user.id), limit=limit)):
        click.echo(json.dumps(admin_flow.audit_to_dict(row), sort_keys=True))


# -- audit, simulate, stats ------------------------------------------------------------


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
        parsed = admin_flow.parse_audit_filter({k: v for k, v in filters.items() if v is not None})
    except admin_flow.AdminError as exc:
        raise _fail(exc) from None
    rows = admin_flow.list_audit(parsed)
    if as_csv:
        sys.stdout.write(admin_flow.audit_csv(rows))
        return
    for row in rows:
        click.echo(json.dumps(admin_flow.audit_to_dict(row), sort_keys=True))


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
        parsed.append({"method": method, "seconds_ago": int(ago) if ago.isdigit() else 0})
    params = {"acr_values": acr_values, "max_age": max_age, "claims": claims, "prompt": prompt}
    try:
        result = admin_flow.simulate(
            client_id,
            enrolled=list(enrolled),
            events=parsed,
            params={k: v for k, v in params.items() if v is not None},
        )
    except (admin_flow.AdminError, admin_flow.NotFound) as exc:
        raise _fail(exc) from None
    _echo(result.to_dict())


@click.command("stats")
@with_appcontext
def stats_command() -> None:
    """Step-ups by acr and method, failures and lockouts over the last 7 days (JSON)."""
    _echo(admin_flow.dashboard())


def attach(app: Flask, user_group: click.Group, client_group: click.Group) -> None:
    for command in (client_list, client_show, client_update, client_rotate_secret, client_delete):
        client_group.add_command(command)
    for command in (user_list, user_show, user_reset_factors, user_revoke_sessions, user_events):
        user_group.add_command(command)
    for command in (audit_command, simulate_command, stats_command):
        app.cli.add_command(command)
