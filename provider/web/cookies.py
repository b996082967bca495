"""Cookies the flows ask for, set on the response here (flows know nothing of HTTP).

The session cookie and the pre-session cookie are provider/web/session.py's.
"""

from __future__ import annotations

from flask import current_app
from werkzeug.wrappers import Response

from provider.flows.devices import DeviceCookie

__all__ = ["set_device_cookie"]


def set_device_cookie(response: Response, cookie: DeviceCookie) -> None:
    """Send the remembered-browser cookie: script cannot read it (HttpOnly),
    it goes on top-level navigations only (SameSite=Lax, the redirect back
    from an application), over HTTPS when the session cookie is."""
    response.set_cookie(
        cookie.name,
        cookie.value,
        max_age=cookie.max_age,
        httponly=True,
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        samesite="Lax",
        path="/",
    )
