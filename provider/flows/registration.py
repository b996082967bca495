"""OAuth 2.0 Dynamic Client Registration (RFC 7591) and its management
protocol (RFC 7592), with the OpenID Connect Dynamic Client Registration 1.0
§2 policy fields ``default_acr_values``, ``default_max_age`` and
``require_auth_time``, which become the client's acr policy.

RFC 7591 §3: "The client or developer [...] MAY be required to use an initial
access token" — Belay always requires one (``REGISTRATION_INITIAL_ACCESS_TOKEN``).
RFC 7592 §1.2: the registration access token it returns is the only
credential for reading, updating and deleting the registration.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import current_app

from provider import clock, policy, storage
from provider.crypto import constant_time_equals, random_token, sha256_hex
from provider.errors import BelayError
from provider.flows.clients import ClientRegistrationError, register_client
from provider.oidc.clients import AUTH_METHODS, redirect_uri_problem
from provider.oidc.keys import SUPPORTED_ALGS
from provider.storage import admin as admin_store
from provider.storage import audit
from provider.storage import clients as client_store
from provider.storage.ladder import current_ladder
from provider.storage.models import Client

__all__ = [
    "InvalidToken",
    "RegistrationError",
    "check_initial_access_token",
    "client_metadata",
    "delete",
    "managed_client",
    "register",
    "update",
]

_SCOPES = {"openid", "profile", "email", "offline_access"}
#: At most this many redirect URIs (and post-logout ones) per registration.
MAX_REDIRECT_URIS = 20
_STRING_FIELDS = (
    "client_name",
    "logo_uri",
    "client_uri",
    "policy_uri",
    "tos_uri",
    "software_id",
    "software_version",
    "application_type",
    "subject_type",
)
_KNOWN = {
    "redirect_uris",
    "post_logout_redirect_uris",
    "token_endpoint_auth_method",
    "grant_types",
    "response_types",
    "scope",
    "jwks",
    "id_token_signed_response_alg",
    "default_acr_values",
    "default_max_age",
    "require_auth_time",
    "contacts",
    "client_id",
    "client_secret",
    *_STRING_FIELDS,
}


class RegistrationError(BelayError, ValueError):
    """RFC 7591 §3.2.2 error: ``error`` is invalid_redirect_uri or invalid_client_metadata."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description, error=error)


class InvalidToken(BelayError):
    """No bearer token, or not the right one (RFC 6750 §3.1)."""

    error = "invalid_token"
    status_code = 401
    description = "Bearer token required."

    def get_headers(self) -> dict[str, str]:
        return {**super().get_headers(), "WWW-Authenticate": 'Bearer error="invalid_token"'}


def check_initial_access_token(token: str, *, ip: str | None) -> None:
    """RFC 7591 §3: registration needs the initial access token
    (``REGISTRATION_INITIAL_ACCESS_TOKEN``); :class:`InvalidToken` otherwise
    (audited)."""
    expected = str(current_app.config["REGISTRATION_INITIAL_ACCESS_TOKEN"] or "")
    if (
        not expected
        or not token
        or not constant_time_equals(sha256_hex(token), sha256_hex(expected))
    ):
        audit.record("client_registered", "refused", reason="initial_access_token", ip=ip)
        raise InvalidToken()


def managed_client(client_id: str, token: str) -> Client:
    """The client its registration access token manages (RFC 7592 §2); an
    unknown client and a wrong token answer the same :class:`InvalidToken`."""
    client = client_store.get_client(client_id)
    if (
        client is None
        or client.registration_access_token_hash is None
        or not token
        or not constant_time_equals(client.registration_access_token_hash, sha256_hex(token))
    ):
        raise InvalidToken()
    return client


def _bad(description: str) -> RegistrationError:
    return RegistrationError("invalid_client_metadata", description)


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{key} must be an array of strings")
    return list(value)


def _checked(data: Any) -> dict[str, Any]:
    """Validate RFC 7591 §2 metadata; returns the normalised fields."""
    if not isinstance(data, Mapping):
        raise _bad("the request body must be a JSON object")
    redirect_uris = _strings(data, "redirect_uris")
    post_logout = _strings(data, "post_logout_redirect_uris")
    for key, uris in (("redirect_uris", redirect_uris), ("post_logout_redirect_uris", post_logout)):
        if len(uris) > MAX_REDIRECT_URIS:
            raise RegistrationError(
                "invalid_redirect_uri", f"{key}: at most {MAX_REDIRECT_URIS} URIs"
            )
    for uri in redirect_uris + post_logout:
        problem = redirect_uri_problem(uri)
        if problem:
            raise RegistrationError("invalid_redirect_uri", f"{uri[:200]}: {problem}")
    grants = _strings(data, "grant_types") or ["authorization_code"]
    responses = _strings(data, "response_types") or (
        ["code"] if "authorization_code" in grants else []
    )
    if set(responses) - {"code"}:
        raise _bad("only the code response type is supported")
    if "authorization_code" in grants and responses != ["code"]:
        raise _bad("grant_types and response_types do not match (RFC 7591 §2.1)")
    method = data.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise _bad(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    jwks = data.get("jwks")
    if jwks is not None and (
        not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list)
    ):
        raise _bad("jwks must be a JWK Set")
    if "jwks_uri" in data:
        raise _bad("jwks_uri is not supported; send jwks")
    scope = data.get("scope", "openid profile email")
    if not isinstance(scope, str) or not set(scope.split()) <= _SCOPES:
        raise _bad(f"scope may only hold {', '.join(sorted(_SCOPES))}")
    alg = data.get("id_token_signed_response_alg")
    if alg is not None and alg not in SUPPORTED_ALGS:
        raise _bad(f"id_token_signed_response_alg must be one of {', '.join(SUPPORTED_ALGS)}")
    policy_data = {
        key: data[key]
        for key in ("default_acr_values", "default_max_age", "require_auth_time")
        if key in data
    }
    try:
        policy.client_policy_from_dict(policy_data, current_ladder())
    except policy.PolicyValidationError as exc:
        raise _bad(str(exc)) from None
    extra: dict[str, Any] = {}
    for key in _STRING_FIELDS:
        if key in data:
            if not isinstance(data[key], str) or len(data[key]) > 2000:
                raise _bad(f"{key} must be a string")
            extra[key] = data[key]
    if "contacts" in data:
        extra["contacts"] = _strings(data, "contacts")
    return {
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": post_logout,
        "grant_types": grants,
        "response_types": responses,
        "token_endpoint_auth_method": method,
        "jwks": dict(jwks) if jwks is not None else None,
        "scope": " ".join(dict.fromkeys(scope.split())),
        "id_token_signed_response_alg": alg,
        "policy": policy_data,
        "extra": extra,
    }


