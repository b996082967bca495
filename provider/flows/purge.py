"""Purging expired rows (docs/security.md case 55; docs/operations.md).

Anonymous requests may create state (a browser session with an authorize
transaction, a WebAuthn challenge, a one-time code); none of it lives forever.
:func:`purge_once` deletes one bounded batch per kind; the server runs it every
``PURGE_EVERY_REQUESTS`` requests and ``belay purge`` runs it until nothing is
left.
"""

from __future__ import annotations

from typing import Any

from provider import clock
from provider.storage import purge as store

__all__ = ["KINDS", "purge_all", "purge_once"]

KINDS = (
    "sessions",
    "authorize_transactions",
    "webauthn_challenges",
    "one_time_codes",
    "authorization_codes",
    "tokens",
    "assertion_jtis",
    "address_counters",
)

#: An expired authorization code is kept this long: a replay of it within that
#: time still revokes the tokens it issued (RFC 6749 §4.1.2).
CODE_REPLAY_MEMORY = 24 * 3600
#: A token is deleted this long after its access and refresh tokens expired
#: (its row also holds the refresh family a replay would revoke; a day covers
#: clocks that disagree and clients still retrying).
EXPIRED_TOKEN_MEMORY = 24 * 3600


def purge_once(config: Any, *, batch: int, now: int | None = None) -> dict[str, int]:
    """Delete at most ``batch`` rows of each kind; returns the counts."""
    now = clock.now() if now is None else now
    otp_keep = max(int(config["OTP_RESEND_WINDOW"]), int(config["OTP_CODE_TTL"]))
    return {
        "sessions": store.sessions(
            now, idle_timeout=int(config["SESSION_IDLE_TIMEOUT"]), batch=batch
        ),
        "authorize_transactions": store.authorize_transactions(now, batch=batch),
        "webauthn_challenges": store.webauthn_challenges(now, batch=batch),
        "one_time_codes": store.one_time_codes(now, keep_after_creation=otp_keep, batch=batch),
        "authorization_codes": store.authorization_codes(
            now, keep_after_expiry=CODE_REPLAY_MEMORY, batch=batch
        ),
        "tokens": store.tokens(now, keep_after_expiry=EXPIRED_TOKEN_MEMORY, batch=batch),
        "assertion_jtis": store.assertion_jtis(now, batch=batch),
        "address_counters": store.address_counters(now, batch=batch),
    }


def purge_all(config: Any, *, batch: int, max_rounds: int = 1000) -> dict[str, int]:
    """Batches until every kind is done (or ``max_rounds``); returns the totals."""
    totals = dict.fromkeys(KINDS, 0)
    for _ in range(max_rounds):
        counts = purge_once(config, batch=batch)
        for kind, count in counts.items():
            totals[kind] += count
        if all(count < batch for count in counts.values()):
            break
    return totals
