"""Errors of the resource-server kit: one type per job.

- :class:`InvalidToken` — the bearer token must not be accepted (RFC 6750 §3.1
  ``invalid_token``: "The access token provided is expired, revoked,
  malformed, or invalid for other reasons").
- :class:`ProviderUnavailable` — the kit could not get what it needs from the
  OP (discovery, JWKS, introspection). That is the server's problem, not the
  client's: the adapters answer ``503``, never ``invalid_token``.
"""

from __future__ import annotations

__all__ = ["InvalidToken", "ProviderUnavailable", "ResourceServerError"]


class ResourceServerError(Exception):
    """Base class of the kit's errors."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidToken(ResourceServerError):
    """The token was rejected; answer ``401`` with ``error="invalid_token"``.

    ``description`` is safe to send to the client (it never contains token
    contents or key material).
    """

    error = "invalid_token"


class ProviderUnavailable(ResourceServerError):
    """Discovery, the JWKS or the introspection endpoint failed or answered nonsense."""
