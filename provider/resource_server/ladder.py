"""The OP's acr ladder, as published in discovery (Belay extension).

Belay's discovery document carries ``belay_acr_levels``: ``[{"acr": "...",
"level": n}, ...]`` in ladder order. With it a resource server can accept
"this level or above" instead of an exact list of ``acr`` values. RFC 9470 §3
leaves the comparison of acr values to the resource server; without a ladder
only exact matches count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from provider.resource_server.errors import ProviderUnavailable

__all__ = ["AcrLadder", "LadderSource"]


@dataclass(frozen=True)
class AcrLadder:
    """acr value → level; a higher level is stronger."""

    levels: tuple[tuple[str, int], ...] = field(default=())

    @classmethod
    def of(cls, levels: Mapping[str, int] | Iterable[tuple[str, int]]) -> AcrLadder:
        items = levels.items() if isinstance(levels, Mapping) else levels
        return cls(tuple(sorted(((str(a), int(n)) for a, n in items), key=lambda x: x[1])))

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> AcrLadder:
        """Read ``belay_acr_levels``; an OP without it has an empty ladder.

        Raises :class:`ProviderUnavailable` when the extension is present but malformed:
        guessing an order would be worse than refusing.
        """
        raw = metadata.get("belay_acr_levels")
        if raw is None:
            return cls()
        if not isinstance(raw, list):
            raise ProviderUnavailable("belay_acr_levels must be a list")
        seen: dict[str, int] = {}
        for item in raw:
            if not isinstance(item, dict):
                raise ProviderUnavailable("belay_acr_levels entries must be objects")
            acr, level = item.get("acr"), item.get("level")
            if not isinstance(acr, str) or not acr or isinstance(level, bool):
                raise ProviderUnavailable("belay_acr_levels entries need an acr string")
            if not isinstance(level, int) or acr in seen:
                raise ProviderUnavailable(
                    "belay_acr_levels entries need a unique acr and an int level"
                )
            seen[acr] = level
        return cls.of(seen)

    def level_of(self, acr: object) -> int | None:
        """The level of ``acr``, or None for a missing, non-string or unknown value."""
        if not isinstance(acr, str):
            return None
        for value, level in self.levels:
            if value == acr:
                return level
        return None

    def at_or_above(self, acr: str) -> tuple[str, ...]:
        """``acr`` followed by every stronger value, weakest first."""
        floor = self.level_of(acr)
        if floor is None:
            return (acr,)
        return (acr, *(v for v, n in self.levels if n >= floor and v != acr))

    def acr_ladder(self) -> AcrLadder:
        """An :class:`AcrLadder` is its own :class:`LadderSource`."""
        return self


class LadderSource(Protocol):
    """Anything that gives the current ladder: an :class:`AcrLadder`, a ``ProviderMetadata``."""

    def acr_ladder(self) -> AcrLadder: ...
