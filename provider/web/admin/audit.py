"""The console's audit log: filtered, and exported as CSV."""

from __future__ import annotations

import functools
from typing import Any

from flask import Response, render_template, request

from provider.flows.admin import audit_log as admin_audit
from provider.flows.admin.errors import AdminError
from provider.storage.models import User
from provider.web.admin.gate import admin_required, bp
from provider.web.errors import form_error

__all__ = ["audit_export", "audit_log"]


def _audit_page(
    user: User,
    status: int = 200,
    *,
    rows: list[Any] | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
) -> Any:
    return render_template(
        "admin/audit.html", user=user, rows=rows or [], errors=errors or {}, args=request.args
    ), status


@bp.get("/audit")
@admin_required
def audit_log(user: User) -> Any:
    try:
        filters = admin_audit.parse_audit_filter(request.args)
    except AdminError as exc:
        return form_error(functools.partial(_audit_page, user), exc)
    return _audit_page(user, rows=admin_audit.list_audit(filters))


@bp.get("/audit.csv")
@admin_required
def audit_export(user: User) -> Any:
    """The filtered log as CSV; a bad filter is an error page (the one mapping)."""
    filters = admin_audit.parse_audit_filter(request.args)
    body = admin_audit.audit_csv(admin_audit.list_audit(filters))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="belay-audit.csv"'},
    )
