"""What a validated access token says: who, for which client, how authenticated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """The validated token's claims, with the ones RFC 9068 and RFC 9470 care about typed.

    ``acr`` and ``auth_time`` are None when the token lacks them (or carries a
    malformed value); the requirement check then treats them as the weakest
    level and an infinitely old login (docs/security.md case 30).
    """

    subject: str
    client_id: str | None
    scopes: tuple[str, ...]
    acr: str | None
    amr: tuple[str, ...]
    auth_time: int | None
    expires_at: int | None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        scope = claims.get("scope")
        if isinstance(scope, str):
            scopes = tuple(scope.split())
        elif isinstance(claims.get("scp"), list):
            scopes = tuple(s for s in claims["scp"] if isinstance(s, str))
        else:
            scopes = ()
        acr = claims.get("acr")
        amr = claims.get("amr")
        auth_time = claims.get("auth_time")
        exp = claims.get("exp")
        client_id = claims.get("client_id")
        return cls(
            subject=str(claims.get("sub", "")),
            client_id=client_id if isinstance(client_id, str) else None,
            scopes=scopes,
            acr=acr if isinstance(acr, str) and acr else None,
            amr=tuple(m for m in amr if isinstance(m, str)) if isinstance(amr, list) else (),
            auth_time=_int_or_none(auth_time),
            expires_at=_int_or_none(exp),
            claims=MappingProxyType(dict(claims)),
        )


def _int_or_none(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 2**62:
        return int(value)
    return None
