"""The user's own page: sign-in methods, sessions and security events.

Every change sits behind "Confirm access" (a fresh step-up at the level of
the strongest factor the user has); the management forms appear only once
access is confirmed, and every POST checks it again on the server.

Every change made answers with a redirect to ``/account#section``
(POST/redirect/GET: a reload never re-sends it); a refused form is shown again
with its 4xx status and nothing changed. passkey.js goes where the server says.
What the next page must show once -- the section's message, a new
authenticator's QR code, fresh backup codes -- travels sealed in the
server-side session and is dropped as soon as it is shown
(provider/flows/account.py ``seal_one_time``). A GET on a POST-only URL goes
to ``/account``. Removing a factor and replacing backup codes ask first
(provider/web/confirmation.py).
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
from provider.i18n import _, translate
from provider.policy import SECOND_FACTORS
from provider.storage.models import User, WebSession
from provider.web import confirmation, factor_forms
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


#: Flask-session key: what the next account page shows once (sealed)
_ONCE = "account_once"


def back(section: str, *, notice: str | None = None, **material: Any) -> Response:
    """To ``/account#section`` (a 302 after a POST: the browser follows with a
    GET), with ``notice`` shown in that section and one-time ``material``
    (``backup_codes``, ``totp_enrolment``) shown once."""
    once = {"section": section, **material}
    if notice:
        once["notice"] = notice
    session[_ONCE] = account_flow.seal_one_time(once)
    return redirect(url_for("account.index", _anchor=section))


def _take_once() -> dict[str, Any]:
    """What this page shows once (then it is gone from the session)."""
    sealed = session.pop(_ONCE, None)
    return account_flow.open_one_time(sealed) if isinstance(sealed, str) else {}


def render_account(row: WebSession, user: User, status: int = 200, **extra: Any) -> Any:
    once = _take_once()
    if once.get("totp_enrolment"):
        extra["totp_enrolment"] = step_up.factors().get_as("totp", TotpFactor).pending(user.id)
    codes = once.get("backup_codes")
    if isinstance(codes, list):
        extra["backup_codes"] = [str(c) for c in codes]
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
        once=once,
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
    return back("confirm-access")


def confirmed_access(
    section: str,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run ``view(row, user, actor, **kwargs)`` only for a signed-in user whose
    access is confirmed (``actor`` is what provider/flows/assurance/lifecycle.py
    asks for a change); otherwise send them to sign in or to "Confirm access".

    A change the view lets refuse (a :class:`BelayError`, e.g.
    ``lifecycle.Rejected``) shows the account page again with its
    description (nothing changed: re-sending it is harmless); a change made
    goes to ``/account#section``."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
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
                return redirect(url_for("account.index", _anchor="confirm-access"))
            try:
                return view(row, user, actor, **kwargs)
            except BelayError as exc:
                return form_error(functools.partial(render_account, row, user), exc)

        return guarded

    return decorate


def _ask(title: str, consequence: str, button: str, section: str) -> Any:
    return confirmation.ask(
        confirmation.Question(
            title=title,
            consequence=consequence,
            button=button,
            cancel_url=url_for("account.index", _anchor=section),
        )
    )


@bp.post("/account/password")
@confirmed_access("password")
def change_password(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    # One character more than allowed is read, so a too long password is
    # refused (never cut short).
    limit = lifecycle.PASSWORD_MAX_LENGTH + 1
    lifecycle.set_password(
        user, _field("password", limit), confirm=_field("password_confirm", limit), actor=actor
    )
    return back("password", notice=_("Your password was changed."))


@bp.post("/account/pin")
@confirmed_access("pin")
def set_pin(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    lifecycle.set_pin(user, _field("pin", 64), _field("pin_confirm", 64), actor=actor)
    return back("pin", notice=_("Your PIN is set."))


def _section_of(method: str) -> str:
    """The account page's section showing ``method``."""
    if method in ("pin", "totp"):
        return "pin" if method == "pin" else "authenticator"
    for factor in step_up.factors().code_factors():
        if factor.method == method:
            return f"{factor.destination_kind}-codes"
    return "sign-in-methods"


@bp.post("/account/<method>/remove")
@confirmed_access("sign-in-methods")
def remove_factor(_row: WebSession, user: User, actor: lifecycle.Actor, method: str) -> Any:
    if method not in lifecycle.removable():
        return redirect(url_for("account.index"))
    section = _section_of(method)
    label = factor_forms.label(method)
    if not confirmation.confirmed():
        return _ask(
            _("Remove %(label)s?", label=translate(label)),
            _(
                "%(label)s will no longer confirm it's you; browsers you asked to "
                "remember are forgotten. Pages that need it will ask for another "
                "second factor.",
                label=translate(label),
            ),
            _("Remove %(label)s", label=translate(label)),
            section,
        )
    lifecycle.remove_factor(user, method, actor=actor)
    return back(section, notice=_("%(label)s removed.", label=translate(label)))


