"""What a page shows for each way of confirming it offers (challenge, Confirm
access, the admin console's step-up): the factor's form and its state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provider.flows import step_up

__all__ = ["label", "offered"]


def offered(user_id: int, methods: Sequence[str]) -> list[dict[str, Any]]:
    """One entry per offered method: its form id, label and any wait in force."""
    registry = step_up.factors()
    shown: list[dict[str, Any]] = []
    for method in methods:
        try:
            factor = registry.get(method)
        except LookupError:
            continue
        status = getattr(factor, "status", None)
        retry_after = int(getattr(status(user_id), "retry_after", 0) or 0) if status else 0
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
