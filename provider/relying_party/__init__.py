"""Belay's relying-party kit: understand RFC 9470 challenges and step up.

Stands alone: imports nothing else from ``provider`` and neither Flask nor
SQLAlchemy (the Flask helper lives in :mod:`provider.relying_party.flask_adapter`).

    from provider.relying_party import (
        build_authorization_request, check_authentication,
        parse_www_authenticate, step_up_requirement,
    )

    response = requests.get(API, headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        needed = step_up_requirement(parse_www_authenticate(response.headers["WWW-Authenticate"]))
        if needed is not None:
            auth = build_authorization_request(
                authorization_endpoint=..., client_id=..., redirect_uri=...,
                scope="openid", requirement=needed,
            )
            # keep auth.state, auth.nonce, auth.code_verifier; redirect to auth.url

Specifications: RFC 9470 §3–§4, RFC 9110 §11.6.1 (WWW-Authenticate), RFC 7636
(PKCE), OpenID Connect Core 1.0 §3.1.2.1 and §3.1.3.7.
"""

from provider.relying_party.authorization import (
    AuthorizationRequest,
    build_authorization_request,
    code_challenge_s256,
)
from provider.relying_party.errors import (
    ChallengeParseError,
    RelyingPartyError,
    StepUpFlowError,
    StepUpNotMet,
)
from provider.relying_party.step_up import StepUpRequirement, parse_max_age, step_up_requirement
from provider.relying_party.verification import check_authentication
from provider.relying_party.www_authenticate import Challenge, parse_www_authenticate

__all__ = [
    "AuthorizationRequest",
    "Challenge",
    "ChallengeParseError",
    "RelyingPartyError",
    "StepUpFlowError",
    "StepUpNotMet",
    "StepUpRequirement",
    "build_authorization_request",
    "check_authentication",
    "code_challenge_s256",
    "parse_max_age",
    "parse_www_authenticate",
    "step_up_requirement",
]
