"""``belay passkeys …``: attestation roots and a user's registered passkeys
(docs/passkeys.md)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from provider.cli.common import ACTOR, user_named
from provider.flows.admin import attestation

__all__ = ["passkeys_group"]

_ATTESTATION_FORMATS = ("packed", "tpm", "android-key", "android-safetynet", "fido-u2f", "apple")


@click.group("passkeys")
def passkeys_group() -> None:
    """Passkey attestation roots and registered passkeys (docs/passkeys.md)."""


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
    try:
        with open(path, "rb") as fh:
            trusted = attestation.trust_roots(fh.read(), formats, actor=ACTOR)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read {path}: {exc}") from exc
    for root in trusted:
        click.echo(
            f"{'Added' if root.added else 'Already trusted'}: {root.subject} "
            f"(SHA-256 {root.fingerprint})"
        )


@passkeys_group.command("roots")
@with_appcontext
def passkeys_roots() -> None:
    """List the attestation roots stored in the database."""
    for root in attestation.attestation_roots():
        formats = ",".join(root.formats) or "all formats"
        click.echo(f"{root.fingerprint}  {root.subject}  [{formats}]")


@passkeys_group.command("list")
@click.argument("username")
@with_appcontext
def passkeys_list(username: str) -> None:
    """List a user's passkeys."""
    for row in attestation.user_passkeys(user_named(username)):
        kind = "synced" if row.backup_eligible else "device-bound"
        attested = "attested" if row.attested else "unattested"
        click.echo(
            f"{row.id}\t{row.name}\t{kind}\tAAGUID {row.aaguid} ({attested})\t"
            f"sign count {row.sign_count}"
        )
