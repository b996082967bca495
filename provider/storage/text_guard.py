"""The last guard before the database: no statement carries a string with NUL
or a lone surrogate (docs/security.md case 53).

PostgreSQL refuses NUL in text (the driver raised ``DataError``, answered as a
503) and UTF-8 cannot encode a lone surrogate (a ``UnicodeEncodeError``, a
500); SQLite stored both. Views and flows refuse such input where they read it
(provider/web/json_body.py for JSON bodies, ``/authorize`` for its parameters,
the storage lookups that answer "not found"); whatever slips past them stops
here, with :class:`provider.errors.UnstorableText`, which the error handlers answer with a 400
— the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from provider.errors import UnstorableText

__all__ = ["install"]

_BAD = re.compile("[\x00\ud800-\udfff]")


def _check(parameters: Any) -> None:
    if isinstance(parameters, Mapping):
        values: Any = parameters.values()
    elif isinstance(parameters, list | tuple):
        values = parameters
    else:
        return
    for value in values:
        if isinstance(value, str):
            if _BAD.search(value):
                raise UnstorableText()
        elif isinstance(value, Mapping | list | tuple):
            _check(value)  # executemany: a list of parameter sets


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    _check(parameters)


def install() -> None:
    """Check every statement of every engine (idempotent)."""
    if not event.contains(Engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
