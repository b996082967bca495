"""What a protected resource requires of the authentication behind a token.

RFC 9470 §3: the resource server decides whether "the authentication event
associated with the access token … meet[s] the authentication requirements
of the protected resource", using the token's ``acr`` and ``auth_time``
(RFC 9470 §6.1 / RFC 9068 §2.2.1).

Acceptance is by exact ``acr`` value, or by ladder level (``min_level``) when
the OP publishes its ladder. docs/security.md case 30: a missing ``acr`` is the
weakest level and a missing ``auth_time`` an infinitely old login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from provider.resource_server.challenge import Challenge
from provider.resource_server.ladder import AcrLadder
from provider.resource_server.principal import Principal

__all__ = ["MAX_AGE_LIMIT", "Requirement", "Shortfall", "evaluate"]

#: The OP's own limit for ``max_age`` (a signed 32-bit number of seconds).
MAX_AGE_LIMIT = 2**31 - 1
_ACR = re.compile(r"[\x21-\x7e]{1,255}")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


@dataclass(frozen=True)
class Requirement:
    """``acr_values`` (any of them) or ``min_level`` (that acr or stronger), ``max_age``, scopes.

    An empty requirement accepts any valid token.
    """

    acr_values: tuple[str, ...] = ()
    min_level: str | None = None
    max_age: int | None = None
    scopes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Lists are forgiven (and frozen), bad values are programming errors.
        object.__setattr__(self, "acr_values", tuple(self.acr_values))
        object.__setattr__(self, "scopes", tuple(self.scopes))
        for acr in (*self.acr_values, *([self.min_level] if self.min_level is not None else [])):
            if not isinstance(acr, str) or not _ACR.fullmatch(acr):
                raise ValueError(f"acr value {acr!r} must be 1-255 visible ASCII characters")
        for scope in self.scopes:
            if not isinstance(scope, str) or not _SCOPE.fullmatch(scope):
                raise ValueError(f"scope {scope!r} is not an RFC 6749 scope-token")
        if self.max_age is not None and (
            isinstance(self.max_age, bool)
            or not isinstance(self.max_age, int)
            or not 0 <= self.max_age <= MAX_AGE_LIMIT
        ):
            raise ValueError(f"max_age must be an int from 0 to {MAX_AGE_LIMIT}")

    @property
    def needs_acr(self) -> bool:
        return bool(self.acr_values) or self.min_level is not None

    def challenge_acr_values(self, ladder: AcrLadder | None) -> tuple[str, ...]:
        """The ``acr_values`` to put in the challenge, in order of preference.

        The exact values first, then ``min_level`` and every stronger level of
        the ladder (weakest first), so the relying party may ask for any of
        them and the answer will be accepted.
        """
        values = list(self.acr_values)
        if self.min_level is not None:
            values += (ladder or AcrLadder()).at_or_above(self.min_level)
        return tuple(dict.fromkeys(values))


@dataclass(frozen=True)
class Shortfall:
    """Which parts of a :class:`Requirement` a token missed."""

    missing_scopes: tuple[str, ...] = ()
    acr: bool = False
    max_age: bool = False

    def __bool__(self) -> bool:
        return bool(self.missing_scopes) or self.acr or self.max_age


def acr_satisfied(acr: str | None, requirement: Requirement, ladder: AcrLadder | None) -> bool:
    if not requirement.needs_acr:
        return True
    if acr is None:
        return False  # missing acr: the weakest level, never enough
    if acr in requirement.acr_values:
        return True
    if requirement.min_level is None:
        return False
    if acr == requirement.min_level:
        return True
    floor = ladder.level_of(requirement.min_level) if ladder else None
    level = ladder.level_of(acr) if ladder else None
    # Without a ladder entry for either value only the exact match above counts.
    return floor is not None and level is not None and level >= floor


def fresh_enough(auth_time: int | None, max_age: int | None, *, now: int, clock_skew: int) -> bool:
    """RFC 9470 §3 ``max_age``: the login is no older than ``max_age`` (± ``clock_skew``)."""
    if max_age is None:
        return True
    if auth_time is None:
        return False  # missing auth_time: infinitely old
    return now - auth_time <= max_age + clock_skew


def evaluate(
    principal: Principal,
    requirement: Requirement,
    *,
    ladder: AcrLadder | None,
    now: int,
    clock_skew: int = 0,
) -> Shortfall:
    """Compare the token with the requirement; a falsy :class:`Shortfall` means "enough"."""
    granted = set(principal.scopes)
    return Shortfall(
        missing_scopes=tuple(s for s in requirement.scopes if s not in granted),
        acr=not acr_satisfied(principal.acr, requirement, ladder),
        max_age=not fresh_enough(
            principal.auth_time, requirement.max_age, now=now, clock_skew=clock_skew
        ),
    )


def challenge_for(
    shortfall: Shortfall,
    requirement: Requirement,
    *,
    ladder: AcrLadder | None,
    realm: str | None = None,
) -> Challenge:
    """The challenge for a (truthy) shortfall.

    Scope comes first: a stronger login cannot add a scope (RFC 6750 §3.1
    ``insufficient_scope``, 403). Otherwise the RFC 9470 challenge carries the
    *whole* authentication requirement — both ``acr_values`` and ``max_age``
    when the resource has both — so the next login satisfies all of it.
    """
    if shortfall.missing_scopes:
        return Challenge.insufficient_scope(requirement.scopes, realm=realm)
    return Challenge.insufficient_user_authentication(
        acr_values=requirement.challenge_acr_values(ladder),
        max_age=requirement.max_age,
        acr_failed=shortfall.acr,
        max_age_failed=shortfall.max_age,
        realm=realm,
    )
