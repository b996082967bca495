"""The policy engine's view of an authorization: the user's methods, when the
transaction began, and the decision (shared with the admin policy simulator)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import overload

from provider import policy
from provider.flows import step_up
from provider.flows.assurance import events
from provider.storage.models import AuthorizeTransaction, User, WebSession

__all__ = [
    "Blocked",
    "LazyEnrolled",
    "blocked_by_locks",
    "decide_request",
    "enrolled_methods",
    "transaction_start",
]


def enrolled_methods(user: User) -> list[policy.EnrolledMethod]:
    return step_up.factors().enrolled(user.id)


class LazyEnrolled(Sequence[policy.EnrolledMethod]):
    """The user's methods, read (one query per factor) on first use: decide() only
    looks at them when the session does not already satisfy the request, which a
    live session usually does (bench/analysis.md)."""

    def __init__(self, load: Callable[[], list[policy.EnrolledMethod]]) -> None:
        self._load = load
        self._methods: list[policy.EnrolledMethod] | None = None

    def _get(self) -> list[policy.EnrolledMethod]:
        if self._methods is None:
            self._methods = self._load()
        return self._methods

    @overload
    def __getitem__(self, index: int) -> policy.EnrolledMethod: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[policy.EnrolledMethod]: ...

    def __getitem__(
        self, index: int | slice
    ) -> policy.EnrolledMethod | Sequence[policy.EnrolledMethod]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())


def transaction_start(tx: AuthorizeTransaction | None, row: WebSession | None) -> int | None:
    """When "this transaction" began, for the engine's "an event made during it".

    Times are whole seconds, so the transaction's own clock cannot tell a login
    from earlier in the same second apart from a step-up made for it: events are
    told apart by id instead (docs/security.md case 23: ``max_age=0`` always demands
    a new event).
    """
    if tx is None:
        return None
    if row is None:
        return tx.created_at + 1
    # Only events performed since: a replay from a remembered browser (made by
    # a parallel transaction) carries its old time and is never "new during
    # this transaction" (docs/security.md case 47).
    new = events.new_event_times(
        row, baseline_sid=tx.baseline_sid, baseline_event_id=tx.baseline_event_id
    )
    return min(new) if new else tx.created_at + 1


def decide_request(
    params: dict[str, str],
    client_policy: policy.ClientPolicy,
    ladder: policy.Ladder,
    session: policy.SessionState | None,
    enrolled: Sequence[policy.EnrolledMethod],
    now: int,
    *,
    transaction_started_at: int | None = None,
) -> policy.Decision:
    """The engine call /authorize makes, from raw parameters (the admin policy
    simulator uses it, so that what it shows is what /authorize does). Raises
    :class:`policy.RequirementError` for a malformed request."""
    requirement = policy.parse_requirement(
        params,
        client_policy,
        ladder,
        transaction_started_at=transaction_started_at,
    )
    return policy.decide(requirement, client_policy, ladder, session, enrolled, now)


@dataclass(frozen=True)
class Blocked:
    target_acr: str | None
    locked: tuple[str, ...]


def blocked_by_locks(
    decision: policy.Decision,
    enrolled: Sequence[policy.EnrolledMethod],
    decide_for: Callable[
        [policy.SessionState | None, Sequence[policy.EnrolledMethod]], policy.Decision
    ],
    session: policy.SessionState | None,
) -> Blocked | None:
    """When the requirement is unmet only because factors are locked: the
    target and the locked methods that would reach it. Never lowers the bar:
    the decision with those factors unlocked is only read, never acted on."""
    if (
        not isinstance(decision, policy.Fail)
        or decision.error != "unmet_authentication_requirements"
        or session is None
        or not any(m.locked for m in enrolled)
    ):
        return None
    unlocked = [replace(m, locked=False) for m in enrolled]
    would = decide_for(session, unlocked)
    if not isinstance(would, policy.StepUp):
        return None
    locked_names = {m.method for m in enrolled if m.locked}
    needed = tuple(m for m in would.methods if m in locked_names)
    if not needed:
        return None
    return Blocked(would.target_acr, needed)
