"""Errors of the relying-party kit: one type per job.

- :class:`ChallengeParseError` — a ``WWW-Authenticate`` value that does not
  follow RFC 9110 §11.6.1 (or a step-up challenge with a malformed ``max_age``).
- :class:`StepUpNotMet` — the new tokens do not carry what was asked
  (RFC 9470 §4; OIDC Core §3.1.3.7 items 12–13).
- :class:`StepUpFlowError` — the browser round trip went wrong (no pending
  step-up, state mismatch, an error from the OP).
"""

from __future__ import annotations

__all__ = ["ChallengeParseError", "RelyingPartyError", "StepUpFlowError", "StepUpNotMet"]


class RelyingPartyError(Exception):
    """Base class of the kit's errors."""


class ChallengeParseError(RelyingPartyError):
    """Malformed ``WWW-Authenticate``; ``position`` is the offset in the (joined) value."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} (at offset {position})")
        self.position = position


class StepUpNotMet(RelyingPartyError):
    """The authentication result does not meet the requirement.

    ``reason`` is one of ``acr_missing``, ``acr_not_met``, ``auth_time_missing``,
    ``max_age``, ``auth_time_in_future``.
    """

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description


class StepUpFlowError(RelyingPartyError):
    """The step-up redirect round trip failed; ``error`` is an OAuth error code or ours."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
