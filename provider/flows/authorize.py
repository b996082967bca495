"""The authorization endpoint as a pipeline of small named steps.

``validate`` checks the client and redirect URI (errors before this point are
shown as a page, never redirected — RFC 6749 §4.1.2.1), then the rest of the
request; ``evaluate`` asks the policy engine what the session still lacks and
answers with one of: issue a code, log in, step up, ask consent, or an OAuth
error sent to the registered redirect URI with ``iss`` (RFC 9207).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, overload
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import current_app

from provider import clock, policy
from provider.flows import devices, step_up
from provider.flows.assurance import events
from provider.flows.clients import allowed_resources
from provider.oidc import hints
from provider.oidc.server import Subject
from provider.storage import accounts, audit
from provider.storage.models import AuthorizeTransaction, Client, User, WebSession

__all__ = [
    "AuthorizeError",
    "ErrorPage",
    "Outcome",
    "Redirect",
    "ShowConsent",
    "ShowLogin",
    "ShowStepUp",
    "decide_request",
    "evaluate",
    "validate",
]

# Parameters that must not repeat (RFC 6749 §3.1) — we refuse any repetition.
_SUPPORTED_PROMPTS = {"none", "login", "consent", "select_account"}


@dataclass(frozen=True)
class ErrorPage:
    status: int
    error: str
    description: str


@dataclass(frozen=True)
class Redirect:
    location: str


@dataclass(frozen=True)
class ShowLogin:
    tx_id: str
    reason: str


@dataclass(frozen=True)
class ShowStepUp:
    tx_id: str
    target_acr: str | None
    methods: tuple[str, ...]
    reason: str
    #: the passkeys (``passkey:<id>``) that reach the target (WebAuthn allowCredentials)
    passkey_credential_ids: tuple[str, ...] = ()
    #: the user's methods as the decision saw them (the page reuses them while
    #: no factor has been checked since)
    enrolled: Sequence[policy.EnrolledMethod] = ()
    #: locked methods that would reach the target were they unlocked, when
    #: nothing unlocked does (``methods`` is then empty): the page explains the
    #: recovery, and Cancel returns unmet_authentication_requirements
    locked: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShowConsent:
    tx_id: str


Outcome = ErrorPage | Redirect | ShowLogin | ShowStepUp | ShowConsent


class AuthorizeError(Exception):
    """An OAuth error to deliver to the (already validated) redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


#: the parameters of an authorization response (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207)
RESPONSE_PARAMETERS = frozenset({"code", "state", "iss", "error", "error_description", "error_uri"})


def response_uri(redirect_uri: str, params: list[tuple[str, str]]) -> str:
    """``redirect_uri`` carrying the response ``params`` and ``iss`` in its query.

    The registered URI's own query is kept as registered (RFC 6749 §3.1.2),
    read by its *keys* (``?dismiss=1`` holds no ``iss``), except for a key the
    response itself sets: the OP's own parameters win, so the client finds
    exactly one ``code``, ``state`` and ``iss`` (RFC 9207 §2.4, docs/security.md
    case 52).
    """
    # Split by hand, so the part before the query stays exactly as registered
    # (registration refuses fragments).
    base, _, query = redirect_uri.partition("?")
    kept = [
        segment
        for segment in query.split("&")
        if segment and unquote_plus(segment.partition("=")[0]) not in RESPONSE_PARAMETERS
    ]
    own = [(k, v) for k, v in params if k != "iss"] + [("iss", current_app.config["ISSUER"])]
    return f"{base}?{'&'.join([*kept, urlencode(own)])}"


def error_redirect(redirect_uri: str, error: str, description: str, state: str | None) -> Redirect:
    params = [("error", error), ("error_description", description)]
    if state:
        params.append(("state", state))
    return Redirect(response_uri(redirect_uri, params))


def _oauth_request(params: dict[str, str]) -> OAuth2Request:
    """Authlib's view of the stored request (it may be resumed on another request)."""
    request = OAuth2Request("GET", f"{current_app.config['ISSUER']}/authorize?{urlencode(params)}")
    request.payload = BasicOAuth2Payload(params)
    return request


@dataclass(frozen=True)
class Validated:
    client: Client
    params: dict[str, str]
    redirect_uri: str
    state: str | None
    #: the ``sub`` of a valid ``id_token_hint`` (see :func:`hint_outcome`)
    hint_subject: str | None = None


