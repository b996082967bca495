"""Storage: SQLAlchemy 2 models and the queries on them.

Only this package touches ``db.session``; everything above it calls functions
here. Times are integer epoch seconds (portable across SQLite and PostgreSQL).
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select

from provider.extensions import db

__all__ = ["first"]

T = TypeVar("T")


def first(statement: Select[T]) -> T | None:
    """The first row's single column, or None."""
    result: T | None = db.session.scalar(statement)
    return result
