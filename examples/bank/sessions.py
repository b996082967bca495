"""Server-side sessions of the web app: tokens never go into the cookie.

The signed cookie holds only a random session id (and the step-up helper's
PKCE verifier, state and nonce); everything else — the access token, the ID
token, the user — lives here, in this process's memory (fine for a demo).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BankSession", "SessionStore"]

#: A bank session ends after this long without a request.
IDLE_TIMEOUT = 30 * 60


@dataclass
class BankSession:
    """One signed-in browser."""

    subject: str
    name: str
    access_token: str
    id_token: str
    token_claims: dict[str, Any]
    expires_at: int
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)
    #: the last RFC 9470 challenge the API sent, shown while the user steps up
    challenge: dict[str, Any] | None = None
    #: the last transfer made, shown on the "Transfer done" page
    last_transfer: dict[str, Any] | None = None


class SessionStore:
    """Sessions keyed by an unguessable id; idle ones are dropped."""

    def __init__(self, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self._idle_timeout = idle_timeout
        self._sessions: dict[str, BankSession] = {}
        self._lock = threading.Lock()

    def create(self, record: BankSession) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = record
        return sid

    def get(self, sid: object) -> BankSession | None:
        if not isinstance(sid, str):
            return None
        now = time.monotonic()
        with self._lock:
            for key in [
                k for k, s in self._sessions.items() if now - s.last_seen > self._idle_timeout
            ]:
                del self._sessions[key]
            record = self._sessions.get(sid)
            if record is not None:
                record.last_seen = now
            return record

    def drop(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._sessions.pop(sid, None)
