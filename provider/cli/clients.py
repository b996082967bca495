"""``belay client …``: register relying parties, show and change their
registration and acr policy, rotate their secret, delete them."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext

from provider import policy
from provider.cli.common import ACTOR, echo_json, fail, read_secret
from provider.flows.admin import client_policy, clients
from provider.flows.admin.client_fields import metadata_fields
from provider.flows.admin.errors import AdminError, NotFound
from provider.flows.clients import GRANT_TYPES
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS

__all__ = ["client_group"]


@click.group("client")
def client_group() -> None:
    """Manage relying parties."""


def _json_option(text: str | None) -> Any:
    try:
        return json.loads(text) if text is not None else None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"not valid JSON: {exc}") from None


@client_group.command("create")
@click.argument("client_id")
@click.option("--redirect-uri", "redirect_uris", multiple=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--public", is_flag=True, help="a public client (PKCE, no secret)")
@click.option("--secret-stdin", is_flag=True, help="read the client secret from standard input")
@click.option("--name", default=None)
@click.option("--auth-method", type=click.Choice(AUTH_METHODS), default=None)
@click.option("--first-party", is_flag=True, help="skip the consent page")
@click.option("--token-format", type=click.Choice(["jwt", "opaque"]), default="jwt")
@click.option("--jwks", "jwks_json", default=None, help="public JWK Set (JSON) for private_key_jwt")
@click.option("--policy", "policy_json", default=None, help="client acr policy as JSON")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(GRANT_TYPES),
    help="allowed grant types (default: all that fit the client type)",
)
@click.option("--id-token-alg", type=click.Choice(SUPPORTED_ALGS), default=None)
@click.option(
    "--metadata",
    "metadata_json",
    default=None,
    metavar="JSON",
    help='registration metadata, e.g. {"resources": ["https://api.example"]}',
)
@with_appcontext
def client_create(
    client_id: str,
    redirect_uris: tuple[str, ...],
    post_logout: tuple[str, ...],
    public: bool,
    secret_stdin: bool,
    name: str | None,
    auth_method: str | None,
    first_party: bool,
    token_format: str,
    jwks_json: str | None,
    policy_json: str | None,
    grant_types: tuple[str, ...],
    id_token_alg: str | None,
    metadata_json: str | None,
) -> None:
    """Register a client (prints a generated secret once).

    The console's and the admin API's use-case
    (:func:`provider.flows.admin.clients.create_client`): the same checks."""
    data: dict[str, Any] = {
        "client_id": client_id,
        "client_type": "public" if public else "confidential",
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout),
        "first_party": first_party,
        "access_token_format": token_format,
    }
    for key, value in (
        ("name", name),
        ("token_endpoint_auth_method", auth_method),
        ("grant_types", list(grant_types) or None),
        ("id_token_signed_response_alg", id_token_alg),
        ("policy", _json_option(policy_json) if policy_json else None),
    ):
        if value is not None:
            data[key] = value
    jwks = _json_option(jwks_json) if jwks_json else None
    metadata = _json_option(metadata_json)
    try:
        if metadata is not None:
            data.update(metadata_fields(metadata))
        secret_given = read_secret("client secret") if secret_stdin else None
        _, secret = clients.create_client(data, actor=ACTOR, secret=secret_given, jwks=jwks)
    except AdminError as exc:
        raise fail(exc) from None
    click.echo(f"Created client {client_id}")
    if secret and not secret_stdin:
        click.echo(f"client_secret: {secret}  (shown once)")


@client_group.command("policy")
@click.argument("client_id")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE")
@with_appcontext
def client_policy_command(client_id: str, assignments: tuple[str, ...]) -> None:
    """Show or change a client's acr policy."""
    try:
        if assignments:
            shown = client_policy.update_policy(
                client_id, assignments=list(assignments), actor=ACTOR
            )
        else:
            shown = client_policy.stored_policy(client_id)
    except NotFound as exc:
        raise fail(exc) from None
    except policy.PolicyValidationError as exc:
        raise click.ClickException(f"invalid policy: {exc}") from exc
    echo_json(shown)


@client_group.command("list")
@with_appcontext
def client_list() -> None:
    """List clients (id, type, auth method, flags)."""
    for client in clients.list_clients():
        data = clients.client_to_dict(client)
        flags = [f for f in ("first_party", "is_admin") if data[f]]
        click.echo(
            f"{data['client_id']}\t{data['client_type']}\t"
            f"{data['token_endpoint_auth_method']}\t{','.join(flags)}"
        )


@client_group.command("show")
@click.argument("client_id")
@with_appcontext
def client_show(client_id: str) -> None:
    """Print a client's registration and policy as JSON."""
    try:
        echo_json(clients.client_to_dict(clients.get_client(client_id)))
    except NotFound as exc:
        raise fail(exc) from None


@client_group.command("update")
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
    metadata = _json_option(metadata_json)
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
    try:
        if metadata is not None:
            # One change like PATCH /api/admin/clients/…: one audit row, before and after.
            changes.update(metadata_fields(metadata))
        _, secret = clients.update_client(client_id, changes, actor=ACTOR)
    except (AdminError, NotFound) as exc:
        raise fail(exc) from None
    click.echo(f"Updated client {client_id}")
    if secret:
        click.echo(f"client_secret: {secret}  (shown once)")


@client_group.command("rotate-secret")
@click.argument("client_id")
@with_appcontext
def client_rotate_secret(client_id: str) -> None:
    """Give a confidential client a new secret (printed once)."""
    try:
        secret = clients.rotate_secret(client_id, actor=ACTOR)
    except (AdminError, NotFound) as exc:
        raise fail(exc) from None
    click.echo(f"client_secret: {secret}  (shown once)")


@client_group.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@with_appcontext
def client_delete(client_id: str, yes: bool) -> None:
    """Delete a client."""
    if not yes:
        click.confirm(f"Delete client {client_id}?", abort=True)
    try:
        clients.delete_client(client_id, actor=ACTOR)
    except NotFound as exc:
        raise fail(exc) from None
    click.echo(f"Deleted client {client_id}")
