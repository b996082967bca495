"""The development outbox (BELAY_DEV_OUTBOX): the code messages kept instead of sent."""

from __future__ import annotations

from provider.storage import dev_outbox as store
from provider.storage.models import DevOutboxMessage

__all__ = ["recent_messages"]


def recent_messages(limit: int = 50) -> list[DevOutboxMessage]:
    """The newest first (at most ``limit``)."""
    return store.recent(limit)
