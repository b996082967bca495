"""The acr ladder, stored in the database as one validated document.

Seeded by a migration; editable by admins. Each process caches it briefly.
"""

from __future__ import annotations

import time
from typing import Any

from provider import policy
from provider.extensions import db
from provider.storage.models import Setting

__all__ = ["current_ladder", "invalidate", "save_ladder"]

_KEY = "ladder"
_cache: tuple[float, policy.Ladder] | None = None
_TTL = 5.0


def invalidate() -> None:
    global _cache
    _cache = None


def current_ladder() -> policy.Ladder:
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
