"""Liveness and readiness probes."""

from __future__ import annotations

from flask import Flask

from provider.extensions import db
from provider.storage.models import SigningKey


def test_healthz(client) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_when_ready(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "signing_key": "ok"}


def test_readyz_without_keys_is_not_ready(app: Flask, client) -> None:
    with app.app_context():
        db.session.execute(db.delete(SigningKey))
        db.session.commit()
        app.extensions["belay_keys"].invalidate()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["signing_key"].startswith("missing")


def test_readyz_when_the_database_is_down(app: Flask, client, monkeypatch) -> None:
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", down)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unreachable"


def _kill(dbapi_connection) -> None:
    """End a pooled connection behind the pool's back, as a database restart would."""
    from sqlalchemy import create_engine, text

    if db.engine.dialect.name == "postgresql":
        pid = dbapi_connection.info.backend_pid
        other = create_engine(db.engine.url, poolclass=None)
        with other.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            connection.commit()
        other.dispose()
    else:  # a SQLite connection cannot die on its own: close it underneath the pool
        dbapi_connection.close()


def test_a_pooled_connection_that_died_while_idle_is_replaced(
    app: Flask, client, monkeypatch
) -> None:
    """A connection idle for PING_IDLE_SECONDS is checked before use: a dead one is
    replaced and the request that needed it succeeds."""
    from provider.storage import engine as engine_module

    with app.app_context():
        db.engine.dispose()  # an empty pool: the next checkout makes the only connection
        with db.engine.connect() as connection:
            dead = connection.connection.dbapi_connection
        _kill(dead)
        monkeypatch.setattr(engine_module, "PING_IDLE_SECONDS", 0.0)
        assert client.get("/readyz").status_code == 200
        with db.engine.connect() as connection:
            assert connection.connection.dbapi_connection is not dead


def test_a_connection_in_steady_use_is_not_pinged(app: Flask, client, monkeypatch) -> None:
    """Only idle connections are checked: one returned a moment ago is handed out as is."""
    pings: list[object] = []
    with app.app_context():
        dialect = db.engine.dialect
        real_ping = dialect.do_ping
        monkeypatch.setattr(dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
        for _ in range(3):
            assert client.get("/readyz").status_code == 200
    assert pings == []
