"""A client's acr policy: read it (as stored, or with every field) and change
it from a (partial) dict or ``KEY=VALUE`` strings; every change is audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provider import policy, storage
from provider.flows.admin.audit_log import record_change
from provider.flows.admin.clients import get_client
from provider.storage.ladder import current_ladder

__all__ = ["effective_policy", "stored_policy", "update_policy"]


def stored_policy(client_id: str) -> dict[str, Any]:
    """The fields set for the client (``belay client policy`` prints them)."""
    return dict(get_client(client_id).policy or {})


def effective_policy(client_id: str) -> dict[str, Any]:
    """Every field of the client's policy, defaults filled in."""
    current = policy.client_policy_from_dict(stored_policy(client_id), current_ladder())
    data: dict[str, Any] = policy.client_policy_to_dict(current)
    return data


def update_policy(
    client_id: str,
    *,
    data: Mapping[str, Any] | None = None,
    assignments: Sequence[str] | None = None,
    replace: bool = False,
    actor: str,
) -> dict[str, Any]:
    """Change a client's acr policy from a (partial) dict or ``KEY=VALUE``
    strings; raises :class:`policy.PolicyValidationError` (field -> message).
    With ``replace``, fields missing from ``data`` go back to their defaults."""
    client = get_client(client_id, for_update=True)
    ladder = current_ladder()
    before = dict(client.policy or {})
    base = None if replace else policy.client_policy_from_dict(before, ladder)
    if assignments is not None:
        updated = policy.client_policy_from_assignments(list(assignments), ladder, base=base)
    else:
        updated = policy.client_policy_from_dict(data or {}, ladder, base=base)
    after = policy.client_policy_to_dict(updated)
    client.policy = after
    storage.commit()
    full_before = policy.client_policy_to_dict(policy.client_policy_from_dict(before, ladder))
    record_change("client_policy_changed", client_id, full_before, after, actor)
    return after
