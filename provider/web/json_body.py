"""The one reader of JSON request bodies (docs/security.md case 53).

Every endpoint that takes JSON — the step-up API, WebAuthn, dynamic client
registration, the admin API — reads its body here, and the admin console's
JSON text fields go through :func:`parse`. A body is refused, with a
:class:`JSONBodyError` (a :class:`provider.errors.BelayError`: a 400, or 413
when too large), when it is:

- larger than ``max_bytes`` (checked before anything is parsed);
- not UTF-8, not JSON, or uses ``NaN``/``Infinity`` (not JSON: RFC 8259 §6);
- nested deeper than ``max_depth`` arrays/objects — counted on the text before
  parsing, so a hostile body never reaches the recursive parser (a
  ``RecursionError`` was a 500);
- holding a string (a key or a value) with a lone surrogate (``"\\ud800"``) or
  NUL: neither can be stored (PostgreSQL refuses both; UTF-8 cannot encode a
  lone surrogate), and no field of ours may contain them.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from provider.errors import BelayError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "JSONBodyError",
    "parse",
    "read_json",
]

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 32


class JSONBodyError(BelayError, ValueError):
    """Why a JSON body is refused: ``status_code`` (400, or 413 with ``error``
    ``too_large`` as for any body over ``MAX_CONTENT_LENGTH``) and a description."""

    def __init__(self, description: str, status: int = 400) -> None:
        super().__init__(
            description,
            error="too_large" if status == 413 else "invalid_request",
            status_code=status,
        )


def _bad_text(value: str) -> str | None:
    """What is wrong with a string that is about to be stored, or ``None``."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain lone surrogates (invalid Unicode)"
    return None


def _depth(text: str, limit: int) -> bool:
    """Is ``text`` nested no deeper than ``limit``? Brackets inside strings do not count."""
    if text.count("[") + text.count("{") <= limit:
        return True  # the usual body: too few brackets to be too deep
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_strings(value: Any) -> None:
    """Every key and string value in ``value`` (iteratively: no recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = _bad_text(item)
            if problem:
                raise JSONBodyError(f"JSON strings {problem}.")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse(
    text: str | bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """``text`` as JSON, or :class:`JSONBodyError`."""
    if len(text) > max_bytes:
        raise JSONBodyError(f"The JSON is larger than {max_bytes} bytes.", 413)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONBodyError("The body is not UTF-8.") from None
    if not _depth(text, max_depth):
        raise JSONBodyError(f"The JSON is nested deeper than {max_depth} levels.")
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise JSONBodyError(f"This is not valid JSON: {str(exc)[:120]}") from None
    _check_strings(value)
    return value


def read_json(*, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """This request's JSON body; ``None`` when the body is empty.

    A non-empty body must be sent as ``application/json`` (or ``…+json``).
    """
    length = request.content_length
    if length is not None and length > max_bytes:
        raise JSONBodyError(f"The JSON body is larger than {max_bytes} bytes.", 413)
    data = request.get_data(cache=True)
    if not data:
        return None
    if not request.is_json:
        raise JSONBodyError("Send the body as application/json.")
    return parse(data, max_bytes=max_bytes, max_depth=max_depth)