def validate(multi: dict[str, list[str]]) -> Validated | ErrorPage | Redirect:
    """Check client and redirect URI first, then the rest of the request."""
    client_ids = multi.get("client_id", [])
    redirect_uris = multi.get("redirect_uri", [])
    if len(client_ids) != 1 or not client_ids[0]:
        return ErrorPage(400, "invalid_request", "The request has no valid client_id.")
    client = accounts.get_client(client_ids[0])
    if client is None:
        return ErrorPage(400, "invalid_client", "This application is not registered here.")
    if len(redirect_uris) != 1 or not redirect_uris[0]:
        return ErrorPage(400, "invalid_request", "The request must carry exactly one redirect_uri.")
    redirect_uri = redirect_uris[0]
    if redirect_uri not in (client.redirect_uris or []):
        return ErrorPage(
            400,
            "invalid_request",
            "The redirect_uri does not exactly match one registered for this application.",
        )
    states = multi.get("state", [])
    state = states[0] if len(states) == 1 else None
    repeated = sorted(k for k, v in multi.items() if len(v) > 1)
    if repeated:
        return error_redirect(
            redirect_uri, "invalid_request", f"Parameter repeated: {', '.join(repeated)}.", state
        )
    params = {k: v[0] for k, v in multi.items()}
    if any("\x00" in v for v in params.values()):
        return error_redirect(
            redirect_uri, "invalid_request", "Parameters must not contain NUL.", state
        )
    too_large = parameter_size_problem(params)
    if too_large:
        return error_redirect(redirect_uri, "invalid_request", too_large, _capped(state))
    if "request" in params:
        return error_redirect(
            redirect_uri, "request_not_supported", "Request objects are not supported.", state
        )
    if "request_uri" in params:
        return error_redirect(
            redirect_uri, "request_uri_not_supported", "request_uri is not supported.", state
        )
    if params.get("response_mode", "query") != "query":
        return error_redirect(
            redirect_uri, "invalid_request", "Only response_mode=query is supported.", state
        )
    problem = _resource_problem(multi.get("resource", [])) or _resource_not_allowed(
        client, multi.get("resource", [])
    )
    if problem:
        return error_redirect(redirect_uri, "invalid_target", problem, state)
    if params.get("response_type", "code") != "code":
        # Checked here: Authlib echoes the value in error_description, which it
        # refuses (ValueError, a 500) when it holds quotes or non-ASCII.
        return error_redirect(
            redirect_uri,
            "unsupported_response_type",
            "Only response_type=code is supported.",
            state,
        )
    # Authlib validates response_type, scope, PKCE and nonce.
    server = current_app.extensions["belay_server"]
    try:
        grant = server.get_authorization_grant(_oauth_request(params))
        grant.validate_authorization_request()
    except OAuth2Error as error:
        return error_redirect(redirect_uri, error.error, error.description or error.error, state)
    hint_subject = None
    if params.get("id_token_hint"):
        try:
            hint_subject = hints.hinted_subject(
                params["id_token_hint"],
                current_app.extensions["belay_keys"].public_key_set(),
                current_app.config["ISSUER"],
                client.client_id,
            )
        except hints.InvalidHint as exc:
            return error_redirect(redirect_uri, "invalid_request", str(exc), state)
    return Validated(
        client=client,
        params=params,
        redirect_uri=redirect_uri,
        state=state,
        hint_subject=hint_subject,
    )


def hint_outcome(
    validated: Validated,
    *,
    row: WebSession | None,
    user: User | None,
    tx: AuthorizeTransaction | None,
    ensure_row: Any,
) -> Outcome | None:
    """What a valid ``id_token_hint`` naming someone other than the session's
    user leads to (OIDC Core §3.1.2.1, docs/security.md case 52); ``None`` when
    the hint names the session's user, or nobody is signed in yet (the usual
    decision then asks for a login — or answers ``login_required`` to
    ``prompt=none``).

    - ``prompt=none``: ``login_required``;
    - a login already happened during this transaction, and it was someone
      else: ``login_required`` (the hinted user did not sign in);
    - otherwise: the login page, for a new login (the hinted user is expected).
    """
    if validated.hint_subject is None or user is None or row is None:
        return None
    if str(user.id) == validated.hint_subject:
        return None
    prompts = set(validated.params.get("prompt", "").split())
    relogged = tx is not None and row.sid != tx.baseline_sid
    if "none" in prompts or relogged:
        audit.record(
            "authorize",
            "refused",
            user_id=user.id,
            client_id=validated.client.client_id,
            reason="id_token_hint names another user",
        )
        return error_redirect(
            validated.redirect_uri,
            "login_required",
            "The signed-in user is not the one id_token_hint names.",
            validated.state,
        )
    return ShowLogin(
        transaction_for(validated, tx, ensure_row).id, "id_token_hint names another user"
    )


