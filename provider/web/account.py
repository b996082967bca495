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
from provider.errors import BelayError
from provider.factors.backup_codes import BackupCodeFactor
from provider.factors.totp import TotpFactor
from provider.flows import account as account_flow
from provider.flows import devices as device_flow
from provider.flows import step_up
from provider.flows.assurance import events as assurance_events
from provider.flows.assurance import lifecycle
from provider.policy import SECOND_FACTORS
from provider.storage.models import User, WebSession
from provider.web import factor_forms
from provider.web import session as web_session
from provider.web.errors import form_error

bp = Blueprint("account", __name__)


def _field(name: str, limit: int = 1024) -> str:
    value = request.form.get(name, "")
    return value[:limit]


# -- Confirm access (also the passkey endpoints' and the admin console's) --------------

#: Flask-session key: when the account page started asking to confirm
_CONFIRM_STARTED = "confirm_started_at"


def track_access(
    key: str, max_age: int, check: Callable[[int | None], account_flow.AccessCheck]
) -> account_flow.AccessCheck:
    """``check(started_at)`` with the start of the confirmation in progress,
    kept in the Flask session under ``key`` for at most ``max_age`` seconds:
    while a page asks to confirm, an event made since it asked counts even if
    it is a few seconds old (no loop); a stale start is dropped so old events
    never count as fresh."""
    started = session.get(key)
    if isinstance(started, int) and clock.now() - started > max_age:
        started = None
    access = check(started)
    if access.confirmed:
        session.pop(key, None)
    elif started is None:
        session[key] = clock.now()
    return access


def access_check(row: WebSession, user: User) -> account_flow.AccessCheck:
    """The account's Confirm-access state (the rule:
    :func:`provider.flows.account.check_access`); a confirmation in progress
    lasts ``CONFIRM_ACCESS_MAX_AGE``."""
    return track_access(
        _CONFIRM_STARTED,
        current_app.config["CONFIRM_ACCESS_MAX_AGE"],
        lambda started: account_flow.check_access(
            user, row, web_session.previous_seen_at(), started
        ),
    )


def confirmed_actor(row: WebSession, user: User, *, refusal: str | None = None) -> lifecycle.Actor:
    """The user acting on their own account with access confirmed; otherwise
    :class:`lifecycle.NotConfirmed` (a 403 ``confirm_access``; ``refusal``
    replaces its description)."""
    try:
        return lifecycle.by_user(access_check(row, user), ip=request.remote_addr)
    except lifecycle.NotConfirmed:
        if refusal is None:
            raise
        raise lifecycle.NotConfirmed(refusal) from None


def confirm_in_session(
    row: WebSession, user: User, access: account_flow.AccessCheck, *, purpose: str
) -> None:
    """Check the factor this form submits against ``access`` (the page's access
    check: :func:`access_check`, the admin console's own), then rotate the
    session cookie (provider/flows/account.py ``confirm_access``). A
    :class:`provider.factors.base.FactorError` when the check fails; nothing
    happens when access is already confirmed."""
    done = account_flow.confirm_access(
        user,
        row,
        access,
        method=_field("method", 30),
        submitted={k: v[:4096] for k, v in request.form.items() if k not in ("csrf_token", "tx")},
        purpose=purpose,
        ip=request.remote_addr,
    )
    if done is not None:
        web_session.rotate_cookie(done.cookie_token)


def render_account(row: WebSession, user: User, status: int = 200, **extra: Any) -> Any:
    access = access_check(row, user)
    registry = step_up.factors()
    enrolled = {m.method: m for m in registry.enrolled(user.id)}
    second = [m for m in enrolled if m in SECOND_FACTORS]
    confirm_factors = factor_forms.arrange(
        factor_forms.offered(user.id, access.methods),
        # The locked-factor message points at the backup code: show it first.
        prefer="backup_code" if access.recovery == "backup_code" else None,
    )
    shown = account_flow.overview(user)
    return render_template(
        "account.html",
        user=user,
        current=row,
        access=access,
        confirm_factors=confirm_factors,
        enrolled=enrolled,
        second_factors=second,
        pin=registry.get("pin").status(user.id),
        totp=registry.get("totp").status(user.id),
        backup_remaining=registry.get_as("backup_code", BackupCodeFactor).remaining(user.id),
        code_channels=_code_channels(user),
        passkeys=shown.passkeys,
        sessions=shown.sessions,
        devices=[
            {"row": d, "description": device_flow.describe_user_agent(d.user_agent)}
            for d in shown.devices
        ],
        events=shown.events,
        now=clock.now(),
        tx="",
        action=url_for("account.confirm"),
        **extra,
    ), status


def _code_channels(user: User) -> list[dict[str, Any]]:
    """The email address and phone number that receive codes, per channel."""
    return [
        {
            "kind": factor.destination_kind,
            "method": factor.method,
            "label": factor.label,
            "available": factor.channel is not None,
            "verified": factor.destination(user.id),
            "pending": factor.pending(user.id),
        }
        for factor in step_up.factors().code_factors()
    ]


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
    try:
        confirm_in_session(row, user, access_check(row, user), purpose="confirm_access")
    except BelayError as exc:  # a FactorError: the check failed
        return form_error(functools.partial(render_account, row, user), exc, status=401)
    return redirect(url_for("account.index"))


