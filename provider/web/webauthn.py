"""The passkey JSON endpoints (``/webauthn/…``) that static/js/passkey.js calls.

Each ceremony is an ``…/options`` call (a challenge stored for this browser
session and ceremony) and a ``…/verify`` call (the challenge consumed, then
checked). Requests carry the session cookie and the CSRF token in the
``X-CSRF-Token`` header. Every failure is a :class:`provider.errors.BelayError`
answered as JSON ``{error, error_description}`` by provider/web/errors.py,
with a 4xx status — fuzzed input never reaches a 500 (docs/security.md C.20).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import Blueprint, jsonify, request, url_for
from werkzeug.wrappers import Response

from provider.errors import N_, BelayError, LoginRequired
from provider.factors.passkey import PasskeyRejected, PasskeySubmission, UserVerification
from provider.flows import authorize as flow
from provider.flows import browser_session, passkeys, step_up
from provider.flows.assurance import lifecycle
from provider.i18n import _
from provider.storage.models import User, WebSession
from provider.web import account as account_web
from provider.web import session as web_session
from provider.web.json_body import read_json
from provider.web.login import pages as login_pages
from provider.web.login.remember import remember_browser
from provider.web.oidc import resume

bp = Blueprint("webauthn", __name__, url_prefix="/webauthn")

_MAX_CREDENTIAL = 64 * 1024


def _json(body: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _body() -> dict[str, Any]:
    body = read_json()
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BelayError(_("Send a JSON object."))
    return body


def _text(body: dict[str, Any], name: str, limit: int = 200) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise BelayError(f'"{name}" must be a string.')
    return value


def _credential(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("credential")
    if not isinstance(value, dict) or len(str(value)) > _MAX_CREDENTIAL:
        raise BelayError('Send the passkey response as "credential".')
    return value


def _signed_in() -> tuple[WebSession, User]:
    signed_in = web_session.signed_in()
    if signed_in is None:
        raise LoginRequired()
    return signed_in


def _tx(tx_id: str) -> flow.Loaded | None:
    """The sign-in transaction a passkey call names ("": none; gone: Expired)."""
    row = web_session.current_row()
    return flow.expect(tx_id, row.id if row is not None else None)


# -- registration (account page, behind Confirm access) ----------------------------


def _confirmed() -> tuple[WebSession, User, lifecycle.Actor]:
    """The signed-in user with access confirmed at the account's level (both
    registration calls check it on the server, docs/security.md case 45)."""
    row, user = _signed_in()
    actor = account_web.confirmed_actor(
        row, user, refusal=N_("Confirm it's you first, then add a passkey.")
    )
    return row, user, actor


@bp.post("/register/options")
def register_options() -> Response:
    _body()
    row, user, _actor = _confirmed()
    return _json(passkeys.registration_options(row, user))


@bp.post("/register/verify")
def register_verify() -> Response:
    """Store the new passkey. The ceremony is no authentication event: the
    session's level stays what it was (docs/security.md case 45)."""
    body = _body()
    row, user, actor = _confirmed()
    credential = _credential(body)
    name = _text(body, "name", 200)
    saved = lifecycle.register_passkey(
        user, session_id=row.id, credential=credential, name=name, actor=actor
    )
    # Where the page goes next: the account page's passkeys (a GET), never a
    # reload of whatever URL the page was shown at.
    target = url_for("account.index", _anchor="passkeys")
    return _json({"registered": True, "id": saved.id, "name": saved.name, "redirect": target})


# -- first-factor login (discoverable credentials) ------------------------------------


@bp.post("/login/options")
def login_options() -> Response:
    body = _body()
    tx = _tx(_text(body, "tx", 100))
    return _json(passkeys.login_options(web_session.ensure_row(), tx=tx))


@bp.post("/login/verify")
def login_verify() -> Response:
    body = _body()
    row = web_session.current_row()
    if row is None:
        raise browser_session.Expired(passkeys.EXPIRED_MESSAGE)
    credential = _credential(body)
    tx_id = _text(body, "tx", 100)
    signed_in = passkeys.sign_in(row, credential, tx_id=tx_id, ip=request.remote_addr)
    web_session.rotate_cookie(signed_in.cookie_token)
    if tx_id:
        target = url_for("oidc.authorize_resume", tx=tx_id)
    else:  # like a password sign-in: back to the console page that asked (`?next=`)
        target = login_pages.next_path() or url_for("account.index")
    return _json({"verified": True, "redirect": target})


# -- step-up: the authorize challenge page and Confirm access --------------------------


class StepUpKind(StrEnum):
    """Whose step-up a passkey answers."""

    AUTHORIZE = "authorize"  # the challenge page of a sign-in transaction
    ACCOUNT = "account"  # Confirm access on the account page
    ADMIN = "admin"  # the admin console's step-up


#: ``tx`` on the wire (static/js/passkey.js sends the page's ``data-tx``):
#: "" for the account page, "admin" for the console, else a transaction id.
_WIRE = {StepUpKind.ACCOUNT: "", StepUpKind.ADMIN: "admin"}
_TX_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class StepUpContext:
    kind: StepUpKind
    transaction: flow.Loaded | None = None

    @property
    def wire(self) -> str:
        """The ``tx`` value naming this context (kept with the challenge)."""
        if self.transaction is not None:
            return self.transaction.id
        return _WIRE[self.kind]


