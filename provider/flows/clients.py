"""Registering relying parties and resource servers (the rules in one place)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from provider import clock, policy, storage
from provider.crypto import sha256_hex
from provider.errors import BelayError
from provider.oidc.clients import AUTH_METHODS, redirect_uri_problem
from provider.oidc.keys import SUPPORTED_ALGS
from provider.storage import audit
from provider.storage import clients as client_store
from provider.storage.ladder import current_ladder
from provider.storage.models import Client

__all__ = [
    "GRANT_TYPES",
    "MAX_RESOURCES",
    "METADATA_KEYS",
    "ClientRegistrationError",
    "allowed_resources",
    "checked_metadata",
    "register_client",
]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")

#: At most this many allowed ``resource`` values (RFC 8707) per client.
MAX_RESOURCES = 50
#: The registration-metadata keys this version understands (docs/admin.md).
METADATA_KEYS = ("resources",)


class ClientRegistrationError(BelayError, ValueError):
    """A client that cannot be registered; the message says why."""

    error = "invalid_client_metadata"


def register_client(
    client_id: str,
    *,
    redirect_uris: list[str],
    public: bool,
    secret: str | None,
    name: str | None = None,
    auth_method: str | None = None,
    first_party: bool = False,
    token_format: str = "jwt",
    post_logout_redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
    scope: str = "openid profile email offline_access",
    client_policy: dict[str, Any] | None = None,
    jwks: dict[str, Any] | None = None,
    id_token_alg: str | None = None,
    metadata: dict[str, Any] | None = None,
    actor: str = "cli",
) -> str | None:
    """Register a client; returns the secret (generated when not given) of a
    confidential client, which is stored only as a hash."""
    if not client_id or len(client_id) > 200 or any(c.isspace() for c in client_id):
        raise ClientRegistrationError("a client_id is 1-200 characters without spaces")
    if client_store.get_client(client_id):
        raise ClientRegistrationError(f"client {client_id!r} already exists")
    for uri in redirect_uris + (post_logout_redirect_uris or []):
        problem = redirect_uri_problem(uri)
        if problem:
            raise ClientRegistrationError(f"{uri}: {problem}")
    grants = grant_types or (
        ["authorization_code", "refresh_token"] if public else list(GRANT_TYPES)
    )
    unknown = sorted(set(grants) - set(GRANT_TYPES))
    if unknown:
        raise ClientRegistrationError(f"unsupported grant types: {', '.join(unknown)}")
    if public and "client_credentials" in grants:
        raise ClientRegistrationError("a public client cannot use client_credentials")
    if "authorization_code" in grants and not redirect_uris:
        raise ClientRegistrationError("the authorization_code grant needs a redirect URI")
    method = auth_method or (
        "none" if public else ("private_key_jwt" if jwks else "client_secret_basic")
    )
    if method not in AUTH_METHODS or public != (method == "none"):
        kind = "public" if public else "confidential"
        raise ClientRegistrationError(f"auth method {method!r} does not fit a {kind} client")
    if method == "private_key_jwt" and not jwks:
        raise ClientRegistrationError("private_key_jwt needs the client's public JWK Set")
    if not public and method != "private_key_jwt" and secret is None:
        secret = secrets.token_urlsafe(32)
    if token_format not in {"jwt", "opaque"}:
        raise ClientRegistrationError("the token format is jwt or opaque")
    if id_token_alg is not None and id_token_alg not in SUPPORTED_ALGS:
        raise ClientRegistrationError(
            f"ID token algorithm must be one of {', '.join(SUPPORTED_ALGS)}"
        )
    stored_metadata = checked_metadata(metadata) if metadata is not None else None
    stored_policy: dict[str, Any] = {}
    if client_policy:
        try:
            stored_policy = policy.client_policy_to_dict(
                policy.client_policy_from_dict(client_policy, current_ladder())
            )
        except policy.PolicyValidationError as exc:
            raise ClientRegistrationError(f"invalid policy: {exc}") from exc
    storage.save(
        Client(
            client_id=client_id,
            client_secret_hash=sha256_hex(secret) if secret and not public else None,
            name=name or client_id,
            is_public=public,
            token_endpoint_auth_method=method,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris or [],
            grant_types=grants,
            scope=scope,
            first_party=first_party,
            id_token_signed_response_alg=id_token_alg,
            access_token_format=token_format,
            jwks=jwks,
            policy=stored_policy,
            registration_metadata=stored_metadata,
            created_at=clock.now(),
        )
    )
    audit.record(
        "client_created",
        "success",
        client_id=client_id,
        details={"by": actor, "public": public, "auth_method": method, "grant_types": grants},
    )
    return secret if not public else None


def _resource_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value or len(value) > 2000:
        return "must be an absolute URI of at most 2000 characters"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a valid URI"
    if not parts.scheme or not parts.netloc or parts.fragment:
        return "must be an absolute URI without a fragment (RFC 8707 §2)"
    if any(c.isspace() or ord(c) < 0x20 for c in value):
        return "must not contain whitespace or control characters"
    return None


def checked_metadata(metadata: Any) -> dict[str, Any]:
    """Validate registration metadata: today the
    ``resources`` key, the RFC 8707 resource values the client may name at
    /authorize (docs/security.md case 56). Other keys are refused, so that a
    typo never silently does nothing."""
    if not isinstance(metadata, dict):
        raise ClientRegistrationError("metadata must be a JSON object")
    unknown = sorted(str(k) for k in metadata if k not in METADATA_KEYS)
    if unknown:
        raise ClientRegistrationError(
            f"unsupported metadata key(s): {', '.join(unknown)} "
            f"(supported: {', '.join(METADATA_KEYS)})"
        )
    result: dict[str, Any] = {}
    if "resources" in metadata:
        resources = metadata["resources"]
        if not isinstance(resources, list) or len(resources) > MAX_RESOURCES:
            raise ClientRegistrationError(
                f"resources must be a list of at most {MAX_RESOURCES} URIs"
            )
        for value in resources:
            problem = _resource_problem(value)
            if problem:
                raise ClientRegistrationError(f"resources: {str(value)[:200]!r} {problem}")
        result["resources"] = list(dict.fromkeys(resources))
    return result


def allowed_resources(client: Client) -> list[str]:
    """The RFC 8707 ``resource`` values this client may ask for (none unless registered)."""
    resources = (client.registration_metadata or {}).get("resources")
    return [r for r in resources if isinstance(r, str)] if isinstance(resources, list) else []
