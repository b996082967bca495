"""``evaluate``: what an authorization request needs next, as named steps.

The session is loaded once (:func:`_load`), then each step either answers
(an :data:`Outcome`) or lets the next one run: the ``id_token_hint`` check, the
policy decision, the remembered-device replay, locked factors, a refusal,
login or step-up, consent, and finally the code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from provider import clock, policy
from provider.errors import N_
from provider.flows import devices, step_up
from provider.flows.authorize.decision import (
    LazyEnrolled,
    blocked_by_locks,
    enrolled_methods,
    transaction_start,
)
from provider.flows.authorize.issue import issue_code
from provider.flows.authorize.outcomes import (
    ErrorPage,
    Outcome,
    ShowConsent,
    ShowLogin,
    ShowStepUp,
    error_redirect,
)
from provider.flows.authorize.request import AuthorizeRequest, client_policy
from provider.flows.authorize.transactions import Loaded, start
from provider.oidc.server import Subject
from provider.storage import audit
from provider.storage import clients as client_store
from provider.storage import consent as consent_store
from provider.storage import users as user_store
from provider.storage.ladder import current_ladder
from provider.storage.models import AuthorizeTransaction, Client, User, WebSession

__all__ = ["evaluate", "resume"]


@dataclass
class _Context:
    """One evaluation: the request, the browser's session and the decision so far."""

    request: AuthorizeRequest
    client: Client
    client_policy: policy.ClientPolicy
    ladder: policy.Ladder
    row: WebSession | None
    user: User | None
    session: policy.SessionState | None
    enrolled: Sequence[policy.EnrolledMethod]
    tx: AuthorizeTransaction | None
    ensure_row: Callable[[], WebSession]
    now: int
    device_token: str | None
    on_rotate: Any
    on_challenge_page: bool
    decision: policy.Decision | None = None

    def decide(
        self,
        state: policy.SessionState | None,
        methods: Sequence[policy.EnrolledMethod] | None = None,
    ) -> policy.Decision:
        requirement = self.request.requirement_at(transaction_start(self.tx, self.row))
        return policy.decide(
            requirement,
            self.client_policy,
            self.ladder,
            state,
            self.enrolled if methods is None else methods,
            self.now,
        )

    def transaction(self) -> AuthorizeTransaction:
        """This request's transaction, started now if it has none yet."""
        if self.tx is None:
            self.tx = start(self.request, self.ensure_row().id)
        return self.tx


Step = Callable[[_Context], Outcome | None]


def evaluate(
    request: AuthorizeRequest,
    *,
    row: WebSession | None,
    previous_seen_at: int | None,
    tx: AuthorizeTransaction | None,
    ensure_row: Callable[[], WebSession],
    device_token: str | None = None,
    on_rotate: Any = None,
    on_challenge_page: bool = False,
) -> Outcome:
    """Decide what this authorization request needs next, and do it.

    ``device_token`` is this browser's remembered-device cookie and
    ``on_rotate`` sends a new session cookie value: with both, a remembered
    second factor is replayed when that alone meets the client's standing
    minimum (provider/flows/devices.py). ``on_challenge_page``: the step-up
    page itself asks again (a view or an answer), so a step-up still needed
    is not audited again — it was when the user was sent there.
    """
    context = _load(
        request,
        row=row,
        previous_seen_at=previous_seen_at,
        tx=tx,
        ensure_row=ensure_row,
        device_token=device_token,
        on_rotate=on_rotate,
        on_challenge_page=on_challenge_page,
    )
    if isinstance(context, ErrorPage):
        return context
    for step in STEPS:
        outcome = step(context)
        if outcome is not None:
            return outcome
    raise AssertionError("the last step always answers")


