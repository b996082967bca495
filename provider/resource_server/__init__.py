"""Belay's resource-server kit: validate bearer tokens, answer RFC 9470 challenges.

Stands alone: imports nothing else from ``provider`` and neither Flask nor
SQLAlchemy (the Flask decorator lives in
:mod:`provider.resource_server.flask_adapter`, the WSGI middleware in
:mod:`provider.resource_server.wsgi`).

    from provider.resource_server import (
        JwksCache, ProviderMetadata, Requirement, ResourceServer, TokenValidator,
    )

    op = ProviderMetadata("https://login.example.com")
    rs = ResourceServer(
        validator=TokenValidator(
            jwks=JwksCache(metadata=op),
            expected_issuer="https://login.example.com",
            expected_audience="https://api.example.com",
        ),
        ladder=op,
    )
    result = rs.check(authorization_header, Requirement(min_level="urn:belay:acr:2fa"))

Specifications: RFC 9470 §3 (the challenge), RFC 9068 (JWT access tokens),
RFC 7662 (introspection), RFC 6750 §3 (Bearer errors), RFC 8725 (JWT BCP),
RFC 9110 §11.6.1 (WWW-Authenticate syntax).
"""

from provider.resource_server.challenge import Challenge, quote_string
from provider.resource_server.check import (
    BearerValidator,
    MalformedHeader,
    ResourceServer,
    check,
    extract_bearer,
)
from provider.resource_server.discovery import ProviderMetadata
from provider.resource_server.errors import InvalidToken, ProviderUnavailable, ResourceServerError
from provider.resource_server.introspection import IntrospectionValidator
from provider.resource_server.jwks import JwksCache
from provider.resource_server.ladder import AcrLadder, LadderSource
from provider.resource_server.principal import Principal
from provider.resource_server.requirement import Requirement, Shortfall, evaluate
from provider.resource_server.tokens import DEFAULT_ALGORITHMS, TokenValidator
from provider.resource_server.transport import HttpClient, RequestsHttpClient

__all__ = [
    "DEFAULT_ALGORITHMS",
    "AcrLadder",
    "BearerValidator",
    "Challenge",
    "HttpClient",
    "IntrospectionValidator",
    "InvalidToken",
    "JwksCache",
    "LadderSource",
    "MalformedHeader",
    "Principal",
    "ProviderMetadata",
    "ProviderUnavailable",
    "RequestsHttpClient",
    "Requirement",
    "ResourceServer",
    "ResourceServerError",
    "Shortfall",
    "TokenValidator",
    "check",
    "evaluate",
    "extract_bearer",
    "quote_string",
]
