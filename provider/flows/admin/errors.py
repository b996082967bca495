"""The errors every admin use-case raises. The console and the admin API let
them reach the one mapping (provider/web/errors.py: a form shown again with
the marks next to its fields, a JSON body with ``errors``); the CLI prints
them with exit status 1."""

from __future__ import annotations

from collections.abc import Mapping

from provider.errors import BelayError

__all__ = ["AdminError", "NotFound"]


class AdminError(BelayError, ValueError):
    """Input an admin must correct (a 400); ``errors`` maps each field to a message."""

    def __init__(
        self,
        errors: Mapping[str, str],
        *,
        error: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.errors: dict[str, str] = dict(errors) or {"request": "invalid request"}
        super().__init__(
            "; ".join(f"{k}: {v}" for k, v in self.errors.items()),
            error=error,
            status_code=status_code,
        )

    def field_errors(self) -> dict[str, str]:
        return dict(self.errors)


class NotFound(BelayError, LookupError):
    """No such client or user (a 404)."""

    error = "not_found"
    status_code = 404
    description = "not found"
