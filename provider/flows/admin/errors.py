"""The errors every admin use-case raises; each door turns them into its own
answer (a form error, a JSON 400/404, a message and exit status 1)."""

from __future__ import annotations

from collections.abc import Mapping

from provider.errors import BelayError

__all__ = ["AdminError", "NotFound"]


class AdminError(BelayError, ValueError):
    """Input an admin must correct; ``errors`` maps each field to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors: dict[str, str] = dict(errors) or {"request": "invalid request"}
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class NotFound(LookupError):
    """No such client or user."""
