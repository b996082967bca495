"""The session as one client counts it: its events, its ``auth_time``, its step-ups.

docs/security.md cases 47 and 48: a replay from a remembered browser counts only
for a client that accepts remembered browsers, and only a real authentication of
a method the client accepts meets its ``max_age`` and sets its ``auth_time``.
:func:`step_up_event` is the event a step-up with an enrolled method would add.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from provider.policy.model import (
    METHODS,
    ClientPolicy,
    EnrolledMethod,
    Event,
    SessionState,
    auth_time_of,
    event_for,
)

__all__ = [
    "accepts_event",
    "client_auth_time",
    "client_events",
    "step_up_event",
    "step_up_kind",
]

_DAY = 86400


def client_events(session: SessionState, policy: ClientPolicy, now: int) -> SessionState:
    """The session as one client may count it (docs/security.md case 47).

    An event replayed from a remembered browser counts only for a client that
    accepts remembered browsers (``remember_device_days > 0``), and only while
    it is younger than that client's own ``remember_device_days``: for every
    other client it does not exist -- no acr, no ``amr``, no ``auth_time``.
    """
    if not any(event.remembered for event in session.events):
        return session
    days = policy.remember_device_days
    horizon = now - days * _DAY
    kept = tuple([e for e in session.events if not e.remembered or (days > 0 and e.at >= horizon)])
    if len(kept) == len(session.events):
        return session
    return replace(session, events=kept)


def accepts_event(event: Event, policy: ClientPolicy) -> bool:
    """Whether ``event`` is a real authentication of a method this client accepts.

    docs/security.md case 48: only such an event meets the client's ``max_age``
    and sets its ``auth_time``. A replay from a remembered browser never does;
    neither does a method outside ``step_up_methods`` (when set), a PIN shorter
    than ``min_pin_length`` (or of unknown length), a passkey outside
    ``allowed_aaguids``, or a passkey without UV when the client requires UV.
    """
    if event.remembered:
        return False
    if policy.step_up_methods and event.method not in policy.step_up_methods:
        return False
    if event.method == "pin":
        minimum = policy.min_pin_length
        return minimum is None or (event.pin_length is not None and event.pin_length >= minimum)
    if event.method == "passkey":
        if policy.allowed_aaguids and event.aaguid not in policy.allowed_aaguids:
            return False
        return event.uv or policy.passkey_user_verification != "required"
    return True


def client_auth_time(events: Sequence[Event], policy: ClientPolicy) -> int | None:
    """``auth_time`` for this client: the latest event of a method it accepts.

    When the session holds no such event (a client accepting only TOTP, a
    session signed in with a password), the session's sign-in -- its earliest
    active event -- stands: a later event the client does not accept never
    moves this client's ``auth_time`` (docs/security.md case 48). Replays are
    used only when nothing else is in the session (:func:`auth_time_of`).
    """
    latest: int | None = None
    earliest: int | None = None
    for event in events:
        if event.remembered:
            continue
        if earliest is None or event.at < earliest:
            earliest = event.at
        if accepts_event(event, policy) and (latest is None or event.at > latest):
            latest = event.at
    if latest is not None:
        return latest
    if earliest is not None:
        return earliest
    return auth_time_of(events)


def step_up_event(method: EnrolledMethod, policy: ClientPolicy, now: int) -> Event | None:
    """The event a step-up with ``method`` would add at ``now`` for this client, or None.

    None when the method is unknown, locked, not allowed by the client's
    ``step_up_methods``, a PIN shorter than ``min_pin_length`` (or of unknown
    length when a minimum is set), or a passkey outside ``allowed_aaguids``.
    A passkey is assumed verified (UV) unless the client's
    ``passkey_user_verification`` is ``discouraged``.
    """
    kind = step_up_kind(method, policy)
    if kind is None:
        return None
    return replace(kind, at=now, credential_id=method.credential_id)


def step_up_kind(method: EnrolledMethod, policy: ClientPolicy) -> Event | None:
    """:func:`step_up_event` but for its time and credential id (``at=0``, no credential).

    What a rule or the counting of events reads of the new event
    (:meth:`~provider.policy.ladder.LevelCheck.holds_adding`), shared by every
    enrolled credential of the same kind and by every request.
    """
    name = method.method
    if name not in METHODS or method.locked:
        return None
    if policy.step_up_methods and name not in policy.step_up_methods:
        return None
    if name == "passkey":
        aaguid = method.aaguid.lower() if method.aaguid is not None else None
        if policy.allowed_aaguids and aaguid not in policy.allowed_aaguids:
            return None
        return _kind_event(
            name, policy.passkey_user_verification != "discouraged", method.backup_eligible, aaguid
        )
    if name != "pin":
        return _kind_event(name)
    if policy.min_pin_length is not None and (
        method.pin_length is None or method.pin_length < policy.min_pin_length
    ):
        return None
    return _kind_event(name, pin_length=method.pin_length)


@lru_cache(maxsize=1024)
def _kind_event(
    name: str,
    uv: bool = False,
    backup_eligible: bool | None = None,
    aaguid: str | None = None,
    pin_length: int | None = None,
) -> Event:
    """The (immutable) event of one kind of step-up at time 0: built once, not per request.

    Bounded: a handful of methods, a few passkey models and PIN lengths in practice.
    """
    if name == "passkey":
        return event_for(name, 0, uv=uv, backup_eligible=backup_eligible, aaguid=aaguid)
    return event_for(name, 0, pin_length=pin_length)
