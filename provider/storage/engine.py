"""The SQLAlchemy engine's settings: the driver URL, the engine options, SQLite's
pragmas and the check of pooled connections that sat idle."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

__all__ = ["PING_IDLE_SECONDS", "database_uri", "engine_options", "tune"]

#: A pooled connection idle for longer than this is checked before it is used again.
PING_IDLE_SECONDS = 10.0


def database_uri(url: str) -> str:
    """SQLAlchemy's URL for ``DATABASE_URL``: psycopg 3 is the PostgreSQL driver;
    the plain libpq-style scheme is accepted too."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_options() -> dict[str, Any]:
    """``SQLALCHEMY_ENGINE_OPTIONS``. hide_parameters: a database error's message
    never carries bound values to a log. Connections idle for a while are checked
    before use (:func:`tune`), not at every checkout."""
    return {"hide_parameters": True}


def tune(engine: Engine, *, sqlite_synchronous: str) -> None:
    """Install the pragmas (SQLite) and the idle-connection check on ``engine``."""
    _sqlite_pragmas(engine, sqlite_synchronous)
    _ping_idle_connections(engine)


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
