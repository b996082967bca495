"""The acr ladder, stored in the database as one validated document.

Seeded by a migration; editable by admins. :func:`current_ladder` is the one place
that reads it: each process caches it for ``_TTL`` seconds, so an edit made by
another process shows within that time.
"""

from __future__ import annotations

import time
from typing import Any, Final

from provider import policy
from provider.extensions import db
from provider.storage.models import Setting

__all__ = ["current_ladder", "invalidate", "save_ladder"]

_KEY: Final = "ladder"
_cache: tuple[float, policy.Ladder] | None = None
_TTL: Final = 5.0


def invalidate() -> None:
    """Drop this process's cached ladder (after a save, and between tests)."""
    global _cache
    _cache = None


def current_ladder() -> policy.Ladder:
    """The ladder in force: the stored one, or the default ladder when none is stored.

    Cached per process for ``_TTL`` seconds; needs an application context.
    """
    global _cache
    if _cache is not None and time.monotonic() - _cache[0] < _TTL:
        return _cache[1]
    row = db.session.get(Setting, _KEY)
    ladder = policy.ladder_from_data(row.value) if row is not None else policy.default_ladder()
    _cache = (time.monotonic(), ladder)
    return ladder


def save_ladder(data: Any) -> policy.Ladder:
    """Validate and store a new ladder (raises ``policy.LadderError``)."""
    ladder = policy.ladder_from_data(data)
    row = db.session.get(Setting, _KEY)
    if row is None:
        db.session.add(Setting(key=_KEY, value=policy.ladder_to_data(ladder)))
    else:
        row.value = policy.ladder_to_data(ladder)
    db.session.commit()
    invalidate()
    return ladder