def client_metadata(client: Client) -> dict[str, Any]:
    """The registration as RFC 7591 §3.2.1 returns it (without secrets)."""
    stored = policy.client_policy_from_dict(client.policy or {}, current_ladder())
    data: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []),
        "response_types": ["code"] if "authorization_code" in (client.grant_types or []) else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "scope": client.scope,
        "default_acr_values": list(stored.default_acr_values),
        "default_max_age": stored.default_max_age,
        "require_auth_time": stored.require_auth_time,
    }
    if client.id_token_signed_response_alg:
        data["id_token_signed_response_alg"] = client.id_token_signed_response_alg
    if client.jwks:
        data["jwks"] = client.jwks
    if client.client_secret_hash:
        data["client_secret_expires_at"] = 0
    data.update(
        {k: v for k, v in (client.registration_metadata or {}).items() if k != "client_name"}
    )
    return data


def register(data: Any) -> tuple[Client, str | None, str]:
    """Register; returns the client, its secret (if any) and the registration
    access token (both shown once)."""
    fields = _checked(data)
    client_id = random_token(16)
    public = fields["token_endpoint_auth_method"] == "none"
    try:
        secret = register_client(
            client_id,
            redirect_uris=fields["redirect_uris"],
            public=public,
            secret=None,
            name=fields["extra"].get("client_name"),
            auth_method=fields["token_endpoint_auth_method"],
            post_logout_redirect_uris=fields["post_logout_redirect_uris"],
            grant_types=fields["grant_types"],
            scope=fields["scope"],
            client_policy=fields["policy"] or None,
            jwks=fields["jwks"],
            id_token_alg=fields["id_token_signed_response_alg"],
            actor="registration",
        )
    except ClientRegistrationError as exc:
        raise _bad(str(exc)) from None
    client = client_store.get_client(client_id)
    assert client is not None
    token = secrets.token_urlsafe(32)
    client.registration_access_token_hash = sha256_hex(token)
    client.registration_metadata = fields["extra"]
    storage.commit()
    return client, secret, token


def update(client: Client, data: Any) -> Client:
    """RFC 7592 §2.2: the request replaces every metadata value."""
    if not isinstance(data, Mapping) or data.get("client_id") != client.client_id:
        raise _bad("client_id must be the registered client's id")
    fields = _checked({k: v for k, v in data.items() if k not in ("client_secret",)})
    public = fields["token_endpoint_auth_method"] == "none"
    if public != client.is_public:
        raise _bad("the client type cannot change; register a new client")
    if "client_credentials" in fields["grant_types"] and public:
        raise _bad("a public client cannot use client_credentials")
    if fields["token_endpoint_auth_method"] == "private_key_jwt" and not fields["jwks"]:
        raise _bad("private_key_jwt needs jwks")
    before = client_metadata(client)
    ladder = current_ladder()
    client.redirect_uris = fields["redirect_uris"]
    client.post_logout_redirect_uris = fields["post_logout_redirect_uris"]
    client.grant_types = fields["grant_types"]
    client.token_endpoint_auth_method = fields["token_endpoint_auth_method"]
    client.jwks = fields["jwks"]
    client.scope = fields["scope"]
    client.id_token_signed_response_alg = fields["id_token_signed_response_alg"]
    client.name = fields["extra"].get("client_name") or client.client_id
    # What only an admin sets (the allowed resources) survives the client's update.
    kept = {k: v for k, v in (client.registration_metadata or {}).items() if k == "resources"}
    client.registration_metadata = fields["extra"] | kept
    base = policy.client_policy_from_dict(client.policy or {}, ladder)
    client.policy = policy.client_policy_to_dict(
        policy.client_policy_from_dict(
            {"default_acr_values": [], "default_max_age": None, "require_auth_time": False}
            | fields["policy"],
            ladder,
            base=base,
        )
    )
    storage.commit()
    audit.record(
        "client_updated",
        "success",
        client_id=client.client_id,
        details={"by": "registration", "before": before, "after": client_metadata(client)},
    )
    return client


def delete(client: Client) -> None:
    before = client_metadata(client)
    admin_store.delete_client(client)
    audit.record(
        "client_deleted",
        "success",
        client_id=client.client_id,
        details={"by": "registration", "before": before, "after": None, "at": clock.now()},
    )
