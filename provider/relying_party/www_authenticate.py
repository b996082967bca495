"""Parse ``WWW-Authenticate`` field values (RFC 9110 §11.6.1, §11.3, §5.6).

Grammar::

    WWW-Authenticate = #challenge
    challenge   = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
    auth-scheme = token
    auth-param  = token BWS "=" BWS ( token / quoted-string )
    token68     = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="

with the list rule of §5.6.1 ("a recipient MUST accept empty list elements"),
OWS/BWS = ``*( SP / HTAB )``, and quoted-string/quoted-pair of §5.6.4.
RFC 9110: scheme and parameter names are case-insensitive, and "each
parameter name MUST only occur once per challenge" (a repeat is an error).
A field sent on several lines is the same as one line joined with commas
(§5.3), so each line is parsed and the challenges concatenated.

Written by hand because no library in our dependencies parses this grammar
fully (``requests`` and Werkzeug parse only one challenge per value); the
parser is a single left-to-right scan, so its cost is linear in the input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from provider.relying_party.errors import ChallengeParseError

__all__ = ["MAX_HEADER_LENGTH", "Challenge", "parse_www_authenticate"]

MAX_HEADER_LENGTH = 64 * 1024

_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN68 = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WS = " \t"


@dataclass(frozen=True)
class Challenge:
    """One challenge: the scheme (lower-cased), its token68 or its parameters.

    Parameter names are lower-cased; values are unescaped. A challenge has
    either ``token68`` or ``params`` (or neither), never both.
    """

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)
    token68: str | None = None

    def get(self, name: str) -> str | None:
        """A parameter by case-insensitive name."""
        return self.params.get(name.lower())


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> ChallengeParseError:
        return ChallengeParseError(message, position=self.pos)

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def token_end(self, start: int) -> int:
        end = start
        while end < len(self.text) and self.text[end] in _TCHAR:
            end += 1
        return end

    def token(self, what: str) -> str:
        end = self.token_end(self.pos)
        if end == self.pos:
            raise self.error(f"expected {what}")
        value = self.text[self.pos : end]
        self.pos = end
        return value

    def param_ahead(self) -> bool:
        """Does ``token BWS "="`` start here (so this is an auth-param, not a new challenge)?"""
        end = self.token_end(self.pos)
        if end == self.pos:
            return False
        while end < len(self.text) and self.text[end] in _WS:
            end += 1
        if end >= len(self.text) or self.text[end] != "=":
            return False
        # "abc=" followed by more "=", "," or the end is a token68, not a parameter.
        end += 1
        while end < len(self.text) and self.text[end] in _WS:
            end += 1
        return end < len(self.text) and self.text[end] not in ",="

    def token68_ahead(self) -> int | None:
        """The end of a token68 here, if it is followed by OWS and a comma or the end."""
        end = self.pos
        while end < len(self.text) and self.text[end] in _TOKEN68:
            end += 1
        if end == self.pos:
            return None
        while end < len(self.text) and self.text[end] == "=":
            end += 1
        after = end
        while after < len(self.text) and self.text[after] in _WS:
            after += 1
        if after < len(self.text) and self.text[after] != ",":
            return None
        return end

    def quoted_string(self) -> str:
        # RFC 9110 §5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
        # and quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
        assert self.peek() == '"'
        self.pos += 1
        out: list[str] = []
        while True:
            if self.at_end():
                raise self.error("unterminated quoted-string")
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                self.pos += 1
                if self.at_end():
                    raise self.error("quoted-pair at the end of the value")
                ch = self.text[self.pos]
                if not _quotable(ch):
                    raise self.error("invalid character in quoted-pair")
            elif not _quotable(ch):
                raise self.error("invalid character in quoted-string")
            out.append(ch)
            self.pos += 1


def _quotable(ch: str) -> bool:
    code = ord(ch)
    return ch == "\t" or 0x20 <= code <= 0x7E or code >= 0x80


def _parse_one(text: str) -> list[Challenge]:
    s = _Scanner(text)
    challenges: list[Challenge] = []
    while True:
        # Empty list elements and OWS around commas (RFC 9110 §5.6.1).
        while True:
            s.skip_ws()
            if s.peek() == ",":
                s.pos += 1
                continue
            break
        if s.at_end():
            return challenges
        scheme = s.token("an auth-scheme").lower()
        params: dict[str, str] = {}
        token68: str | None = None
        if s.peek() == " ":
            while s.peek() == " ":  # 1*SP
                s.pos += 1
            if s.param_ahead():
                _parse_params(s, params)
            else:
                end = s.token68_ahead()
                if end is not None:
                    token68 = s.text[s.pos : end]
                    s.pos = end
        s.skip_ws()
        if not s.at_end() and s.peek() != ",":
            raise s.error("expected ',' or the end after a challenge")
        challenges.append(Challenge(scheme=scheme, params=params, token68=token68))


def _parse_params(s: _Scanner, params: dict[str, str]) -> None:
    while True:
        name = s.token("a parameter name").lower()
        s.skip_ws()
        if s.peek() != "=":
            raise s.error("expected '='")
        s.pos += 1
        s.skip_ws()
        value = s.quoted_string() if s.peek() == '"' else s.token("a token or quoted-string value")
        if name in params:
            raise s.error(f"parameter {name!r} repeated")
        params[name] = value
        # Another parameter of this challenge follows a comma (and maybe empty
        # elements); anything else after the comma starts the next challenge.
        mark = s.pos
        s.skip_ws()
        if s.peek() != ",":
            s.pos = mark
            return
        while True:
            s.skip_ws()
            if s.peek() != ",":
                break
            s.pos += 1
        if not s.param_ahead():
            s.pos = mark
            return


def parse_www_authenticate(header_values: str | Sequence[str]) -> list[Challenge]:
    """All challenges in one or several ``WWW-Authenticate`` field values, in order.

    Raises :class:`ChallengeParseError` — and nothing else — for malformed input.
    """
    if isinstance(header_values, str):
        values: Sequence[object] = (header_values,)
    elif isinstance(header_values, Sequence):
        values = header_values
    else:
        raise ChallengeParseError("expected a string or a sequence of strings")
    challenges: list[Challenge] = []
    total = 0
    for value in values:
        if not isinstance(value, str):
            raise ChallengeParseError("header values must be strings")
        total += len(value)
        if total > MAX_HEADER_LENGTH:
            raise ChallengeParseError("WWW-Authenticate is too long")
        challenges.extend(_parse_one(value))
    return challenges
