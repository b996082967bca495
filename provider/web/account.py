"""The user's own page: sign-in methods, sessions and security events.

Every change sits behind "Confirm access" (a fresh step-up at the level of
the strongest factor the user has); the management forms appear only once
access is confirmed, and every POST checks it again on the server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from provider import clock
from provider.factors.base import FactorError
from provider.factors.delivery import DeliveryFailed
from provider.flows import account as account_flow
from provider.flows import code_login, step_up
from provider.flows import devices as device_flow
from provider.flows.assurance import events as assurance_events
from provider.flows.login import hasher
from provider.storage import accounts, audit, devices
from provider.storage import passkeys as passkey_store
from provider.storage import sessions as session_store
from provider.storage.models import User, WebSession
from provider.web import factor_forms
from provider.web import session as web_session

bp = Blueprint("account", __name__)

_CONFIRM_STARTED = "confirm_started_at"


def _access(row: WebSession, user: User) -> account_flow.AccessCheck:
    """Confirm-access state; a confirmation in progress lasts CONFIRM_ACCESS_MAX_AGE.

    While the page asks to confirm, an event made since it asked counts even if
    it is a few seconds old (no loop); a stale start is dropped so old events
    never count as fresh.
    """
    started = session.get(_CONFIRM_STARTED)
    if (
        isinstance(started, int)
        and clock.now() - started > current_app.config["CONFIRM_ACCESS_MAX_AGE"]
    ):
        started = None
    access = account_flow.check_access(user, row, web_session.previous_seen_at(), started)
    if access.confirmed:
        session.pop(_CONFIRM_STARTED, None)
    elif started is None:
        session[_CONFIRM_STARTED] = clock.now()
    return access


def access_check(row: WebSession, user: User) -> account_flow.AccessCheck:
    """Confirm-access state for the passkey endpoints (provider/web/webauthn.py)."""
    return _access(row, user)


def access_confirmed(row: WebSession, user: User) -> bool:
    return _access(row, user).confirmed


def _field(name: str, limit: int = 1024) -> str:
    value = request.form.get(name, "")
    return value[:limit]


def render_account(row: WebSession, user: User, status: int = 200, **extra: Any) -> Any:
    access = _access(row, user)
    registry = step_up.factors()
    enrolled = {m.method: m for m in registry.enrolled(user.id)}
    second = [m for m in enrolled if m in account_flow.SECOND_FACTORS]
    confirm_factors = factor_forms.offered(user.id, access.methods)
    return render_template(
        "account.html",
        user=user,
        current=row,
        access=access,
        confirm_factors=confirm_factors,
        enrolled=enrolled,
        second_factors=second,
        pin=registry.get("pin").status(user.id),  # type: ignore[attr-defined]
        totp=registry.get("totp").status(user.id),  # type: ignore[attr-defined]
        backup_remaining=registry.get("backup_code").remaining(user.id),  # type: ignore[attr-defined]
        code_channels=_code_channels(user),
        passkeys=passkey_store.list_for_user(user.id),
        sessions=session_store.list_for_user(user.id),
        devices=[
            {"row": d, "description": device_flow.describe_user_agent(d.user_agent)}
            for d in devices.list_for_user(user.id)
        ],
        events=audit.recent(user_id=user.id, limit=20),
        now=clock.now(),
        tx="",
        action=url_for("account.confirm"),
        **extra,
    ), status


_CODE_METHODS = {"email": "email_otp", "phone": "sms_otp"}


def _code_channels(user: User) -> list[dict[str, Any]]:
    """The email address and phone number that receive codes, per channel."""
    registry = step_up.factors()
    shown = []
    for kind, method in _CODE_METHODS.items():
        if method not in registry:
            continue
        factor: Any = registry.get(method)
        shown.append(
            {
                "kind": kind,
                "method": method,
                "label": factor.label,
                "available": factor.channel is not None,
                "verified": factor.destination(user.id),
                "pending": factor.pending(user.id),
            }
        )
    return shown


@bp.get("/account")
def index() -> Any:
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    return render_account(row, user)


@bp.post("/account/confirm")
def confirm() -> Any:
    """Confirm access: one step-up inside this session."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    access = _access(row, user)
    if access.confirmed:
        return redirect(url_for("account.index"))
    try:
        done = step_up.verify_in_session(
            user=user,
            row=row,
            method=_field("method", 30),
            submitted={k: v[:4096] for k, v in request.form.items() if k != "csrf_token"},
            allowed=access.methods,
            client_id=None,
            purpose="confirm_access",
            target_acr=access.target_acr,
            ip=request.remote_addr,
        )
    except FactorError as exc:
        return render_account(row, user, 401, error=exc.message)
    web_session.rotate_cookie(done.cookie_token)
    return redirect(url_for("account.index"))


