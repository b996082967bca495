"""Administration use-cases shared by the console (/admin), the REST API
(/api/admin) and the ``belay`` CLI: clients, per-client acr policy, the ladder,
users, the audit log, the policy simulator and the dashboard figures.

Every change to a client, a policy or the ladder is audited with who
(``actor``), when, and the values before and after (docs/design.md "Every security
event is in the audit log").
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app

from provider import clock, policy
from provider.crypto import sha256_hex
from provider.errors import BelayError
from provider.flows import authorize as authorize_flow
from provider.flows import step_up
from provider.flows.assurance import lifecycle
from provider.flows.clients import (
    GRANT_TYPES,
    ClientRegistrationError,
    allowed_resources,
    checked_metadata,
    register_client,
)
from provider.oidc.clients import AUTH_METHODS, redirect_uri_problem
from provider.oidc.keys import SUPPORTED_ALGS
from provider.storage import accounts, audit
from provider.storage import admin as store
from provider.storage import ladder as ladder_store
from provider.storage.models import AuditEvent, Client, User

__all__ = [
    "ADMIN_SCOPE",
    "CLIENT_FIELDS",
    "STEP_UP_EVENTS",
    "AdminError",
    "AuditFilter",
    "NotFound",
    "Simulation",
    "audit_csv",
    "audit_to_dict",
    "client_to_dict",
    "create_client",
    "create_user",
    "dashboard",
    "delete_client",
    "find_user",
    "get_client",
    "ladder_data",
    "list_audit",
    "parse_audit_filter",
    "reset_factors",
    "revoke_sessions",
    "rotate_secret",
    "save_ladder",
    "search_users",
    "simulate",
    "unlock_user",
    "update_client",
    "update_policy",
    "user_to_dict",
]

#: The scope an admin client's client-credentials token carries for /api/admin.
ADMIN_SCOPE = "belay:admin"
#: The client fields an admin may change (``belay client update``, PATCH, the edit form).
CLIENT_FIELDS = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "client_type",
    "token_endpoint_auth_method",
    "access_token_format",
    "first_party",
    "is_admin",
    "grant_types",
    "id_token_signed_response_alg",
    #: RFC 8707 resource values the client may name (docs/security.md case 56);
    #: kept in its registration metadata, checked like ``--metadata`` in the CLI
    "resources",
)
#: Audit events that record a successful step-up (the dashboard counts them).
STEP_UP_EVENTS = ("step_up", "step_up_api", "confirm_access", "admin_step_up")
USER_FACTORS = ("password", "pin", "totp", "backup_code", "passkey")


class AdminError(BelayError, ValueError):
    """Input an admin must correct; ``errors`` maps each field to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors) or {"request": "invalid request"}
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class NotFound(LookupError):
    """No such client or user."""


# -- clients -----------------------------------------------------------------


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


