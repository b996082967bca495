"""The dashboard's figures: step-ups by acr and method, failures and lockouts
per day, read from the audit log."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from provider import clock
from provider.observability import STEP_UP_EVENTS
from provider.storage import admin as store

__all__ = ["dashboard"]


def dashboard(*, days: int = 7, now: int | None = None) -> dict[str, Any]:
    """Step-ups by acr and by method, failures and lockouts (factors that
    locked: ``factor_locked`` rows) per day, over the last ``days`` days (UTC
    days, oldest first)."""
    now = clock.now() if now is None else now
    today = now - now % 86400
    start = today - (days - 1) * 86400
    labels = [datetime.fromtimestamp(start + i * 86400, UTC).strftime("%m-%d") for i in range(days)]
    rows = store.audit_events(since=start, limit=100000)
    by_acr: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    failures = [0] * days
    lockouts = [0] * days
    step_ups = [0] * days
    for row in rows:
        day = min(days - 1, max(0, (row.at - start) // 86400))
        if row.event in STEP_UP_EVENTS and row.result == "success":
            by_acr[row.acr or "(freshness only)"] += 1
            by_method[row.method or "unknown"] += 1
            step_ups[day] += 1
        if row.result == "failure":
            failures[day] += 1
        if row.event == "factor_locked":
            # one row per lock (provider/flows/assurance/lifecycle.py
            # note_locked), not per refusal of an already locked factor
            lockouts[day] += 1
    return {
        "days": labels,
        "since": start,
        "step_ups_by_acr": dict(sorted(by_acr.items())),
        "step_ups_by_method": dict(sorted(by_method.items())),
        "step_ups_per_day": step_ups,
        "failures_per_day": failures,
        "lockouts_per_day": lockouts,
    }
