"""The acr ladder: read it and replace it (validated, audited)."""

from __future__ import annotations

from typing import Any

from provider import policy
from provider.storage import audit
from provider.storage import ladder as ladder_store

__all__ = ["ladder_data", "save_ladder"]


def ladder_data() -> dict[str, Any]:
    """The ladder as JSON data (the format :func:`save_ladder` reads)."""
    data: dict[str, Any] = policy.ladder_to_data(ladder_store.current_ladder())
    return data


def save_ladder(data: Any, *, actor: str) -> policy.Ladder:
    """Validate and store a ladder; raises :class:`policy.LadderError`."""
    before = ladder_data()
    ladder = ladder_store.save_ladder(data)
    audit.record(
        "ladder_changed",
        "success",
        details={"by": actor, "before": before, "after": policy.ladder_to_data(ladder)},
    )
    return ladder
