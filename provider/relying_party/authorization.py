"""The next authorization request (OIDC Core §3.1.2.1, RFC 7636, RFC 9470 §4).

- RFC 7636 §4.1–4.2 / RFC 9700 §2.1.1: a fresh ``code_verifier`` of 43–128
  unreserved characters and ``code_challenge_method=S256``.
- OIDC Core §3.1.2.1 / RFC 9700 §4.7: unguessable ``state`` and ``nonce``,
  new for every request.
- RFC 9470 §4: ``acr_values`` and ``max_age`` from the challenge.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from provider.relying_party.step_up import StepUpRequirement

__all__ = ["AuthorizationRequest", "build_authorization_request", "code_challenge_s256"]

#: Parameters the builder owns; ``extra`` may not override them.
RESERVED = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "acr_values",
        "max_age",
    }
)


@dataclass(frozen=True)
class AuthorizationRequest:
    """The URL to send the browser to, and the secrets to keep for the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str
    requirement: StepUpRequirement | None = None


def code_challenge_s256(code_verifier: str) -> str:
    """RFC 7636 §4.2: ``BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))``."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def build_authorization_request(
    *,
    authorization_endpoint: str,
    client_id: str,
    redirect_uri: str,
    scope: str | Sequence[str],
    requirement: StepUpRequirement | None = None,
    extra: Mapping[str, str] | None = None,
) -> AuthorizationRequest:
    """An authorization code request with PKCE S256, ``state``, ``nonce`` and the requirement.

    ``extra`` adds parameters such as ``prompt``, ``login_hint`` or
    ``resource``; it cannot replace the ones built here (``ValueError``).
    """
    parts = urlsplit(authorization_endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise ValueError("authorization_endpoint must be an absolute http(s) URL without fragment")
    clash = RESERVED & set(extra or {})
    if clash:
        raise ValueError(f"extra may not set {sorted(clash)}")
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]
    params: list[tuple[str, str]] = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", scope if isinstance(scope, str) else " ".join(scope)),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", code_challenge_s256(code_verifier)),
        ("code_challenge_method", "S256"),
    ]
    if requirement is not None:
        if requirement.acr_values:
            params.append(("acr_values", " ".join(requirement.acr_values)))
        if requirement.max_age is not None:
            params.append(("max_age", str(requirement.max_age)))
    params.extend((extra or {}).items())
    # OAuth 2.0 (RFC 6749 §3.1): the endpoint's own query is kept.
    query = parse_qsl(parts.query, keep_blank_values=True) + params
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return AuthorizationRequest(
        url=url, state=state, nonce=nonce, code_verifier=code_verifier, requirement=requirement
    )
