"""What a step of ``/authorize`` answers, and how an answer reaches the client.

Errors before the client and redirect URI are known are an :class:`ErrorPage`
(never redirected — RFC 6749 §4.1.2.1); every later answer to the client is a
:class:`Redirect` carrying ``iss`` (RFC 9207).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus, urlencode

from flask import current_app

from provider import policy

__all__ = [
    "RESPONSE_PARAMETERS",
    "ErrorPage",
    "Outcome",
    "Redirect",
    "ShowConsent",
    "ShowLogin",
    "ShowStepUp",
    "error_redirect",
    "response_uri",
]


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