def get_client(client_id: str) -> Client:
    client = accounts.get_client(client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    return client


def _scope_with_admin(scope: str, is_admin: bool) -> str:
    scopes = [s for s in scope.split() if s != ADMIN_SCOPE]
    if is_admin:
        scopes.append(ADMIN_SCOPE)
    return " ".join(scopes)


def create_client(data: Mapping[str, Any], *, actor: str) -> tuple[Client, str | None]:
    """Register a client from the admin's fields; returns it and its new secret
    (shown once). Raises :class:`AdminError`."""
    errors: dict[str, str] = {}
    client_id = data.get("client_id")
    if not isinstance(client_id, str):
        raise AdminError({"client_id": "is required"})
    client_type = data.get("client_type", "confidential")
    if client_type not in ("public", "confidential"):
        errors["client_type"] = "must be public or confidential"
    values = _checked_fields(data, errors, creating=True)
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
            policy.client_policy_from_dict(policy_data, ladder_store.current_ladder())
        except policy.PolicyValidationError as exc:
            raise AdminError({f"policy.{k}": v for k, v in exc.errors.items()}) from None
    grants = values.get("grant_types")
    if is_admin and grants and "client_credentials" not in grants:
        raise AdminError({"is_admin": "an admin client needs the client_credentials grant"})
    try:
        secret = register_client(
            client_id,
            redirect_uris=values.get("redirect_uris", []),
            public=client_type == "public",
            secret=None,
            name=values.get("name") or None,
            auth_method=values.get("token_endpoint_auth_method"),
            first_party=bool(values.get("first_party", False)),
            token_format=values.get("access_token_format", "jwt"),
            post_logout_redirect_uris=values.get("post_logout_redirect_uris", []),
            grant_types=grants or None,
            scope=_scope_with_admin("openid profile email offline_access", is_admin),
            client_policy=dict(policy_data) if policy_data else None,
            id_token_alg=values.get("id_token_signed_response_alg"),
            metadata={"resources": values["resources"]} if values.get("resources") else None,
            actor=actor,
        )
    except ClientRegistrationError as exc:
        raise AdminError({"client": str(exc)}) from None
    client = get_client(client_id)
    if is_admin:
        client.is_admin = True
        accounts.commit()
        audit.record(
            "client_updated",
            "success",
            client_id=client_id,
            details={"by": actor, "before": {"is_admin": False}, "after": {"is_admin": True}},
        )
    return client, secret


def _uri_list(value: Any, key: str, errors: dict[str, str]) -> list[str] | None:
    if isinstance(value, str):
        value = [v for v in re.split(r"[\s,]+", value) if v]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[key] = "must be a list of URLs"
        return None
    if len(value) > 50:
        errors[key] = "at most 50 URLs"
        return None
    for uri in value:
        problem = redirect_uri_problem(uri) if len(uri) <= 2000 else "is too long"
        if problem:
            errors[key] = f"{uri[:200]}: {problem}"
            return None
    return list(dict.fromkeys(value))


def _checked_fields(
    data: Mapping[str, Any], errors: dict[str, str], *, creating: bool = False
) -> dict[str, Any]:
    """Validate the editable fields present in ``data`` (unknown keys refused)."""
    allowed = set(CLIENT_FIELDS) | ({"client_id", "policy"} if creating else set())
    values: dict[str, Any] = {}
    for key in data:
        if key not in allowed:
            errors[str(key)] = f"unknown field; known fields: {', '.join(CLIENT_FIELDS)}"
    if "name" in data:
        name = data["name"]
        if not isinstance(name, str) or len(name) > 200:
            errors["name"] = "must be text of at most 200 characters"
        else:
            values["name"] = " ".join(name.split())
    for key in ("redirect_uris", "post_logout_redirect_uris"):
        if key in data:
            uris = _uri_list(data[key], key, errors)
            if uris is not None:
                values[key] = uris
    if "client_type" in data and data["client_type"] not in ("public", "confidential"):
        errors["client_type"] = "must be public or confidential"
    elif "client_type" in data:
        values["client_type"] = data["client_type"]
    if "token_endpoint_auth_method" in data:
        method = data["token_endpoint_auth_method"]
        if method in (None, ""):
            values["token_endpoint_auth_method"] = None
        elif method not in AUTH_METHODS:
            errors["token_endpoint_auth_method"] = f"must be one of {', '.join(AUTH_METHODS)}"
        else:
            values["token_endpoint_auth_method"] = method
    if "access_token_format" in data:
        if data["access_token_format"] not in ("jwt", "opaque"):
            errors["access_token_format"] = "must be jwt or opaque"
        else:
            values["access_token_format"] = data["access_token_format"]
    for key in ("first_party", "is_admin"):
        if key in data:
            if not isinstance(data[key], bool):
                errors[key] = "must be true or false"
            else:
                values[key] = data[key]
    if "grant_types" in data:
        grants = data["grant_types"]
        if isinstance(grants, str):
            grants = [g for g in re.split(r"[\s,]+", grants) if g]
        if (
            not isinstance(grants, list)
            or not all(isinstance(g, str) for g in grants)
            or not set(grants) <= set(GRANT_TYPES)
        ):
            errors["grant_types"] = f"must be a list of: {', '.join(GRANT_TYPES)}"
        else:
            values["grant_types"] = list(dict.fromkeys(grants))
    if "id_token_signed_response_alg" in data:
        alg = data["id_token_signed_response_alg"]
        if alg in (None, ""):
            values["id_token_signed_response_alg"] = None
        elif alg not in SUPPORTED_ALGS:
            errors["id_token_signed_response_alg"] = (
                f"must be null or one of {', '.join(SUPPORTED_ALGS)}"
            )
        else:
            values["id_token_signed_response_alg"] = alg
    if "resources" in data:
        try:
            # The CLI's own check (``--metadata``); null or [] lists none.
            checked = checked_metadata({"resources": data["resources"] or []})
        except ClientRegistrationError as exc:
            errors["resources"] = str(exc)
        else:
            values["resources"] = checked["resources"]
    return values


def update_client(
    client_id: str, changes: Mapping[str, Any], *, actor: str
) -> tuple[Client, str | None]:
    """Change a client's registration; returns it and a new secret when the
    change made it need one (shown once). Raises :class:`AdminError`."""
    client = get_client(client_id)
    if not isinstance(changes, Mapping):
        raise AdminError({"request": "must be an object"})
    errors: dict[str, str] = {}
    values = _checked_fields(changes, errors)
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
    client.scope = _scope_with_admin(client.scope, is_admin)
    if public:
        client.client_secret_hash = None
    elif method in ("client_secret_basic", "client_secret_post") and not client.client_secret_hash:
        secret = secrets.token_urlsafe(32)
        client.client_secret_hash = sha256_hex(secret)
    accounts.commit()
    after = client_to_dict(client)
    _audit_change("client_updated", client_id, before, after, actor)
    return client, secret


def _audit_change(
    event: str, client_id: str | None, before: Any, after: Any, actor: str, **extra: Any
) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        before = {k: before.get(k) for k in changed}
        after = {k: after.get(k) for k in changed}
    audit.record(
        event,
        "success",
        client_id=client_id,
        details={"by": actor, "before": before, "after": after, **extra},
    )


def rotate_secret(client_id: str, *, actor: str) -> str:
    """A new secret for a confidential client (the old one stops working now)."""
    client = get_client(client_id)
    if client.is_public or client.token_endpoint_auth_method == "private_key_jwt":
        raise AdminError({"client": "this client does not authenticate with a secret"})
    secret = secrets.token_urlsafe(32)
    client.client_secret_hash = sha256_hex(secret)
    accounts.commit()
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


def update_policy(
    client_id: str,
    *,
    data: Mapping[str, Any] | None = None,
    assignments: Sequence[str] | None = None,
    replace: bool = False,
    actor: str,
) -> dict[str, Any]:
    """Change a client's acr policy from a (partial) dict or ``KEY=VALUE``
    strings; raises :class:`policy.PolicyValidationError` (field -> message).
    With ``replace``, fields missing from ``data`` go back to their defaults."""
    client = get_client(client_id)
    ladder = ladder_store.current_ladder()
    before = dict(client.policy or {})
    base = None if replace else policy.client_policy_from_dict(before, ladder)
    if assignments is not None:
        updated = policy.client_policy_from_assignments(list(assignments), ladder, base=base)
    else:
        updated = policy.client_policy_from_dict(data or {}, ladder, base=base)
    after = policy.client_policy_to_dict(updated)
    client.policy = after
    accounts.commit()
    full_before = policy.client_policy_to_dict(policy.client_policy_from_dict(before, ladder))
    _audit_change("client_policy_changed", client_id, full_before, after, actor)
    return after


# -- the ladder ----------------------------------------------------------------


def ladder_data() -> dict[str, Any]:
    data: dict[str, Any] = policy.ladder_to_data(ladder_store.current_ladder())
    return data


def save_ladder(data: Any, *, actor: str) -> policy.Ladder:
    """Validate and store a ladder; raises :class:`policy.LadderError`."""
    before = ladder_data()
    ladder = ladder_store.save_ladder(data)
    audit.record(
        "ladder_changed",
        "success",
        details={"by": actor, "before": before, "after": policy.ladder_to_data(ladder)},
    )
    return ladder


# -- users ---------------------------------------------------------------------


def search_users(query: str = "", *, limit: int = 100) -> list[User]:
    return store.search_users(query[:150], limit=limit)


def find_user(key: str | int) -> User:
    """A user by id (digits) or username."""
    user = None
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit() and len(key) < 12):
        user = accounts.get_user(int(key))
    if user is None and isinstance(key, str):
        user = accounts.user_by_name(key)
    if user is None:
        raise NotFound(f"no user {key!r}")
    return user


