"""The admin console (``/admin``): clients, per-client acr policy, the policy
simulator, the ladder, users, the audit log and a dashboard.

Only users with the admin role get in, and only with a session that reached
``ADMIN_ACR`` within ``ADMIN_MAX_AGE`` seconds (default: 2fa within 15
minutes) — decided by the same policy engine call as /authorize
(:func:`provider.flows.account.check_level`); below that, the console shows a
step-up in the admin's own session. Every POST carries a CSRF token (Flask-WTF)
and is checked again on the server.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from provider import clock, policy
from provider.factors.base import FactorError
from provider.flows import account as account_flow
from provider.flows.admin import access as admin_access
from provider.flows.admin import audit_log as admin_audit
from provider.flows.admin import client_policy
from provider.flows.admin import clients as admin_clients
from provider.flows.admin import dashboard as admin_dashboard
from provider.flows.admin import ladder as admin_ladder
from provider.flows.admin import simulator as admin_simulator
from provider.flows.admin import users as admin_users
from provider.flows.admin.errors import AdminError, NotFound
from provider.flows.clients import GRANT_TYPES
from provider.oidc.clients import AUTH_METHODS
from provider.oidc.keys import SUPPORTED_ALGS
from provider.storage.models import User, WebSession
from provider.web import account as account_web
from provider.web import factor_forms, json_body
from provider.web import session as web_session
from provider.web.admin_charts import bar_chart, line_chart

bp = Blueprint("admin", __name__, url_prefix="/admin")

__all__ = ["access_check", "bp"]

_STARTED = "admin_confirm_started_at"


def access_check(row: WebSession, user: User) -> account_flow.AccessCheck:
    """Has this admin's session reached ADMIN_ACR within ADMIN_MAX_AGE?

    While a step-up is in progress, an event made since it started counts
    (like "Confirm access"); a stale start is dropped."""
    target, max_age = admin_access.admin_target()
    started = session.get(_STARTED)
    if isinstance(started, int) and clock.now() - started > max_age:
        started = None
    access = account_flow.check_level(
        user,
        row,
        web_session.previous_seen_at(),
        started,
        target=target,
        max_age=max_age,
        at_least_enrolled=True,  # a locked factor never lowers it (docs/security.md case 44)
    )
    if access.confirmed:
        session.pop(_STARTED, None)
    elif started is None:
        session[_STARTED] = clock.now()
    return access


def _actor(user: User) -> str:
    return f"admin:{user.username}"


def _step_up_page(
    row: WebSession, user: User, access: account_flow.AccessCheck, **extra: Any
) -> Any:
    factors = factor_forms.offered(user.id, access.methods)
    return render_template(
        "admin/confirm.html",
        user=user,
        access=access,
        factors=factors,
        action=url_for("admin.confirm", next=_next_target()),
        tx="admin",
        max_age=admin_access.admin_target()[1],
        **extra,
    ), 403


def _next_target() -> str:
    """Where to go after the step-up: a path of the console, else the dashboard.

    Never a header injection nor an open redirect (docs/security.md case 53):
    no control character (CR/LF), no backslash, no ``//``, no scheme or host.
    """
    target = request.args.get("next") or (request.full_path if request.method == "GET" else "")
    target = target.rstrip("?")
    if not _console_path(target):
        return url_for("admin.dashboard")
    return target


def _console_path(target: str) -> bool:
    path = target.partition("?")[0]
    if len(target) > 2000 or (path != "/admin" and not path.startswith("/admin/")):
        return False
    if "//" in target or "\\" in target or any(c < " " or c == "\x7f" for c in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``view(user, **kwargs)`` for an admin whose session is strong and
    fresh enough; a non-admin gets 403, an admin below the level a step-up."""

    @functools.wraps(view)
    def guarded(**kwargs: Any) -> Any:
        signed_in = web_session.signed_in()
        if signed_in is None:
            return redirect(url_for("login.login"))
        row, user = signed_in
        if not user.is_admin:
            return render_template(
                "error.html",
                title="Administrators only",
                error="forbidden",
                description="This page is for administrators.",
            ), 403
        access = access_check(row, user)
        if not access.confirmed:
            if request.method == "POST":
                return _step_up_page(
                    row, user, access, error="Confirm it's you first; nothing was changed."
                )
            return _step_up_page(row, user, access)
        return view(user, **kwargs)

    return guarded


