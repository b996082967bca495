"""The application factory (Flask's ``create_app`` pattern)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from provider import config as config_module
from provider.crypto import DataKey
from provider.extensions import csrf, db, migrate
from provider.storage import text_guard

__all__ = ["create_app"]

_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent


def _asset_folder(name: str) -> str:
    """Inside the wheel (``provider/_templates``) or at the repository root."""
    bundled = _PACKAGE / f"_{name}"
    return str(bundled if bundled.is_dir() else _ROOT / name)


def _migrations_folder() -> str:
    bundled = _PACKAGE / "_migrations"
    return str(bundled if bundled.is_dir() else _ROOT / "migrations")


def _database_uri(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver; accept the plain libpq-style scheme too.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _is_local_http(issuer: str) -> bool:
    parts = urlsplit(issuer)
    return parts.scheme == "http" and (parts.hostname or "") in {"localhost", "127.0.0.1", "::1"}


def _sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    """WAL + a busy timeout let several threads/processes share one SQLite file."""
    if engine.dialect.name != "sqlite":
        return
    assert synchronous in {"normal", "full"}  # config.validate

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


#: A pooled connection idle for longer than this is checked before it is used again.
PING_IDLE_SECONDS = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    """A connection may die while it sits in the pool (a database restart, an idle
    timeout in a proxy or firewall): check one that has been idle a while before
    handing it out, and replace it if it is gone.

    SQLAlchemy's ``pool_pre_ping`` checks every checkout: a round trip and ≈ 20% of
    the server CPU of a sign-in flow on PostgreSQL (bench/analysis.md), although a
    connection used a moment ago is alive. This is SQLAlchemy's own recipe for
    pessimistic disconnect handling with pool events, with the dialect's ping.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["belay_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("belay_idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # the ping may have opened a transaction
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool drops this connection and checks out another (a new one if need be).
            raise DisconnectionError("the pooled connection is gone") from exc