def user_to_dict(user: User, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "name": user.name,
        "is_admin": bool(user.is_admin),
        "disabled": user.disabled_at is not None,
        "created_at": user.created_at,
    }
    if detail:
        enrolled = step_up.factors().enrolled(user.id)
        counters = {c.factor: c for c in store.counters_for_user(user.id)}
        factors = []
        for method in USER_FACTORS:
            rows = [m for m in enrolled if m.method == method]
            counter = counters.get(method)
            factors.append(
                {
                    "method": method,
                    "enrolled": bool(rows) or (method == "password" and bool(user.password_hash)),
                    "count": len(rows),
                    "locked": any(m.locked for m in rows) or bool(counter and counter.locked),
                    "failures": counter.failures if counter else 0,
                }
            )
        data["factors"] = factors
        data["sessions"] = len(_sessions(user))
    return data


def _sessions(user: User) -> list[Any]:
    from provider.storage import sessions as session_store

    return session_store.list_for_user(user.id)


def create_user(
    username: str,
    *,
    password: str | None,
    is_admin: bool = False,
    email: str | None = None,
    name: str | None = None,
    actor: str,
) -> User:
    errors: dict[str, str] = {}
    if (
        not isinstance(username, str)
        or not 1 <= len(username) <= 150
        or any(c.isspace() or c == "\x00" for c in username)
    ):
        errors["username"] = "a username is 1-150 characters without spaces"
    elif accounts.user_by_name(username):
        errors["username"] = "this username is taken"
    problem = lifecycle.password_problem(password) if password is not None else None
    if problem is not None:
        errors["password"] = problem
    if email is not None and (not isinstance(email, str) or len(email) > 320 or "@" not in email):
        errors["email"] = "must be an email address"
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        errors["name"] = "must be text of at most 200 characters"
    if errors:
        raise AdminError(errors)
    user = User(
        username=username,
        password_hash=lifecycle.hash_password(password) if password is not None else None,
        is_admin=bool(is_admin),
        email=email or None,
        name=name or None,
        created_at=clock.now(),
    )
    accounts.add(user)
    audit.record(
        "user_created",
        "success",
        user_id=user.id,
        username=username,
        reason=actor,
        details={"by": actor, "is_admin": bool(is_admin)},
    )
    return user


