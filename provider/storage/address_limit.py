"""Sign-in attempts per client address (docs/security.md case 58).

One row per address (an IPv4 address, or the /64 prefix of an IPv6 address:
one subscriber's network, which hands out addresses by the billion) counts
the password and PIN sign-ins that have not succeeded in a fixed window. An
attempt is *reserved* before anything is checked, with one conditional
``UPDATE … SET attempts = attempts + 1 WHERE attempts < limit AND the window
is open RETURNING …`` (atomic on SQLite and PostgreSQL alike, like the factor
counters of provider/storage/throttle.py): however many requests race, at
most ``limit`` are let through in a window, on every instance sharing the
database. A success gives its own reservation back (never more: a known good
password does not buy more guesses). A lapsed window starts again at the
next attempt; the rows of lapsed windows are purged.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from provider.extensions import db
from provider.storage.models import AddressCounter

__all__ = ["Refused", "Reservation", "give_back", "key", "reserve"]

#: Longest key stored (an unparsable address is cut to this).
_MAX_KEY = 64


@dataclass(frozen=True)
class Reservation:
    address: str
    attempts: int  # this attempt's number in the window
    window_ends_at: int


@dataclass(frozen=True)
class Refused:
    retry_after: int  # seconds until the window ends


def key(ip: str | None) -> str | None:
    """The counter an address counts on; None when there is no address."""
    if not ip or not ip.strip():
        return None
    text = ip.strip()
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text[:_MAX_KEY]  # not an IP address (a proxy's odd header): as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _count_in_open_window(address: str, limit: int, now: int) -> Reservation | None:
    row = db.session.execute(
        update(AddressCounter)
        .where(
            AddressCounter.address == address,
            AddressCounter.window_ends_at > now,
            AddressCounter.attempts < limit,
        )
        .values(attempts=AddressCounter.attempts + 1)
        .returning(AddressCounter.attempts, AddressCounter.window_ends_at)
    ).first()
    return None if row is None else Reservation(address, int(row[0]), int(row[1]))


def _open_new_window(address: str, window: int, now: int) -> Reservation | None:
    row = db.session.execute(
        update(AddressCounter)
        .where(AddressCounter.address == address, AddressCounter.window_ends_at <= now)
        .values(attempts=1, window_ends_at=now + window)
        .returning(AddressCounter.window_ends_at)
    ).first()
    return None if row is None else Reservation(address, 1, int(row[0]))


def _insert(address: str, window: int, now: int) -> Reservation | None:
    try:
        with db.session.begin_nested():
            db.session.add(AddressCounter(address=address, attempts=1, window_ends_at=now + window))
    except IntegrityError:
        return None  # created by a concurrent request: count on it
    return Reservation(address, 1, now + window)


def reserve(address: str, *, limit: int, window: int, now: int) -> Reservation | Refused:
    """Count one attempt from ``address`` before anything is checked; committed."""
    outcome: Reservation | Refused = Refused(retry_after=1)  # fail closed
    for _ in range(3):  # another request may change the row between two statements
        reserved = _count_in_open_window(address, limit, now) or _open_new_window(
            address, window, now
        )
        if reserved is not None:
            outcome = reserved
            break
        row = db.session.execute(
            select(AddressCounter.attempts, AddressCounter.window_ends_at).where(
                AddressCounter.address == address
            )
        ).first()
        if row is None:
            inserted = _insert(address, window, now)
            if inserted is not None:
                outcome = inserted
                break
        elif int(row[0]) >= limit and int(row[1]) > now:
            outcome = Refused(retry_after=max(1, int(row[1]) - now))
            break
    db.session.commit()
    return outcome


def give_back(reservation: Reservation) -> None:
    """Take back one reserved attempt (it succeeded, or nothing was checked),
    in the window it was counted in only."""
    db.session.execute(
        update(AddressCounter)
        .where(
            AddressCounter.address == reservation.address,
            AddressCounter.window_ends_at == reservation.window_ends_at,
            AddressCounter.attempts > 0,
        )
        .values(attempts=AddressCounter.attempts - 1)
    )
    db.session.commit()
