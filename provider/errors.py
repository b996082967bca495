"""The one error hierarchy: every error Belay answers with is a :class:`BelayError`.

docs/design.md convention 2 ("typed errors, mapped once"). Modelled on Authlib's
``OAuth2Error``: an error carries an OAuth-style ``error`` code (stable, for
programs), an HTTP ``status_code`` and a ``description`` for people (never a
secret). Layers below the web raise these and build no response;
provider/web/errors.py turns one into JSON or an HTML page (the OAuth error
redirect of ``/authorize`` stays with provider/flows/authorize/outcomes.py).

The roots of each layer subclass it where they live: ``FactorError``
(provider/factors/base.py), ``PolicyError`` (provider/policy/errors.py),
``RegistrationError`` and ``ClientRegistrationError`` (provider/flows/),
``Rejected`` (provider/flows/assurance/lifecycle.py), ``AdminError``,
``NotFound`` (provider/flows/admin/errors.py), ``TokenRefused``
(provider/flows/admin/access.py), ``JSONBodyError`` (provider/web/json_body.py).

A utility module: it imports nothing from the rest of Belay.
"""

from __future__ import annotations

from typing import Any

__all__ = ["N_", "BelayError", "LoginRequired", "UnstorableText"]


def N_(text: str) -> str:
    """Mark a constant text for people (``pybabel extract -k N_``): it stays
    English here and is translated where it is shown (provider/i18n.py
    ``translate``), e.g. an error's description on a page."""
    return text


class BelayError(Exception):
    """An error with an answer: ``error`` (OAuth-style code), ``status_code``
    and ``description``. Subclasses set the defaults as class attributes; the
    constructor may override each one.

    ``retry_after``: seconds the client should wait before trying again (the
    ``Retry-After`` header and a ``retry_after`` JSON member), ``None`` when
    nothing is said.
    """

    error: str = "invalid_request"
    status_code: int = 400
    description: str = ""
    retry_after: int | None = None

    def __init__(
        self,
        description: str | None = None,
        *,
        error: str | None = None,
        status_code: int | None = None,
    ) -> None:
        if description is not None:
            self.description = description
        if error is not None:
            self.error = error
        if status_code is not None:
            self.status_code = status_code
        super().__init__(self.description)

    def field_errors(self) -> dict[str, str]:
        """One message per input field at fault (none by default): the JSON
        answer's ``errors`` member, and the marks next to a form's fields."""
        return {}

    def get_body(self) -> dict[str, Any]:
        """The JSON answer: ``{"error", "error_description"[, "errors"][, "retry_after"]}``."""
        body: dict[str, Any] = {"error": self.error, "error_description": self.description}
        fields = self.field_errors()
        if fields:
            body["errors"] = fields
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body

    def get_headers(self) -> dict[str, str]:
        """Headers every answer to this error carries."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(self.retry_after)}


class LoginRequired(BelayError):
    """A JSON endpoint called without a signed-in session."""

    error = "login_required"
    status_code = 401
    description = N_("Sign in first.")


class UnstorableText(BelayError, ValueError):
    """A string that no database column may hold: NUL or a lone surrogate
    (docs/security.md case 53), refused by provider/storage/text_guard.py
    before any statement runs -- the client's input, a 400."""

    description = N_("Text must not contain NUL characters or invalid Unicode.")