def unlock_user(user: User, factor: str | None, *, actor: str) -> int:
    """Clear ``factor``'s (or every factor's) failure counters and locks."""
    try:
        return lifecycle.unlock(user, factor, actor=lifecycle.by_admin(actor))
    except lifecycle.Rejected as exc:
        raise AdminError({exc.field: exc.message}) from None


def reset_factors(user: User, *, actor: str) -> list[str]:
    """Remove every second factor (PIN, TOTP, codes by email or SMS, backup codes,
    passkeys) and clear every lock; the password stays. The user enrols again
    after signing in."""
    return lifecycle.reset_factors(user, actor=lifecycle.by_admin(actor))


def revoke_sessions(user: User, *, actor: str) -> int:
    count = store.delete_sessions(user.id)
    audit.record(
        "sessions_revoked", "success", user_id=user.id, details={"by": actor, "sessions": count}
    )
    return count


# -- the audit log -------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    user: str | None = None
    client_id: str | None = None
    event: str | None = None
    result: str | None = None
    since: int | None = None
    until: int | None = None
    limit: int = 200


def _parse_time(value: str, *, end: bool) -> int:
    text = value.strip()
    if re.fullmatch(r"[0-9]{1,12}", text):
        return int(text)
    try:
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
            moment = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return int(moment.timestamp()) + (86399 if end else 0)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date (YYYY-MM-DD), an ISO 8601 time or epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_audit_filter(args: Mapping[str, Any]) -> AuditFilter:
    """Build a filter from query-string style values; raises :class:`AdminError`."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in ("user", "client_id", "event", "result"):
        raw = args.get(key)
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str) or len(raw) > 200 or "\x00" in raw:
            errors[key] = "must be text of at most 200 characters"
        else:
            values[key] = raw
    for key in ("since", "until"):
        raw = args.get(key)
        if raw is None or raw == "":
            continue
        try:
            values[key] = _parse_time(str(raw), end=key == "until")
        except ValueError as exc:
            errors[key] = str(exc)
        except OverflowError:
            errors[key] = "is out of range"
    raw_limit = args.get("limit")
    if raw_limit not in (None, ""):
        if not re.fullmatch(r"[0-9]{1,5}", str(raw_limit)) or not 1 <= int(raw_limit) <= 10000:
            errors["limit"] = "must be a number from 1 to 10000"
        else:
            values["limit"] = int(raw_limit)
    if errors:
        raise AdminError(errors)
    return AuditFilter(**values)


def list_audit(filters: AuditFilter) -> list[AuditEvent]:
    user_id: int | None = None
    if filters.user:
        try:
            user_id = find_user(filters.user).id
        except NotFound:
            return []
    return store.audit_events(
        user_id=user_id,
        client_id=filters.client_id,
        event=filters.event,
        result=filters.result,
        since=filters.since,
        until=filters.until,
        limit=filters.limit,
    )


def audit_to_dict(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "event": row.event,
        "result": row.result,
        "user_id": row.user_id,
        "username": row.username,
        "client_id": row.client_id,
        "method": row.method,
        "acr": row.acr,
        "reason": row.reason,
        "ip": row.ip,
        "details": row.details or {},
    }


_CSV_COLUMNS = (
    "id",
    "at",
    "time",
    "event",
    "result",
    "user_id",
    "username",
    "client_id",
    "method",
    "acr",
    "reason",
    "ip",
    "details",
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not run a cell as a formula (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def audit_csv(rows: Iterable[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_CSV_COLUMNS)
    for row in rows:
        data = audit_to_dict(row)
        data["time"] = datetime.fromtimestamp(row.at, UTC).isoformat()
        data["details"] = json.dumps(data["details"], sort_keys=True)
        writer.writerow([_cell(data[c]) for c in _CSV_COLUMNS])
    return out.getvalue()


# -- the policy simulator -----------------------------------------------------


@dataclass(frozen=True)
class Simulation:
    """What /authorize would decide, with the engine's own words."""

    outcome: str  # satisfied | step_up | login | fail
    reason: str
    acr: str | None = None
    amr: tuple[str, ...] = ()
    auth_time: int | None = None
    target_acr: str | None = None
    methods: tuple[str, ...] = ()
    error: str | None = None
    description: str | None = None
    session_acr: str | None = None
    events: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "acr": self.acr,
            "amr": list(self.amr),
            "auth_time": self.auth_time,
            "target_acr": self.target_acr,
            "methods": list(self.methods),
            "error": self.error,
            "error_description": self.description,
            "session_acr": self.session_acr,
        }


