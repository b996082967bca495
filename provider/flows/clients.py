"""Registering relying parties and resource servers (the rules in one place)."""

from __future__ import annotations

import secrets
from typing import Any

from provider import clock, policy
from provider.crypto import sha256_hex
from provider.oidc.clients import AUTH_METHODS, redirect_uri_problem
from provider.oidc.keys import SUPPORTED_ALGS
from provider.storage import accounts, audit
from provider.storage.ladder import current_ladder
from provider.storage.models import Client

__all__ = ["GRANT_TYPES", "ClientRegistrationError", "register_client"]

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


class ClientRegistrationError(ValueError):
    """A client that cannot be registered; the message says why."""


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
    actor: str = "cli",
) -> str | None:
    """Register a client; returns the secret (generated when not given) of a
    confidential client, which is stored only as a hash."""
    if not client_id or len(client_id) > 200 or any(c.isspace() for c in client_id):
        raise ClientRegistrationError("a client_id is 1-200 characters without spaces")
    if accounts.get_client(client_id):
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
    stored_policy: dict[str, Any] = {}
    if client_policy:
        try:
            stored_policy = policy.client_policy_to_dict(
                policy.client_policy_from_dict(client_policy, current_ladder())
            )
        except policy.PolicyValidationError as exc:
            raise ClientRegistrationError(f"invalid policy: {exc}") from exc
    accounts.add(
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
