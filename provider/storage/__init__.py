"""Storage: SQLAlchemy 2 models and the queries on them.

Only this package touches ``db.session``; everything above it calls functions
here. Times are integer epoch seconds (portable across SQLite and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Executable, Row, Select, text
from sqlalchemy.exc import SQLAlchemyError

from provider.extensions import db

__all__ = ["first", "insert_row", "ping", "read_row", "rollback", "transaction"]

T = TypeVar("T")


def first(statement: Select[T]) -> T | None:
    """The first row's single column, or None."""
    result: T | None = db.session.scalar(statement)
    return result


def read_row(statement: Executable, parameters: dict[str, Any]) -> Row[Any] | None:
    """The first row of a Core statement built once at import (issue 20): run on the
    request's connection and transaction, without the ORM's loading, identity map
    or unit of work. For reads whose rows are not changed afterwards."""
    row: Row[Any] | None = db.session.connection().execute(statement, parameters).first()
    return row


def insert_row(statement: Executable, values: dict[str, Any]) -> None:
    """Run a Core ``INSERT`` built once at import in the request's transaction, now:
    no unit of work at commit. For rows nothing reads back in the request, whose
    commit follows at once (an early write holds SQLite's write lock until then)."""
    db.session.connection().execute(statement, values)


def row_values(row: object) -> dict[str, Any]:
    """The column values set on a new (transient) model object, for :func:`insert_row`;
    what is not set takes the column's default, as in a flush."""
    return {k: v for k, v in vars(row).items() if not k.startswith("_")}


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block wrote, or roll it all back when it raises (a
    failed statement must not leave the session unusable for the request)."""
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def rollback() -> None:
    """Discard what this request wrote and has not committed (after an error:
    nothing half-done is kept, and the session is usable again)."""
    db.session.rollback()


def ping() -> bool:
    """Does the database answer a query? A failure leaves the session usable."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return False
    return True


def save(row: object) -> None:
    """Add a new row and commit it."""
    db.session.add(row)
    db.session.commit()


def commit() -> None:
    """Commit the changes made to rows read in this request."""
    db.session.commit()
