"""The policy simulator: what /authorize would decide for a client and a
made-up session, in the engine's own words (the same call as /authorize)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provider import clock, policy
from provider.flows import authorize as authorize_flow
from provider.flows.admin.clients import get_client
from provider.flows.admin.errors import AdminError
from provider.storage.ladder import current_ladder

__all__ = ["Simulation", "simulate"]


@dataclass(frozen=True)
class Simulation:
    """What /authorize would decide, with the engine's own words."""

    outcome: str  # satisfied | step_up | login | fail
    reason: str
    acr: str | None = None
    amr: tuple[str, ...] = ()
    auth_time: int | None = None
    target_acr: str | None = None
    methods: tuple[str, ...] = ()
    error: str | None = None
    description: str | None = None
    session_acr: str | None = None
    events: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "acr": self.acr,
            "amr": list(self.amr),
            "auth_time": self.auth_time,
            "target_acr": self.target_acr,
            "methods": list(self.methods),
            "error": self.error,
            "error_description": self.description,
            "session_acr": self.session_acr,
        }


_SIM_PARAMS = ("acr_values", "max_age", "claims", "prompt", "scope")


def simulate(
    client_id: str,
    *,
    enrolled: Sequence[Mapping[str, Any] | str],
    events: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    now: int | None = None,
) -> Simulation:
    """Run the decision /authorize makes (:func:`authorize.decide_request`) for
    ``client_id`` with a made-up session: ``enrolled`` methods (names or
    ``{"method", "backup_eligible", "aaguid", "locked", "pin_length"}``) and
    session ``events`` (``{"method", "seconds_ago", "uv", "backup_eligible",
    "aaguid"}``). Raises :class:`AdminError` for bad input."""
    client = get_client(client_id)
    now = clock.now() if now is None else now
    errors: dict[str, str] = {}
    enrolled_methods: list[policy.EnrolledMethod] = []
    for index, item in enumerate(enrolled):
        spec: Mapping[str, Any] = {"method": item} if isinstance(item, str) else item
        if not isinstance(spec, Mapping) or spec.get("method") not in policy.METHODS:
            errors[f"enrolled[{index}]"] = f"method must be one of {', '.join(policy.METHODS)}"
            continue
        pin_length = spec.get("pin_length")
        if pin_length is not None and (not isinstance(pin_length, int) or pin_length < 0):
            errors[f"enrolled[{index}]"] = "pin_length must be a whole number"
            continue
        enrolled_methods.append(
            policy.EnrolledMethod(
                method=spec["method"],
                credential_id=f"{spec['method']}:{index}" if spec["method"] == "passkey" else None,
                backup_eligible=_opt_bool(spec.get("backup_eligible")),
                aaguid=spec.get("aaguid") if isinstance(spec.get("aaguid"), str) else None,
                locked=bool(spec.get("locked", False)),
                pin_length=pin_length,
            )
        )
    session_events: list[policy.Event] = []
    for index, item in enumerate(events):
        if not isinstance(item, Mapping) or item.get("method") not in policy.METHODS:
            errors[f"events[{index}]"] = f"method must be one of {', '.join(policy.METHODS)}"
            continue
        ago = item.get("seconds_ago", 0)
        if not isinstance(ago, int) or isinstance(ago, bool) or not 0 <= ago <= 10**9:
            errors[f"events[{index}]"] = "seconds_ago must be a whole number from 0"
            continue
        try:
            session_events.append(
                policy.event_for(
                    item["method"],
                    now - ago,
                    uv=bool(item.get("uv", False)) if item["method"] == "passkey" else False,
                    backup_eligible=_opt_bool(item.get("backup_eligible"))
                    if item["method"] == "passkey"
                    else None,
                    aaguid=item.get("aaguid")
                    if item["method"] == "passkey" and isinstance(item.get("aaguid"), str)
                    else None,
                    credential_id=f"passkey:{index}" if item["method"] == "passkey" else None,
                )
            )
        except ValueError as exc:
            errors[f"events[{index}]"] = str(exc)
    request: dict[str, str] = {}
    for key, value in params.items():
        if key not in _SIM_PARAMS:
            errors[str(key)] = f"unknown parameter; known: {', '.join(_SIM_PARAMS)}"
        elif value is None or value == "":
            continue
        elif not isinstance(value, str | int) or isinstance(value, bool) or len(str(value)) > 4000:
            errors[key] = "must be text"
        else:
            request[key] = str(value).replace("\x00", "")
    if errors:
        raise AdminError(errors)
    request.setdefault("scope", "openid")
    ladder = current_ladder()
    try:
        client_policy = authorize_flow.client_policy(client)
    except policy.PolicyValidationError as exc:
        raise AdminError({"policy": str(exc)}) from None
    state = None
    if session_events:
        session_events.sort(key=lambda e: e.at)
        state = policy.SessionState(
            user_id="simulated",
            events=tuple(session_events),
            created_at=session_events[0].at,
            last_active_at=now,
        )
    session_acr = (
        policy.session_acr(state, client_policy, ladder, now) if state is not None else None
    )
    try:
        decision = authorize_flow.decide_request(
            request, client_policy, ladder, state, enrolled_methods, now
        )
    except policy.RequirementError as exc:
        return Simulation(
            "fail",
            "invalid_request",
            error=exc.error,
            description=exc.description,
            session_acr=session_acr,
        )
    if isinstance(decision, policy.Satisfied):
        return Simulation(
            "satisfied",
            str(decision.reason),
            acr=decision.acr,
            amr=decision.amr,
            auth_time=decision.auth_time,
            session_acr=session_acr,
        )
    if isinstance(decision, policy.StepUp):
        return Simulation(
            "step_up",
            str(decision.reason),
            target_acr=decision.target_acr,
            methods=decision.methods,
            session_acr=session_acr,
        )
    if isinstance(decision, policy.Login):
        return Simulation("login", str(decision.reason), session_acr=session_acr)
    return Simulation(
        "fail",
        str(decision.reason),
        error=decision.error,
        description=decision.description,
        session_acr=session_acr,
    )


def _opt_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)
