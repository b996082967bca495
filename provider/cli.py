"""The ``belay`` command line: the admin's and the scripts' interface.

Also available as ``flask --app provider.app …``. Secrets are read from
standard input (``--password-stdin``, ``--secret-stdin``), never from argv.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from provider import clock
from provider.crypto import sha256_hex
from provider.oidc.clients import AUTH_METHODS, redirect_uri_problem

__all__ = ["main", "register"]


def _read_secret(label: str) -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise click.UsageError(f"expected the {label} on standard input")
    return value


def _upgrade_database() -> None:
    from flask_migrate import upgrade

    upgrade(directory=current_app.extensions["migrate"].directory)


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database and create signing keys."""
    from provider.oidc.keys import ensure_keys

    _upgrade_database()
    created = ensure_keys(current_app.extensions["belay_data_key"])
    click.echo(f"Database ready at {current_app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    click.echo(
        f"Signing keys created: {', '.join(created) if created else 'none (already present)'}"
    )


@click.command("serve")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--workers", type=int, default=None, help="gunicorn worker processes")
@click.option("--threads", type=int, default=None, help="threads per gunicorn worker")
@with_appcontext
def serve_command(
    host: str | None, port: int | None, workers: int | None, threads: int | None
) -> None:
    """Serve the provider (gunicorn when installed, else Flask's server)."""
    host = host or current_app.config["HOST"]
    port = port or int(current_app.config["PORT"])
    gunicorn = shutil.which(
        "gunicorn", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    )
    if gunicorn:
        cmd = [
            gunicorn,
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers or 2),
            "--threads",
            str(threads or 4),
            "--access-logfile",
            "-",
            "provider.wsgi:app",
        ]
        click.echo(f"Belay listening on http://{host}:{port} (gunicorn)")
        raise SystemExit(subprocess.call(cmd))  # noqa: S603 - our own fixed command line
    current_app.run(host=host, port=port, threaded=True, use_reloader=False)


@click.group("user")
def user_group() -> None:
    """Manage users."""


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
    """Create a user."""
    from provider.flows.login import hasher
    from provider.storage import accounts
    from provider.storage.models import User

    if accounts.user_by_name(username):
        raise click.ClickException(f"user {username!r} already exists")
    if not 1 <= len(username) <= 150 or any(c.isspace() for c in username):
        raise click.ClickException("a username is 1-150 characters without spaces")
    password = _read_secret("password") if password_stdin else None
    if password is not None and len(password) < 8:
        raise click.ClickException("a password has at least 8 characters")
    user = User(
        username=username,
        password_hash=hasher().hash(password) if password else None,
        is_admin=admin,
        email=email,
        name=name,
        created_at=clock.now(),
    )
    accounts.add(user)
    click.echo(f"Created user {username} (id {user.id}){' as admin' if admin else ''}")


