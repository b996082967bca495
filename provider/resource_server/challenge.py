"""The ``WWW-Authenticate: Bearer`` challenges a resource server sends.

- RFC 9470 §3: when "the authentication event associated with the access
  token presented with the request does not meet the authentication
  requirements of the protected resource", the resource server answers
  ``401`` with ``error="insufficient_user_authentication"`` and ``acr_values``
  and/or ``max_age``.
- RFC 6750 §3: ``invalid_token`` (401), ``insufficient_scope`` (403, with
  ``scope``), ``invalid_request`` (400); "If the request lacks any
  authentication information …, the resource server SHOULD NOT include an
  error code".
- RFC 9110 §11.6.1 / §5.6.4: every parameter value is sent as a
  quoted-string; ``"`` and ``\\`` are escaped with a backslash and control
  characters cannot be sent at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["Challenge", "quote_string"]

#: RFC 9470 §3 example wording.
ACR_DESCRIPTION = "A different authentication level is required"
MAX_AGE_DESCRIPTION = "More recent authentication is required"
BOTH_DESCRIPTION = "A different authentication level and more recent authentication are required"


def quote_string(value: str) -> str:
    """``value`` as an RFC 9110 §5.6.4 quoted-string.

    ``qdtext`` is HTAB, SP and visible characters except ``"`` and ``\\``;
    those two go out as quoted-pairs. CR, LF and other controls cannot be
    represented (they would split the header), so they raise ``ValueError``,
    as do characters outside Latin-1, which a header cannot carry.
    """
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\t" or 0x20 <= code <= 0x7E or 0x80 <= code <= 0xFF:
            out.append(ch)
        else:
            raise ValueError(f"character U+{code:04X} cannot be sent in a quoted-string")
    out.append('"')
    return "".join(out)


def _safe_description(text: str) -> str:
    # RFC 6750 §3: error_description is printable ASCII without '"' and '\';
    # anything else is replaced rather than risking a broken header. Parts of it
    # may echo the token's header, so it is also kept short.
    text = text if len(text) <= 200 else text[:197] + "..."
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)


@dataclass(frozen=True)
class Challenge:
    """A refusal: the status to answer with and its ``WWW-Authenticate`` challenge.

    Build one with the class methods; send :attr:`status`, :attr:`header_value`
    and, if you like, :meth:`json_body`.
    """

    status: int
    error: str | None = None
    error_description: str | None = None
    acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    scope: tuple[str, ...] = ()
    realm: str | None = None

    @classmethod
    def missing_token(cls, *, realm: str | None = None) -> Challenge:
        """No credentials at all: ``401`` and a bare ``Bearer`` challenge (RFC 6750 §3.1)."""
        return cls(401, realm=realm)

    @classmethod
    def invalid_request(cls, description: str, *, realm: str | None = None) -> Challenge:
        return cls(400, "invalid_request", _safe_description(description), realm=realm)

    @classmethod
    def invalid_token(cls, description: str, *, realm: str | None = None) -> Challenge:
        return cls(401, "invalid_token", _safe_description(description), realm=realm)

    @classmethod
    def insufficient_scope(cls, scope: tuple[str, ...], *, realm: str | None = None) -> Challenge:
        return cls(
            403,
            "insufficient_scope",
            "The access token lacks a required scope",
            scope=tuple(scope),
            realm=realm,
        )

    @classmethod
    def insufficient_user_authentication(
        cls,
        *,
        acr_values: tuple[str, ...] = (),
        max_age: int | None = None,
        acr_failed: bool = True,
        max_age_failed: bool = False,
        realm: str | None = None,
    ) -> Challenge:
        """The RFC 9470 §3 challenge; the description says which part failed."""
        if acr_failed and max_age_failed:
            description = BOTH_DESCRIPTION
        elif max_age_failed:
            description = MAX_AGE_DESCRIPTION
        else:
            description = ACR_DESCRIPTION
        return cls(
            401,
            "insufficient_user_authentication",
            description,
            acr_values=tuple(acr_values),
            max_age=max_age,
            realm=realm,
        )

    @property
    def header_value(self) -> str:
        """The ``WWW-Authenticate`` value, e.g. ``Bearer error="…", acr_values="…"``."""
        params: list[tuple[str, str]] = []
        if self.realm is not None:
            params.append(("realm", self.realm))
        if self.error is not None:
            params.append(("error", self.error))
        if self.error_description is not None:
            params.append(("error_description", self.error_description))
        if self.acr_values:
            params.append(("acr_values", " ".join(self.acr_values)))
        if self.max_age is not None:
            params.append(("max_age", str(self.max_age)))
        if self.scope:
            params.append(("scope", " ".join(self.scope)))
        if not params:
            return "Bearer"
        return "Bearer " + ", ".join(f"{name}={quote_string(value)}" for name, value in params)

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.header_value, "Cache-Control": "no-store"}

    def json_body(self) -> bytes:
        """A small JSON body mirroring the challenge (for humans and logs)."""
        body: dict[str, object] = {}
        if self.error:
            body["error"] = self.error
        if self.error_description:
            body["error_description"] = self.error_description
        if self.acr_values:
            body["acr_values"] = " ".join(self.acr_values)
        if self.max_age is not None:
            body["max_age"] = self.max_age
        if self.scope:
            body["scope"] = " ".join(self.scope)
        return json.dumps(body).encode()
