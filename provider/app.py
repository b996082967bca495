"""The application factory (Flask's ``create_app`` pattern)."""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from provider import config as config_module
from provider import observability, storage
from provider.crypto import DataKey
from provider.extensions import csrf, db, migrate
from provider.factors.hashing import SecretHasher
from provider.factors.registry import build_registry
from provider.flows.assurance import lifecycle
from provider.flows.data_key import DataKeyMismatch, check_data_key
from provider.flows.purge import purge_once
from provider.oidc.keys import KeyRing
from provider.oidc.server import create_server
from provider.storage import engine as engine_settings
from provider.storage import text_guard
from provider.web import (
    account,
    admin,
    admin_api,
    api,
    dev_outbox,
    errors,
    health,
    home,
    i18n,
    login,
    oidc,
    preferences,
    registration,
    security,
    webauthn,
)
from provider.web.json_provider import OrjsonProvider
from provider.web.session import ServerSessionInterface

__all__ = ["create_app"]

_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent


def _asset_folder(name: str) -> str:
    """Inside the wheel (``provider/_templates``) or at the repository root."""
    bundled = _PACKAGE / f"_{name}"
    return str(bundled if bundled.is_dir() else _ROOT / name)


def _translations_folder() -> Path:
    bundled = _PACKAGE / "_translations"
    return bundled if bundled.is_dir() else _ROOT / "translations"


def _migrations_folder() -> str:
    bundled = _PACKAGE / "_migrations"
    return str(bundled if bundled.is_dir() else _ROOT / "migrations")


def _check_data_key(app: Flask, data_key: DataKey, source: str, new_key_file: Path | None) -> None:
    """Refuse to start with a data key the database was not set up with
    (docs/security.md case 57). A key file made just now is removed again, so
    a command run from the wrong directory never leaves a stray key behind.
    When the database cannot be reached yet, the first request checks."""
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
        checked: list[bool] = []

        @app.before_request
        def _check_data_key_once() -> Any:
            if checked:
                return None
            try:
                check_data_key(data_key, source=source)
            except SQLAlchemyError:
                storage.rollback()
                return None  # still unreachable: /healthz stays up, the next request checks
            except DataKeyMismatch as mismatch:
                logging.getLogger(__name__).error("%s", mismatch)
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
    app.json = OrjsonProvider(app)
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
        SQLALCHEMY_DATABASE_URI=engine_settings.database_uri(settings["DATABASE_URL"]),
        SQLALCHEMY_ENGINE_OPTIONS=engine_settings.engine_options(),
        SESSION_COOKIE_SECURE=not config_module.is_local_http(settings["ISSUER"]),
        MAX_CONTENT_LENGTH=1024 * 1024,
        WTF_CSRF_SSL_STRICT=False,
        WTF_CSRF_HEADERS=["X-CSRFToken", "X-CSRF-Token"],
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k.isupper()})

    if app.config["TRUSTED_PROXIES"]:
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    db.init_app(app)
    # No statement stores NUL or a lone surrogate (docs/security.md case 53).
    text_guard.install()
    with app.app_context():
        engine_settings.tune(db.engine, sqlite_synchronous=app.config["SQLITE_SYNCHRONOUS"])
    migrate.init_app(app, db, directory=_migrations_folder())
    csrf.init_app(app)
    i18n.init_app(app, _translations_folder())
    app.session_interface = ServerSessionInterface()

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
        max_wait_ms=int(app.config["ARGON2_MAX_WAIT_MS"]),
        slot_dir=os.path.join(app.instance_path, "argon2-slots"),
        nice=int(app.config["ARGON2_NICE"]),
    )
    # Every factor, built once from the configuration (flows look them up here).
    app.extensions["belay_factors"] = build_registry(
        app.config, app.extensions["belay_hasher"], data_key
    )
    server = create_server(app)
    app.extensions["belay_server"] = server

    app.register_blueprint(home.bp)
    app.register_blueprint(oidc.bp)
    app.register_blueprint(login.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(preferences.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(webauthn.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(admin_api.bp)
    app.register_blueprint(registration.bp)
    app.register_blueprint(dev_outbox.bp)
    # Bearer-token APIs: no cookie, so no CSRF (docs/admin.md).
    csrf.exempt(admin_api.bp)
    csrf.exempt(registration.bp)
    # Protocol endpoints are called by relying parties, not by our own forms.
    for view in (oidc.token, oidc.introspect, oidc.revoke, oidc.userinfo, oidc.authorize):
        csrf.exempt(view)
    security.init_app(app)
    errors.init_app(app)
    observability.init_app(app)
    _note_locks(app)
    _purge_now_and_then(app)
    return app


def _note_locks(app: Flask) -> None:
    """As a request ends, the ``factor_locked`` audit row of each lock its failed
    attempts caused (provider/flows/assurance/lifecycle.py ``note_pending_locks``)."""

    @app.after_request
    def _note(response: Response) -> Response:
        try:
            lifecycle.note_pending_locks(ip=request.remote_addr)
        except SQLAlchemyError as exc:
            storage.rollback()
            logging.getLogger(__name__).warning(
                "could not audit a factor lock: %s", type(exc).__name__
            )
        return response


def _purge_now_and_then(app: Flask) -> None:
    """Every PURGE_EVERY_REQUESTS requests, as that request ends, delete one batch of
    expired rows (docs/security.md case 55); ``belay purge`` does it on demand."""
    counter = itertools.count(1)

    @app.teardown_request
    def _purge(_exc: BaseException | None) -> None:
        every = int(app.config["PURGE_EVERY_REQUESTS"])
        if not every or next(counter) % every:
            return
        try:
            storage.rollback()
            deleted = purge_once(app.config, batch=int(app.config["PURGE_BATCH"]))
        except SQLAlchemyError as exc:
            storage.rollback()
            logging.getLogger(__name__).warning("purge failed: %s", type(exc).__name__)
            return
        if any(deleted.values()):
            logging.getLogger(__name__).info(
                "purged expired rows", extra={"belay": {"purged": deleted}}
            )
