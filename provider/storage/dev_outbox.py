"""The development outbox (BELAY_DEV_OUTBOX): code messages kept, not sent."""

from __future__ import annotations

from sqlalchemy import delete, select

from provider.extensions import db
from provider.storage import transaction
from provider.storage.models import DevOutboxMessage

__all__ = ["KEEP", "add", "recent"]

#: the outbox keeps this many messages (older ones are deleted as new ones come)
KEEP = 100


def add(*, channel: str, recipient: str, text: str, now: int) -> None:
    with transaction():
        message = DevOutboxMessage(channel=channel, recipient=recipient, text=text, created_at=now)
        db.session.add(message)
        db.session.flush()
        db.session.execute(delete(DevOutboxMessage).where(DevOutboxMessage.id <= message.id - KEEP))


def recent(limit: int = 50) -> list[DevOutboxMessage]:
    """The newest messages first."""
    query = select(DevOutboxMessage).order_by(DevOutboxMessage.id.desc()).limit(limit)
    return list(db.session.scalars(query))
