"""The default ladder: 1fa < 2fa < phr < phrh (docs/design.md, "The ladder").

Kept as Python data, not a data file, so the policy package stays free of I/O.
Migration 0002 seeds a frozen copy of it into the database.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from provider.policy.ladder.data import LADDER_DATA_VERSION, ladder_from_data
from provider.policy.ladder.ladder import Ladder

__all__ = ["DEFAULT_LADDER_DATA", "default_ladder", "default_ladder_data"]

#: The default ladder as data; the storage layer seeds it. Treat it as read-only
#: (``default_ladder_data()`` returns a copy to edit).
DEFAULT_LADDER_DATA: Final[dict[str, Any]] = {
    "version": LADDER_DATA_VERSION,
    "levels": [
        {
            "acr": "urn:belay:acr:1fa",
            "level": 1,
            "description": "One authentication factor: any single event.",
            # No level lifetime: the session's own bounds apply.
            "lifetime": None,
            "rule": [[{"min_events": 1}]],
        },
        {
            "acr": "urn:belay:acr:2fa",
            "level": 2,
            "description": (
                "Two factors from different categories (never two knowledge factors), "
                "or one passkey with user verification."
            ),
            "lifetime": {"idle_seconds": 3600, "absolute_seconds": 86400},
            "rule": [[{"distinct_categories": 2}], [{"method": "passkey", "uv": True}]],
        },
        {
            "acr": "urn:belay:acr:phr",
            "level": 3,
            "description": "Phishing-resistant: a passkey with user verification.",
            "lifetime": {"idle_seconds": 900, "absolute_seconds": 43200},
            "rule": [[{"method": "passkey", "uv": True}]],
        },
        {
            "acr": "urn:belay:acr:phrh",
            "level": 4,
            "description": (
                "Phishing-resistant, hardware-bound: a device-bound passkey "
                "(backup-eligible flag clear) with user verification."
            ),
            "lifetime": {"idle_seconds": 900, "absolute_seconds": 43200},
            "rule": [[{"method": "passkey", "uv": True, "backup_eligible": False}]],
        },
    ],
}


def default_ladder_data() -> dict[str, Any]:
    """A fresh, mutable copy of :data:`DEFAULT_LADDER_DATA` (plain dicts and lists)."""
    return copy.deepcopy(DEFAULT_LADDER_DATA)


def default_ladder() -> Ladder:
    """The default ladder: 1fa < 2fa < phr < phrh (docs/design.md, "The ladder")."""
    return ladder_from_data(default_ladder_data())
