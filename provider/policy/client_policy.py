"""Per-client acr policy: loading, validating and dumping the JSON form.

Implements the policy-bearing client metadata of OpenID Connect Dynamic Client
Registration 1.0 §2 (``default_max_age``, ``require_auth_time``,
``default_acr_values``) plus Belay's own fields (docs/design.md, "Admins set, per
client, what counts as enough"), and RFC 9470 §5's choice between treating the
requested acr as necessary (``strict``) or voluntary.

Every field is validated and every problem reported at once in
:class:`~provider.policy.errors.PolicyValidationError` (field -> message), so
the admin UI, the REST API and ``belay client policy --set`` show the same
clear messages. Unknown keys are rejected.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, cast

from provider.policy.errors import LadderError, PolicyValidationError
from provider.policy.ladder.data import lifetime_from_data, lifetime_to_data, normalize_aaguid
from provider.policy.ladder.ladder import Ladder
from provider.policy.model import (
    METHODS,
    AcrEnforcement,
    ClientPolicy,
    Lifetime,
    PasskeyUserVerification,
)

__all__ = [
    "POLICY_FIELDS",
    "client_policy_from_assignments",
    "client_policy_from_dict",
    "client_policy_to_dict",
]

MAX_AGE_LIMIT: Final = 2**31 - 1
PIN_LENGTH_RANGE: Final = (4, 64)
#: The longest a browser may be remembered (a year).
REMEMBER_DEVICE_DAYS_LIMIT: Final = 365
ENFORCEMENTS: Final = ("strict", "voluntary")
USER_VERIFICATIONS: Final = ("required", "preferred", "discouraged")

#: Every field of the dict form, in documentation order.
POLICY_FIELDS: Final[tuple[str, ...]] = (
    "minimum_acr",
    "default_acr_values",
    "default_max_age",
    "require_auth_time",
    "acr_enforcement",
    "step_up_methods",
    "passkey_user_verification",
    "allowed_aaguids",
    "min_pin_length",
    "level_lifetimes",
    "remember_device_days",
    "pin_login",
    "passwordless_login",
)


class _Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _acr(ladder: Ladder) -> Callable[[object], str | None]:
    def check(value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or value not in ladder:
            raise _Invalid(f"must be null or one of the ladder's acr values: {_known(ladder)}")
        return value

    return check


def _known(ladder: Ladder) -> str:
    return ", ".join(ladder.acr_values)


def _unique_strings(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _Invalid(f"must be a list of {what}")
    items = tuple(cast(list[str] | tuple[str, ...], value))
    duplicates = sorted({v for v in items if items.count(v) > 1})
    if duplicates:
        raise _Invalid(f"lists {', '.join(map(repr, duplicates))} more than once")
    return items


def _acr_list(ladder: Ladder) -> Callable[[object], tuple[str, ...]]:
    def check(value: object) -> tuple[str, ...]:
        items = _unique_strings(value, "acr values")
        unknown = [v for v in items if v not in ladder]
        if unknown:
            raise _Invalid(
                f"unknown acr value(s) {', '.join(map(repr, unknown))}; known: {_known(ladder)}"
            )
        return items

    return check


def _max_age(value: object) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 0 <= cast(int, value) <= MAX_AGE_LIMIT:
        raise _Invalid(f"must be null or a number of seconds from 0 to {MAX_AGE_LIMIT}")
    return cast(int, value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or value not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}")
        return value

    return check


def _methods(value: object) -> tuple[str, ...]:
    items = _unique_strings(value, "method names")
    unknown = [v for v in items if v not in METHODS]
    if unknown:
        raise _Invalid(
            f"unknown method(s) {', '.join(map(repr, unknown))}; known: {', '.join(METHODS)}"
        )
    return items


def _aaguids(value: object) -> tuple[str, ...]:
    items = _unique_strings(value, "AAGUIDs")
    normalized: list[str] = []
    for item in items:
        aaguid = normalize_aaguid(item)
        if aaguid is None:
            raise _Invalid(
                f"{item!r} is not an AAGUID (a UUID like 'cb69481e-8ff7-4039-93ec-0a2729a154a8')"
            )
        if aaguid in normalized:
            raise _Invalid(f"lists {aaguid!r} more than once")
        normalized.append(aaguid)
    return tuple(normalized)


def _pin_length(value: object) -> int | None:
    low, high = PIN_LENGTH_RANGE
    if value is None:
        return None
    if not _is_int(value) or not low <= cast(int, value) <= high:
        raise _Invalid(f"must be null or an integer from {low} to {high}")
    return cast(int, value)


def _remember_days(value: object) -> int:
    if not _is_int(value) or not 0 <= cast(int, value) <= REMEMBER_DEVICE_DAYS_LIMIT:
        raise _Invalid(f"must be a number of days from 0 (off) to {REMEMBER_DEVICE_DAYS_LIMIT}")
    return cast(int, value)


def _lifetimes(ladder: Ladder) -> Callable[[object], dict[str, Lifetime]]:
    def check(value: object) -> dict[str, Lifetime]:
        if not isinstance(value, Mapping):
            raise _Invalid(
                'must be an object {"<acr>": {"idle_seconds": int|null, '
                '"absolute_seconds": int|null}}'
            )
        result: dict[str, Lifetime] = {}
        for acr, raw in value.items():
            if acr not in ladder:
                raise _Invalid(f"unknown acr value {acr!r}; known: {_known(ladder)}")
            try:
                lifetime = lifetime_from_data(raw, path=str(acr))
            except LadderError as exc:
                raise _Invalid(str(exc)) from None
            if lifetime is None:
                raise _Invalid(f"{acr}: must be an object, not null (omit the acr instead)")
            result[str(acr)] = lifetime
        return result

    return check


def client_policy_from_dict(
    data: Mapping[str, object], ladder: Ladder, *, base: ClientPolicy | None = None
) -> ClientPolicy:
    """Validate ``data`` and build a :class:`ClientPolicy`.

    Missing keys keep the value of ``base`` (default: a default policy), so a
    partial dict is an update. Raises :class:`PolicyValidationError` mapping
    each bad field (or unknown key) to a human message.
    """
    base = base if base is not None else ClientPolicy()
    if not isinstance(data, Mapping):
        raise PolicyValidationError({"policy": "must be a JSON object"})
    validators: dict[str, Callable[[object], Any]] = {
        "minimum_acr": _acr(ladder),
        "default_acr_values": _acr_list(ladder),
        "default_max_age": _max_age,
        "require_auth_time": _bool,
        "acr_enforcement": _choice(ENFORCEMENTS),
        "step_up_methods": _methods,
        "passkey_user_verification": _choice(USER_VERIFICATIONS),
        "allowed_aaguids": _aaguids,
        "min_pin_length": _pin_length,
        "level_lifetimes": _lifetimes(ladder),
        "remember_device_days": _remember_days,
        "pin_login": _bool,
        "passwordless_login": _bool,
    }
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, value in data.items():
        validator = validators.get(key)
        if validator is None:
            errors[str(key)] = f"unknown field; known fields: {', '.join(POLICY_FIELDS)}"
            continue
        try:
            values[key] = validator(value)
        except _Invalid as exc:
            errors[key] = exc.message
    if errors:
        raise PolicyValidationError(errors)
    return ClientPolicy(
        minimum_acr=values.get("minimum_acr", base.minimum_acr),
        default_acr_values=values.get("default_acr_values", base.default_acr_values),
        default_max_age=values.get("default_max_age", base.default_max_age),
        require_auth_time=values.get("require_auth_time", base.require_auth_time),
        acr_enforcement=cast(AcrEnforcement, values.get("acr_enforcement", base.acr_enforcement)),
        step_up_methods=values.get("step_up_methods", base.step_up_methods),
        passkey_user_verification=cast(
            PasskeyUserVerification,
            values.get("passkey_user_verification", base.passkey_user_verification),
        ),
        allowed_aaguids=values.get("allowed_aaguids", base.allowed_aaguids),
        min_pin_length=values.get("min_pin_length", base.min_pin_length),
        level_lifetimes=values.get("level_lifetimes", base.level_lifetimes),
        remember_device_days=values.get("remember_device_days", base.remember_device_days),
        pin_login=values.get("pin_login", base.pin_login),
        passwordless_login=values.get("passwordless_login", base.passwordless_login),
    )


def client_policy_to_dict(policy: ClientPolicy) -> dict[str, Any]:
    """The JSON-compatible form of ``policy``, every field present."""
    return {
        "minimum_acr": policy.minimum_acr,
        "default_acr_values": list(policy.default_acr_values),
        "default_max_age": policy.default_max_age,
        "require_auth_time": policy.require_auth_time,
        "acr_enforcement": policy.acr_enforcement,
        "step_up_methods": list(policy.step_up_methods),
        "passkey_user_verification": policy.passkey_user_verification,
        "allowed_aaguids": list(policy.allowed_aaguids),
        "min_pin_length": policy.min_pin_length,
        "level_lifetimes": {
            acr: lifetime_to_data(lifetime) for acr, lifetime in policy.level_lifetimes.items()
        },
        "remember_device_days": policy.remember_device_days,
        "pin_login": policy.pin_login,
        "passwordless_login": policy.passwordless_login,
    }


# --- KEY=VALUE assignments (belay client policy CLIENT_ID --set KEY=VALUE ...) -----

_LIST_FIELDS: Final = frozenset({"default_acr_values", "step_up_methods", "allowed_aaguids"})
_OPTIONAL_INT_FIELDS: Final = frozenset({"default_max_age", "min_pin_length"})
_BOOL_FIELDS: Final = frozenset({"require_auth_time", "pin_login", "passwordless_login"})
_INT_FIELDS: Final = frozenset({"remember_device_days"})
_OPTIONAL_STR_FIELDS: Final = frozenset({"minimum_acr"})
_NULLS: Final = frozenset({"", "none", "null"})
_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0"})


def _coerce(key: str, raw: str) -> object:
    text = raw.strip()
    lowered = text.lower()
    if key in _LIST_FIELDS:
        if text.startswith("["):
            return _json(text)
        if lowered in _NULLS:
            return []
        return [item for item in re.split(r"[,\s]+", text) if item]
    if key in _OPTIONAL_INT_FIELDS:
        if lowered in _NULLS:
            return None
        if re.fullmatch(r"[0-9]{1,12}", text):
            return int(text)
        raise _Invalid("must be a whole number of seconds/digits, or 'none'")
    if key in _INT_FIELDS:
        if lowered in _NULLS or lowered == "off":
            return 0
        if re.fullmatch(r"[0-9]{1,12}", text):
            return int(text)
        raise _Invalid("must be a whole number, or 'off'")
    if key in _BOOL_FIELDS:
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _Invalid("must be true or false")
    if key in _OPTIONAL_STR_FIELDS:
        if lowered in _NULLS:
            return None
        return _json(text) if text.startswith('"') else text
    if key == "level_lifetimes":
        if lowered in _NULLS:
            return {}
        return _json(text)
    return _json(text) if text.startswith('"') else text


def _json(text: str) -> object:
    try:
        return cast(object, json.loads(text))
    except (ValueError, RecursionError):
        raise _Invalid("is not valid JSON") from None


def client_policy_from_assignments(
    assignments: Iterable[str], ladder: Ladder, *, base: ClientPolicy | None = None
) -> ClientPolicy:
    """Apply CLI-style ``KEY=VALUE`` strings on top of ``base`` and validate.

    Values: comma (or space) separated lists, integers, booleans
    (true/false/yes/no/on/off/1/0), ``none``/``null`` to clear, or JSON
    (``[...]``, ``{...}``, ``"..."``). ``level_lifetimes`` takes JSON, e.g.
    ``level_lifetimes={"urn:belay:acr:2fa": {"idle_seconds": 600, "absolute_seconds": 3600}}``.
    A later assignment of the same key wins.
    """
    errors: dict[str, str] = {}
    data: dict[str, object] = {}
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            errors[assignment] = "expected KEY=VALUE"
            continue
        if key not in POLICY_FIELDS:
            errors[key] = f"unknown field; known fields: {', '.join(POLICY_FIELDS)}"
            continue
        try:
            data[key] = _coerce(key, raw)
        except _Invalid as exc:
            errors[key] = exc.message
    try:
        policy = client_policy_from_dict(data, ladder, base=base)
    except PolicyValidationError as exc:
        errors.update({k: v for k, v in exc.errors.items() if k not in errors})
        raise PolicyValidationError(errors) from None
    if errors:
        raise PolicyValidationError(errors)
    return policy