def confirmed_access(
    view: Callable[..., Any],
) -> Callable[..., Any]:
    """Run ``view(row, user, actor, **kwargs)`` only for a signed-in user whose
    access is confirmed (``actor`` is what provider/flows/assurance/lifecycle.py
    asks for a change); otherwise send them to sign in or to "Confirm access".

    A change the view lets refuse (a :class:`BelayError`, e.g.
    ``lifecycle.Rejected``) shows the account page again with its description."""

    @functools.wraps(view)
    def guarded(**kwargs: Any) -> Any:
        signed_in = web_session.signed_in()
        if signed_in is None:
            return redirect(url_for("login.login"))
        row, user = signed_in
        try:
            actor = confirmed_actor(row, user)
        except lifecycle.NotConfirmed as exc:
            flash(exc.description, "error")
            return redirect(url_for("account.index"))
        try:
            return view(row, user, actor, **kwargs)
        except BelayError as exc:
            return form_error(functools.partial(render_account, row, user), exc)

    return guarded


def _done(message: str) -> Response:
    flash(message, "notice")
    return redirect(url_for("account.index"))


@bp.post("/account/password")
@confirmed_access
def change_password(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    # One character more than allowed is read, so a too long password is
    # refused (never cut short).
    limit = lifecycle.PASSWORD_MAX_LENGTH + 1
    lifecycle.set_password(
        user, _field("password", limit), confirm=_field("password_confirm", limit), actor=actor
    )
    return _done("Your password was changed.")


@bp.post("/account/pin")
@confirmed_access
def set_pin(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    lifecycle.set_pin(user, _field("pin", 64), _field("pin_confirm", 64), actor=actor)
    return _done("Your PIN is set.")


@bp.post("/account/<method>/remove")
@confirmed_access
def remove_factor(_row: WebSession, user: User, actor: lifecycle.Actor, method: str) -> Any:
    if method not in lifecycle.removable():
        return redirect(url_for("account.index"))
    lifecycle.remove_factor(user, method, actor=actor)
    return _done(f"{factor_forms.label(method)} removed.")


@bp.post("/account/totp/begin")
@confirmed_access
def totp_begin(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    enrolment = lifecycle.begin_totp(user, actor=actor)
    return render_account(row, user, totp_enrolment=enrolment)


@bp.post("/account/totp/confirm")
@confirmed_access
def totp_confirm(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    # The first code proves the app holds the secret; it is not an
    # authentication event and the session's level stays (docs/security.md case 45).
    factor = step_up.factors().get_as("totp", TotpFactor)
    try:
        lifecycle.confirm_totp(user, _field("code", 64), actor=actor)
    except lifecycle.Rejected as exc:
        page = functools.partial(render_account, row, user)
        return form_error(page, exc, totp_enrolment=factor.pending(user.id))
    # Kept in the session's history as an enrolment proof, never counted.
    token = assurance_events.add_enrolment_proof(row, factor.method, factor.amr)
    web_session.rotate_cookie(token)
    return _done("Your authenticator app is set up.")


@bp.post("/account/<kind>/add")
@confirmed_access
def add_destination(row: WebSession, user: User, actor: lifecycle.Actor, kind: str) -> Any:
    """Send a code to a new email address or phone number (not used until verified)."""
    if step_up.factors().destination_factor(kind) is None:
        return redirect(url_for("account.index"))
    # A failed delivery (a 503) shows the page again with what to do.
    sent = lifecycle.send_destination_code(user, kind, _field(kind, 320), actor=actor)
    flash(f"We sent a code to {sent.masked}.", "notice")
    return redirect(url_for("account.index"))


@bp.post("/account/<kind>/verify")
@confirmed_access
def verify_destination(row: WebSession, user: User, actor: lifecycle.Actor, kind: str) -> Any:
    if step_up.factors().destination_factor(kind) is None:
        return redirect(url_for("account.index"))
    lifecycle.verify_destination(user, kind, _field("code", 64), actor=actor)
    what = "email address" if kind == "email" else "phone number"
    return _done(f"Your {what} is verified.")


@bp.post("/account/backup-codes")
@confirmed_access
def backup_codes(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    codes = lifecycle.generate_backup_codes(user, actor=actor)
    return render_account(row, user, backup_codes=codes)


@bp.post("/account/sessions/revoke")
def revoke_session() -> Any:
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    account_flow.revoke_session(user, row, request.form.get("session_id", ""))
    return redirect(url_for("account.index"))


@bp.post("/account/devices/<int:device_id>/revoke")
def revoke_device(device_id: int) -> Any:
    """Forget a remembered browser: it stops at once (no confirmation needed to
    take trust away, like signing out a session)."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    _row, user = signed_in
    if account_flow.forget_device(user, device_id, ip=request.remote_addr):
        flash("That browser is no longer remembered.", "notice")
    return redirect(url_for("account.index"))


@bp.post("/account/passkeys/<int:passkey_id>/rename")
@confirmed_access
def rename_passkey(row: WebSession, user: User, actor: lifecycle.Actor, passkey_id: int) -> Any:
    if not lifecycle.rename_passkey(user, passkey_id, _field("name", 200), actor=actor):
        return redirect(url_for("account.index"))
    return _done("Passkey renamed.")


@bp.post("/account/passkeys/<int:passkey_id>/delete")
@confirmed_access
def delete_passkey(_row: WebSession, user: User, actor: lifecycle.Actor, passkey_id: int) -> Any:
    if not lifecycle.delete_passkey(user, passkey_id, actor=actor):
        return redirect(url_for("account.index"))
    return _done("Passkey removed.")