def confirmed_access(
    view: Callable[..., Any],
) -> Callable[..., Any]:
    """Run ``view(row, user, **kwargs)`` only for a signed-in user whose access
    is confirmed; otherwise send them to sign in or to "Confirm access"."""

    @functools.wraps(view)
    def guarded(**kwargs: Any) -> Any:
        signed_in = web_session.signed_in()
        if signed_in is None:
            return redirect(url_for("login.login"))
        row, user = signed_in
        if not _access(row, user).confirmed:
            flash("Confirm it's you first, then make the change.", "error")
            return redirect(url_for("account.index"))
        return view(row, user, **kwargs)

    return guarded


_FORGETS_DEVICES = frozenset({"password_changed", "factor_enrolled", "factor_removed"})


def _changed(user: User, event: str, method: str, message: str) -> Response:
    audit.record(event, "success", user_id=user.id, method=method, ip=request.remote_addr)
    if event in _FORGETS_DEVICES:
        # A password or factor reset forgets every remembered browser.
        forgotten = devices.revoke_all(user.id)
        if forgotten:
            audit.record(
                "devices_forgotten", "success", user_id=user.id, details={"count": forgotten}
            )
    flash(message, "notice")
    return redirect(url_for("account.index"))


@bp.post("/account/password")
@confirmed_access
def change_password(row: WebSession, user: User) -> Any:
    new, again = _field("password"), _field("password_confirm")
    if len(new) < 8:
        return render_account(row, user, 400, error="A password has at least 8 characters.")
    if new != again:
        return render_account(row, user, 400, error="The two passwords are not the same.")
    user.password_hash = hasher().hash(new)
    accounts.commit()
    return _changed(user, "password_changed", "password", "Your password was changed.")


@bp.post("/account/pin")
@confirmed_access
def set_pin(row: WebSession, user: User) -> Any:
    factor: Any = step_up.factors().get("pin")
    try:
        factor.set_pin(user.id, _field("pin", 64), _field("pin_confirm", 64))
    except FactorError as exc:
        return render_account(row, user, 400, error=exc.message)
    except ValueError as exc:  # PinRejected: the policy says why
        return render_account(row, user, 400, error=str(exc))
    return _changed(user, "factor_enrolled", "pin", "Your PIN is set.")


@bp.post("/account/<method>/remove")
@confirmed_access
def remove_factor(_row: WebSession, user: User, method: str) -> Any:
    if method not in {"pin", "totp", "backup_code", "email_otp", "sms_otp"}:
        return redirect(url_for("account.index"))
    step_up.factors().get(method).remove(user.id)
    return _changed(user, "factor_removed", method, f"{factor_forms.label(method)} removed.")


@bp.post("/account/totp/begin")
@confirmed_access
def totp_begin(row: WebSession, user: User) -> Any:
    factor: Any = step_up.factors().get("totp")
    enrolment = factor.begin(user.id, user.username)
    return render_account(row, user, totp_enrolment=enrolment)


@bp.post("/account/totp/confirm")
@confirmed_access
def totp_confirm(row: WebSession, user: User) -> Any:
    factor: Any = step_up.factors().get("totp")
    try:
        factor.confirm(user.id, _field("code", 64))
    except FactorError as exc:
        return render_account(
            row, user, 400, error=exc.message, totp_enrolment=factor.pending(user.id)
        )
    # The first code proves possession of the new authenticator: recorded as an
    # enrolment proof, never counted as an authentication (docs/security.md case 45).
    token = assurance_events.add_enrolment_proof(row, "totp", factor.amr)
    web_session.rotate_cookie(token)
    return _changed(user, "factor_enrolled", "totp", "Your authenticator app is set up.")