def resume(
    loaded: Loaded,
    *,
    row: WebSession | None,
    previous_seen_at: int | None,
    ensure_row: Callable[[], WebSession],
    device_token: str | None = None,
    on_rotate: Any = None,
    on_challenge_page: bool = False,
) -> Outcome:
    """Carry on with a stored transaction (after login, step-up or consent)."""
    return evaluate(
        loaded.request,
        row=row,
        previous_seen_at=previous_seen_at,
        tx=loaded.tx,
        ensure_row=ensure_row,
        device_token=device_token,
        on_rotate=on_rotate,
        on_challenge_page=on_challenge_page,
    )


def _load(
    request: AuthorizeRequest,
    *,
    row: WebSession | None,
    previous_seen_at: int | None,
    tx: AuthorizeTransaction | None,
    ensure_row: Callable[[], WebSession],
    device_token: str | None,
    on_rotate: Any,
    on_challenge_page: bool,
) -> _Context | ErrorPage:
    """The client (still registered, still with this redirect URI) and the
    browser's session: who is signed in and with which methods."""
    client = client_store.get_client(request.client_id)
    if client is None:
        return ErrorPage(400, "invalid_client", N_("This application is not registered here."))
    if request.redirect_uri not in (client.redirect_uris or []):
        return ErrorPage(
            400,
            "invalid_request",
            N_("The redirect_uri does not exactly match one registered for this application."),
        )
    session = step_up.session_state(row, previous_seen_at) if row is not None else None
    user = user_store.get_user(row.user_id) if row is not None else None
    if user is not None and user.disabled_at is not None:
        session, user = None, None
    return _Context(
        request=request,
        client=client,
        client_policy=client_policy(client),
        ladder=current_ladder(),
        row=row,
        user=user,
        session=session,
        enrolled=LazyEnrolled(partial(enrolled_methods, user)) if user else [],
        tx=tx,
        ensure_row=ensure_row,
        now=clock.now(),
        device_token=device_token,
        on_rotate=on_rotate,
        on_challenge_page=on_challenge_page,
    )


def check_hint(ctx: _Context) -> Outcome | None:
    """A valid ``id_token_hint`` naming someone other than the session's user
    (OIDC Core §3.1.2.1, docs/security.md case 52). Nothing when the hint names
    the session's user, or nobody is signed in yet (the decision then asks for
    a login — or answers ``login_required`` to ``prompt=none``).

    - ``prompt=none``: ``login_required``;
    - a login already happened during this transaction, and it was someone
      else: ``login_required`` (the hinted user did not sign in);
    - otherwise: the login page, for a new login (the hinted user is expected).
    """
    request, user, row = ctx.request, ctx.user, ctx.row
    if request.hint_subject is None or user is None or row is None:
        return None
    if str(user.id) == request.hint_subject:
        return None
    relogged = ctx.tx is not None and row.sid != ctx.tx.baseline_sid
    if "none" in request.prompts or relogged:
        audit.record(
            "authorize",
            "refused",
            user_id=user.id,
            client_id=ctx.client.client_id,
            reason="id_token_hint names another user",
        )
        return error_redirect(
            request.redirect_uri,
            "login_required",
            "The signed-in user is not the one id_token_hint names.",
            request.state,
        )
    return ShowLogin(ctx.transaction().id, "id_token_hint names another user")


def check_decision(ctx: _Context) -> Outcome | None:
    """Ask the policy engine what the session still lacks."""
    ctx.decision = ctx.decide(ctx.session)
    return None


def check_device_replay(ctx: _Context) -> Outcome | None:
    """A step-up a remembered second factor alone meets is replayed, never for
    an explicit step-up (provider/flows/devices.py)."""
    if (
        isinstance(ctx.decision, policy.StepUp)
        and ctx.user is not None
        and ctx.row is not None
        and ctx.session is not None
        and not ctx.request.explicit_step_up
    ):
        replayed = devices.try_replay(
            token=ctx.device_token,
            user=ctx.user,
            row=ctx.row,
            session=ctx.session,
            client_id=ctx.client.client_id,
            client_policy=ctx.client_policy,
            decide=ctx.decide,
            on_rotate=ctx.on_rotate,
            now=ctx.now,
        )
        if replayed is not None:
            ctx.decision = replayed
    return None


