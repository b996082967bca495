"""Running Belay: ``belay init`` (database and keys), ``belay serve``,
``belay keys rotate`` and ``belay purge``."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade

from provider.flows.data_key import record_data_key
from provider.flows.purge import purge_all
from provider.oidc.keys import ensure_keys, rotate_keys

__all__ = ["init_command", "keys_group", "purge_command", "serve_command"]


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Create or upgrade the database and create signing keys."""
    upgrade(directory=current_app.extensions["migrate"].directory)
    record_data_key(current_app.extensions["belay_data_key"])
    created = ensure_keys(current_app.extensions["belay_data_key"])
    click.echo(f"Database ready at {current_app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}")
    click.echo(f"Signing keys created: {len(created) if created else 'none (already present)'}")


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
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="belay-metrics-")
        cmd = [
            gunicorn,
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers or 2),
            "--threads",
            str(threads or 4),
            # gunicorn's own lines (start, workers booting) follow BELAY_LOG_LEVEL
            "--log-level",
            str(current_app.config["LOG_LEVEL"]),
            "provider.wsgi:app",
        ]
        click.echo(f"Belay listening on http://{host}:{port} (gunicorn)")
        sys.stdout.flush()
        # Replace this process, so signals (Ctrl-C, SIGTERM) reach gunicorn itself.
        os.execv(gunicorn, cmd)  # noqa: S606 - our own fixed command line
    current_app.run(host=host, port=port, threaded=True, use_reloader=False)


@click.group("keys")
def keys_group() -> None:
    """Manage signing keys."""


@keys_group.command("rotate")
@click.option("--publish-delay", type=int, default=None, help="seconds before the new key signs")
@with_appcontext
def keys_rotate(publish_delay: int | None) -> None:
    """Publish new signing keys; they sign after the publish delay."""
    delay = current_app.config["KEY_PUBLISH_DELAY"] if publish_delay is None else publish_delay
    kids = rotate_keys(current_app.extensions["belay_data_key"], publish_delay=delay)
    current_app.extensions["belay_keys"].invalidate()
    click.echo(f"Published {', '.join(kids)}; they start signing in {delay} s")


@click.command("purge")
@click.option(
    "--batch", type=click.IntRange(1, 100000), default=None, help="rows per kind per round"
)
@with_appcontext
def purge_command(batch: int | None) -> None:
    """Delete expired sessions, transactions, challenges, codes and jtis (in batches)."""
    totals = purge_all(current_app.config, batch=batch or int(current_app.config["PURGE_BATCH"]))
    click.echo(json.dumps(totals, indent=2, sort_keys=True))