def _code_factor(kind: str) -> tuple[str, Any] | None:
    """(method, factor) receiving codes at an ``email`` or ``phone`` destination."""
    method = _CODE_METHODS.get(kind)
    if method is None or method not in step_up.factors():
        return None
    return method, step_up.factors().get(method)


@bp.post("/account/<kind>/add")
@confirmed_access
def add_destination(row: WebSession, user: User, kind: str) -> Any:
    """Send a code to a new email address or phone number (not used until verified)."""
    found = _code_factor(kind)
    if found is None:
        return redirect(url_for("account.index"))
    method, factor = found
    try:
        sent = factor.send_verification(user.id, _field(kind, 320))
    except DeliveryFailed as exc:
        code_login.record_send(method, exc, user_id=user.id, client_id=None, ip=request.remote_addr)
        return render_account(row, user, 503, error=exc.message)
    except FactorError as exc:
        return render_account(row, user, exc.status_code, error=exc.message)
    code_login.record_send(method, None, user_id=user.id, client_id=None, ip=request.remote_addr)
    flash(f"We sent a code to {sent.masked}.", "notice")
    return redirect(url_for("account.index"))


@bp.post("/account/<kind>/verify")
@confirmed_access
def verify_destination(row: WebSession, user: User, kind: str) -> Any:
    found = _code_factor(kind)
    if found is None:
        return redirect(url_for("account.index"))
    method, factor = found
    try:
        factor.confirm_verification(user.id, _field("code", 64))
    except FactorError as exc:
        return render_account(row, user, exc.status_code, error=exc.message)
    what = "email address" if kind == "email" else "phone number"
    return _changed(user, "factor_enrolled", method, f"Your {what} is verified.")


@bp.post("/account/backup-codes")
@confirmed_access
def backup_codes(row: WebSession, user: User) -> Any:
    codes = step_up.factors().get("backup_code").generate(user.id)  # type: ignore[attr-defined]
    audit.record("backup_codes_generated", "success", user_id=user.id, method="backup_code")
    devices.revoke_all(user.id)  # a factor reset forgets remembered browsers
    return render_account(row, user, backup_codes=codes)


@bp.post("/account/sessions/revoke")
def revoke_session() -> Any:
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    target_id = request.form.get("session_id", "")
    for other in session_store.list_for_user(user.id):
        if str(other.id) == target_id and other.id != row.id:
            session_store.delete_session(other)
            audit.record("session_revoked", "success", user_id=user.id)
    return redirect(url_for("account.index"))


@bp.post("/account/devices/<int:device_id>/revoke")
def revoke_device(device_id: int) -> Any:
    """Forget a remembered browser: it stops at once (no confirmation needed to
    take trust away, like signing out a session)."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    _row, user = signed_in
    if devices.revoke(user.id, device_id):
        audit.record(
            "device_revoked",
            "success",
            user_id=user.id,
            ip=request.remote_addr,
            details={"device_id": device_id},
        )
        flash("That browser is no longer remembered.", "notice")
    return redirect(url_for("account.index"))


@bp.post("/account/passkeys/<int:passkey_id>/rename")
@confirmed_access
def rename_passkey(row: WebSession, user: User, passkey_id: int) -> Any:
    name = " ".join(_field("name", 200).split())[:100]
    if not name:
        return render_account(row, user, 400, error="Give the passkey a name.")
    if not passkey_store.rename_passkey(user.id, passkey_id, name):
        return redirect(url_for("account.index"))
    return _changed(user, "passkey_renamed", "passkey", "Passkey renamed.")


@bp.post("/account/passkeys/<int:passkey_id>/delete")
@confirmed_access
def delete_passkey(_row: WebSession, user: User, passkey_id: int) -> Any:
    if not passkey_store.delete_passkey(user.id, passkey_id):
        return redirect(url_for("account.index"))
    return _changed(user, "factor_removed", "passkey", "Passkey removed.")
