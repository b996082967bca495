"""Remembered devices: "trust this browser" after a second factor.

docs/design.md "Remembered devices": per client ``remember_device_days`` (0: off).
After a successful second factor on the challenge page the user may tick
``remember_device``; a server-side record (the cookie holds a random token,
only its hash is stored) then replays that second-factor event *with its
original time* at later sign-ins on this browser. The replay is added only
when it makes the policy engine satisfied, and the engine never lets a
remembered event count for an explicit step-up (``acr_values`` above the
session, any ``max_age``, an essential ``acr``): those always run a real
challenge. The replayed event says ``remembered`` in its details, the token's
``amr`` lists the remembered method, and the audit log records the replay.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from provider import policy
from provider.flows.assurance import events
from provider.storage import audit, devices
from provider.storage.models import RememberedDevice, User, WebSession

__all__ = [
    "COOKIE",
    "DAY",
    "DeviceCookie",
    "describe_user_agent",
    "remember",
    "replay_event",
    "try_replay",
]

COOKIE = "belay_device"
DAY = 86400


@dataclass(frozen=True)
class DeviceCookie:
    """The remembered-browser cookie to send: its ``name``, the random token
    (``value``) and ``max_age`` in seconds. The web layer sets it (HttpOnly,
    SameSite=Lax, Secure as configured: provider/web/cookies.py)."""

    value: str
    max_age: int
    name: str = COOKIE


def replay_event(device: RememberedDevice) -> policy.Event:
    """The event this browser would replay (provider/flows/assurance/events.py)."""
    return events.device_event(device)


def remember(
    *,
    user: User,
    client_id: str | None,
    days: int,
    method: str,
    amr: tuple[str, ...],
    credential_id: str | None,
    details: dict[str, object],
    event_at: int,
    user_agent: str | None,
    ip: str | None,
) -> DeviceCookie | None:
    """Remember this browser for ``days``; the cookie to set, or None when the
    method is not a second factor (a password is never remembered)."""
    if days <= 0 or method not in policy.SECOND_FACTORS:
        return None
    kept = {
        k: v for k, v in details.items() if k in {"uv", "backup_eligible", "aaguid", "pin_length"}
    }
    row, token = devices.create(
        user_id=user.id,
        client_id=client_id,
        method=method,
        amr=list(amr),
        credential_id=credential_id,
        details=kept,
        event_at=event_at,
        user_agent=user_agent,
        lifetime=days * DAY,
    )
    audit.record(
        "device_remembered",
        "success",
        user_id=user.id,
        client_id=client_id,
        method=method,
        ip=ip,
        details={"device_id": row.id, "days": days},
    )
    return DeviceCookie(value=token, max_age=days * DAY)


def try_replay(
    *,
    token: str | None,
    user: User,
    row: WebSession,
    session: policy.SessionState,
    client_id: str,
    client_policy: policy.ClientPolicy,
    decide: Callable[[policy.SessionState], policy.Decision],
    on_rotate: Callable[[str], None] | None,
    now: int,
) -> policy.Decision | None:
    """Replay this browser's remembered event when that satisfies the request.

    Returns the new (satisfied) decision, or None when nothing was replayed.
    """
    days = client_policy.remember_device_days
    if not token or days <= 0 or on_rotate is None:
        return None
    device = devices.find(token, user.id)
    if device is None or device.event_at < now - days * DAY:
        return None
    event = replay_event(device)
    if any(e.remembered and e.credential_id == event.credential_id for e in session.events):
        return None
    decision = decide(replace(session, events=(*session.events, event)))
    if not isinstance(decision, policy.Satisfied):
        return None
    cookie = events.add_replay(row, device)
    on_rotate(cookie)
    devices.touch(device)
    audit.record(
        "device_replayed",
        "success",
        user_id=user.id,
        client_id=client_id,
        method=device.method,
        acr=decision.acr,
        details={"remembered": True, "device_id": device.id, "event_at": device.event_at},
    )
    return decision


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(user_agent: str | None) -> str:
    """ "Firefox on Linux" from a User-Agent header (a hint for people, not a check)."""
    ua = user_agent or ""
    browser = next((name for key, name in _BROWSERS if key in ua), None)
    system = next((name for key, name in _SYSTEMS if key in ua), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return str(browser or system)
    cleaned = re.sub(r"[^\x20-\x7e]", "", ua)[:40]
    return cleaned or "Unknown browser"