def _check_data_key(app: Flask, data_key: DataKey, source: str, new_key_file: Path | None) -> None:
    """Refuse to start with a data key the database was not set up with
    (docs/security.md case 57). A key file made just now is removed again, so
    a command run from the wrong directory never leaves a stray key behind.
    When the database cannot be reached yet, the first request checks."""
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    from provider.flows.data_key import DataKeyMismatch, check_data_key

    try:
        with app.app_context():
            check_data_key(data_key, source=source)
    except DataKeyMismatch:
        if new_key_file is not None:
            new_key_file.unlink(missing_ok=True)
        raise
    except SQLAlchemyError as exc:
        logging.getLogger(__name__).warning(
            "cannot check the data key against the database yet (%s); the first request will",
            type(exc).__name__,
        )
        with app.app_context():
            db.session.remove()
        checked: list[bool] = []

        @app.before_request
        def _check_data_key_once() -> Any:
            if checked:
                return None
            try:
                check_data_key(data_key, source=source)
            except SQLAlchemyError:
                db.session.rollback()
                return None  # still unreachable: /healthz stays up, the next request checks
            except DataKeyMismatch as mismatch:
                logging.getLogger(__name__).error("%s", mismatch)
                from flask import Response

                return Response(
                    "The server's data key does not match its database (see the log).\n",
                    status=503,
                    mimetype="text/plain",
                )
            checked.append(True)
            return None


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    instance_path = os.environ.get("BELAY_INSTANCE_PATH") or str(Path.cwd() / "instance")
    app = Flask(
        __name__,
        instance_path=instance_path,
        template_folder=_asset_folder("templates"),
        static_folder=_asset_folder("static"),
    )
    settings = config_module.load_config()
    if test_config:
        settings.update(test_config)
        config_module.validate(settings)
    key_file = Path(app.instance_path) / "data_key"
    key_source = "BELAY_DATA_KEY" if settings.get("DATA_KEY") else f"the key file {key_file}"
    key_file_existed = key_file.exists()
    config_module.ensure_instance_secrets(settings, app.instance_path)
    app.config.update(settings)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=_database_uri(settings["DATABASE_URL"]),
        # hide_parameters: a database error's message never carries bound values to a log.
        # Connections idle for a while are checked before use (_ping_idle_connections).
        SQLALCHEMY_ENGINE_OPTIONS={"hide_parameters": True},
        SESSION_COOKIE_SECURE=not _is_local_http(settings["ISSUER"]),
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_SSL_STRICT=False,
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k.isupper()})

    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    # No statement stores NUL or a lone surrogate (docs/security.md case 53).
    text_guard.install()
    with app.app_context():
        _sqlite_pragmas(db.engine, app.config["SQLITE_SYNCHRONOUS"])
        _ping_idle_connections(db.engine)
    migrate.init_app(app, db, directory=_migrations_folder())
    csrf.init_app(app)

    from provider.web.session import ServerSessionInterface

    app.session_interface = ServerSessionInterface()

    from provider.factors.hashing import SecretHasher
    from provider.oidc.keys import KeyRing
    from provider.oidc.server import create_server
    from provider.storage import ladder as ladder_store

    data_key = DataKey(app.config["DATA_KEY"])
    app.extensions["belay_data_key"] = data_key
    _check_data_key(app, data_key, key_source, new_key_file=None if key_file_existed else key_file)
    app.extensions["belay_keys"] = KeyRing(
        data_key,
        max_token_ttl=max(app.config["ACCESS_TOKEN_TTL"], app.config["ID_TOKEN_TTL"]),
        cache_ttl=float(app.config["KEY_CACHE_TTL"]),
    )
    app.extensions["belay_hasher"] = SecretHasher(
        time_cost=app.config["ARGON2_TIME_COST"],
        memory_cost=app.config["ARGON2_MEMORY_COST"],
        parallelism=app.config["ARGON2_PARALLELISM"],
        max_concurrent=int(app.config["ARGON2_MAX_CONCURRENT"]) or None,
        max_waiting=int(app.config["ARGON2_MAX_WAITING"]),
        slot_dir=os.path.join(app.instance_path, "argon2-slots"),
        nice=int(app.config["ARGON2_NICE"]),
    )
    app.extensions["belay_ladder"] = ladder_store.current_ladder

    from provider.factors.registry import build_registry

    # Every factor, built once from the configuration (flows look them up here).
    app.extensions["belay_factors"] = build_registry(
        app.config, app.extensions["belay_hasher"], data_key
    )
    server = create_server(app)
    app.extensions["belay_server"] = server

    from provider.web import (
        account,
        admin,
        admin_api,
        api,
        errors,
        health,
        login,
        oidc,
        registration,
        security,
        webauthn,
    )

    app.register_blueprint(oidc.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(webauthn.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(registration.bp)
    # Bearer-token APIs: no cookie, so no CSRF (docs/admin.md).
    csrf.exempt(admin_api.bp)
    csrf.exempt(registration.bp)
    # Protocol endpoints are called by relying parties, not by our own forms.
    for view in (oidc.token, oidc.introspect, oidc.revoke, oidc.userinfo, oidc.authorize):
        csrf.exempt(view)
    security.init_app(app)
    errors.init_app(app)
    from provider import observability

    observability.init_app(app)

    @app.template_filter("datetime")
    def format_datetime(epoch: int | None) -> str:
        from datetime import UTC, datetime

        if not epoch:
            return ""
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")

    @app.get("/")
    def home() -> Any:
        from flask import redirect, url_for

        return redirect(url_for("account.index"))

    _note_locks(app)
    _purge_now_and_then(app)

    from provider.cli import register

    register(app)
    return app


def _note_locks(app: Flask) -> None:
    """As a request ends, the ``factor_locked`` audit row of each lock its failed
    attempts caused (provider/flows/assurance/lifecycle.py ``note_pending_locks``)."""
    import logging

    from flask import Response, request
    from sqlalchemy.exc import SQLAlchemyError

    from provider.flows.assurance import lifecycle

    @app.after_request
    def _note(response: Response) -> Response:
        try:
            lifecycle.note_pending_locks(ip=request.remote_addr)
        except SQLAlchemyError as exc:
            db.session.rollback()
            logging.getLogger(__name__).warning(
                "could not audit a factor lock: %s", type(exc).__name__
            )
        return response


def _purge_now_and_then(app: Flask) -> None:
    """Every PURGE_EVERY_REQUESTS requests, as that request ends, delete one batch of
    expired rows (docs/security.md case 55); ``belay purge`` does it on demand."""
    import itertools
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    from provider.flows.purge import purge_once

    counter = itertools.count(1)

    @app.teardown_request
    def _purge(_exc: BaseException | None) -> None:
        every = int(app.config["PURGE_EVERY_REQUESTS"])
        if not every or next(counter) % every:
            return
        try:
            db.session.rollback()
            deleted = purge_once(app.config, batch=int(app.config["PURGE_BATCH"]))
        except SQLAlchemyError as exc:
            db.session.rollback()
            logging.getLogger(__name__).warning("purge failed: %s", type(exc).__name__)
            return
        if any(deleted.values()):
            logging.getLogger(__name__).info(
                "purged expired rows", extra={"belay": {"purged": deleted}}
            )
