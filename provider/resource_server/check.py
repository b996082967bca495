"""The framework-agnostic check: ``Authorization`` header + requirement ⇒ principal or challenge.

Order, each step answering as its RFC says:

1. no ``Authorization: Bearer`` ⇒ ``401`` bare ``Bearer`` challenge (RFC 6750 §3.1:
   "the resource server SHOULD NOT include an error code");
2. a malformed header ⇒ ``400 invalid_request`` (RFC 6750 §3.1);
3. token rejected ⇒ ``401 invalid_token`` (RFC 6750 §3.1, RFC 9068 §4);
4. scope missing ⇒ ``403 insufficient_scope`` (RFC 6750 §3.1);
5. acr / auth_time short ⇒ ``401 insufficient_user_authentication`` with
   ``acr_values`` and/or ``max_age`` (RFC 9470 §3).

:class:`ProviderUnavailable` (the OP could not be reached) is raised, not
turned into a challenge: it is not the client's fault, and the adapters
answer ``503``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

from provider.resource_server.challenge import Challenge
from provider.resource_server.errors import InvalidToken
from provider.resource_server.ladder import AcrLadder, LadderSource
from provider.resource_server.principal import Principal
from provider.resource_server.requirement import Requirement, challenge_for, evaluate

__all__ = ["BearerValidator", "ResourceServer", "check", "extract_bearer"]

# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


class BearerValidator(Protocol):
    """:class:`TokenValidator`, :class:`IntrospectionValidator` or your own."""

    def validate(self, token: str, *, now: int | None = None) -> Principal: ...


class MalformedHeader(ValueError):
    """The Authorization header says Bearer but is not ``Bearer <b64token>``."""


def extract_bearer(authorization_header: str | None) -> str | None:
    """The token from ``Authorization: Bearer <token>``; None when there is no Bearer credential.

    Raises :class:`MalformedHeader` for a Bearer credential that is not one b64token.
    """
    if authorization_header is None:
        return None
    value = authorization_header.strip(" \t")
    scheme, _, _ = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    match = _BEARER.fullmatch(value)
    if match is None:
        raise MalformedHeader("the Authorization header must be 'Bearer <token>'")
    return match.group(1)


def check(
    authorization_header: str | None,
    requirement: Requirement,
    *,
    validator: BearerValidator,
    ladder: LadderSource | None = None,
    realm: str | None = None,
    clock_skew: int = 0,
    now: int | None = None,
) -> Principal | Challenge:
    """Validate the bearer token and hold it to ``requirement``.

    :param ladder: where ``belay_acr_levels`` comes from (a :class:`ProviderMetadata`
        or an :class:`AcrLadder`); only read when ``requirement.min_level`` is set.
    :param clock_skew: seconds allowed between the OP's ``auth_time`` and our clock
        for ``max_age``.
    :returns: the :class:`Principal` when everything holds, else the :class:`Challenge`.
    """
    try:
        token = extract_bearer(authorization_header)
    except MalformedHeader as exc:
        return Challenge.invalid_request(str(exc), realm=realm)
    if token is None:
        return Challenge.missing_token(realm=realm)
    current = int(time.time()) if now is None else now
    try:
        principal = validator.validate(token, now=current)
    except InvalidToken as exc:
        return Challenge.invalid_token(exc.description, realm=realm)
    acr_ladder: AcrLadder | None = None
    if requirement.min_level is not None and ladder is not None:
        acr_ladder = ladder.acr_ladder()
    shortfall = evaluate(
        principal, requirement, ladder=acr_ladder, now=current, clock_skew=clock_skew
    )
    if shortfall:
        return challenge_for(shortfall, requirement, ladder=acr_ladder, realm=realm)
    return principal


@dataclass
class ResourceServer:
    """The configuration :func:`check` needs, bundled for the adapters.

    >>> rs = ResourceServer(validator=validator, ladder=metadata, realm="api")
    >>> rs.check(request.headers.get("Authorization"), Requirement(min_level="urn:belay:acr:2fa"))
    """

    validator: BearerValidator
    ladder: LadderSource | None = None
    realm: str | None = None
    clock_skew: int = 0

    def check(
        self, authorization_header: str | None, requirement: Requirement, *, now: int | None = None
    ) -> Principal | Challenge:
        return check(
            authorization_header,
            requirement,
            validator=self.validator,
            ladder=self.ladder,
            realm=self.realm,
            clock_skew=self.clock_skew,
            now=now,
        )
