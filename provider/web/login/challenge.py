"""``/challenge``: the step-up, which adds the missing event to the session the
user already has; ``/challenge/send-code``: a one-time code by email or SMS for
the page that asked. A locked factor is answered with words exact for its lock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for

from provider.errors import N_, BelayError
from provider.factors import otp
from provider.factors.base import Busy, FactorError, NotEnrolled
from provider.flows import authorize as flow
from provider.flows import browser_session, code_login, step_up
from provider.flows.assurance import events, lifecycle
from provider.policy import CATALOGUE, KNOWLEDGE
from provider.web import factor_forms
from provider.web import session as web_session
from provider.web.login import pages
from provider.web.login.pages import bp
from provider.web.login.remember import remember_browser, remember_days
from provider.web.oidc import expired_page, render_outcome, resume

__all__ = ["challenge", "format_time", "send_code"]

#: step-up methods checked with argon2, the memorized secrets (knowledge): their
#: checks may be refused as busy
_HASHED_METHODS = frozenset(m for m, facts in CATALOGUE.items() if facts.category == KNOWLEDGE)


def _refused_page(title: str, description: str, error: str) -> str:
    """An answer refused before the challenge is read, with a way back to it."""
    return render_template(
        "error.html",
        title=title,
        description=description,
        error=error,
        retry_url=url_for("login.challenge", tx=request.args.get("tx", "")),
    )


def _locked_factor_answer(method: str | None) -> Any:
    """A guess at one of this user's locked factors is answered at once: it would
    be refused unchecked anyway (a locked factor is neither offered nor hashed),
    and the page need not read the request's policy to say so. None otherwise.
    The words are exact for the factor (its lock lapses, or it needs an
    administrator); the challenge page behind the link lists what is offered
    instead."""
    row = web_session.current_row()
    if row is None or row.user_id is None or not method:
        return None
    try:
        factor = step_up.factors().get(method)
    except LookupError:
        return None
    lock = lifecycle.lock_state(row.user_id, method)
    if lock is None:
        return None
    return _refused_page(
        "That way of confirming is locked", _lock_words(lock, str(factor.label)), "locked"
    ), 401


def _lock_words(lock: lifecycle.LockState, label: str) -> str:
    name = label if label.isupper() else label[:1].lower() + label[1:]
    if lock.method == "password":
        if lock.until is not None:
            return (
                f"Your password is locked after too many tries until "
                f"{format_time(lock.until)}: try again after then, or ask an "
                "administrator to unlock it sooner."
            )
        return (
            "Your password is locked after too many tries in a row: it stays "
            "locked until an administrator unlocks it."
        )
    return (
        f"Your {name} is locked after too many tries: it works again only after "
        "an administrator unlocks or resets it. Go back to see the other ways to "
        "confirm (a backup code, if you have some and this application accepts them)."
    )


def format_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _submitted() -> dict[str, str]:
    """The posted fields, bounded (a factor rejects what it does not expect)."""
    return {k: v[:4096] for k, v in request.form.items() if k not in {"csrf_token", "tx"}}


@bp.route("/challenge", methods=["GET", "POST"])
def challenge() -> Any:
    """Step-up: add the missing event to the session the user already has."""
    if (
        request.method == "POST"
        and request.form.get("method") in _HASHED_METHODS
        and current_app.extensions["belay_hasher"].saturated()
    ):
        # The check would be refused as busy: say so before reading the request's
        # policy and factors, so that a storm of retried guesses stays cheap.
        return (
            _refused_page("Too busy to check that now", Busy().message, Busy.code),
            503,
            {"Retry-After": str(Busy.retry_after)},
        )
    if request.method == "POST":
        locked = _locked_factor_answer(request.form.get("method"))
        if locked is not None:
            return locked
    tx = pages.transaction()
    row = web_session.current_row()
    user = browser_session.session_user(row)
    if tx is None or row is None or user is None:
        return expired_page(N_("This confirmation has expired"))
    outcome = resume(tx, on_challenge_page=True)
    if not isinstance(outcome, flow.ShowStepUp):
        # Nothing (or something else) is needed now: evaluate() already acted on it.
        return render_outcome(outcome)
    error = None
    error_status = 401
    enrolled = outcome.enrolled
    if request.method == "POST":
        if request.form.get("cancel"):
            cancelled = flow.cancel_step_up(tx, user.id, unmet=not outcome.methods)
            return redirect(cancelled.location)
        try:
            done = step_up.verify_in_session(
                user=user,
                row=row,
                method=pages.field("method", 30),
                submitted=_submitted(),
                allowed=outcome.methods,
                client_id=tx.client_id,
                purpose="step_up",
                target_acr=outcome.target_acr,
                ip=request.remote_addr,
            )
        except FactorError as exc:
            error = exc.message
            error_status = exc.status_code if isinstance(exc, Busy) else 401
            if not isinstance(exc, Busy | NotEnrolled):
                enrolled = step_up.factors().enrolled(user.id)  # a check was counted
        else:
            web_session.rotate_cookie(done.cookie_token)
            response = redirect(url_for("oidc.authorize_resume", tx=tx.id))
            if request.form.get("remember_device"):
                remember_browser(response, tx, user, done.verified)
            return response
    locked = list(dict.fromkeys([*outcome.locked, *(m.method for m in enrolled if m.locked)]))
    # A method locked by this very answer is no longer offered.
    offered = [m for m in outcome.methods if m not in locked]
    locks = [lifecycle.lock_state(user.id, m) or lifecycle.LockState(m, None) for m in locked]
    # The way just tried (its error goes next to its field), else one the user
    # picked (?method=, e.g. "enter a backup code"): primary (factor_forms.arrange).
    tried = pages.field("method", 30) if request.method == "POST" else None
    factors = factor_forms.arrange(
        factor_forms.offered(user.id, offered),
        prefer=tried or request.args.get("method", "")[:30] or None,
        error=error,
    )
    return (
        render_template(
            "challenge.html",
            tx=tx.id,
            factors=factors,
            offered=offered,
            locks=locks,
            # Only locked methods reach the target (docs/security.md case 44):
            # the page explains the recovery; Cancel returns the error.
            blocked=not offered and bool(locked),
            backup_codes_too_weak=not offered
            and any(m.method == "backup_code" and not m.locked for m in enrolled),
            target_acr=outcome.target_acr,
            reason=outcome.reason,
            # Shown at the top only when no form shows it next to its field.
            error=None if any(f["error"] for f in factors) else error,
            failed=error is not None,
            client_name=pages.client_name(tx),
            username=user.username,
            action=url_for("login.challenge", tx=tx.id),
            remember_days=remember_days(tx),
            # A step for this transaction is done and another is needed (a plan of
            # several challenges, docs/security.md case 49).
            another_step=row.sid == tx.tx.baseline_sid
            and bool(
                events.new_event_times(
                    row, baseline_sid=tx.tx.baseline_sid, baseline_event_id=tx.tx.baseline_event_id
                )
            ),
        ),
        (error_status if error else 200),
        ({"Retry-After": str(Busy.retry_after)} if error_status == Busy.status_code else {}),
    )


@bp.post("/challenge/send-code")
def send_code() -> Any:
    """Send a one-time code by email or SMS to the signed-in user's verified
    destination, for the page that asked (the challenge, Confirm access on the
    account page, the admin console's step-up), then go back to it. The code
    counts only in this session and on that page (docs/security.md case 50).
    The user is known here: the page says exactly what happened; a failed
    delivery is shown and audited, never counted as a try."""
    signed_in = web_session.signed_in()
    if signed_in is None:
        return redirect(url_for("login.login"))
    row, user = signed_in
    tx = pages.transaction()
    purpose = pages.field("purpose", 20)
    if tx is not None:
        purpose = "step_up"
    elif purpose not in factor_forms.STEP_UP_PURPOSES - {"step_up"}:
        purpose = "confirm_access"
    if tx is not None:
        back = url_for("login.challenge", tx=tx.id)
    elif purpose == "admin_step_up":
        back = url_for("admin.dashboard")
    else:
        back = url_for("account.index")
    factor = step_up.factors().code_factor(pages.field("channel", 10))
    if factor is None or not factor.enrolled(user.id):
        flash(N_("That way of receiving a code is not available."), "error")
        return redirect(back), 303
    method = factor.method
    failure: BelayError | None = None
    try:
        sent = factor.send(
            user.id, purpose=otp.STEP_UP, context=otp.step_up_context(row.id, purpose)
        )
    except BelayError as exc:  # a FactorError, or DeliveryFailed
        failure = exc
    code_login.record_send(
        method,
        failure,
        user_id=user.id,
        client_id=tx.client_id if tx is not None else None,
        ip=request.remote_addr,
    )
    if failure is not None:
        # No new code: any earlier code of this page still works, as the page says.
        flash(f"No code was sent. {failure.description}", "error")
        return redirect(back), 303
    session[factor_forms.SENT_KEY] = {
        "user": user.id,
        "method": method,
        "masked": sent.masked,
        "purpose": purpose,
    }
    return redirect(back), 303