@user_group.command("unlock")
@click.argument("username")
@click.option("--factor", default=None, help="only this factor (default: all)")
@with_appcontext
def user_unlock(username: str, factor: str | None) -> None:
    """Clear failure counters and locks."""
    from provider.storage import accounts, audit, throttle

    user = accounts.user_by_name(username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    count = throttle.unlock(user.id, factor)
    audit.record("unlock", "success", user_id=user.id, reason=f"cli unlock {factor or 'all'}")
    click.echo(f"Unlocked {username} ({count} counter(s) cleared)")


def create_client(
    client_id: str,
    *,
    redirect_uris: list[str],
    public: bool,
    secret: str | None,
    name: str | None = None,
    auth_method: str | None = None,
    first_party: bool = False,
    token_format: str = "jwt",
    post_logout_redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
    scope: str = "openid profile email offline_access",
    policy: dict[str, Any] | None = None,
    jwks: dict[str, Any] | None = None,
) -> str | None:
    """Register a client; returns the (generated) secret for confidential clients."""
    from provider.storage import accounts
    from provider.storage.models import Client

    if accounts.get_client(client_id):
        raise click.ClickException(f"client {client_id!r} already exists")
    for uri in redirect_uris + (post_logout_redirect_uris or []):
        problem = redirect_uri_problem(uri)
        if problem:
            raise click.ClickException(f"{uri}: {problem}")
    method = auth_method or (
        "none" if public else ("private_key_jwt" if jwks else "client_secret_basic")
    )
    if (
        method not in AUTH_METHODS
        or (public and method != "none")
        or (not public and method == "none")
    ):
        raise click.ClickException(
            f"auth method {method!r} does not fit a {'public' if public else 'confidential'} client"
        )
    if not public and method != "private_key_jwt" and secret is None:
        secret = secrets.token_urlsafe(32)
    if method == "private_key_jwt" and not jwks:
        raise click.ClickException("private_key_jwt needs --jwks")
    if token_format not in {"jwt", "opaque"}:
        raise click.ClickException("token format is jwt or opaque")
    if policy:
        from provider import policy as policy_module
        from provider.storage.ladder import current_ladder

        try:
            policy = policy_module.client_policy_to_dict(
                policy_module.client_policy_from_dict(policy, current_ladder())
            )
        except policy_module.PolicyValidationError as exc:
            raise click.ClickException(f"invalid policy: {exc}") from exc
    grants = grant_types or (
        ["authorization_code", "refresh_token"]
        if public
        else ["authorization_code", "refresh_token", "client_credentials"]
    )
    accounts.add(
        Client(
            client_id=client_id,
            client_secret_hash=sha256_hex(secret) if secret and not public else None,
            name=name or client_id,
            is_public=public,
            token_endpoint_auth_method=method,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris or [],
            grant_types=grants,
            scope=scope,
            first_party=first_party,
            access_token_format=token_format,
            jwks=jwks,
            policy=policy or {},
            created_at=clock.now(),
        )
    )
    return secret if not public else None


@click.group("client")
def client_group() -> None:
    """Manage relying parties."""


@client_group.command("create")
@click.argument("client_id")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout", multiple=True)
@click.option("--public", is_flag=True, help="a public client (PKCE, no secret)")
@click.option("--secret-stdin", is_flag=True, help="read the client secret from standard input")
@click.option("--name", default=None)
@click.option("--auth-method", type=click.Choice(AUTH_METHODS), default=None)
@click.option("--first-party", is_flag=True, help="skip the consent page")
@click.option("--token-format", type=click.Choice(["jwt", "opaque"]), default="jwt")
@click.option("--jwks", "jwks_json", default=None, help="public JWK Set (JSON) for private_key_jwt")
@click.option("--policy", "policy_json", default=None, help="client acr policy as JSON")
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
) -> None:
    """Register a client (prints a generated secret once)."""
    try:
        policy = json.loads(policy_json) if policy_json else None
        jwks = json.loads(jwks_json) if jwks_json else None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"not valid JSON: {exc}") from exc
    secret = create_client(
        client_id,
        redirect_uris=list(redirect_uris),
        public=public,
        secret=_read_secret("client secret") if secret_stdin else None,
        name=name,
        auth_method=auth_method,
        first_party=first_party,
        token_format=token_format,
        post_logout_redirect_uris=list(post_logout),
        policy=policy,
        jwks=jwks,
    )
    click.echo(f"Created client {client_id}")
    if secret and not secret_stdin:
        click.echo(f"client_secret: {secret}  (shown once)")


@client_group.command("policy")
@click.argument("client_id")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE")
@with_appcontext
def client_policy(client_id: str, assignments: tuple[str, ...]) -> None:
    """Show or change a client's acr policy."""
    from provider import policy as policy_module
    from provider.storage import accounts, audit
    from provider.storage.ladder import current_ladder

    client = accounts.get_client(client_id)
    if client is None:
        raise click.ClickException(f"no client {client_id!r}")
    before = dict(client.policy or {})
    if assignments:
        try:
            ladder = current_ladder()
            updated = policy_module.client_policy_from_assignments(
                list(assignments),
                ladder,
                base=policy_module.client_policy_from_dict(before, ladder),
            )
        except policy_module.PolicyValidationError as exc:
            raise click.ClickException(f"invalid policy: {exc}") from exc
        client.policy = policy_module.client_policy_to_dict(updated)
        accounts.commit()
        audit.record(
            "client_policy_changed",
            "success",
            client_id=client_id,
            details={"before": before, "after": client.policy, "by": "cli"},
        )
    click.echo(json.dumps(client.policy or {}, indent=2, sort_keys=True))


@click.group("keys")
def keys_group() -> None:
    """Manage signing keys."""


@keys_group.command("rotate")
@click.option("--publish-delay", type=int, default=None, help="seconds before the new key signs")
@with_appcontext
def keys_rotate(publish_delay: int | None) -> None:
    """Publish new signing keys; they sign after the publish delay."""
    from provider.oidc.keys import rotate_keys

    delay = current_app.config["KEY_PUBLISH_DELAY"] if publish_delay is None else publish_delay
    kids = rotate_keys(current_app.extensions["belay_data_key"], publish_delay=delay)
    current_app.extensions["belay_keys"].invalidate()
    click.echo(f"Published {', '.join(kids)}; they start signing in {delay} s")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed a demo admin, user and clients, and print how to use them."""
    from provider.cli_demo import seed_demo

    seed_demo()


def register(app: Flask) -> None:
    for command in (
        init_command,
        serve_command,
        user_group,
        client_group,
        keys_group,
        demo_command,
    ):
        app.cli.add_command(command)


def main() -> None:
    from provider.app import create_app

    cli = FlaskGroup(
        create_app=lambda: create_app(), add_default_commands=False, add_version_option=False
    )
    cli(prog_name="belay")


if __name__ == "__main__":
    main()
