"""Parse an authorization request's authentication requirement.

Implements:

- OpenID Connect Core 1.0 §3.1.2.1: ``max_age`` ("Maximum Authentication
  Age ... in seconds"), ``prompt`` ("If this parameter contains none with any
  other value, an error is returned"), ``acr_values`` ("space-separated string
  ... in order of preference");
- OpenID Connect Core 1.0 §5.5 / §5.5.1.1: the ``claims`` parameter, essential
  ``acr`` with ``value``/``values``, and ``auth_time`` as an essential claim;
- OpenID Connect Dynamic Client Registration 1.0 §2: ``default_max_age`` ("The
  max_age request parameter overrides this default value"),
  ``default_acr_values``, ``require_auth_time``;
- RFC 9470 §4: ``acr_values`` and ``max_age`` also work without the ``openid``
  scope (then only the access token carries the result).

Every malformed value raises :class:`RequirementError` (``invalid_request``);
nothing else escapes, whatever the input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from provider.policy.errors import RequirementError
from provider.policy.ladder.ladder import Ladder
from provider.policy.model import AcrSource, ClientPolicy, Requirement

__all__ = ["MAX_AGE_LIMIT", "PROMPT_VALUES", "parse_requirement"]

#: The largest ``max_age`` accepted: a signed 32-bit integer of seconds (~68 years).
MAX_AGE_LIMIT: Final = 2**31 - 1
#: OIDC Core §3.1.2.1 prompt values.
PROMPT_VALUES: Final = frozenset({"none", "login", "consent", "select_account"})
_DIGITS: Final = re.compile(r"[0-9]{1,32}")


def _max_age(raw: str) -> int:
    # Plain ASCII decimal only: no sign, spaces, exponent, or non-ASCII digits
    # (str.isdigit would accept "²" and int() would accept " 5" and "1_0").
    if not _DIGITS.fullmatch(raw):
        raise RequirementError(description="max_age must be a non-negative whole number of seconds")
    value = int(raw)
    if value > MAX_AGE_LIMIT:
        raise RequirementError(description=f"max_age must be at most {MAX_AGE_LIMIT} seconds")
    return value


def _prompt(raw: str) -> frozenset[str]:
    values = frozenset(part for part in raw.split(" ") if part)
    unknown = values - PROMPT_VALUES
    if unknown:
        # Never echo the input: error_description allows only a few ASCII characters.
        raise RequirementError(
            description="unsupported prompt value; supported: " + ", ".join(sorted(PROMPT_VALUES))
        )
    if "none" in values and len(values) > 1:
        raise RequirementError(description="prompt=none cannot be combined with other values")
    return values


def _space_list(raw: str) -> tuple[str, ...]:
    # Preference order kept, duplicates dropped.
    return tuple(dict.fromkeys(part for part in raw.split(" ") if part))


class _ClaimsAcr:
    def __init__(self) -> None:
        self.essential = False
        self.essential_values: list[str] = []
        self.voluntary_values: list[str] = []


def _claim_request(member: str, name: str, value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RequirementError(description=f"claims.{member}.{name} must be null or an object")
    essential = value.get("essential", False)
    if not isinstance(essential, bool):
        raise RequirementError(description=f"claims.{member}.{name}.essential must be a boolean")
    return value


def _claims(raw: str) -> _ClaimsAcr:
    result = _ClaimsAcr()
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise RequirementError(description="claims must be a valid JSON object") from None
    if not isinstance(data, dict):
        raise RequirementError(description="claims must be a JSON object")
    for member in ("id_token", "userinfo"):
        if member not in data or data[member] is None:
            continue
        requested = data[member]
        if not isinstance(requested, dict):
            raise RequirementError(description=f"claims.{member} must be an object")
        # Validated only: Belay always puts auth_time in the ID token (docs/acr.md).
        _claim_request(member, "auth_time", requested.get("auth_time"))
        acr = _claim_request(member, "acr", requested.get("acr"))
        if acr is None:
            continue
        if "value" in acr and "values" in acr:
            raise RequirementError(
                description=f"claims.{member}.acr must not carry both value and values"
            )
        values: list[str] = []
        if "value" in acr:
            if not isinstance(acr["value"], str):
                raise RequirementError(description=f"claims.{member}.acr.value must be a string")
            values = [acr["value"]]
        elif "values" in acr:
            listed = acr["values"]
            if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
                raise RequirementError(
                    description=f"claims.{member}.acr.values must be a list of strings"
                )
            values = list(listed)
        if acr.get("essential") is True:
            result.essential = True
            result.essential_values.extend(values)
        else:
            result.voluntary_values.extend(values)
    return result


def parse_requirement(
    params: Mapping[str, str],
    policy: ClientPolicy,
    ladder: Ladder,
    *,
    transaction_started_at: int | None = None,
) -> Requirement:
    """Parse ``acr_values``, ``claims``, ``max_age`` and ``prompt`` and merge client defaults.

    Unknown acr values are dropped from ``acr_values`` (voluntary) but kept in
    ``unknown_acr_values``; unknown *essential* values are kept in
    ``unknown_essential_acr_values`` for :func:`decide` to fail on. An empty
    ``prompt``, ``acr_values`` or ``claims`` counts as not sent; an empty
    ``max_age`` is invalid.
    """
    for name in ("max_age", "prompt", "acr_values", "claims"):
        if name in params and not isinstance(params[name], str):
            raise RequirementError(description=f"{name} must be a string")

    max_age: int | None = None
    if "max_age" in params:
        max_age = _max_age(params["max_age"])
    elif policy.default_max_age is not None:
        max_age = policy.default_max_age

    prompt = _prompt(params.get("prompt", ""))
    claims = _claims(params["claims"]) if params.get("claims") else _ClaimsAcr()

    requested = _space_list(params.get("acr_values", ""))
    requested = tuple(dict.fromkeys((*requested, *claims.voluntary_values)))
    acr_source: AcrSource = "request" if requested else "none"
    if not requested and policy.default_acr_values:
        requested = tuple(policy.default_acr_values)
        acr_source = "default"
    known = tuple(value for value in requested if value in ladder)
    unknown = tuple(value for value in requested if value not in ladder)

    essential_values = tuple(dict.fromkeys(claims.essential_values))
    return Requirement(
        acr_values=known,
        acr_source=acr_source,
        unknown_acr_values=unknown,
        essential_acr=claims.essential,
        essential_acr_values=tuple(v for v in essential_values if v in ladder),
        unknown_essential_acr_values=tuple(v for v in essential_values if v not in ladder),
        max_age=max_age,
        prompt=prompt,
        transaction_started_at=transaction_started_at,
    )