#: The longest value /authorize accepts per parameter (docs/protocol.md): every
#: parameter is stored with the transaction, so an anonymous request must not
#: be able to make the database keep megabytes (docs/security.md case 55).
PARAMETER_LIMITS: dict[str, int] = {
    "state": 2048,
    "nonce": 512,
    "scope": 1024,
    "acr_values": 1024,
    "claims": 4096,
    "login_hint": 512,
    "id_token_hint": 8192,
    "ui_locales": 256,
    "claims_locales": 256,
    "max_age": 16,
    "prompt": 64,
    "display": 32,
    "response_type": 32,
    "response_mode": 32,
    "code_challenge": 128,
    "code_challenge_method": 16,
    "resource": 2000,
}
#: Any other parameter (ignored, but stored with the transaction).
OTHER_PARAMETER_LIMIT = 256
#: At most this many parameters, and this many characters in all.
MAX_PARAMETERS = 40
MAX_TOTAL_LENGTH = 16384


def parameter_size_problem(params: dict[str, str]) -> str | None:
    """Why the request's parameters are too large to store, or None."""
    if len(params) > MAX_PARAMETERS:
        return f"Too many parameters (at most {MAX_PARAMETERS})."
    total = 0
    for key, value in params.items():
        limit = PARAMETER_LIMITS.get(key, OTHER_PARAMETER_LIMIT)
        if len(key) > 64 or len(value) > limit:
            return f"Parameter too long: {key[:64]} (at most {limit} characters)."
        total += len(key) + len(value)
    if total > MAX_TOTAL_LENGTH:
        return f"The request is too large (at most {MAX_TOTAL_LENGTH} characters in all)."
    return None


def _capped(state: str | None) -> str | None:
    """``state`` to echo in an error, unless it is itself too long to send back."""
    return state if state is not None and len(state) <= PARAMETER_LIMITS["state"] else None


def _resource_not_allowed(client: Client, resources: list[str]) -> str | None:
    """RFC 8707 §2: a client may name only the resources registered for it
    (``belay client update CLIENT --metadata '{"resources": [...]}'``)."""
    if not resources:
        return None
    if resources[0] not in allowed_resources(client):
        return "This application may not request tokens for that resource."
    return None


def _resource_problem(resources: list[str]) -> str | None:
    """RFC 8707 §2: an absolute URI without a fragment."""
    if len(resources) > 1:
        return "Only one resource per request is supported."
    for resource in resources:
        parts = urlsplit(resource)
        if not parts.scheme or not parts.netloc or parts.fragment or len(resource) > 2000:
            return "resource must be an absolute URI without a fragment."
    return None


def enrolled_methods(user: User) -> list[policy.EnrolledMethod]:
    return step_up.factors().enrolled(user.id)


class _LazyEnrolled(Sequence[policy.EnrolledMethod]):
    """The user's methods, read (one query per factor) on first use: decide() only
    looks at them when the session does not already satisfy the request, which a
    live session usually does (bench/analysis.md)."""

    def __init__(self, load: Callable[[], list[policy.EnrolledMethod]]) -> None:
        self._load = load
        self._methods: list[policy.EnrolledMethod] | None = None

    def _get(self) -> list[policy.EnrolledMethod]:
        if self._methods is None:
            self._methods = self._load()
        return self._methods

    @overload
    def __getitem__(self, index: int) -> policy.EnrolledMethod: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[policy.EnrolledMethod]: ...

    def __getitem__(
        self, index: int | slice
    ) -> policy.EnrolledMethod | Sequence[policy.EnrolledMethod]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())


def client_policy(client: Client) -> policy.ClientPolicy:
    return policy.client_policy_from_dict(client.policy or {}, current_ladder())


def current_ladder() -> policy.Ladder:
    ladder: policy.Ladder = current_app.extensions["belay_ladder"]()
    return ladder


