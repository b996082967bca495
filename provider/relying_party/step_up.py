"""Turn an RFC 9470 challenge into what the next authorization request must ask.

RFC 9470 §3: the resource server's ``401`` carries ``Bearer
error="insufficient_user_authentication"`` with ``acr_values`` ("A
space-separated string listing the authentication context class reference
values in order of preference") and/or ``max_age`` ("the allowable elapsed
time in seconds since the last active authentication event"). §4: "the
client … can use the … values of acr_values and max_age … in a new
authorization request".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from provider.relying_party.errors import ChallengeParseError
from provider.relying_party.www_authenticate import Challenge

__all__ = [
    "INSUFFICIENT_USER_AUTHENTICATION",
    "MAX_AGE_LIMIT",
    "StepUpRequirement",
    "step_up_requirement",
]

INSUFFICIENT_USER_AUTHENTICATION = "insufficient_user_authentication"
#: The largest ``max_age`` Belay accepts (a signed 32-bit number of seconds).
MAX_AGE_LIMIT = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True)
class StepUpRequirement:
    """What the resource server asked: one of ``acr_values``, a login within ``max_age``."""

    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    error_description: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "acr_values", tuple(self.acr_values))
        if self.max_age is not None and (
            isinstance(self.max_age, bool)
            or not isinstance(self.max_age, int)
            or not 0 <= self.max_age <= MAX_AGE_LIMIT
        ):
            raise ValueError(f"max_age must be an int from 0 to {MAX_AGE_LIMIT}")


def parse_max_age(value: str) -> int:
    """``max_age`` as a non-negative whole number of seconds, or :class:`ChallengeParseError`."""
    if not _DIGITS.fullmatch(value) or int(value) > MAX_AGE_LIMIT:
        raise ChallengeParseError(f"max_age must be 0..{MAX_AGE_LIMIT} seconds")
    return int(value)


def step_up_requirement(challenges: Iterable[Challenge]) -> StepUpRequirement | None:
    """The first ``Bearer`` challenge with ``error="insufficient_user_authentication"``, or None.

    ``acr_values`` keeps the server's order of preference; a ``max_age`` that
    is not a number of seconds is a :class:`ChallengeParseError`.
    """
    for challenge in challenges:
        if (
            challenge.scheme != "bearer"
            or challenge.get("error") != INSUFFICIENT_USER_AUTHENTICATION
        ):
            continue
        acr = challenge.get("acr_values")
        max_age = challenge.get("max_age")
        return StepUpRequirement(
            acr_values=tuple(dict.fromkeys(acr.split())) if acr else (),
            max_age=parse_max_age(max_age) if max_age is not None else None,
            error_description=challenge.get("error_description"),
        )
    return None
