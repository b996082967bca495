"""The limit of password and PIN sign-ins per client address (docs/security.md case 58).

The per-account counters stop guesses at one account; a storm spread over
many accounts (password spraying, credential stuffing) from a few addresses
would still cost one argon2 computation per guess and take the hashing
slots from everyone else. So every password or PIN sign-in from an address
is counted *before* the account is looked up or anything is hashed: beyond
``SIGN_IN_ADDRESS_LIMIT`` in a window of ``SIGN_IN_ADDRESS_WINDOW`` seconds,
a sign-in from there is refused with ``429`` and ``Retry-After`` (the end of
the window), at the price of one database statement and no argon2 work. The
answer is the same whatever the username, so it tells nothing about
accounts. A success gives its attempt back, and so does a check the hasher
refused as busy (nothing was checked): people signing in from one office
network do not use up its allowance. The address is ``request.remote_addr``
as the application sees it (``TRUSTED_PROXIES`` decides what a proxy may say).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask import current_app
from prometheus_client import Counter

from provider import clock
from provider.errors import BelayError
from provider.i18n import _, ngettext_
from provider.storage import address_limit as store

__all__ = ["Attempt", "TooManySignIns", "attempt"]

log = logging.getLogger(__name__)

REFUSALS = Counter(
    "belay_sign_in_address_refusals",
    "Password or PIN sign-ins refused because their client address reached SIGN_IN_ADDRESS_LIMIT",
)


def _wait_words(seconds: int) -> str:
    if seconds < 60:
        return ngettext_("%(num)d second", "%(num)d seconds", seconds)
    minutes = -(-seconds // 60)
    return ngettext_("%(num)d minute", "%(num)d minutes", minutes)


class TooManySignIns(BelayError):
    """Too many sign-ins that did not succeed from this client address."""

    error = "too_many_attempts"
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            _(
                "Too many sign-in attempts from your network. "
                "Try again in %(wait)s, or sign in another way.",
                wait=_wait_words(retry_after),
            )
        )
        self.retry_after = retry_after


@dataclass
class Attempt:
    """One counted sign-in attempt (nothing counted without an address or a limit)."""

    _reservation: store.Reservation | None = field(default=None)

    def give_back(self) -> None:
        """It succeeded, or nothing was checked: it does not count (once)."""
        if self._reservation is not None:
            store.give_back(self._reservation)
            self._reservation = None


def attempt(ip: str | None) -> Attempt:
    """Count one password or PIN sign-in from ``ip``, before anything else is
    done for it; raises :class:`TooManySignIns` beyond the limit."""
    limit = int(current_app.config["SIGN_IN_ADDRESS_LIMIT"])
    address = store.key(ip)
    if limit <= 0 or address is None:
        return Attempt()
    outcome = store.reserve(
        address,
        limit=limit,
        window=int(current_app.config["SIGN_IN_ADDRESS_WINDOW"]),
        now=clock.now(),
    )
    if isinstance(outcome, store.Refused):
        REFUSALS.inc()
        raise TooManySignIns(outcome.retry_after)
    if outcome.attempts == limit:
        log.warning(
            "sign-in attempts from %s reached SIGN_IN_ADDRESS_LIMIT (%d); "
            "more are refused until the window ends",
            address,
            limit,
        )
    return Attempt(outcome)
