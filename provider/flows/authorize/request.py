"""The authorization request, validated once into a typed, frozen value.

:func:`validate` runs on ``/authorize`` only: it checks the client and redirect
URI first (errors before that are shown as a page, never redirected — RFC 6749
§4.1.2.1), then the rest of the request, Authlib's checks (response type,
scope, PKCE, nonce) and the policy parameters (:func:`policy.parse_requirement`).
The result is stored with the transaction (:meth:`AuthorizeRequest.to_json`) and
read back by every re-entry (:meth:`AuthorizeRequest.from_json`), never validated
again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Final, Literal, cast
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from flask import current_app

from provider import policy
from provider.errors import N_
from provider.flows.authorize.outcomes import ErrorPage, Redirect, error_redirect
from provider.flows.clients import allowed_resources
from provider.oidc import hints
from provider.storage import clients as client_store
from provider.storage.ladder import current_ladder
from provider.storage.models import Client

__all__ = [
    "MAX_PARAMETERS",
    "MAX_TOTAL_LENGTH",
    "OTHER_PARAMETER_LIMIT",
    "PARAMETER_LIMITS",
    "AuthorizeRequest",
    "UnreadableRequest",
    "client_policy",
    "oauth_request",
    "parameter_size_problem",
    "validate",
]

#: The version of the stored shape; any other stored value is unreadable.
_VERSION: Final = 1


class UnreadableRequest(ValueError):
    """A stored request of another shape (an older release): treated as expired."""


@dataclass(frozen=True)
class AuthorizeRequest:
    """A valid authorization request, with the policy parameters parsed.

    ``requirement`` holds no ``transaction_started_at``: that depends on each
    evaluation (:func:`requirement_at`).
    """

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    requirement: policy.Requirement
    state: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    #: RFC 8707: the one resource the tokens are for
    resource: str | None = None
    #: the ``sub`` of a valid ``id_token_hint`` (see the pipeline's hint step)
    hint_subject: str | None = None
    #: OIDC ``ui_locales``: the languages the user prefers for these pages, in order
    ui_locales: tuple[str, ...] = ()
    response_type: Literal["code"] = "code"
    response_mode: Literal["query"] = "query"

    @property
    def prompts(self) -> frozenset[str]:
        return self.requirement.prompt

    @property
    def max_age(self) -> int | None:
        return self.requirement.max_age

    @property
    def explicit_step_up(self) -> bool:
        """Requested ``acr_values``, any ``max_age`` (requested or the client's
        default), an essential ``acr`` or ``prompt=login``. A remembered device
        is never replayed for one: it always runs a real challenge (docs/design.md)."""
        requirement = self.requirement
        return (
            requirement.acr_source == "request"
            or requirement.max_age is not None
            or requirement.essential_acr
            or "login" in requirement.prompt
        )

    def requirement_at(self, transaction_started_at: int | None) -> policy.Requirement:
        return replace(self.requirement, transaction_started_at=transaction_started_at)

    def oauth_parameters(self) -> dict[str, str]:
        """The parameters Authlib reads when it issues the code."""
        params = {
            "response_type": self.response_type,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
        }
        return {k: v for k, v in params.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        requirement = self.requirement
        return {
            "v": _VERSION,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scopes": list(self.scopes),
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "resource": self.resource,
            "hint_subject": self.hint_subject,
            "ui_locales": list(self.ui_locales),
            "requirement": {
                "acr_values": list(requirement.acr_values),
                "acr_source": requirement.acr_source,
                "unknown_acr_values": list(requirement.unknown_acr_values),
                "essential_acr": requirement.essential_acr,
                "essential_acr_values": list(requirement.essential_acr_values),
                "unknown_essential_acr_values": list(requirement.unknown_essential_acr_values),
                "max_age": requirement.max_age,
                "prompt": sorted(requirement.prompt),
            },
        }

    @classmethod
    def from_json(cls, data: Any) -> AuthorizeRequest:
        """The stored request; raises :class:`UnreadableRequest` for any other shape."""
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            raise UnreadableRequest("not a stored authorization request")
        raw = data.get("requirement")
        if not isinstance(raw, dict):
            raise UnreadableRequest("no requirement")
        acr_source = raw.get("acr_source")
        if acr_source not in ("request", "default", "none"):
            raise UnreadableRequest("acr_source")
        max_age = raw.get("max_age")
        if max_age is not None and (not isinstance(max_age, int) or isinstance(max_age, bool)):
            raise UnreadableRequest("max_age")
        essential = raw.get("essential_acr")
        if not isinstance(essential, bool):
            raise UnreadableRequest("essential_acr")
        requirement = policy.Requirement(
            acr_values=_strings(raw, "acr_values"),
            acr_source=cast(policy.AcrSource, acr_source),
            unknown_acr_values=_strings(raw, "unknown_acr_values"),
            essential_acr=essential,
            essential_acr_values=_strings(raw, "essential_acr_values"),
            unknown_essential_acr_values=_strings(raw, "unknown_essential_acr_values"),
            max_age=max_age,
            prompt=frozenset(_strings(raw, "prompt")),
        )
        client_id, redirect_uri = data.get("client_id"), data.get("redirect_uri")
        if not isinstance(client_id, str) or not isinstance(redirect_uri, str):
            raise UnreadableRequest("client_id or redirect_uri")
        return cls(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scopes=_strings(data, "scopes"),
            requirement=requirement,
            state=_optional(data, "state"),
            nonce=_optional(data, "nonce"),
            code_challenge=_optional(data, "code_challenge"),
            code_challenge_method=_optional(data, "code_challenge_method"),
            resource=_optional(data, "resource"),
            hint_subject=_optional(data, "hint_subject"),
            ui_locales=_strings(data, "ui_locales") if "ui_locales" in data else (),
        )


def _strings(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UnreadableRequest(name)
    return tuple(value)


def _optional(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise UnreadableRequest(name)
    return value


def client_policy(client: Client) -> policy.ClientPolicy:
    return policy.client_policy_from_dict(client.policy or {}, current_ladder())


def oauth_request(params: dict[str, str]) -> OAuth2Request:
    """Authlib's view of the request's parameters (it may be answered on another request)."""
    request = OAuth2Request("GET", f"{current_app.config['ISSUER']}/authorize?{urlencode(params)}")
    request.payload = BasicOAuth2Payload(params)
    return request


def validate(multi: dict[str, list[str]]) -> AuthorizeRequest | ErrorPage | Redirect:
    """Check client and redirect URI first, then the rest of the request."""
    client_ids = multi.get("client_id", [])
    redirect_uris = multi.get("redirect_uri", [])
    if len(client_ids) != 1 or not client_ids[0]:
        return ErrorPage(400, "invalid_request", N_("The request has no valid client_id."))
    client = client_store.get_client(client_ids[0])
    if client is None:
        return ErrorPage(400, "invalid_client", N_("This application is not registered here."))
    if len(redirect_uris) != 1 or not redirect_uris[0]:
        return ErrorPage(
            400, "invalid_request", N_("The request must carry exactly one redirect_uri.")
        )
    redirect_uri = redirect_uris[0]
    if redirect_uri not in (client.redirect_uris or []):
        return ErrorPage(
            400,
            "invalid_request",
            N_("The redirect_uri does not exactly match one registered for this application."),
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
    problem = _parameter_problem(client, params, multi.get("resource", []))
    if problem is not None:
        return error_redirect(redirect_uri, *problem, state)
    # Authlib validates response_type, scope, PKCE and nonce.
    server = current_app.extensions["belay_server"]
    try:
        grant = server.get_authorization_grant(oauth_request(params))
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
    try:
        requirement = policy.parse_requirement(params, client_policy(client), current_ladder())
    except policy.RequirementError as exc:
        return error_redirect(redirect_uri, exc.error, exc.description, state)
    return AuthorizeRequest(
        client_id=client.client_id,
        redirect_uri=redirect_uri,
        scopes=tuple(params.get("scope", "").split()),
        requirement=requirement,
        state=state,
        nonce=params.get("nonce"),
        code_challenge=params.get("code_challenge"),
        code_challenge_method=params.get("code_challenge_method"),
        resource=params.get("resource") or None,
        hint_subject=hint_subject,
        ui_locales=tuple(params.get("ui_locales", "").split()),
    )


def _parameter_problem(
    client: Client, params: dict[str, str], resources: list[str]
) -> tuple[str, str] | None:
    """(error, description) for a request Belay refuses before Authlib reads it."""
    if "request" in params:
        return "request_not_supported", "Request objects are not supported."
    if "request_uri" in params:
        return "request_uri_not_supported", "request_uri is not supported."
    if params.get("response_mode", "query") != "query":
        return "invalid_request", "Only response_mode=query is supported."
    problem = _resource_problem(resources) or _resource_not_allowed(client, resources)
    if problem:
        return "invalid_target", problem
    if params.get("response_type", "code") != "code":
        # Checked here: Authlib echoes the value in error_description, which it
        # refuses (ValueError, a 500) when it holds quotes or non-ASCII.
        return "unsupported_response_type", "Only response_type=code is supported."
    return None


#: The longest value /authorize accepts per parameter (docs/protocol.md): the
#: request is stored with the transaction, so an anonymous request must not
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
#: Any other parameter (ignored).
OTHER_PARAMETER_LIMIT = 256
#: At most this many parameters, and this many characters in all.
MAX_PARAMETERS = 40
MAX_TOTAL_LENGTH = 16384


def parameter_size_problem(params: dict[str, str]) -> str | None:
    """Why the request's parameters are too large to accept, or None."""
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
