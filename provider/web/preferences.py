"""The account page's display preferences: the time zone dates are shown in
(docs/i18n.md). A preference, not a sign-in method: no Confirm access needed,
like forgetting a browser."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for

from provider.errors import N_
from provider.flows import account as account_flow
from provider.web import session as web_session

bp = Blueprint("preferences", __name__)

__all__ = ["bp"]


@bp.post("/account/time-zone")
def time_zone() -> Any:
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    _row, user = signed_in
    zone = request.form.get("zoneinfo", "")
    try:
        account_flow.set_time_zone(user, zone, ip=request.remote_addr)
    except account_flow.InvalidTimeZone as exc:
        flash(exc.description, "error")
    else:
        flash(N_("Your time zone is saved."), "notice")
    return redirect(url_for("account.index") + "#time-zone")


@bp.get("/account/time-zone")
def time_zone_page() -> Any:
    """A POST-only URL reached by GET (a reload, a bookmark): the account page."""
    return redirect(url_for("account.index") + "#time-zone")