def check_locked_factors(ctx: _Context) -> Outcome | None:
    """Only locked methods reach what the client asks: the bar stays, and the
    user sees why and how to recover rather than a bare error at the client
    (docs/security.md case 44)."""
    assert ctx.decision is not None
    if ctx.user is None or ctx.row is None or "none" in ctx.request.prompts:
        return None
    blocked = blocked_by_locks(ctx.decision, ctx.enrolled, ctx.decide, ctx.session)
    if blocked is None:
        return None
    tx = ctx.transaction()
    if not ctx.on_challenge_page:
        _audit_step_up_required(ctx, blocked.target_acr, "locked", [], locked=blocked.locked)
    return ShowStepUp(
        tx.id, blocked.target_acr, (), "locked", enrolled=ctx.enrolled, locked=blocked.locked
    )


def check_refused(ctx: _Context) -> Outcome | None:
    decision = ctx.decision
    if not isinstance(decision, policy.Fail):
        return None
    audit.record(
        "authorize",
        "refused",
        user_id=ctx.user.id if ctx.user else None,
        client_id=ctx.client.client_id,
        reason=decision.reason,
    )
    return error_redirect(
        ctx.request.redirect_uri, decision.error, decision.description, ctx.request.state
    )


def check_interaction(ctx: _Context) -> Outcome | None:
    """A login or a step-up is needed: the page that asks for it."""
    decision = ctx.decision
    if isinstance(decision, policy.Login):
        return ShowLogin(ctx.transaction().id, decision.reason)
    if not isinstance(decision, policy.StepUp):
        return None
    tx = ctx.transaction()
    if not ctx.on_challenge_page:
        _audit_step_up_required(ctx, decision.target_acr, decision.reason, decision.methods)
    return ShowStepUp(
        tx.id,
        decision.target_acr,
        decision.methods,
        decision.reason,
        decision.passkey_credential_ids,
        ctx.enrolled,
    )


def check_consent(ctx: _Context) -> Outcome | None:
    """A third-party client needs the user's consent to the scopes it asks."""
    user, request = ctx.user, ctx.request
    assert user is not None
    needs_consent = not ctx.client.first_party and (
        "consent" in request.prompts
        or not set(request.scopes) <= consent_store.consented_scopes(user.id, ctx.client.client_id)
    )
    if not needs_consent or (ctx.tx is not None and ctx.tx.consent_given):
        return None
    if "none" in request.prompts:
        return error_redirect(
            request.redirect_uri, "consent_required", "The user has not consented.", request.state
        )
    return ShowConsent(ctx.transaction().id)


def check_issue_code(ctx: _Context) -> Outcome:
    decision = ctx.decision
    assert isinstance(decision, policy.Satisfied) and ctx.user is not None and ctx.row is not None
    subject = Subject(
        user=ctx.user,
        acr=decision.acr,
        amr=list(decision.amr),
        auth_time=decision.auth_time,
        sid=ctx.row.sid,
        audience=[ctx.request.resource] if ctx.request.resource else [],
    )
    return issue_code(ctx.request, ctx.client, subject, ctx.tx)


#: The steps, in order: the first to answer ends the evaluation.
STEPS: tuple[Step, ...] = (
    check_hint,
    check_decision,
    check_device_replay,
    check_locked_factors,
    check_refused,
    check_interaction,
    check_consent,
    check_issue_code,
)


def _audit_step_up_required(
    ctx: _Context,
    target_acr: str | None,
    reason: str,
    methods: Sequence[str],
    *,
    locked: Sequence[str] = (),
) -> None:
    """The user is sent to a step-up (audited once, when sent; not per view)."""
    details: dict[str, Any] = {"methods": list(methods)}
    if locked:
        details["locked"] = list(locked)
    audit.record(
        "step_up_required",
        "pending",
        user_id=ctx.user.id if ctx.user else None,
        client_id=ctx.client.client_id,
        acr=target_acr,
        reason=reason,
        details=details,
    )
