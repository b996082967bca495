"""Did the new login give what was asked? (RFC 9470 §4, OIDC Core §3.1.3.7.)

- OIDC Core §3.1.3.7 item 12: "If the acr Claim was requested, the Client
  SHOULD check that the asserted Claim Value is appropriate." — here: it must
  be one of the ``acr_values`` asked for; a missing ``acr`` never is.
- Item 13: "If the auth_time Claim was requested, either through a specific
  request for this Claim or by using the max_age parameter, the Client SHOULD
  check the auth_time Claim value and request re-authentication if it
  determines too much time has elapsed since the last End-User
  authentication."
- RFC 9470 §4: a step-up is only done when the result carries the acr and
  a fresh enough ``auth_time``; otherwise the resource server would challenge
  again. (Item 11, the ``nonce``, is your OIDC client library's job.)

Freshness is measured from ``requested_at``: the OP judged ``max_age`` at
some moment after the request was sent, so an honest answer always has
``auth_time >= requested_at - max_age``; measuring from ``now`` would fail
logins that simply took the user a while.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provider.relying_party.errors import StepUpNotMet
from provider.relying_party.step_up import StepUpRequirement

__all__ = ["DEFAULT_LEEWAY", "check_authentication"]

DEFAULT_LEEWAY = 30


def check_authentication(
    claims: Mapping[str, Any],
    *,
    requirement: StepUpRequirement,
    requested_at: int,
    now: int,
    leeway: int = DEFAULT_LEEWAY,
) -> None:
    """Raise :class:`StepUpNotMet` unless ``claims`` (ID or access token) meet ``requirement``.

    :param requested_at: when the authorization request was built (seconds since the epoch).
    :param now: the current time; an ``auth_time`` more than ``leeway`` after it is refused.
    :param leeway: clock skew tolerated between the OP and us, in seconds.
    """
    if requirement.acr_values:
        acr = claims.get("acr")
        if not isinstance(acr, str) or not acr:
            raise StepUpNotMet("acr_missing", "the result has no acr claim")
        if acr not in requirement.acr_values:
            raise StepUpNotMet(
                "acr_not_met",
                f"acr {acr!r} is not one of {' '.join(requirement.acr_values)!r}",
            )
    if requirement.max_age is not None:
        auth_time = claims.get("auth_time")
        if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
            raise StepUpNotMet("auth_time_missing", "the result has no auth_time claim")
        if auth_time != auth_time or auth_time > now + leeway:
            raise StepUpNotMet("auth_time_in_future", "auth_time is in the future")
        if auth_time < requested_at - requirement.max_age - leeway:
            raise StepUpNotMet(
                "max_age",
                f"the authentication is older than max_age={requirement.max_age}",
            )