_SIM_PARAMS = ("acr_values", "max_age", "claims", "prompt", "scope")


def simulate(
    client_id: str,
    *,
    enrolled: Sequence[Mapping[str, Any] | str],
    events: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    now: int | None = None,
) -> Simulation:
    """Run the decision /authorize makes (:func:`authorize.decide_request`) for
    ``client_id`` with a made-up session: ``enrolled`` methods (names or
    ``{"method", "backup_eligible", "aaguid", "locked", "pin_length"}``) and
    session ``events`` (``{"method", "seconds_ago", "uv", "backup_eligible",
    "aaguid"}``). Raises :class:`AdminError` for bad input."""
    client = get_client(client_id)
    now = clock.now() if now is None else now
    errors: dict[str, str] = {}
    enrolled_methods: list[policy.EnrolledMethod] = []
    for index, item in enumerate(enrolled):
        spec: Mapping[str, Any] = {"method": item} if isinstance(item, str) else item
        if not isinstance(spec, Mapping) or spec.get("method") not in policy.METHODS:
            errors[f"enrolled[{index}]"] = f"method must be one of {', '.join(policy.METHODS)}"
            continue
        pin_length = spec.get("pin_length")
        if pin_length is not None and (not isinstance(pin_length, int) or pin_length < 0):
            errors[f"enrolled[{index}]"] = "pin_length must be a whole number"
            continue
        enrolled_methods.append(
            policy.EnrolledMethod(
                method=spec["method"],
                credential_id=f"{spec['method']}:{index}" if spec["method"] == "passkey" else None,
                backup_eligible=_opt_bool(spec.get("backup_eligible")),
                aaguid=spec.get("aaguid") if isinstance(spec.get("aaguid"), str) else None,
                locked=bool(spec.get("locked", False)),
                pin_length=pin_length,
            )
        )
    session_events: list[policy.Event] = []
    for index, item in enumerate(events):
        if not isinstance(item, Mapping) or item.get("method") not in policy.METHODS:
            errors[f"events[{index}]"] = f"method must be one of {', '.join(policy.METHODS)}"
            continue
        ago = item.get("seconds_ago", 0)
        if not isinstance(ago, int) or isinstance(ago, bool) or not 0 <= ago <= 10**9:
            errors[f"events[{index}]"] = "seconds_ago must be a whole number from 0"
            continue
        try:
            session_events.append(
                policy.event_for(
                    item["method"],
                    now - ago,
                    uv=bool(item.get("uv", False)) if item["method"] == "passkey" else False,
                    backup_eligible=_opt_bool(item.get("backup_eligible"))
                    if item["method"] == "passkey"
                    else None,
                    aaguid=item.get("aaguid")
                    if item["method"] == "passkey" and isinstance(item.get("aaguid"), str)
                    else None,
                    credential_id=f"passkey:{index}" if item["method"] == "passkey" else None,
                )
            )
        except ValueError as exc:
            errors[f"events[{index}]"] = str(exc)
    request: dict[str, str] = {}
    for key, value in params.items():
        if key not in _SIM_PARAMS:
            errors[str(key)] = f"unknown parameter; known: {', '.join(_SIM_PARAMS)}"
        elif value is None or value == "":
            continue
        elif not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 4000:
            errors[key] = "must be text"
        else:
            request[key] = str(value).replace("\x00", "")
    if errors:
        raise AdminError(errors)
    request.setdefault("scope", "openid")
    ladder = ladder_store.current_ladder()
    try:
        client_policy = authorize_flow.client_policy(client)
    except policy.PolicyValidationError as exc:
        raise AdminError({"policy": str(exc)}) from None
    state = None
    if session_events:
        session_events.sort(key=lambda e: e.at)
        state = policy.SessionState(
            user_id="simulated",
            events=tuple(session_events),
            created_at=session_events[0].at,
            last_active_at=now,
        )
    session_acr = (
        policy.session_acr(state, client_policy, ladder, now) if state is not None else None
    )
    try:
        decision = authorize_flow.decide_request(
            request, client_policy, ladder, state, enrolled_methods, now
        )
    except policy.RequirementError as exc:
        return Simulation(
            "fail",
            "invalid_request",
            error=exc.error,
            description=exc.description,
            session_acr=session_acr,
        )
    if isinstance(decision, policy.Satisfied):
        return Simulation(
            "satisfied",
            str(decision.reason),
            acr=decision.acr,
            amr=decision.amr,
            auth_time=decision.auth_time,
            session_acr=session_acr,
        )
    if isinstance(decision, policy.StepUp):
        return Simulation(
            "step_up",
            str(decision.reason),
            target_acr=decision.target_acr,
            methods=decision.methods,
            session_acr=session_acr,
        )
    if isinstance(decision, policy.Login):
        return Simulation("login", str(decision.reason), session_acr=session_acr)
    return Simulation(
        "fail",
        str(decision.reason),
        error=decision.error,
        description=decision.description,
        session_acr=session_acr,
    )


