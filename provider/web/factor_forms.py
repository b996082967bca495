"""What a page shows for each way of confirming it offers (challenge, Confirm
access, the admin console's step-up): the factor's form and its state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import request, session

from provider.factors.otp import OtpFactor
from provider.flows import step_up

__all__ = ["SENT_KEY", "STEP_UP_PURPOSES", "label", "offered", "page_purpose"]

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
        retry_after = 0 if factor.method == "password" else factor.status(user_id).retry_after
        channel_name = factor.channel_name if isinstance(factor, OtpFactor) else None
        if factor.form_id == "code-form" and channel_name:
            # One send-code form for every code channel offered (docs/design.md page contract).
            entry = next((f for f in shown if f["form_id"] == "code-form"), None)
            if entry is None:
                entry = {
                    "method": method,
                    "form_id": "code-form",
                    "label": "Code by email or text message",
                    "retry_after": 0,
                    "channels": [],
                    "sent": None,
                    "purpose": purpose,
                }
                shown.append(entry)
            entry["channels"].append(
                {"channel": channel_name, "method": method, "label": factor.label}
            )
            entry["retry_after"] = max(entry["retry_after"], retry_after)
            sent = session.get(SENT_KEY)
            if (
                isinstance(sent, dict)
                and sent.get("user") == user_id
                and sent.get("method") == method
                and sent.get("purpose") == purpose
            ):
                entry["sent"] = {"method": method, "masked": sent.get("masked", "")}
            continue
        shown.append(
            {
                "method": method,
                "form_id": factor.form_id,
                "label": factor.label,
                "retry_after": retry_after,
            }
        )
    return shown


def label(method: str) -> str:
    """What people call a method ("PIN", "Authenticator app", …)."""
    try:
        return str(step_up.factors().get(method).label)
    except LookupError:
        return method
