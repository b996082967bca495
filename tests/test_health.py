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