def _step_up_context(body: dict[str, Any]) -> StepUpContext:
    """The context a step-up call names, read once from its body."""
    value = body.get("tx", "")
    if value == _WIRE[StepUpKind.ACCOUNT]:
        return StepUpContext(StepUpKind.ACCOUNT)
    if value == _WIRE[StepUpKind.ADMIN]:
        return StepUpContext(StepUpKind.ADMIN)
    if not isinstance(value, str) or len(value) > 64 or not set(value) <= _TX_ID_CHARACTERS:
        raise BelayError(
            'Unknown step-up context: "tx" must be "", "admin" or a sign-in transaction id.',
            error="invalid_request",
        )
    transaction = _tx(value)
    assert transaction is not None  # value is not empty
    return StepUpContext(StepUpKind.AUTHORIZE, transaction)


@dataclass(frozen=True)
class _StepUpSpec:
    methods: tuple[str, ...]
    credential_ids: tuple[str, ...]
    uv: UserVerification
    client_id: str | None
    target_acr: str | None
    purpose: str
    redirect: str


def _step_up_spec(row: WebSession, user: User, context: StepUpContext) -> _StepUpSpec:
    """What the policy asks of this step-up now (re-evaluated at each call)."""
    if context.kind is StepUpKind.ACCOUNT:
        access = account_web.access_check(row, user)
        if access.confirmed:
            raise BelayError(_("Access is already confirmed."), error="not_needed")
        return _StepUpSpec(
            access.methods,
            access.passkey_credential_ids,
            "required",
            None,
            access.target_acr,
            "confirm_access",
            url_for("account.index"),
        )
    if context.kind is StepUpKind.ADMIN:
        from provider.web import admin as admin_web

        access = admin_web.access_check(row, user)
        if not user.is_admin or access.confirmed:
            raise BelayError(_("Nothing more is needed: continue."), error="not_needed")
        return _StepUpSpec(
            access.methods,
            access.passkey_credential_ids,
            "required",
            None,
            access.target_acr,
            "admin_step_up",
            url_for("admin.dashboard"),
        )
    tx = context.transaction
    assert tx is not None
    outcome = resume(tx, replay_device=False)
    if not isinstance(outcome, flow.ShowStepUp):
        raise BelayError(_("Nothing more is needed: continue."), error="not_needed")
    return _StepUpSpec(
        outcome.methods,
        outcome.passkey_credential_ids,
        passkeys.user_verification(tx),
        tx.client_id,
        outcome.target_acr,
        "step_up",
        url_for("oidc.authorize_resume", tx=tx.id),
    )


@bp.post("/step-up/options")
def step_up_options() -> Response:
    body = _body()
    row, user = _signed_in()
    context = _step_up_context(body)
    spec = _step_up_spec(row, user, context)
    if "passkey" not in spec.methods or not spec.credential_ids:
        raise BelayError(_("None of your passkeys is accepted here."), error="not_enrolled")
    ids = [int(ref.split(":", 1)[1]) for ref in spec.credential_ids]
    challenge = passkeys.new_challenge(
        session_id=row.id,
        ceremony="step_up",
        user_id=user.id,
        context={"tx": context.wire, "uv": spec.uv, "allowed": list(spec.credential_ids)},
    )
    return _json(
        passkeys.factor().authentication_options(
            challenge=challenge, user_verification=spec.uv, passkey_ids=ids, user_id=user.id
        )
    )


@bp.post("/step-up/verify")
def step_up_verify() -> Response:
    body = _body()
    row, user = _signed_in()
    credential = _credential(body)
    context = _step_up_context(body)
    try:
        consumed = passkeys.take_challenge(session_id=row.id, ceremony="step_up", user_id=user.id)
        if consumed.context.get("tx", "") != context.wire:
            raise PasskeyRejected(passkeys.EXPIRED_MESSAGE, reason="challenge_tx")
    except PasskeyRejected as exc:
        passkeys.record_step_up_failure(user.id, exc.reason)
        raise
    spec = _step_up_spec(row, user, context)
    allowed = [c for c in consumed.context.get("allowed", []) if c in spec.credential_ids]
    done = step_up.verify_in_session(
        user=user,
        row=row,
        method="passkey",
        submitted=PasskeySubmission(
            credential=json.dumps(credential),
            challenge=consumed.challenge,
            user_verification=consumed.context.get("uv", "required"),
            allowed_credential_ids=allowed,
        ),
        allowed=spec.methods,
        client_id=spec.client_id,
        purpose=spec.purpose,
        target_acr=spec.target_acr,
        ip=request.remote_addr,
    )
    web_session.rotate_cookie(done.cookie_token)
    response = _json({"verified": True, "redirect": spec.redirect})
    if context.transaction is not None and body.get("remember_device") is True:
        remember_browser(response, context.transaction, user, done.verified)
    return response