def _opt_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


# -- the dashboard -------------------------------------------------------------


def dashboard(*, days: int = 7, now: int | None = None) -> dict[str, Any]:
    """Step-ups by acr and by method, failures and lockouts (factors that
    locked: ``factor_locked`` rows) per day, over the last ``days`` days (UTC
    days, oldest first)."""
    now = clock.now() if now is None else now
    today = now - now % 86400
    start = today - (days - 1) * 86400
    labels = [datetime.fromtimestamp(start + i * 86400, UTC).strftime("%m-%d") for i in range(days)]
    rows = store.audit_events(since=start, limit=100000)
    by_acr: Counter[str] = Counter()
    by_method: Counter[str] = Counter()
    failures = [0] * days
    lockouts = [0] * days
    step_ups = [0] * days
    for row in rows:
        day = min(days - 1, max(0, (row.at - start) // 86400))
        if row.event in STEP_UP_EVENTS and row.result == "success":
            by_acr[row.acr or "(freshness only)"] += 1
            by_method[row.method or "unknown"] += 1
            step_ups[day] += 1
        if row.result == "failure":
            failures[day] += 1
        if row.event == "factor_locked":
            # one row per lock (provider/flows/assurance/lifecycle.py
            # note_locked), not per refusal of an already locked factor
            lockouts[day] += 1
    return {
        "days": labels,
        "since": start,
        "step_ups_by_acr": dict(sorted(by_acr.items())),
        "step_ups_by_method": dict(sorted(by_method.items())),
        "step_ups_per_day": step_ups,
        "failures_per_day": failures,
        "lockouts_per_day": lockouts,
    }


def admin_target() -> tuple[str, int]:
    """The acr and max_age the console asks of an admin (ADMIN_ACR, ADMIN_MAX_AGE)."""
    return str(current_app.config["ADMIN_ACR"]), int(current_app.config["ADMIN_MAX_AGE"])