def transaction_start(tx: AuthorizeTransaction | None, row: WebSession | None) -> int | None:
    """When "this transaction" began, for the engine's "an event made during it".

    Times are whole seconds, so the transaction's own clock cannot tell a login
    from earlier in the same second apart from a step-up made for it: events are
    told apart by id instead (docs/security.md case 23: ``max_age=0`` always demands
    a new event).
    """
    if tx is None:
        return None
    if row is None:
        return tx.created_at + 1
    # Only events performed since: a replay from a remembered browser (made by
    # a parallel transaction) carries its old time and is never "new during
    # this transaction" (docs/security.md case 47).
    new = events.new_event_times(
        row, baseline_sid=tx.baseline_sid, baseline_event_id=tx.baseline_event_id
    )
    return min(new) if new else tx.created_at + 1


def decide_request(
    params: dict[str, str],
    client_policy: policy.ClientPolicy,
    ladder: policy.Ladder,
    session: policy.SessionState | None,
    enrolled: Sequence[policy.EnrolledMethod],
    now: int,
    *,
    transaction_started_at: int | None = None,
) -> policy.Decision:
    """The engine call /authorize makes (and the admin policy simulator, so
    that what it shows is what /authorize does). Raises
    :class:`policy.RequirementError` for a malformed request."""
    requirement = policy.parse_requirement(
        params,
        client_policy,
        ladder,
        transaction_started_at=transaction_started_at,
    )
    return policy.decide(requirement, client_policy, ladder, session, enrolled, now)


def _explicit_step_up(
    params: dict[str, str], client_policy: policy.ClientPolicy, ladder: policy.Ladder
) -> bool:
    """An explicit step-up: requested ``acr_values``, any ``max_age`` (requested
    or the client's default) or an essential ``acr``. A remembered device is
    never replayed for one: it always runs a real challenge (docs/design.md)."""
    requirement = policy.parse_requirement(
        params,
        client_policy,
        ladder,
    )
    return (
        requirement.acr_source == "request"
        or requirement.max_age is not None
        or requirement.essential_acr
        or "login" in requirement.prompt
    )


@dataclass(frozen=True)
class _Blocked:
    target_acr: str | None
    locked: tuple[str, ...]


def _blocked_by_locks(
    decision: policy.Decision,
    enrolled: Sequence[policy.EnrolledMethod],
    decide_for: Any,
    session: policy.SessionState | None,
) -> _Blocked | None:
    """When the requirement is unmet only because factors are locked: the
    target and the locked methods that would reach it. Never lowers the bar:
    the decision with those factors unlocked is only read, never acted on."""
    if (
        not isinstance(decision, policy.Fail)
        or decision.error != "unmet_authentication_requirements"
        or session is None
        or not any(m.locked for m in enrolled)
    ):
        return None
    unlocked = [replace(m, locked=False) for m in enrolled]
    would = decide_for(session, unlocked)
    if not isinstance(would, policy.StepUp):
        return None
    locked_names = {m.method for m in enrolled if m.locked}
    needed = tuple(m for m in would.methods if m in locked_names)
    if not needed:
        return None
    return _Blocked(would.target_acr, needed)


def transaction_for(
    validated: Validated, tx: AuthorizeTransaction | None, ensure_row: Any
) -> AuthorizeTransaction:
    """This request's transaction, started now if it has none yet."""
    if tx is not None:
        return tx
    return accounts.create_transaction(
        ensure_row().id,
        validated.client.client_id,
        validated.params,
        current_app.config["AUTHORIZE_TRANSACTION_TTL"],
    )


def _audit_step_up_required(
    user: User | None,
    client: Client,
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
        user_id=user.id if user else None,
        client_id=client.client_id,
        acr=target_acr,
        reason=reason,
        details=details,
    )


