"""Authentication events: the one place that records them and reads them back.

An event is one successful factor check in a browser session (docs/design.md,
"Authentication events"). Every writer -- password, PIN, passkey and code
sign-ins, step-ups on the challenge page, "Confirm access", the admin console
and the step-up API, remembered-browser replays and enrolment proofs -- goes
through :func:`sign_in`, :func:`add_performed`, :func:`add_replay` or
:func:`add_enrolment_proof`; every reader builds the policy engine's
:class:`provider.policy.Event` values here (:func:`session_state`,
:func:`client_state`, :func:`device_event`), so the conversion exists once.

Each stored event carries its **origin** in ``AuthEvent.details["origin"]``
(no schema change; rows written before it are read by the older markers
``remembered`` and ``enrolment``):

- ``performed``: the factor was checked now, in this session;
- ``remembered``: replayed from a remembered browser with its original time
  (docs/security.md case 47): it counts only for a client that accepts
  remembered browsers, never for ``max_age``, ``prompt=login``, an explicit
  step-up, ``auth_time``, nor for "an event made during this transaction";
- ``enrolment``: the proof of possession while binding a new authenticator
  (docs/security.md case 45): recorded for the session's history, never
  counted by the policy engine -- it raises no acr and refreshes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from provider import policy
from provider.factors.base import Verified
from provider.storage import sessions as session_store
from provider.storage.models import AuthEvent, RememberedDevice, User, WebSession

__all__ = [
    "ORIGIN",
    "Origin",
    "add_enrolment_proof",
    "add_performed",
    "add_replay",
    "client_state",
    "device_event",
    "new_event_times",
    "origin_of",
    "policy_event",
    "session_state",
    "sign_in",
]

#: The key of ``AuthEvent.details`` that holds the origin.
ORIGIN = "origin"

# Passkey and PIN details the policy engine reads (and a remembered device keeps).
_POLICY_DETAILS = frozenset({"uv", "backup_eligible", "aaguid", "pin_length"})


class Origin(StrEnum):
    """Where an event comes from (see the module docstring)."""

    PERFORMED = "performed"
    REMEMBERED = "remembered"
    ENROLMENT = "enrolment"


def origin_of(details: Mapping[str, Any] | None) -> Origin:
    """The origin recorded in an event's details (older rows: by their markers).

    Anything unrecognised is treated as the weakest reading that still keeps
    the event out of freshness: a replay.
    """
    details = details or {}
    value = details.get(ORIGIN)
    if value is not None:
        try:
            return Origin(value)
        except ValueError:
            return Origin.REMEMBERED
    if details.get("enrolment"):
        return Origin.ENROLMENT
    if details.get("remembered"):
        return Origin.REMEMBERED
    return Origin.PERFORMED


def _new_event(
    verified: Verified, origin: Origin, *, at: int | None = None
) -> session_store.NewEvent:
    details = {k: v for k, v in verified.details.items() if k != ORIGIN}
    details[ORIGIN] = origin.value
    if origin is Origin.REMEMBERED:
        details["remembered"] = True
    elif origin is Origin.ENROLMENT:
        details["enrolment"] = True
    else:
        details.pop("remembered", None)
        details.pop("enrolment", None)
    return session_store.NewEvent(
        method=verified.method,
        amr=tuple(verified.amr),
        credential_id=verified.credential_id,
        details=details,
        at=at,
    )


# -- recording ------------------------------------------------------------------


def sign_in(row: WebSession, user: User, verified: Verified, *, absolute_timeout: int) -> str:
    """A new login with a factor checked now: replaces every event of the
    session, gives a new ``sid``; returns the new cookie value."""
    return session_store.login(
        row, user, _new_event(verified, Origin.PERFORMED), absolute_timeout=absolute_timeout
    )


def add_performed(row: WebSession, verified: Verified) -> str:
    """A step-up checked now inside the session; returns the new cookie value."""
    return session_store.add_event(row, _new_event(verified, Origin.PERFORMED))


def add_replay(row: WebSession, device: RememberedDevice) -> str:
    """Replay a remembered browser's second factor with its original time."""
    verified = Verified(
        method=device.method,
        amr=tuple(device.amr),
        credential_id=device.credential_id,
        details={
            **{k: v for k, v in (device.details or {}).items() if k in _POLICY_DETAILS},
            "device_id": device.id,
        },
    )
    return session_store.add_event(row, _new_event(verified, Origin.REMEMBERED, at=device.event_at))


