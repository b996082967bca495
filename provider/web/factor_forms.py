"""What a page shows for each way of confirming it offers (challenge, Confirm
access, the admin console's step-up): the factor's form and its state.

One way is *primary* (:func:`arrange`): its form comes first, with the page's
one primary button and the focus; the others follow under "Use another way"
(a ``<details>`` element: every form stays in the page, docs/design.md page
contract). The rule, first match wins:

1. the method the user just tried and got wrong (its error goes next to its
   field), or the one they picked (``?method=``, e.g. the locked-PIN message's
   "enter a backup code" link);
2. a code just sent for this page (the user asked for it a moment ago);
3. the first offered in order of effort (:data:`EFFORT`): a passkey (a
   touch), the PIN (a few digits, nothing else to reach for), the
   authenticator app (another app to open), a code by email or text message
   (wait for it to arrive), the password, and a backup code last: backup codes
   are the way back, not the daily way. Every way offered reaches what is
   asked (the policy engine offers nothing else), so the least effort wins.

Not the client's order of ``step_up_methods`` (a set to the engine: it says
what counts, not what to show first) and not "the way this user used last"
(it needs the audit log on every challenge, says nothing on a new device, and
would make the page differ from what the docs and the bank story describe)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import request, session

from provider.factors.attempts import wait_words
from provider.factors.otp import OtpFactor
from provider.flows import step_up

__all__ = ["EFFORT", "SENT_KEY", "STEP_UP_PURPOSES", "arrange", "label", "offered", "page_purpose"]

#: the order of effort (module docstring, rule 3); a method not listed comes last
EFFORT = ("passkey", "pin", "totp", "email_otp", "sms_otp", "password", "backup_code")

#: Flask-session key: which code was sent last, where (masked) and for which page
SENT_KEY = "otp_sent"

#: what a step-up code may be sent for (flows/step_up.py ``purpose``): the
#: pages, and the first-party step-up API
STEP_UP_PURPOSES = frozenset({"step_up", "confirm_access", "admin_step_up", "step_up_api"})


def page_purpose() -> str:
    """The step-up purpose of the page being shown: the authorize challenge (it
    has a transaction), the admin console's step-up, else Confirm access."""
    if request.blueprint == "admin":
        return "admin_step_up"
    if request.values.get("tx"):
        return "step_up"
    return "confirm_access"


def offered(user_id: int, methods: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per offered method: its form id, label and any wait in force."""
    registry = step_up.factors()
    purpose = page_purpose()
    shown: list[dict[str, Any]] = []
    for method in methods:
        try:
            factor = registry.get(method)
        except LookupError:
            continue
        # This page never announced the password's delay (its refusal says it).
        status = factor.status(user_id)
        retry_after = 0 if factor.method == "password" else status.retry_after
        # Said once a try went wrong, and only while tries are counted (not a passkey).
        tries_left = status.tries_left if status.failures and not status.locked else None
        channel_name = factor.channel_name if isinstance(factor, OtpFactor) else None
        if factor.form_id == "code-form" and channel_name:
            # One send-code form for every code channel offered (docs/design.md page contract).
            entry = next((f for f in shown if f["form_id"] == "code-form"), None)
            if entry is None:
                entry = {
                    "method": method,
                    "methods": [],
                    "form_id": "code-form",
                    "label": "Code by email or text message",
                    "retry_after": 0,
                    "tries_left": None,
                    "channels": [],
                    "sent": None,
                    "purpose": purpose,
                    "primary": False,
                    "error": None,
                }
                shown.append(entry)
            entry["methods"].append(method)
            entry["channels"].append(
                {"channel": channel_name, "method": method, "label": factor.label}
            )
            entry["retry_after"] = max(entry["retry_after"], retry_after)
            entry["wait"] = wait_words(entry["retry_after"])
            sent = session.get(SENT_KEY)
            if (
                isinstance(sent, dict)
                and sent.get("user") == user_id
                and sent.get("method") == method
                and sent.get("purpose") == purpose
            ):
                entry["sent"] = {
                    "method": method,
                    "channel": channel_name,
                    "masked": sent.get("masked", ""),
                }
                entry["tries_left"] = tries_left
            continue
        shown.append(
            {
                "method": method,
                "methods": [method],
                "form_id": factor.form_id,
                "label": factor.label,
                "retry_after": retry_after,
                "wait": wait_words(retry_after),
                "tries_left": tries_left,
                "primary": False,
                "error": None,
            }
        )
    return shown


def arrange(
    shown: list[dict[str, Any]], *, prefer: str | None = None, error: str | None = None
) -> list[dict[str, Any]]:
    """``shown`` with the primary way first and marked (the module docstring's
    rule); ``error`` (the refusal of ``prefer``, just tried) goes with its form."""
    if not shown:
        return shown
    chosen = next((f for f in shown if prefer and prefer in f["methods"]), None)
    if chosen is None:
        chosen = next((f for f in shown if f["form_id"] == "code-form" and f["sent"]), None)
    ordered = sorted(shown, key=_effort)
    if chosen is None:
        chosen = ordered[0]
    chosen["primary"] = True
    if error is not None and prefer in chosen["methods"]:
        chosen["error"] = error
    return [chosen, *(f for f in ordered if f is not chosen)]


def _effort(entry: dict[str, Any]) -> int:
    ranks = [EFFORT.index(m) if m in EFFORT else len(EFFORT) for m in entry["methods"]]
    return min(ranks, default=len(EFFORT))


def label(method: str) -> str:
    """What people call a method ("PIN", "Authenticator app", …)."""
    try:
        return str(step_up.factors().get(method).label)
    except LookupError:
        return method
