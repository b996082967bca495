"""The client fields an admin may set, and their validation (one set of rules
for ``belay client update``, PATCH /api/admin/clients/… and the console's form)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from provider.flows.admin.access import ADMIN_SCOPE
from provider.flows.admin.errors import AdminError
from provider.flows.clients import (
    GRANT_TYPES,
    METADATA_KEYS,
    ClientRegistrationError,
    checked_metadata,
)
from provider.oidc.clients import AUTH_METHODS, redirect_uri_problem
from provider.oidc.keys import SUPPORTED_ALGS

__all__ = ["CLIENT_FIELDS", "checked_fields", "metadata_fields", "scope_with_admin"]


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


def metadata_fields(metadata: Any) -> dict[str, Any]:
    """Registration metadata as given to ``belay client create/update --metadata``
    (a JSON object; ``null`` clears a key), as the client fields it names: each
    key this version understands is a field of its own (today ``resources``),
    checked by :func:`checked_fields` like the admin API's. Other keys are refused,
    so that a typo never silently does nothing. Raises :class:`AdminError`."""
    if not isinstance(metadata, Mapping):
        raise AdminError({"metadata": "must be a JSON object"})
    unknown = sorted(str(k) for k in metadata if k not in METADATA_KEYS)
    if unknown:
        raise AdminError(
            {
                "metadata": f"unsupported key(s): {', '.join(unknown)} "
                f"(supported: {', '.join(METADATA_KEYS)})"
            }
        )
    return dict(metadata)


def scope_with_admin(scope: str, is_admin: bool) -> str:
    scopes = [s for s in scope.split() if s != ADMIN_SCOPE]
    if is_admin:
        scopes.append(ADMIN_SCOPE)
    return " ".join(scopes)


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


def checked_fields(
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
            # The registration rule (provider/flows/clients.py); null or [] lists none.
            checked = checked_metadata({"resources": data["resources"] or []})
        except ClientRegistrationError as exc:
            errors["resources"] = str(exc)
        else:
            values["resources"] = checked["resources"]
    return values
