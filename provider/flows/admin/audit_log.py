"""The audit log from the admin's side: how an admin change is recorded
(:func:`record_change`), and reading it back: filters, rows as JSON, the CSV
export."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from provider.errors import N_
from provider.flows.admin.errors import AdminError, NotFound
from provider.flows.admin.users import find_user
from provider.storage import admin as store
from provider.storage import audit
from provider.storage.models import AuditEvent, User

__all__ = [
    "AuditFilter",
    "audit_csv",
    "audit_to_dict",
    "list_audit",
    "parse_audit_filter",
    "record_change",
    "user_events",
]


def record_change(
    event: str, client_id: str | None, before: Any, after: Any, actor: str, **extra: Any
) -> None:
    """One ``success`` row for an admin change: ``by``, and of two dicts only
    the keys whose values differ, before and after."""
    if isinstance(before, dict) and isinstance(after, dict):
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        before = {k: before.get(k) for k in changed}
        after = {k: after.get(k) for k in changed}
    audit.record(
        event,
        "success",
        client_id=client_id,
        details={"by": actor, "before": before, "after": after, **extra},
    )


@dataclass(frozen=True)
class AuditFilter:
    user: str | None = None
    client_id: str | None = None
    event: str | None = None
    result: str | None = None
    since: int | None = None
    until: int | None = None
    limit: int = 200


def _parse_time(value: str, *, end: bool) -> int:
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,12}", text):
        return int(text)
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            moment = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return int(moment.timestamp()) + (86399 if end else 0)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            N_("must be a date (YYYY-MM-DD), an ISO 8601 time or epoch seconds")
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_audit_filter(args: Mapping[str, Any]) -> AuditFilter:
    """Build a filter from query-string style values; raises :class:`AdminError`."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in ("user", "client_id", "event", "result"):
        raw = args.get(key)
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str) or len(raw) > 200 or "\x00" in raw:
            errors[key] = "must be text of at most 200 characters"
        else:
            values[key] = raw
    for key in ("since", "until"):
        raw = args.get(key)
        if raw is None or raw == "":
            continue
        try:
            values[key] = _parse_time(str(raw), end=key == "until")
        except ValueError as exc:
            errors[key] = str(exc)
        except OverflowError:
            errors[key] = "is out of range"
    raw_limit = args.get("limit")
    if raw_limit not in (None, ""):
        if not re.fullmatch(r"[0-9]{1,5}", str(raw_limit)) or not 1 <= int(raw_limit) <= 10000:
            errors["limit"] = "must be a number from 1 to 10000"
        else:
            values["limit"] = int(raw_limit)
    if errors:
        raise AdminError(errors)
    return AuditFilter(**values)


def list_audit(filters: AuditFilter) -> list[AuditEvent]:
    user_id: int | None = None
    if filters.user:
        try:
            user_id = find_user(filters.user).id
        except NotFound:
            return []
    return store.audit_events(
        user_id=user_id,
        client_id=filters.client_id,
        event=filters.event,
        result=filters.result,
        since=filters.since,
        until=filters.until,
        limit=filters.limit,
    )


def user_events(user: User, *, limit: int | str) -> list[AuditEvent]:
    """A user's audit events, newest first (the console's user page, GET
    /api/admin/users/{id}/events, ``belay user events``); ``limit`` is checked
    like the audit filter's. Raises :class:`AdminError`."""
    return list_audit(parse_audit_filter({"user": str(user.id), "limit": str(limit)}))


def audit_to_dict(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "event": row.event,
        "result": row.result,
        "user_id": row.user_id,
        "username": row.username,
        "client_id": row.client_id,
        "method": row.method,
        "acr": row.acr,
        "reason": row.reason,
        "ip": row.ip,
        "details": row.details or {},
    }


_CSV_COLUMNS = (
    "id",
    "at",
    "time",
    "event",
    "result",
    "user_id",
    "username",
    "client_id",
    "method",
    "acr",
    "reason",
    "ip",
    "details",
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run a cell as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_csv(rows: Iterable[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        data = audit_to_dict(row)
        data["time"] = datetime.fromtimestamp(row.at, UTC).isoformat()
        data["details"] = json.dumps(data["details"], sort_keys=True)
        writer.writerow([_cell(data[c]) for c in _CSV_COLUMNS])
    return out.getvalue()
