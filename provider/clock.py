"""The one source of "now" for the provider (integer epoch seconds).

Tests freeze or advance it with :func:`set_offset`; nothing else in the
provider calls ``time.time()`` for protocol decisions.
"""

from __future__ import annotations

import time

__all__ = ["now", "set_offset"]

_offset = 0


def now() -> int:
    return int(time.time()) + _offset


def set_offset(seconds: int) -> None:
    """Shift the provider's clock (tests only)."""
    global _offset
    _offset = seconds