@bp.post("/confirm")
def confirm() -> Any:
    """The admin step-up: one factor check inside this session."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    if not user.is_admin:
        abort(403)
    access = access_check(row, user)
    try:
        account_web.confirm_in_session(row, user, access, purpose="admin_step_up")
    except FactorError as exc:
        page, _ = _step_up_page(row, user, access, error=exc.message)
        return page, 401
    return redirect(_next_target())


# -- dashboard -------------------------------------------------------------------


@bp.get("/")
@admin_required
def dashboard(user: User) -> Any:
    stats = admin_dashboard.dashboard()
    charts = {
        "acr": bar_chart(stats["step_ups_by_acr"], title="Step-ups by acr", chart_id="chart-acr"),
        "method": bar_chart(
            stats["step_ups_by_method"], title="Step-ups by method", chart_id="chart-method"
        ),
        "failures": line_chart(
            stats["days"],
            {
                "step-ups": stats["step_ups_per_day"],
                "failures": stats["failures_per_day"],
                "lockouts": stats["lockouts_per_day"],
            },
            title="Step-ups, failures and lockouts per day",
            chart_id="chart-failures",
        ),
    }
    return render_template("admin/dashboard.html", user=user, stats=stats, charts=charts)


# -- clients ---------------------------------------------------------------------


def _client_form() -> dict[str, Any]:
    form = request.form
    return {
        "name": form.get("name", "")[:300],
        "redirect_uris": form.get("redirect_uris", "")[:20000],
        "post_logout_redirect_uris": form.get("post_logout_redirect_uris", "")[:20000],
        "client_type": form.get("client_type", "confidential"),
        "token_endpoint_auth_method": form.get("token_endpoint_auth_method", ""),
        "access_token_format": form.get("access_token_format", "jwt"),
        "first_party": form.get("first_party") == "on",
        "is_admin": form.get("is_admin") == "on",
        "grant_types": form.getlist("grant_types"),
        "id_token_signed_response_alg": form.get("id_token_signed_response_alg", ""),
    }


def _choices() -> dict[str, Any]:
    return {
        "auth_methods": AUTH_METHODS,
        "grant_types": GRANT_TYPES,
        "algs": SUPPORTED_ALGS,
        "methods": policy.METHODS,
        "ladder": admin_ladder.ladder_data(),
    }


@bp.get("/clients")
@admin_required
def clients(user: User) -> Any:
    return _clients_page(user)


def _clients_page(user: User, status: int = 200, **extra: Any) -> Any:
    return render_template(
        "admin/clients.html",
        user=user,
        clients=[admin_clients.client_to_dict(c) for c in admin_clients.list_clients()],
        **_choices(),
        **extra,
    ), status


@bp.post("/clients")
@admin_required
def create_client(user: User) -> Any:
    data = _client_form()
    data["client_id"] = request.form.get("client_id", "")[:300]
    if not data["token_endpoint_auth_method"]:
        data.pop("token_endpoint_auth_method")
    if not data["grant_types"]:
        data.pop("grant_types")
    try:
        client, secret = admin_clients.create_client(data, actor=_actor(user))
    except AdminError as exc:
        return _clients_page(user, 400, errors=exc.errors, form=request.form)
    return _client_page(user, client.client_id, new_secret=secret, created=True)


def _client_page(user: User, client_id: str, status: int = 200, **extra: Any) -> Any:
    try:
        client = admin_clients.get_client(client_id)
    except NotFound:
        abort(404)
    return render_template(
        "admin/client.html",
        user=user,
        client=admin_clients.client_to_dict(client),
        policy=client_policy.effective_policy(client_id),
        **_choices(),
        **extra,
    ), status


@bp.get("/clients/<path:client_id>")
@admin_required
def client(user: User, client_id: str) -> Any:
    return _client_page(user, client_id)


@bp.post("/clients/<path:client_id>/edit")
@admin_required
def edit_client(user: User, client_id: str) -> Any:
    data = _client_form()
    try:
        _, secret = admin_clients.update_client(client_id, data, actor=_actor(user))
    except NotFound:
        abort(404)
    except AdminError as exc:
        return _client_page(user, client_id, 400, errors=exc.errors)
    if secret:
        return _client_page(user, client_id, new_secret=secret)
    flash("Client saved.", "notice")
    return redirect(url_for("admin.client", client_id=client_id))


@bp.post("/clients/<path:client_id>/secret")
@admin_required
def rotate_secret(user: User, client_id: str) -> Any:
    try:
        secret = admin_clients.rotate_secret(client_id, actor=_actor(user))
    except NotFound:
        abort(404)
    except AdminError as exc:
        return _client_page(user, client_id, 400, errors=exc.errors)
    return _client_page(user, client_id, new_secret=secret)


@bp.post("/clients/<path:client_id>/delete")
@admin_required
def delete_client(user: User, client_id: str) -> Any:
    try:
        admin_clients.delete_client(client_id, actor=_actor(user))
    except NotFound:
        abort(404)
    flash(f"Client {client_id} deleted.", "notice")
    return redirect(url_for("admin.clients"))


_POLICY_TEXT_FIELDS = (
    "minimum_acr",
    "default_acr_values",
    "default_max_age",
    "acr_enforcement",
    "passkey_user_verification",
    "allowed_aaguids",
    "min_pin_length",
    "level_lifetimes",
    "remember_device_days",
)
_POLICY_CHECKBOXES = ("require_auth_time", "pin_login", "passwordless_login")


@bp.post("/clients/<path:client_id>/policy")
@admin_required
def edit_policy(user: User, client_id: str) -> Any:
    form = request.form
    assignments = [f"{key}={form.get(key, '')[:20000]}" for key in _POLICY_TEXT_FIELDS]
    assignments.extend(
        f"{key}={'true' if form.get(key) else 'false'}" for key in _POLICY_CHECKBOXES
    )
    assignments.append("step_up_methods=" + ",".join(form.getlist("step_up_methods")))
    try:
        client_policy.update_policy(client_id, assignments=assignments, actor=_actor(user))
    except NotFound:
        abort(404)
    except policy.PolicyValidationError as exc:
        return _client_page(
            user, client_id, 400, policy_errors=exc.errors, policy_form=form, policy_invalid=True
        )
    flash("Policy saved; it applies from the next authorization request.", "notice")
    return redirect(url_for("admin.client", client_id=client_id) + "#policy")


# -- simulator -------------------------------------------------------------------


@bp.route("/simulator", methods=["GET", "POST"])
@admin_required
def simulator(user: User) -> Any:
    result = None
    errors: dict[str, str] = {}
    form = request.form if request.method == "POST" else request.args
    if request.method == "POST":
        enrolled = form.getlist("enrolled")
        events: list[dict[str, Any]] = []
        for method in form.getlist("event"):
            raw_ago = form.get(f"ago_{method}", "0").strip() or "0"
            ago: Any = int(raw_ago) if raw_ago.isdigit() and len(raw_ago) < 10 else raw_ago
            event: dict[str, Any] = {"method": method, "seconds_ago": ago}
            if method == "passkey":
                event["uv"] = form.get("passkey_uv") == "on"
                event["backup_eligible"] = form.get("passkey_be") == "on"
            events.append(event)
        enrolled_specs: list[Any] = [
            {"method": m, "backup_eligible": form.get("passkey_be") == "on"}
            if m == "passkey"
            else m
            for m in enrolled
        ]
        params = {k: form.get(k, "")[:4000] for k in ("acr_values", "max_age", "claims", "prompt")}
        try:
            result = admin_simulator.simulate(
                form.get("client_id", "")[:300],
                enrolled=enrolled_specs,
                events=events,
                params=params,
            )
        except NotFound:
            errors["client_id"] = "no such client"
        except AdminError as exc:
            errors = exc.errors
    return render_template(
        "admin/simulator.html",
        user=user,
        clients=admin_clients.list_clients(),
        methods=policy.METHODS,
        form=form,
        result=result,
        errors=errors,
    ), (400 if errors else 200)


# -- the ladder ------------------------------------------------------------------


@bp.route("/ladder", methods=["GET", "POST"])
@admin_required
def ladder(user: User) -> Any:
    errors: list[str] = []
    text = json.dumps(admin_ladder.ladder_data(), indent=2)
    if request.method == "POST":
        text = request.form.get("ladder", "")[:200000]
        try:
            data = json_body.parse(text, max_bytes=200000)
        except json_body.JSONBodyError as exc:
            errors = [exc.description]
        else:
            try:
                admin_ladder.save_ladder(data, actor=_actor(user))
            except policy.LadderError as exc:
                errors = list(exc.errors)
            else:
                flash("Ladder saved.", "notice")
                return redirect(url_for("admin.ladder"))
    return render_template(
        "admin/ladder.html",
        user=user,
        ladder=admin_ladder.ladder_data(),
        text=text,
        errors=errors,
    ), (400 if errors else 200)


# -- users -----------------------------------------------------------------------


@bp.get("/users")
@admin_required
def users(user: User) -> Any:
    return _users_page(user)


def _users_page(user: User, status: int = 200, **extra: Any) -> Any:
    query = request.args.get("q", "")[:150]
    return render_template(
        "admin/users.html",
        user=user,
        query=query,
        users=admin_users.search_users(query),
        **extra,
    ), status


@bp.post("/users")
@admin_required
def create_user(user: User) -> Any:
    form = request.form
    try:
        created = admin_users.create_user(
            form.get("username", "")[:200],
            password=form.get("password", "")[:2000] or None,
            is_admin=form.get("is_admin") == "on",
            email=form.get("email", "")[:400] or None,
            name=form.get("name", "")[:300] or None,
            actor=_actor(user),
        )
    except AdminError as exc:
        return _users_page(user, 400, errors=exc.errors, form=form)
    flash(f"User {created.username} created.", "notice")
    return redirect(url_for("admin.user_detail", user_id=created.id))


def _user_or_404(user_id: int) -> User:
    try:
        return admin_users.find_user(user_id)
    except NotFound:
        abort(404)


@bp.get("/users/<int:user_id>")
@admin_required
def user_detail(user: User, user_id: int) -> Any:
    return _user_page(user, user_id)


def _user_page(user: User, user_id: int, status: int = 200, **extra: Any) -> Any:
    target = _user_or_404(user_id)
    return render_template(
        "admin/user.html",
        user=user,
        target=admin_users.user_to_dict(target, detail=True),
        events=admin_audit.user_events(target, limit=50),
        **extra,
    ), status


@bp.post("/users/<int:user_id>/unlock")
@admin_required
def unlock_user(user: User, user_id: int) -> Any:
    target = _user_or_404(user_id)
    factor = request.form.get("factor", "")[:30] or None
    try:
        admin_users.unlock_user(target, factor, actor=_actor(user))
    except AdminError as exc:
        return _user_page(user, user_id, 400, errors=exc.errors)
    flash(f"Unlocked {factor or 'every factor'}.", "notice")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.post("/users/<int:user_id>/reset-factors")
@admin_required
def reset_factors(user: User, user_id: int) -> Any:
    target = _user_or_404(user_id)
    removed = admin_users.reset_factors(target, actor=_actor(user))
    flash(f"Removed: {', '.join(removed) or 'nothing'}; every lock cleared.", "notice")
    return redirect(url_for("admin.user_detail", user_id=user_id))


@bp.post("/users/<int:user_id>/revoke-sessions")
@admin_required
def revoke_sessions(user: User, user_id: int) -> Any:
    target = _user_or_404(user_id)
    count = admin_users.revoke_sessions(target, actor=_actor(user))
    flash(f"Revoked {count} session(s).", "notice")
    if target.id == user.id:
        return redirect(url_for("login.login"))
    return redirect(url_for("admin.user_detail", user_id=user_id))


# -- audit log -------------------------------------------------------------------


@bp.get("/audit")
@admin_required
def audit_log(user: User) -> Any:
    try:
        filters = admin_audit.parse_audit_filter(request.args)
    except AdminError as exc:
        return render_template(
            "admin/audit.html", user=user, rows=[], errors=exc.errors, args=request.args
        ), 400
    return render_template(
        "admin/audit.html",
        user=user,
        rows=admin_audit.list_audit(filters),
        errors={},
        args=request.args,
    )


@bp.get("/audit.csv")
@admin_required
def audit_export(user: User) -> Any:
    try:
        filters = admin_audit.parse_audit_filter(request.args)
    except AdminError as exc:
        return Response("; ".join(f"{k}: {v}" for k, v in exc.errors.items()), 400)
    body = admin_audit.audit_csv(admin_audit.list_audit(filters))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="belay-audit.csv"'},
    )
