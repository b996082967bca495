"""The Authlib view of a registered client (``ClientMixin``) and client rules."""

from __future__ import annotations

from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from provider.crypto import constant_time_equals, sha256_hex
from provider.storage.models import Client

__all__ = [
    "AUTH_METHODS",
    "LOOPBACK_HOSTS",
    "MAX_REDIRECT_URI_LENGTH",
    "OAuthClient",
    "redirect_uri_problem",
]

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


#: The longest redirect URI any registration accepts.
MAX_REDIRECT_URI_LENGTH = 2000


def redirect_uri_problem(uri: str) -> str | None:
    """Why a redirect URI cannot be registered (RFC 9700 §4.1, docs/security.md
    cases 32 and 56): https; http only on a loopback host (RFC 8252 §7.3); or a
    native app's private-use scheme, which holds a dot (a reversed domain name,
    RFC 8252 §7.1). Never whitespace or control characters, a fragment or user
    information."""
    if not isinstance(uri, str) or not uri:
        return "must be an absolute URL"
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return f"is too long (at most {MAX_REDIRECT_URI_LENGTH} characters)"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        return "must not contain whitespace or control characters"
    try:
        parts = urlsplit(uri)
        hostname = parts.hostname or ""
    except ValueError:
        return "is not a valid URL"
    scheme = parts.scheme.lower()
    if not scheme or (not parts.netloc and scheme in {"http", "https"}):
        return "must be an absolute URL"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if "@" in parts.netloc:
        return "must not contain user information"
    if scheme == "http" and hostname not in LOOPBACK_HOSTS:
        return "must use https (http is allowed only for localhost)"
    if scheme in {"javascript", "data", "vbscript", "file", "about", "blob"}:
        return "uses a forbidden scheme"
    if scheme not in {"http", "https"} and "." not in scheme:
        return (
            "must use https, http on localhost, or a private-use scheme named after "
            "a domain (like com.example.app:/callback, RFC 8252 §7.1)"
        )
    return None


class OAuthClient(ClientMixin):  # type: ignore[misc]
    def __init__(self, model: Client) -> None:
        self.model = model

    @property
    def client_id(self) -> str:
        return self.model.client_id

    @property
    def id_token_signed_response_alg(self) -> str | None:
        return self.model.id_token_signed_response_alg

    def get_client_id(self) -> str:
        return self.model.client_id

    def get_default_redirect_uri(self) -> str | None:
        # redirect_uri is always required (OIDC Core §3.1.2.1, OAuth 2.1).
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.model.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison: no normalisation, no prefix or wildcard match.
        return redirect_uri in (self.model.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.model.client_secret_hash
        if not stored or not isinstance(client_secret, str):
            return False
        return constant_time_equals(stored, sha256_hex(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return bool(method == self.model.token_endpoint_auth_method)

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.model.grant_types or [])

    @property
    def is_public(self) -> bool:
        return self.model.is_public
