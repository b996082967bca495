"""Authorize transactions: a validated request waiting for the user.

:func:`start` stores the typed request; :func:`load` is the one way back to it
(this browser's live transaction, its request read back without validating it
again). The consent and cancel answers end a transaction here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from provider import policy
from provider.flows.authorize.outcomes import Redirect, error_redirect
from provider.flows.authorize.request import AuthorizeRequest, UnreadableRequest, client_policy
from provider.flows.browser_session import Expired
from provider.storage import audit
from provider.storage import clients as client_store
from provider.storage import consent as consent_store
from provider.storage import transactions as transaction_store
from provider.storage.models import AuthorizeTransaction, Client

__all__ = [
    "AppLink",
    "Loaded",
    "allow_consent",
    "app_of",
    "cancel_login",
    "cancel_step_up",
    "deny_consent",
    "expect",
    "load",
    "start",
]


@dataclass(frozen=True)
class Loaded:
    """A live transaction of this browser and the request it carries."""

    tx: AuthorizeTransaction
    request: AuthorizeRequest

    @property
    def id(self) -> str:
        return self.tx.id

    @property
    def client_id(self) -> str:
        return self.request.client_id

    def client(self) -> Client | None:
        return client_store.get_client(self.request.client_id)

    def client_name(self) -> str | None:
        client = self.client()
        return (client.name or client.client_id) if client else None

    def client_policy(self) -> policy.ClientPolicy | None:
        client = self.client()
        return client_policy(client) if client is not None else None

    def consent_scopes(self) -> list[str]:
        """The requested scopes the client may have (what the consent page lists)."""
        client = self.client()
        allowed = set(client.scope.split()) if client is not None else set()
        return [s for s in self.request.scopes if s in allowed]


def start(request: AuthorizeRequest, session_id: int) -> AuthorizeTransaction:
    """Store ``request`` for this browser session (it waits for the user)."""
    return transaction_store.create_transaction(
        session_id,
        request.client_id,
        request.to_json(),
        current_app.config["AUTHORIZE_TRANSACTION_TTL"],
    )


def load(tx_id: str | None, session_id: int | None) -> Loaded | None:
    """This browser session's live transaction ``tx_id`` and its request.

    None when it is unknown, expired, another browser's, or stored in a shape
    this release cannot read: the caller shows "this sign-in has expired".
    """
    return _loaded(transaction_store.get_transaction(tx_id, session_id))


def _loaded(tx: AuthorizeTransaction | None) -> Loaded | None:
    """``tx`` with its stored request; None when there is none or this release
    cannot read it."""
    if tx is None:
        return None
    try:
        return Loaded(tx, AuthorizeRequest.from_json(tx.params))
    except UnreadableRequest:
        return None


@dataclass(frozen=True)
class AppLink:
    """The application a sign-in was for: its name and where to find it."""

    name: str
    url: str | None


def app_of(tx_id: str | None, session_id: int | None) -> AppLink | None:
    """The application of this browser's transaction ``tx_id``, live or
    expired (None: unknown, or another browser's -- that tells nothing): its
    name and its ``client_uri`` when registered, else the origin of the
    redirect URI it asked to return to."""
    loaded = _loaded(transaction_store.get_own_transaction(tx_id, session_id))
    if loaded is None:
        return None
    request = loaded.request
    client = client_store.get_client(request.client_id)
    if client is None:
        return None
    metadata = client.registration_metadata or {}
    url = metadata.get("client_uri") if isinstance(metadata.get("client_uri"), str) else None
    if not url or not url.startswith(("https://", "http://")):
        parts = urlsplit(request.redirect_uri)
        url = f"{parts.scheme}://{parts.netloc}/" if parts.scheme in ("https", "http") else None
    return AppLink(name=client.name or client.client_id, url=url)


def expect(tx_id: str, session_id: int | None) -> Loaded | None:
    """The transaction a call names: None when it names none (``tx_id``
    empty), :class:`~provider.flows.browser_session.Expired` when it is gone,
    unreadable or another browser's."""
    if not tx_id:
        return None
    loaded = load(tx_id, session_id)
    if loaded is None:
        raise Expired()
    return loaded


def cancel_step_up(loaded: Loaded, user_id: int, *, unmet: bool = False) -> Redirect:
    """The user pressed Cancel on the step-up: ``access_denied`` (RFC 6749
    §4.1.2.1, the user declined), so the client does not tell someone who holds
    the factors that they have none. ``unmet``: nothing the user holds could
    have answered (every factor that would is locked), and the client learns
    ``unmet_authentication_requirements`` (RFC 9470)."""
    audit.record("step_up", "cancelled", user_id=user_id, client_id=loaded.client_id)
    transaction_store.delete_transaction(loaded.tx)
    if unmet:
        return error_redirect(
            loaded.request.redirect_uri,
            "unmet_authentication_requirements",
            "The user could not complete the required authentication.",
            loaded.request.state,
        )
    return error_redirect(
        loaded.request.redirect_uri,
        "access_denied",
        "The user cancelled the authentication.",
        loaded.request.state,
    )


def cancel_login(loaded: Loaded) -> Redirect:
    """ "Cancel and return to the application" on the sign-in page: the
    transaction ends and the client learns ``access_denied`` (RFC 6749
    §4.1.2.1), with its ``state``."""
    audit.record("login", "cancelled", client_id=loaded.client_id)
    transaction_store.delete_transaction(loaded.tx)
    return error_redirect(
        loaded.request.redirect_uri,
        "access_denied",
        "The user cancelled the sign-in.",
        loaded.request.state,
    )


def allow_consent(loaded: Loaded, user_id: int) -> None:
    """Remember the consent to the listed scopes; the transaction goes on."""
    consent_store.grant_consent(user_id, loaded.client_id, set(loaded.consent_scopes()))
    transaction_store.mark_consent_given(loaded.tx)
    audit.record("consent", "granted", user_id=user_id, client_id=loaded.client_id)


def deny_consent(loaded: Loaded, user_id: int) -> Redirect:
    audit.record("consent", "denied", user_id=user_id, client_id=loaded.client_id)
    transaction_store.delete_transaction(loaded.tx)
    return error_redirect(
        loaded.request.redirect_uri, "access_denied", "The user declined.", loaded.request.state
    )
