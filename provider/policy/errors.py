"""Typed errors raised by the pure policy engine.

docs/design.md convention 2 ("typed errors, mapped once"): the engine raises these and
never builds a response; the web layer's error handler maps them once.

- :class:`RequirementError` -- a malformed authorization request
  (OpenID Connect Core 1.0 §3.1.2.6: ``error=invalid_request``).
- :class:`LadderError` -- ladder data that cannot be loaded (admin input).
- :class:`PolicyValidationError` -- a per-client policy that cannot be loaded,
  with one human message per field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from provider.errors import BelayError

__all__ = [
    "LadderError",
    "PolicyError",
    "PolicyValidationError",
    "RequirementError",
]


class PolicyError(BelayError):
    """Base class of every error raised by :mod:`provider.policy`."""


class RequirementError(PolicyError):
    """The authorization request's policy parameters are malformed.

    ``error`` is the OAuth 2.0 error code (RFC 6749 §4.1.2.1), ``description``
    a human-readable ``error_description`` that never echoes secrets.
    """

    status_code = 400

    def __init__(self, description: str = "", *, error: str = "invalid_request") -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class LadderError(PolicyError, ValueError):
    """Ladder data is invalid; ``errors`` lists every problem found, each with its path."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors: tuple[str, ...] = tuple(errors) or ("invalid ladder",)
        super().__init__("; ".join(self.errors))

    def field_errors(self) -> dict[str, str]:
        """The problems numbered from ``"0"`` (each names its own path)."""
        return {str(i): message for i, message in enumerate(self.errors)}


class PolicyValidationError(PolicyError, ValueError):
    """A client policy is invalid; ``errors`` maps each field to a human message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors) or {"policy": "invalid client policy"}
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.errors.items()))

    def field_errors(self) -> dict[str, str]:
        return dict(self.errors)