def add_enrolment_proof(
    row: WebSession, method: str, amr: Iterable[str], *, credential_id: str | None = None
) -> str:
    """Record the proof of possession made while enrolling ``method``.

    It is kept in the session's history but never counted (docs/security.md
    case 45); the session id rotates as for any change of the session.
    """
    verified = Verified(method=method, amr=tuple(amr), credential_id=credential_id)
    return session_store.add_event(row, _new_event(verified, Origin.ENROLMENT))


# -- reading --------------------------------------------------------------------


def _to_policy(
    method: str,
    amr: Iterable[str],
    at: int,
    credential_id: str | None,
    details: Mapping[str, Any],
    *,
    remembered: bool,
) -> policy.Event:
    pin_length = details.get("pin_length")
    return policy.Event(
        method=method,
        amr=tuple(amr),
        at=at,
        credential_id=credential_id,
        uv=bool(details.get("uv", False)),
        backup_eligible=details.get("backup_eligible"),
        aaguid=details.get("aaguid"),
        remembered=remembered,
        pin_length=pin_length if isinstance(pin_length, int) else None,
    )


def policy_event(event: AuthEvent) -> policy.Event | None:
    """The policy engine's view of a stored event; None for an enrolment proof."""
    origin = origin_of(event.details)
    if origin is Origin.ENROLMENT:
        return None
    return _to_policy(
        event.method,
        event.amr,
        event.at,
        event.credential_id,
        event.details or {},
        remembered=origin is Origin.REMEMBERED,
    )


def device_event(device: RememberedDevice) -> policy.Event:
    """The event a remembered browser would replay (its original time, a replay)."""
    return _to_policy(
        device.method,
        device.amr,
        device.event_at,
        device.credential_id,
        device.details or {},
        remembered=True,
    )


def session_state(row: WebSession, previous_seen_at: int | None) -> policy.SessionState | None:
    """The policy engine's view of a browser session (every countable event).

    The engine narrows it per client itself (:func:`provider.policy.client_events`,
    :func:`provider.policy.accepts_event`); :func:`client_state` does the same
    for callers outside the engine.
    """
    if row.user_id is None or not row.events:
        return None
    events = tuple(e for e in (policy_event(stored) for stored in row.events) if e is not None)
    if not events:
        return None
    return policy.SessionState(
        user_id=str(row.user_id),
        events=events,
        created_at=row.authenticated_at or row.created_at,
        # As before this request, so its own idle gap counts (policy contract).
        last_active_at=previous_seen_at or row.last_seen_at,
        idle_gaps=tuple((int(g[0]), int(g[1])) for g in row.idle_gaps or []),
    )


def client_state(
    row: WebSession,
    previous_seen_at: int | None,
    client_policy: policy.ClientPolicy,
    now: int,
) -> policy.SessionState | None:
    """The events client ``client_policy`` may count in this session: replays
    only where remembered browsers are accepted (docs/security.md case 47)."""
    state = session_state(row, previous_seen_at)
    if state is None:
        return None
    state = policy.client_events(state, client_policy, now)
    return state if state.events else None


def new_event_times(
    row: WebSession, *, baseline_sid: str | None, baseline_event_id: int
) -> list[int]:
    """Times of the events *performed* in this session since a baseline (an
    authorization transaction's start): after a new login (another ``sid``)
    every event is new. Replays carry an old time and were not performed
    during anything; enrolment proofs are not authentications -- neither is
    "new" (docs/security.md case 47, the parallel-transaction replay).
    """
    relogged = row.sid != baseline_sid
    return [
        e.at
        for e in row.events
        if (relogged or e.id > baseline_event_id) and origin_of(e.details) is Origin.PERFORMED
    ]
