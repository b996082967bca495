"""The console's policy tools: the acr ladder editor and the policy simulator."""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from provider import policy
from provider.errors import N_
from provider.flows.admin import clients as admin_clients
from provider.flows.admin import ladder as admin_ladder
from provider.flows.admin import simulator as admin_simulator
from provider.flows.admin.errors import AdminError, NotFound
from provider.storage.models import User
from provider.web import json_body
from provider.web.admin.gate import actor, admin_required, bp
from provider.web.errors import form_error

__all__ = ["ladder", "simulator"]

#: The largest ladder the editor takes (characters, as bytes of JSON).
_MAX_LADDER = 200000


# -- simulator -------------------------------------------------------------------


def _simulator_page(
    user: User,
    status: int = 200,
    *,
    form: MultiDict[str, str],
    result: admin_simulator.Simulation | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
) -> Any:
    return render_template(
        "admin/simulator.html",
        user=user,
        clients=admin_clients.list_clients(),
        methods=policy.METHODS,
        form=form,
        result=result,
        errors=errors or {},
    ), status


def _simulation(form: MultiDict[str, str]) -> admin_simulator.Simulation:
    """The engine's decision for the simulator form's scenario."""
    events: list[dict[str, Any]] = []
    for method in form.getlist("event"):
        raw_ago = form.get(f"ago_{method}", "0").strip() or "0"
        ago: Any = int(raw_ago) if raw_ago.isdigit() and len(raw_ago) < 10 else raw_ago
        event: dict[str, Any] = {"method": method, "seconds_ago": ago}
        if method == "passkey":
            event["uv"] = form.get("passkey_uv") == "on"
            event["backup_eligible"] = form.get("passkey_be") == "on"
        events.append(event)
    enrolled: list[Any] = [
        {"method": m, "backup_eligible": form.get("passkey_be") == "on"} if m == "passkey" else m
        for m in form.getlist("enrolled")
    ]
    params = {k: form.get(k, "")[:4000] for k in ("acr_values", "max_age", "claims", "prompt")}
    try:
        return admin_simulator.simulate(
            form.get("client_id", "")[:300], enrolled=enrolled, events=events, params=params
        )
    except NotFound:
        # On this form the client is a field like the others.
        raise AdminError({"client_id": "no such client"}) from None


@bp.route("/simulator", methods=["GET", "POST"])
@admin_required
def simulator(user: User) -> Any:
    if request.method == "GET":
        return _simulator_page(user, form=request.args)
    try:
        result = _simulation(request.form)
    except AdminError as exc:
        return form_error(functools.partial(_simulator_page, user, form=request.form), exc)
    return _simulator_page(user, form=request.form, result=result)


# -- the ladder ------------------------------------------------------------------


def _ladder_page(
    user: User,
    status: int = 200,
    *,
    text: str | None = None,
    errors: dict[str, str] | None = None,
    error: str = "",
) -> Any:
    """The ladder and its editor; a refused ladder lists every problem found
    (``errors``), else the one ``error`` (e.g. not JSON)."""
    shown = list((errors or {}).values()) or ([error] if error else [])
    return render_template(
        "admin/ladder.html",
        user=user,
        ladder=admin_ladder.ladder_data(),
        text=json.dumps(admin_ladder.ladder_data(), indent=2) if text is None else text,
        errors=shown,
    ), status


@bp.route("/ladder", methods=["GET", "POST"])
@admin_required
def ladder(user: User) -> Any:
    if request.method == "GET":
        return _ladder_page(user)
    text = request.form.get("ladder", "")[:_MAX_LADDER]
    try:
        admin_ladder.save_ladder(json_body.parse(text, max_bytes=_MAX_LADDER), actor=actor(user))
    except (json_body.JSONBodyError, policy.LadderError) as exc:
        return form_error(functools.partial(_ladder_page, user, text=text), exc)
    flash(N_("Ladder saved."), "notice")
    return redirect(url_for("admin.ladder"))
