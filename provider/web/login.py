"""The interactive pages of an authorization: login, step-up challenge, consent."""

from __future__ import annotations

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
from provider.factors import otp
from provider.factors import password as password_factor
from provider.factors.base import Busy, FactorError, NotEnrolled, Verified
from provider.flows import authorize as flow
from provider.flows import browser_session, code_login, devices, step_up
from provider.flows import login as login_flow
from provider.flows.assurance import events, lifecycle
from provider.policy import CATALOGUE, KNOWLEDGE
from provider.storage.models import User
from provider.web import factor_forms
from provider.web import session as web_session
from provider.web.cookies import set_device_cookie
from provider.web.oidc import expired_page, load_transaction, render_outcome, resume

bp = Blueprint("login", __name__)


def _tx() -> flow.Loaded | None:
    return load_transaction(request.values.get("tx"))


def _client_name(tx: flow.Loaded | None) -> str | None:
    return tx.client_name() if tx is not None else None


def _field(name: str, limit: int = 1024) -> str:
    value = request.form.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _after_login(tx: flow.Loaded | None) -> Any:
    if tx is not None:
        return redirect(url_for("oidc.authorize_resume", tx=tx.id))
    return redirect(url_for("account.index"))


def _client_policy(tx: flow.Loaded | None) -> Any:
    """The policy of the transaction's client (None without a transaction)."""
    return tx.client_policy() if tx is not None else None


def _sign_in(tx: flow.Loaded | None, user: User, verified: Verified) -> Any:
    """A new login in this browser (a fresh session id), then on to the authorization."""
    web_session.rotate_cookie(login_flow.sign_in(web_session.ensure_row(), user, verified))
    return _after_login(tx)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    tx = _tx()
    if request.values.get("tx") and tx is None:
        return expired_page()
    error = None
    busy = False
    username = ""
    client_policy = _client_policy(tx)
    pin_login = bool(client_policy is not None and client_policy.pin_login)
    if request.method == "POST" and "pin" in request.form and "password" not in request.form:
        username = _field("username", 150).strip()
        pin = _field("pin", 64)
        if not pin_login or tx is None or client_policy is None:
            error = "Sign-in with a PIN is not available here."
        elif not username or not pin:
            error = "Enter your username and PIN."
        else:
            pin_result = login_flow.verify_pin_login(
                username,
                pin,
                min_pin_length=client_policy.min_pin_length,
                ip=request.remote_addr,
                client_id=tx.client_id,
            )
            if pin_result.user is not None and pin_result.verified is not None:
                return _sign_in(tx, pin_result.user, pin_result.verified)
            busy = pin_result.reason == "busy"
            error = login_flow.BUSY_MESSAGE if busy else login_flow.PIN_FAILURE_MESSAGE
    elif request.method == "POST":
        username = _field("username", 150).strip()
        password = _field("password")
        if not username or not password:
            error = "Enter your username and password."
        else:
            result = login_flow.verify_password(
                username,
                password,
                ip=request.remote_addr,
                client_id=tx.client_id if tx else None,
                purpose="login",
            )
            if result.user is not None:
                event = Verified(method=password_factor.FACTOR, amr=password_factor.AMR)
                return _sign_in(tx, result.user, event)
            busy = result.reason == "busy"
            error = login_flow.BUSY_MESSAGE if busy else login_flow.FAILURE_MESSAGE
    status = 401 if error and request.method == "POST" else 200
    if busy:
        # Nothing was checked or counted: the browser may simply try again.
        body, _ = _render_login(tx, error=error, username=username, status=503)
        return body, 503, {"Retry-After": "1"}
    return _render_login(tx, error=error, username=username, status=status)


#: Flask-session key of a sign-in code on its way: {"tx", "username", "channel"}
CODE_LOGIN_KEY = "code_login"


def _code_channels(tx: flow.Loaded | None) -> list[dict[str, str]]:
    """Channels offered for sign-in with a code (the client's ``passwordless_login``)."""
    client_policy = _client_policy(tx)
    if client_policy is None or not client_policy.passwordless_login:
        return []
    return code_login.available_channels()


def _pending_code(tx: flow.Loaded | None) -> dict[str, str] | None:
    pending = session.get(CODE_LOGIN_KEY)
    if tx is None or not isinstance(pending, dict) or pending.get("tx") != tx.id:
        return None
    return pending


def _render_login(tx: flow.Loaded | None, *, error: str | None, username: str, status: int) -> Any:
    client_policy = _client_policy(tx)
    return render_template(
        "login.html",
        tx=tx.id if tx else "",
        error=error,
        username=username,
        client_name=_client_name(tx),
        pin_login=bool(client_policy is not None and client_policy.pin_login),
        code_channels=_code_channels(tx),
        pending_code=_pending_code(tx),
    ), status


def _sign_in_context(tx: flow.Loaded) -> str:
    """A sign-in code's context: this browser session and this transaction."""
    return otp.sign_in_context(tx.tx.session_id, tx.id)


