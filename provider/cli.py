"""The ``belay`` command line: the admin's and the scripts' interface.

Also available as ``flask --app provider.app …``. Secrets are read from
standard input (``--password-stdin``, ``--secret-stdin``), never from argv.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any, Literal

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from provider import clock
from provider.flows.clients import GRANT_TYPES, ClientRegistrationError, register_client
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS

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
    from provider.flows.data_key import record_data_key
    from provider.oidc.keys import ensure_keys

    _upgrade_database()
    record_data_key(current_app.extensions["belay_data_key"])
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
        # Belay logs every request itself (request id, path without the query
        # string: a query can carry codes), so gunicorn's access log stays off.
        if not current_app.config["LOG_FORMAT"]:
            os.environ["BELAY_LOG_FORMAT"] = "json"
        # Prometheus multiprocess mode: every worker writes its samples into one
        # fresh directory and /metrics adds them up (docs/operations.md).
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            import tempfile

            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="belay-metrics-")
        cmd = [
            gunicorn,
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers or 2),
            "--threads",
            str(threads or 4),
            "provider.wsgi:app",
        ]
        click.echo(f"Belay listening on http://{host}:{port} (gunicorn)")
        sys.stdout.flush()
        # Replace this process, so signals (Ctrl-C, SIGTERM) reach gunicorn itself.
        os.execv(gunicorn, cmd)  # noqa: S606 - our own fixed command line
    current_app.run(host=host, port=port, threaded=True, use_reloader=False)


@click.group("user")
def user_group() -> None:
    """Manage users."""


def _cli_user(username: str) -> Any:
    """The user named ``username``; a clear error (exit status 1) otherwise."""
    from provider.storage import accounts

    user = accounts.user_by_name(username) if 0 < len(username) <= 150 else None
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


def _cli_actor() -> Any:
    from provider.flows.assurance import lifecycle

    return lifecycle.by_admin("cli")


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
    from provider.flows import admin as admin_flow
    from provider.storage import accounts

    if accounts.user_by_name(username):
        raise click.ClickException(f"user {username!r} already exists")
    password = _read_secret("password") if password_stdin else None
    try:
        user = admin_flow.create_user(
            username, password=password, is_admin=admin, email=email, name=name, actor="cli"
        )
    except admin_flow.AdminError as exc:
        raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
    click.echo(f"Created user {username} (id {user.id}){' as admin' if admin else ''}")


@user_group.command("set-password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, required=True, help="read the password from standard input"
)
@with_appcontext
def user_set_password(username: str, password_stdin: bool) -> None:
    """Set a user's password (and clear the password's failure counter)."""
    from provider.flows.assurance import lifecycle

    user = _cli_user(username)
    password = _read_secret("password")
    try:
        lifecycle.set_password(user, password, actor=_cli_actor())
    except lifecycle.Rejected as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Password set for {user.username}")


@user_group.command("set-pin")
@click.argument("username")
@click.option("--pin-stdin", is_flag=True, required=True, help="read the PIN from standard input")
@with_appcontext
def user_set_pin(username: str, pin_stdin: bool) -> None:
    """Set a user's PIN (checked against the PIN policy; clears the PIN's lock)."""
    from provider.flows.assurance import lifecycle

    user = _cli_user(username)
    pin = _read_secret("PIN")
    try:
        lifecycle.set_pin(user, pin, pin, actor=_cli_actor())
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
    from provider.flows.assurance import lifecycle

    if secret is not None and secret_stdin:
        raise click.UsageError("use --secret or --secret-stdin, not both")
    user = _cli_user(username)
    if secret_stdin:
        secret = _read_secret("TOTP secret")
    try:
        enrolment = lifecycle.import_totp(user, secret, actor=_cli_actor())
    except lifecycle.Rejected as exc:
        raise click.ClickException(exc.message) from None
    click.echo(enrolment.uri)


def _set_destination(username: str, kind: Literal["email", "phone"], value: str) -> None:
    from provider.flows.assurance import lifecycle

    user = _cli_user(username)
    try:
        cleaned = lifecycle.set_destination(user, kind, value, actor=_cli_actor())
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
    help="only this factor: password, pin, totp, backup_code, email_otp, sms_otp or passkey "
    "(default: all)",
)
@with_appcontext
def user_unlock(username: str, factor: str | None) -> None:
    """Clear failure counters and locks."""
    from provider.flows.assurance import lifecycle

    user = _cli_user(username)
    try:
        count = lifecycle.unlock(user, factor, actor=_cli_actor())
    except lifecycle.Rejected as exc:
        raise click.ClickException(f"--factor {exc.message}") from None
    click.echo(f"Unlocked {user.username} ({count} counter(s) cleared)")


@click.group("client")
def client_group() -> None:
    """Manage relying parties."""


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
    """Register a client (prints a generated secret once)."""
    try:
        policy = json.loads(policy_json) if policy_json else None
        jwks = json.loads(jwks_json) if jwks_json else None
        metadata = json.loads(metadata_json) if metadata_json is not None else None
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"not valid JSON: {exc}") from exc
    try:
        secret = register_client(
            client_id,
            redirect_uris=list(redirect_uris),
            public=public,
            secret=_read_secret("client secret") if secret_stdin else None,
            name=name,
            auth_method=auth_method,
            first_party=first_party,
            token_format=token_format,
            post_logout_redirect_uris=list(post_logout),
            grant_types=list(grant_types) or None,
            client_policy=policy,
            jwks=jwks,
            id_token_alg=id_token_alg,
            metadata=metadata,
        )
    except ClientRegistrationError as exc:
        raise click.ClickException(str(exc)) from exc
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


@click.group("ladder")
def ladder_group() -> None:
    """Show or replace the acr ladder."""


@ladder_group.command("show")
@with_appcontext
def ladder_show() -> None:
    """Print the ladder as JSON (the format ``ladder set`` reads)."""
    from provider import policy as policy_module
    from provider.storage.ladder import current_ladder

    click.echo(json.dumps(policy_module.ladder_to_data(current_ladder()), indent=2))


@ladder_group.command("set")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def ladder_set(path: str) -> None:
    """Validate and store a ladder from a JSON file."""
    from provider import policy as policy_module
    from provider.storage import audit
    from provider.storage.ladder import current_ladder, save_ladder

    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    before = policy_module.ladder_to_data(current_ladder())
    try:
        ladder = save_ladder(data)
    except policy_module.LadderError as exc:
        raise click.ClickException("invalid ladder:\n  " + "\n  ".join(exc.errors)) from exc
    audit.record(
        "ladder_changed",
        "success",
        details={"before": before, "after": policy_module.ladder_to_data(ladder), "by": "cli"},
    )
    click.echo(f"Ladder saved: {', '.join(ladder.acr_values)}")


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


@click.group("passkeys")
def passkeys_group() -> None:
    """Passkey attestation roots and registered passkeys (docs/passkeys.md)."""


_ATTESTATION_FORMATS = ("packed", "tpm", "android-key", "android-safetynet", "fido-u2f", "apple")


@passkeys_group.command("add-root")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(_ATTESTATION_FORMATS),
    help="attestation formats this root anchors (repeatable; default: all)",
)
@with_appcontext
def passkeys_add_root(path: str, formats: tuple[str, ...]) -> None:
    """Trust the attestation root certificate(s) in a PEM file."""
    from provider.factors.passkey import load_pem_roots
    from provider.storage import audit
    from provider.storage import passkeys as store

    try:
        with open(path, "rb") as fh:
            roots = load_pem_roots(fh.read())
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    for fingerprint, subject, pem in roots:
        added = store.add_root(
            fingerprint=fingerprint,
            subject=subject,
            pem=pem.decode(),
            formats=formats,
            now=clock.now(),
        )
        if added:
            audit.record(
                "attestation_root_added",
                "success",
                details={"fingerprint": fingerprint, "subject": subject, "by": "cli"},
            )
        click.echo(f"{'Added' if added else 'Already trusted'}: {subject} (SHA-256 {fingerprint})")


@passkeys_group.command("roots")
@with_appcontext
def passkeys_roots() -> None:
    """List the attestation roots stored in the database."""
    from provider.storage import passkeys as store

    for root in store.list_roots():
        formats = ",".join(root.formats) or "all formats"
        click.echo(f"{root.fingerprint}  {root.subject}  [{formats}]")


@passkeys_group.command("list")
@click.argument("username")
@with_appcontext
def passkeys_list(username: str) -> None:
    """List a user's passkeys."""
    from provider.storage import accounts
    from provider.storage import passkeys as store

    user = accounts.user_by_name(username)
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    for row in store.list_for_user(user.id):
        kind = "synced" if row.backup_eligible else "device-bound"
        attested = "attested" if row.attested else "unattested"
        click.echo(
            f"{row.id}\t{row.name}\t{kind}\tAAGUID {row.aaguid} ({attested})\t"
            f"sign count {row.sign_count}"
        )


@click.command("purge")
@click.option(
    "--batch", type=click.IntRange(1, 100000), default=None, help="rows per kind per round"
)
@with_appcontext
def purge_command(batch: int | None) -> None:
    """Delete expired sessions, transactions, challenges, codes and jtis (in batches)."""
    from provider.flows.purge import purge_all

    totals = purge_all(current_app.config, batch=batch or int(current_app.config["PURGE_BATCH"]))
    click.echo(json.dumps(totals, indent=2, sort_keys=True))


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
        ladder_group,
        keys_group,
        passkeys_group,
        purge_command,
        demo_command,
    ):
        app.cli.add_command(command)
    from provider.cli_admin import attach

    attach(app, user_group, client_group)


def main() -> None:
    from provider.app import create_app
    from provider.flows.data_key import DataKeyMismatch

    def make_app() -> Flask:
        try:
            return create_app()
        except DataKeyMismatch as exc:
            # A clear message and exit status 1, not a traceback (docs/security.md case 57).
            raise click.ClickException(str(exc)) from None

    cli = FlaskGroup(create_app=make_app, add_default_commands=False, add_version_option=False)
    cli(prog_name="belay")


if __name__ == "__main__":
    main()