def evaluate(
    validated: Validated,
    *,
    row: WebSession | None,
    previous_seen_at: int | None,
    tx: AuthorizeTransaction | None,
    ensure_row: Any,
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
    params = validated.params
    client = validated.client
    ladder = current_ladder()
    pol = client_policy(client)
    scopes = set(params.get("scope", "").split())
    session = step_up.session_state(row, previous_seen_at) if row is not None else None
    user = accounts.get_user(row.user_id) if row is not None else None
    if user is not None and user.disabled_at is not None:
        session, user = None, None
    enrolled: Sequence[policy.EnrolledMethod] = (
        _LazyEnrolled(partial(enrolled_methods, user)) if user else []
    )
    now = clock.now()

    def decide_for(
        state: policy.SessionState | None,
        methods: Sequence[policy.EnrolledMethod] | None = None,
    ) -> policy.Decision:
        return decide_request(
            params,
            pol,
            ladder,
            state,
            enrolled if methods is None else methods,
            now,
            transaction_started_at=transaction_start(tx, row),
        )

    hinted = hint_outcome(validated, row=row, user=user, tx=tx, ensure_row=ensure_row)
    if hinted is not None:
        return hinted
    try:
        decision = decide_for(session)
    except policy.RequirementError as exc:
        return error_redirect(validated.redirect_uri, exc.error, exc.description, validated.state)
    if (
        isinstance(decision, policy.StepUp)
        and user is not None
        and row is not None
        and session is not None
        and not _explicit_step_up(params, pol, ladder)
    ):
        replayed = devices.try_replay(
            token=device_token,
            user=user,
            row=row,
            session=session,
            client_id=client.client_id,
            client_policy=pol,
            decide=decide_for,
            on_rotate=on_rotate,
            now=now,
        )
        if replayed is not None:
            decision = replayed
    prompts = set(params.get("prompt", "").split())

    blocked = (
        _blocked_by_locks(decision, enrolled, decide_for, session)
        if user is not None and row is not None and "none" not in prompts
        else None
    )
    if blocked is not None:
        # Only locked methods reach what the client asks: the bar stays, and the
        # user sees why and how to recover rather than a bare error at the client
        # (docs/security.md case 44).
        tx = transaction_for(validated, tx, ensure_row)
        if not on_challenge_page:
            _audit_step_up_required(
                user, client, blocked.target_acr, "locked", [], locked=blocked.locked
            )
        return ShowStepUp(
            tx.id, blocked.target_acr, (), "locked", enrolled=enrolled, locked=blocked.locked
        )

    if isinstance(decision, policy.Fail):
        audit.record(
            "authorize",
            "refused",
            user_id=user.id if user else None,
            client_id=client.client_id,
            reason=decision.reason,
        )
        return error_redirect(
            validated.redirect_uri, decision.error, decision.description, validated.state
        )

    if isinstance(decision, policy.Login | policy.StepUp):
        tx = transaction_for(validated, tx, ensure_row)
        if isinstance(decision, policy.Login):
            return ShowLogin(tx.id, decision.reason)
        if not on_challenge_page:
            _audit_step_up_required(
                user, client, decision.target_acr, decision.reason, decision.methods
            )
        return ShowStepUp(
            tx.id,
            decision.target_acr,
            decision.methods,
            decision.reason,
            decision.passkey_credential_ids,
            enrolled,
        )

    assert isinstance(decision, policy.Satisfied) and user is not None and row is not None
    needs_consent = not client.first_party and (
        "consent" in prompts or not scopes <= accounts.consented_scopes(user.id, client.client_id)
    )
    if needs_consent and not (tx and tx.consent_given):
        if "none" in prompts:
            return error_redirect(
                validated.redirect_uri,
                "consent_required",
                "The user has not consented.",
                validated.state,
            )
        return ShowConsent(transaction_for(validated, tx, ensure_row).id)

    subject = Subject(
        user=user,
        acr=decision.acr,
        amr=list(decision.amr),
        auth_time=decision.auth_time,
        sid=row.sid,
        audience=[params["resource"]] if params.get("resource") else [],
    )
    server = current_app.extensions["belay_server"]
    request = _oauth_request(params)
    grant = server.get_authorization_grant(request)
    response = server.create_authorization_response(
        request=request, grant_user=subject, grant=grant
    )
    if tx is not None:
        accounts.delete_transaction(tx, commit=False)
    # One commit: the code (added by save_authorization_code), the finished
    # transaction and the audit row land together or not at all.
    audit.record(
        "authorize",
        "success",
        user_id=user.id,
        client_id=client.client_id,
        acr=decision.acr,
        details={"amr": list(decision.amr)},
    )
    # Authlib appends its parameters (code, state) to the registered URI's query.
    registered = parse_qsl(urlsplit(validated.redirect_uri).query, keep_blank_values=True)
    added = parse_qsl(urlsplit(response.headers["Location"]).query, keep_blank_values=True)
    return Redirect(response_uri(validated.redirect_uri, added[len(registered) :]))
