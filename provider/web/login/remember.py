"""Remembering this browser after a step-up, when the client allows it
(``remember_device_days``); the passkey step-up (provider/web/webauthn.py)
remembers it the same way."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from provider import clock
from provider.factors.base import Verified
from provider.flows import authorize as flow
from provider.flows import devices
from provider.storage.models import User
from provider.web.cookies import set_device_cookie
from provider.web.login import pages

__all__ = ["remember_browser", "remember_days"]


def remember_browser(response: Response, tx: flow.Loaded, user: User, verified: Verified) -> None:
    """The user ticked ``remember_device`` after a step-up for ``tx``: remember
    this browser when the client allows it (devices.remember refuses a password)."""
    days = remember_days(tx)
    if not days:
        return
    cookie = devices.remember(
        user=user,
        client_id=tx.client_id,
        days=days,
        method=verified.method,
        amr=verified.amr,
        credential_id=verified.credential_id,
        details=dict(verified.details),
        event_at=clock.now(),
        user_agent=request.headers.get("User-Agent"),
        ip=request.remote_addr,
    )
    if cookie is not None:
        set_device_cookie(response, cookie)


def remember_days(tx: flow.Loaded) -> int:
    """The client's remember_device_days (0: the browser cannot be remembered)."""
    pol = pages.client_policy(tx)
    return int(pol.remember_device_days) if pol is not None else 0
