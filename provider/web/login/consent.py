"""``/consent``: the user allows or denies the scopes a client asks for."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from provider import clock
from provider.errors import N_
from provider.flows import authorize as flow
from provider.web import session as web_session
from provider.web.login import pages
from provider.web.login.pages import bp
from provider.web.oidc import expired_page, render_outcome, resume

__all__ = ["consent"]


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Any:
    tx = pages.transaction()
    row = web_session.current_row()
    if tx is None or row is None or row.user_id is None:
        return expired_page(N_("This request has expired"))
    client = tx.client()
    if client is None:
        return render_outcome(resume(tx))
    if request.method == "POST":
        decision = request.form.get("decision")
        if decision == "allow":
            flow.allow_consent(tx, row.user_id)
            return redirect(url_for("oidc.authorize_resume", tx=tx.id))
        if decision == "deny":
            return redirect(flow.deny_consent(tx, row.user_id).location)
    return render_template(
        "consent.html",
        tx=tx.id,
        client=client,
        scopes=tx.consent_scopes(),
        error=N_("Choose Allow or Deny.") if request.method == "POST" else None,
        now=clock.now(),
    )
