"""How usernames are matched: case-insensitively, by a normalised lookup key.

A username is shown as it was typed when the account was made ("Alice"); it is
*found* by its key, :func:`lookup_key`: Unicode NFKC, case-folded, NFKC again
(the Unicode "NFKC_Casefold" of UAX #15/UTS #39 in spirit, with the standard
library). So "Alice", "ALICE" and "ａｌｉｃｅ" (full-width, as some phone
keyboards type it) are one account, and a new account whose key is taken is
refused. The key has a unique index (``users.username_key``): two creations
racing with names that differ only by case cannot both win. docs/admin.md
"Usernames" says the same for operators.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_KEY_LENGTH", "lookup_key"]

#: NFKC can lengthen a name (a ligature, a full-width or compatibility
#: character becomes several); a name whose key is longer is refused.
MAX_KEY_LENGTH = 300


def lookup_key(username: str) -> str:
    """The key a username is found by (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded)
