"""Destructive actions ask first (issue 17): the first POST of a form that
removes something shows a server-rendered confirmation page (no script: the
CSP forbids inline ones); only its confirmed POST acts.

The confirmation page carries a single-use value kept in the server-side
session with the URL it confirms: the confirmed POST must send it back (with
the form's CSRF token) within :data:`MAX_AGE` seconds, and it is spent either
way -- a replayed confirmed POST, or one for another URL, only asks again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import render_template, request, session

from provider import clock
from provider.crypto import constant_time_equals, random_token

__all__ = ["MAX_AGE", "Question", "ask", "confirmed"]

#: Flask-session key: the confirmation the last confirmation page asked for
_KEY = "pending_confirmation"
#: How long a confirmation page may be answered (seconds)
MAX_AGE = 600


@dataclass(frozen=True)
class Question:
    """What the confirmation page says: its title, what will happen, the
    button that does it and where Cancel goes."""

    title: str
    consequence: str
    button: str
    cancel_url: str


def confirmed() -> bool:
    """Does this POST answer the confirmation page shown for its own URL (the
    single-use value, fresh)? The value is spent whatever the answer."""
    sent = request.form.get("confirmation", "")[:100]
    if not sent:
        return False
    pending = session.pop(_KEY, None)
    if not isinstance(pending, dict):
        return False
    nonce, at = pending.get("nonce"), pending.get("at")
    return (
        pending.get("action") == request.path
        and isinstance(nonce, str)
        and constant_time_equals(nonce, sent)
        and isinstance(at, int)
        and 0 <= clock.now() - at <= MAX_AGE
    )


def ask(question: Question, *, fields: Mapping[str, str] | None = None) -> Any:
    """The confirmation page for this POST's URL; ``fields``: the form's own
    values, sent again with the confirmed POST."""
    nonce = random_token(16)
    session[_KEY] = {"action": request.path, "nonce": nonce, "at": clock.now()}
    return render_template(
        "confirm_action.html",
        question=question,
        action_url=request.path,
        nonce=nonce,
        fields=dict(fields or {}),
    )