@bp.post("/account/totp/begin")
@confirmed_access("authenticator")
def totp_begin(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    lifecycle.begin_totp(user, actor=actor)
    return back("totp-setup", totp_enrolment=True)


@bp.post("/account/totp/confirm")
@confirmed_access("authenticator")
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
    return back("authenticator", notice=_("Your authenticator app is set up."))


@bp.post("/account/<kind>/add")
@confirmed_access("sign-in-methods")
def add_destination(row: WebSession, user: User, actor: lifecycle.Actor, kind: str) -> Any:
    """Send a code to a new email address or phone number (not used until verified)."""
    if step_up.factors().destination_factor(kind) is None:
        return redirect(url_for("account.index"))
    # A failed delivery (a 503) shows the page again with what to do.
    sent = lifecycle.send_destination_code(user, kind, _field(kind, 320), actor=actor)
    return back(
        f"{kind}-codes", notice=_("We sent a code to %(destination)s.", destination=sent.masked)
    )


@bp.post("/account/<kind>/verify")
@confirmed_access("sign-in-methods")
def verify_destination(row: WebSession, user: User, actor: lifecycle.Actor, kind: str) -> Any:
    if step_up.factors().destination_factor(kind) is None:
        return redirect(url_for("account.index"))
    lifecycle.verify_destination(user, kind, _field("code", 64), actor=actor)
    verified = (
        _("Your email address is verified.")
        if kind == "email"
        else _("Your phone number is verified.")
    )
    return back(f"{kind}-codes", notice=verified)


@bp.post("/account/backup-codes")
@confirmed_access("backup")
def backup_codes(row: WebSession, user: User, actor: lifecycle.Actor) -> Any:
    factor = step_up.factors().get_as("backup_code", BackupCodeFactor)
    if factor.remaining(user.id) and not confirmation.confirmed():
        return _ask(
            _("Make new backup codes?"),
            _(
                "Your current backup codes stop working at once; only the new ones "
                "will be accepted. Make new codes only if you can save them now."
            ),
            _("Make new codes"),
            "backup",
        )
    codes = lifecycle.generate_backup_codes(user, actor=actor)
    return back("backup-codes", backup_codes=codes)


@bp.post("/account/sessions/revoke")
def revoke_session() -> Any:
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    account_flow.revoke_session(user, row, request.form.get("session_id", ""))
    return redirect(url_for("account.index", _anchor="sessions"))


@bp.post("/account/devices/<int:device_id>/revoke")
def revoke_device(device_id: int) -> Any:
    """Forget a remembered browser: it stops at once (no confirmation needed to
    take trust away, like signing out a session)."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    _row, user = signed_in
    if account_flow.forget_device(user, device_id, ip=request.remote_addr):
        return back("remembered-devices", notice=_("That browser is no longer remembered."))
    return redirect(url_for("account.index", _anchor="remembered-devices"))


@bp.post("/account/passkeys/<int:passkey_id>/rename")
@confirmed_access("passkeys")
def rename_passkey(row: WebSession, user: User, actor: lifecycle.Actor, passkey_id: int) -> Any:
    if not lifecycle.rename_passkey(user, passkey_id, _field("name", 200), actor=actor):
        return redirect(url_for("account.index", _anchor="passkeys"))
    return back("passkeys", notice=_("Passkey renamed."))


@bp.post("/account/passkeys/<int:passkey_id>/delete")
@confirmed_access("passkeys")
def delete_passkey(_row: WebSession, user: User, actor: lifecycle.Actor, passkey_id: int) -> Any:
    if not confirmation.confirmed():
        return _ask(
            _("Remove this passkey?"),
            _(
                "It will no longer sign you in or confirm it's you; browsers you "
                "asked to remember are forgotten."
            ),
            _("Remove passkey"),
            "passkeys",
        )
    if not lifecycle.delete_passkey(user, passkey_id, actor=actor):
        return redirect(url_for("account.index", _anchor="passkeys"))
    return back("passkeys", notice=_("Passkey removed."))


@bp.get("/account/confirm")
@bp.get("/account/password")
@bp.get("/account/pin")
@bp.get("/account/<method>/remove")
@bp.get("/account/totp/begin")
@bp.get("/account/totp/confirm")
@bp.get("/account/<kind>/add")
@bp.get("/account/<kind>/verify")
@bp.get("/account/backup-codes")
@bp.get("/account/sessions/revoke")
@bp.get("/account/devices/<int:device_id>/revoke")
@bp.get("/account/passkeys/<int:passkey_id>/rename")
@bp.get("/account/passkeys/<int:passkey_id>/delete")
def post_only(**_: Any) -> Response:
    """A GET on a URL that only takes a form (a reload, a bookmark, an old
    passkey.js reload): the account page, never a 405."""
    return redirect(url_for("account.index"))
