"""Client registrations as an admin sees them: list, read, create, change,
rotate the secret, delete. Each change is audited with the fields before and
after (:func:`provider.flows.admin.audit_log.record_change`)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from provider import policy, storage
from provider.crypto import sha256_hex
from provider.flows.admin.audit_log import record_change
from provider.flows.admin.client_fields import checked_fields, scope_with_admin
from provider.flows.admin.errors import AdminError, NotFound
from provider.flows.clients import ClientRegistrationError, allowed_resources, register_client
from provider.storage import admin as store
from provider.storage import audit
from provider.storage import clients as client_store
from provider.storage.ladder import current_ladder
from provider.storage.models import Client

__all__ = [
    "client_to_dict",
    "create_client",
    "delete_client",
    "find_client",
    "get_client",
    "list_clients",
    "rotate_secret",
    "update_client",
]


def client_to_dict(client: Client) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "client_type": "public" if client.is_public else "confidential",
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": list(client.redirect_uris or []),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "grant_types": list(client.grant_types or []),
        "scope": client.scope,
        "first_party": bool(client.first_party),
        "is_admin": bool(client.is_admin),
        "access_token_format": client.access_token_format,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "has_secret": client.client_secret_hash is not None,
        "dynamically_registered": client.registration_access_token_hash is not None,
        "resources": allowed_resources(client),
        "policy": dict(client.policy or {}),
        "created_at": client.created_at,
    }


def list_clients() -> list[Client]:
    return store.list_clients()


def find_client(client_id: str) -> Client | None:
    """The client ``client_id``, or None."""
    return client_store.get_client(client_id)


def get_client(client_id: str, *, for_update: bool = False) -> Client:
    """The client; :class:`NotFound` otherwise. ``for_update``: read again and
    locked until the change commits, so that two changes of one client never
    mix (each computes its new values from the row as the other left it)."""
    client = store.client_for_update(client_id) if for_update else find_client(client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


def create_client(
    data: Mapping[str, Any],
    *,
    actor: str,
    secret: str | None = None,
    jwks: Mapping[str, Any] | None = None,
) -> tuple[Client, str | None]:
    """Register a client from the admin's fields (the console's form, POST
    /api/admin/clients, ``belay client create``); returns it and its secret
    (generated unless given; shown once). Raises :class:`AdminError`.

    ``secret`` (the admin's own, ``--secret-stdin``) and ``jwks`` (the public
    JWK Set for ``private_key_jwt``, ``--jwks``) only the command line offers."""
    errors: dict[str, str] = {}
    client_id = data.get("client_id")
    if not isinstance(client_id, str):
        raise AdminError({"client_id": "is required"})
    client_type = data.get("client_type", "confidential")
    if client_type not in ("public", "confidential"):
        errors["client_type"] = "must be public or confidential"
    values = checked_fields(data, errors, creating=True)
    if errors:
        raise AdminError(errors)
    is_admin = bool(values.get("is_admin", False))
    if is_admin and client_type == "public":
        raise AdminError(
            {"is_admin": "only a confidential client can be marked for administration"}
        )
    policy_data = data.get("policy")
    if policy_data is not None and not isinstance(policy_data, Mapping):
        raise AdminError({"policy": "must be an object"})
    if policy_data:
        try:
            policy.client_policy_from_dict(policy_data, current_ladder())
        except policy.PolicyValidationError as exc:
            raise AdminError({f"policy.{k}": v for k, v in exc.errors.items()}) from None
    if jwks is not None and not isinstance(jwks, Mapping):
        raise AdminError({"jwks": "must be a JSON Web Key Set (an object)"})
    grants = values.get("grant_types")
    if is_admin and grants and "client_credentials" not in grants:
        raise AdminError({"is_admin": "an admin client needs the client_credentials grant"})
    try:
        secret = register_client(
            client_id,
            redirect_uris=values.get("redirect_uris", []),
            public=client_type == "public",
            secret=secret,
            name=values.get("name") or None,
            auth_method=values.get("token_endpoint_auth_method"),
            first_party=bool(values.get("first_party", False)),
            token_format=values.get("access_token_format", "jwt"),
            post_logout_redirect_uris=values.get("post_logout_redirect_uris", []),
            grant_types=grants or None,
            scope=scope_with_admin("openid profile email offline_access", is_admin),
            client_policy=dict(policy_data) if policy_data else None,
            jwks=dict(jwks) if jwks else None,
            id_token_alg=values.get("id_token_signed_response_alg"),
            metadata={"resources": values["resources"]} if values.get("resources") else None,
            actor=actor,
        )
    except ClientRegistrationError as exc:
        raise AdminError({"client": str(exc)}) from None
    client = get_client(client_id)
    if is_admin:
        client.is_admin = True
        storage.commit()
        audit.record(
            "client_updated",
            "success",
            client_id=client_id,
            details={"by": actor, "before": {"is_admin": False}, "after": {"is_admin": True}},
        )
    return client, secret


def update_client(
    client_id: str, changes: Mapping[str, Any], *, actor: str
) -> tuple[Client, str | None]:
    """Change a client's registration; returns it and a new secret when the
    change made it need one (shown once). Raises :class:`AdminError`."""
    client = get_client(client_id, for_update=True)
    if not isinstance(changes, Mapping):
        raise AdminError({"request": "must be an object"})
    errors: dict[str, str] = {}
    values = checked_fields(changes, errors)
    if errors:
        raise AdminError(errors)
    before = client_to_dict(client)
    public = values.get("client_type", before["client_type"]) == "public"
    method = values.get("token_endpoint_auth_method") or (
        before["token_endpoint_auth_method"]
        if public == client.is_public and "token_endpoint_auth_method" not in values
        else ("none" if public else "client_secret_basic")
    )
    grants = values.get("grant_types", before["grant_types"])
    if "client_type" in values and public and "grant_types" not in values:
        grants = [g for g in grants if g != "client_credentials"]
    redirect_uris = values.get("redirect_uris", before["redirect_uris"])
    is_admin = values.get("is_admin", before["is_admin"])
    if public != (method == "none"):
        errors["token_endpoint_auth_method"] = (
            f"{method} does not fit a {'public' if public else 'confidential'} client"
        )
    if method == "private_key_jwt" and not client.jwks:
        errors["token_endpoint_auth_method"] = "private_key_jwt needs the client's JWK Set"
    if public and "client_credentials" in grants:
        errors["grant_types"] = "a public client cannot use client_credentials"
    if not grants:
        errors["grant_types"] = "at least one grant type"
    if "authorization_code" in grants and not redirect_uris:
        errors["redirect_uris"] = "the authorization_code grant needs a redirect URI"
    if is_admin and (public or "client_credentials" not in grants):
        errors["is_admin"] = (
            "only a confidential client with the client_credentials grant can be an admin client"
        )
    if errors:
        raise AdminError(errors)
    secret: str | None = None
    if "name" in values:
        client.name = values["name"] or client.client_id
    client.redirect_uris = redirect_uris
    if "post_logout_redirect_uris" in values:
        client.post_logout_redirect_uris = values["post_logout_redirect_uris"]
    client.is_public = public
    client.token_endpoint_auth_method = method
    client.grant_types = grants
    if "access_token_format" in values:
        client.access_token_format = values["access_token_format"]
    if "first_party" in values:
        client.first_party = values["first_party"]
    if "id_token_signed_response_alg" in values:
        client.id_token_signed_response_alg = values["id_token_signed_response_alg"]
    if "resources" in values:
        metadata = {
            k: v for k, v in (client.registration_metadata or {}).items() if k != "resources"
        }
        if values["resources"]:
            metadata["resources"] = values["resources"]
        client.registration_metadata = metadata
    client.is_admin = is_admin
    client.scope = scope_with_admin(client.scope, is_admin)
    if public:
        client.client_secret_hash = None
    elif method in ("client_secret_basic", "client_secret_post") and not client.client_secret_hash:
        secret = secrets.token_urlsafe(32)
        client.client_secret_hash = sha256_hex(secret)
    storage.commit()
    after = client_to_dict(client)
    record_change("client_updated", client_id, before, after, actor)
    return client, secret


def rotate_secret(client_id: str, *, actor: str) -> str:
    """A new secret for a confidential client (the old one stops working now)."""
    client = get_client(client_id, for_update=True)
    if client.is_public or client.token_endpoint_auth_method == "private_key_jwt":
        raise AdminError({"client": "this client does not authenticate with a secret"})
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = sha256_hex(secret)
    storage.commit()
    audit.record("client_secret_rotated", "success", client_id=client_id, details={"by": actor})
    return secret


def delete_client(client_id: str, *, actor: str) -> None:
    client = get_client(client_id)
    before = client_to_dict(client)
    store.delete_client(client)
    audit.record(
        "client_deleted",
        "success",
        client_id=client_id,
        details={"by": actor, "before": before, "after": None},
    )