@bp.post("/login/code")
def send_login_code() -> Any:
    """Send a sign-in code (clients with ``passwordless_login``), bound to this
    browser session and transaction. The answer reads the same whether or not
    the account exists, has a verified destination, may receive a code now or
    could be sent one: it says what happens *if* (docs/security.md case 50)."""
    tx = _tx()
    if tx is None:
        return expired_page()
    username = _field("username", 150).strip()
    channel = _field("channel", 10)
    if channel not in {c["channel"] for c in _code_channels(tx)}:
        return _render_login(
            tx, error="Sign-in with a code is not available here.", username=username, status=400
        )
    if not username:
        return _render_login(tx, error="Enter your username.", username="", status=400)
    code_login.send_login_code(
        username,
        channel,
        context=_sign_in_context(tx),
        ip=request.remote_addr,
        client_id=tx.client_id,
    )
    session[CODE_LOGIN_KEY] = {"tx": tx.id, "username": username, "channel": channel}
    flash(code_login.sent_notice(username, channel), "notice")
    return redirect(url_for("login.login", tx=tx.id), 303)


@bp.post("/login/code/verify")
def verify_login_code() -> Any:
    tx = _tx()
    if tx is None:
        return expired_page()
    pending = _pending_code(tx)
    if pending is None or pending["channel"] not in {c["channel"] for c in _code_channels(tx)}:
        return _render_login(
            tx, error="Ask for a sign-in code first.", username=_field("username", 150), status=400
        )
    code = _field("code", 64)
    if not code.strip():
        return _render_login(
            tx, error="Enter the code we sent you.", username=pending["username"], status=400
        )
    result = code_login.verify_login_code(
        pending["username"],
        pending["channel"],
        code,
        context=_sign_in_context(tx),
        ip=request.remote_addr,
        client_id=tx.client_id,
    )
    if result.user is None or result.verified is None:
        return _render_login(
            tx, error=code_login.FAILURE_MESSAGE, username=pending["username"], status=401
        )
    session.pop(CODE_LOGIN_KEY, None)
    return _sign_in(tx, result.user, result.verified)


#: step-up methods checked with argon2, the memorized secrets (knowledge): their
#: checks may be refused as busy
_HASHED_METHODS = frozenset(m for m, facts in CATALOGUE.items() if facts.category == KNOWLEDGE)


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
    return render_template(
        "error.html",
        title="That way of confirming is locked",
        description=_lock_words(lock, str(factor.label)),
        error="locked",
        retry_url=url_for("login.challenge", tx=request.args.get("tx", "")),
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
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


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
            render_template(
                "error.html",
                title="Too busy to check that now",
                description=Busy().message,
                error=Busy.code,
                retry_url=url_for("login.challenge", tx=request.args.get("tx", "")),
            ),
            503,
            {"Retry-After": str(Busy.retry_after)},
        )
    if request.method == "POST":
        locked = _locked_factor_answer(request.form.get("method"))
        if locked is not None:
            return locked
    tx = _tx()
    row = web_session.current_row()
    user = browser_session.session_user(row)
    if tx is None or row is None or user is None:
        return expired_page("This confirmation has expired")
    outcome = resume(tx, on_challenge_page=True)
    if not isinstance(outcome, flow.ShowStepUp):
        # Nothing (or something else) is needed now: evaluate() already acted on it.
        return render_outcome(outcome)
    error = None
    error_status = 401
    enrolled = outcome.enrolled
    if request.method == "POST":
        if request.form.get("cancel"):
            return redirect(flow.cancel_step_up(tx, user.id).location)
        try:
            done = step_up.verify_in_session(
                user=user,
                row=row,
                method=_field("method", 30),
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
    return (
        render_template(
            "challenge.html",
            tx=tx.id,
            factors=factor_forms.offered(user.id, offered),
            offered=offered,
            locks=locks,
            # Only locked methods reach the target (docs/security.md case 44):
            # the page explains the recovery; Cancel returns the error.
            blocked=not offered and bool(locked),
            backup_codes_too_weak=not offered
            and any(m.method == "backup_code" and not m.locked for m in enrolled),
            target_acr=outcome.target_acr,
            reason=outcome.reason,
            error=error,
            client_name=_client_name(tx),
            username=user.username,
            action=url_for("login.challenge", tx=tx.id),
            remember_days=_remember_days(tx),
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
    tx = _tx()
    purpose = _field("purpose", 20)
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
    factor = step_up.factors().code_factor(_field("channel", 10))
    if factor is None or not factor.enrolled(user.id):
        flash("That way of receiving a code is not available.", "error")
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


def remember_browser(response: Response, tx: flow.Loaded, user: User, verified: Verified) -> None:
    """The user ticked ``remember_device`` after a step-up for ``tx``: remember
    this browser when the client allows it (devices.remember refuses a password)."""
    days = _remember_days(tx)
    if not days:
        return
    cookie = devices.remember(
        user=user,
        client_id=tx.client_id,
        days=days,
        method=verified.method,
        amr=verified.amr,
        credential_id=verified.credential_id,
        details=dict(verified.details),
        event_at=clock.now(),
        user_agent=request.headers.get("User-Agent"),
        ip=request.remote_addr,
    )
    if cookie is not None:
        set_device_cookie(response, cookie)


def _remember_days(tx: flow.Loaded) -> int:
    """The client's remember_device_days (0: the browser cannot be remembered)."""
    pol = _client_policy(tx)
    return int(pol.remember_device_days) if pol is not None else 0


def _submitted() -> dict[str, str]:
    """The posted fields, bounded (a factor rejects what it does not expect)."""
    return {k: v[:4096] for k, v in request.form.items() if k not in {"csrf_token", "tx"}}


@bp.route("/consent", methods=["GET", "POST"])
def consent() -> Any:
    tx = _tx()
    row = web_session.current_row()
    if tx is None or row is None or row.user_id is None:
        return expired_page("This request has expired")
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
        error="Choose Allow or Deny." if request.method == "POST" else None,
        now=clock.now(),
    )
