"""The schema comes only from Alembic: the models and the migrations must agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from provider.extensions import db


def test_models_match_migrations(app: Flask) -> None:
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_ladder_is_seeded_by_a_migration(app: Flask) -> None:
    from provider.storage.models import Setting

    with app.app_context():
        row = db.session.get(Setting, "ladder")
        assert row is not None
        acrs = [level["acr"] for level in row.value["levels"]]
        assert acrs == [
            "urn:belay:acr:1fa",
            "urn:belay:acr:2fa",
            "urn:belay:acr:phr",
            "urn:belay:acr:phrh",
        ]
