"""What a request aims at: goals in preference order, and the standing minimum.

A goal is one or more acr checks (the requested level and the client's floor),
the acr to emit once they hold, the acr a step-up aims at and the reason to give
when they do not hold (docs/design.md "The decision": preference order, the
client's floor; docs/security.md D21: lower values never lower the floor).
"""

from __future__ import annotations

from typing import NamedTuple

from provider.policy.ladder.ladder import Ladder
from provider.policy.ladder.levels import Level
from provider.policy.model import Reason, Requirement

__all__ = ["Check", "Goal", "baseline_goal", "candidate_goals"]


# Named tuples, not frozen dataclasses: decide() builds a few per call, and a
# frozen dataclass's __init__ costs a setattr per field. Compared only with each other.
class Check(NamedTuple):
    acr: str
    # True for explicit requests: remembered events do not count (docs/design.md,
    # "Remembered devices": never an explicit step-up).
    active_only: bool


class Goal(NamedTuple):
    checks: tuple[Check, ...]
    emit: str | None  # acr to emit once met; None: the highest level satisfied
    target: str  # the acr a step-up aims at
    shown: str | None  # StepUp.target_acr when only freshness is missing
    reason: str  # StepUp reason when not met


def candidate_goals(
    req: Requirement, ladder: Ladder, floor: Level | None
) -> tuple[list[Goal], bool]:
    """Candidate goals in preference order, and whether they are essential."""
    if req.essential_acr and req.essential_acr_values:
        values, essential = req.essential_acr_values, True
    else:
        values = req.acr_values
        essential = req.essential_acr and bool(values)
    active_only = essential or req.acr_source == "request"
    goals: list[Goal] = []
    for value in values:
        level = ladder.get(value)
        if level is None:
            continue
        if floor is not None and level.level < floor.level and not essential:
            # A requested value below the floor is replaced by the floor, a
            # standing minimum (docs/security.md D21: lower values never lower it).
            goal = Goal(
                checks=(Check(floor.acr, active_only=False),),
                emit=floor.acr,
                target=floor.acr,
                shown=floor.acr,
                reason=Reason.FLOOR_NOT_MET,
            )
        else:
            checks = [Check(value, active_only)]
            target = value
            if floor is not None:
                if Check(floor.acr, False) not in checks:
                    checks.append(Check(floor.acr, active_only=False))
                if floor.level > level.level:
                    # Essential and below the floor: the acr claim must be one of
                    # the essential values, and the floor must still hold.
                    target = floor.acr
            goal = Goal(
                checks=tuple(checks),
                emit=value,
                target=target,
                shown=value,
                reason=Reason.ACR_NOT_MET,
            )
        if goal not in goals:
            goals.append(goal)
    return goals, essential


def baseline_goal(ladder: Ladder, floor: Level | None) -> Goal:
    """The standing minimum: the client's floor, or else the ladder's lowest level.

    The implicit lowest level makes sure *something counts for this client*
    (an AAGUID allow-list or PIN minimum can exclude every event).
    """
    if floor is not None:
        return Goal(
            checks=(Check(floor.acr, active_only=False),),
            emit=None,
            target=floor.acr,
            shown=floor.acr,
            reason=Reason.FLOOR_NOT_MET,
        )
    lowest = ladder.lowest.acr
    return Goal(
        checks=(Check(lowest, active_only=False),),
        emit=None,
        target=lowest,
        shown=None,
        reason=Reason.ACR_NOT_MET,
    )
