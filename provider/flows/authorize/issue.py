"""The last step of ``/authorize``: the code, delivered to the client."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from flask import current_app

from provider.flows.authorize.outcomes import Redirect, response_uri
from provider.flows.authorize.request import AuthorizeRequest, oauth_request
from provider.oidc.clients import OAuthClient
from provider.oidc.server import Subject
from provider.storage import audit
from provider.storage import transactions as transaction_store
from provider.storage.models import AuthorizeTransaction, Client

__all__ = ["issue_code"]


def issue_code(
    request: AuthorizeRequest,
    client: Client,
    subject: Subject,
    tx: AuthorizeTransaction | None,
) -> Redirect:
    """Issue the code for ``subject`` and end the transaction.

    The request was validated when it arrived (:func:`validate`): Authlib's
    grant only stores the code here, it does not check the request again.
    """
    server = current_app.extensions["belay_server"]
    oauth = oauth_request(request.oauth_parameters())
    grant = server.get_authorization_grant(oauth)
    oauth_client = OAuthClient(client)
    oauth.client = oauth_client
    oauth.scope = oauth_client.get_allowed_scope(" ".join(request.scopes))
    _status, _body, headers = grant.create_authorization_response(request.redirect_uri, subject)
    if tx is not None:
        transaction_store.delete_transaction(tx, commit=False)
    # One commit: the code (added by save_authorization_code), the finished
    # transaction and the audit row land together or not at all.
    audit.record(
        "authorize",
        "success",
        user_id=subject.user.id,
        client_id=client.client_id,
        acr=subject.acr,
        details={"amr": list(subject.amr)},
    )
    # Authlib appends its parameters (code, state) to the registered URI's query.
    registered = parse_qsl(urlsplit(request.redirect_uri).query, keep_blank_values=True)
    added = parse_qsl(urlsplit(dict(headers)["Location"]).query, keep_blank_values=True)
    return Redirect(response_uri(request.redirect_uri, added[len(registered) :]))
