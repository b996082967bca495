"""Hypothesis properties of the policy engine (docs/design.md convention 3)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from provider.policy import (
    METHODS,
    UNMET_AUTHENTICATION_REQUIREMENTS,
    ClientPolicy,
    EnrolledMethod,
    Event,
    Fail,
    Lifetime,
    Requirement,
    RequirementError,
    Satisfied,
    SessionState,
    StepUp,
    client_events,
    decide,
    default_ladder,
    event_for,
    parse_requirement,
    record_event,
    session_amr,
    step_up_event,
)
from provider.policy.engine.planning import MAX_PLAN_STEPS

LADDER = default_ladder()
ACRS = LADDER.acr_values
NOW = 1_700_000_000
AAGUIDS = ("cb69481e-8ff7-4039-93ec-0a2729a154a8", "fbfc3007-154e-4ecc-8c0b-6e020557d7bd")

# Mostly recent events (so high levels are reached), sometimes old ones (lifetimes).
times = st.integers(min_value=NOW - 600, max_value=NOW) | st.integers(
    min_value=NOW - 100_000, max_value=NOW
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    method = draw(st.sampled_from(METHODS))
    at = draw(times)
    remembered = draw(st.booleans())
    if method == "passkey":
        return event_for(
            method,
            at,
            uv=draw(st.booleans()),
            backup_eligible=draw(st.sampled_from([None, True, False])),
            aaguid=draw(st.sampled_from([None, *AAGUIDS])),
            remembered=remembered,
        )
    length = draw(st.sampled_from([None, 4, 6, 8])) if method == "pin" else None
    return event_for(method, at, remembered=remembered, pin_length=length)


@st.composite
def sessions(draw: st.DrawFn) -> SessionState:
    evs = tuple(draw(st.lists(events(), min_size=1, max_size=6)))
    latest = max(e.at for e in evs)
    last = draw(st.sampled_from([latest, NOW]) | st.integers(min_value=latest, max_value=NOW))
    return SessionState("u", evs, created_at=min(e.at for e in evs), last_active_at=last)


enrolled_method = st.builds(
    EnrolledMethod,
    method=st.sampled_from(METHODS),
    credential_id=st.sampled_from([None, "a", "b"]),
    backup_eligible=st.sampled_from([None, True, False]),
    aaguid=st.sampled_from([None, *AAGUIDS]),
    locked=st.booleans(),
    pin_length=st.sampled_from([None, 4, 6, 8]),
)
enrolled_methods = st.lists(enrolled_method, max_size=5)

lifetimes = st.builds(
    Lifetime,
    idle_seconds=st.sampled_from([None, 60, 900, 3600]),
    absolute_seconds=st.sampled_from([None, 300, 3600, 86_400]),
)

policies = st.builds(
    ClientPolicy,
    minimum_acr=st.sampled_from([None, None, None, *ACRS]),
    default_acr_values=st.lists(st.sampled_from(ACRS), max_size=2, unique=True).map(tuple),
    default_max_age=st.sampled_from([None, 0, 60, 3600]),
    acr_enforcement=st.sampled_from(["strict", "voluntary"]),
    step_up_methods=st.lists(st.sampled_from(METHODS), max_size=3, unique=True).map(tuple),
    passkey_user_verification=st.sampled_from(["required", "preferred", "discouraged"]),
    allowed_aaguids=st.sampled_from([(), (), (AAGUIDS[0],)]),
    min_pin_length=st.sampled_from([None, 6]),
    level_lifetimes=st.dictionaries(st.sampled_from(ACRS), lifetimes, max_size=1),
    remember_device_days=st.sampled_from([0, 0, 1, 30]),
)

acr_tokens = st.sampled_from([*ACRS, "urn:x:unknown"])


@st.composite
def request_params(draw: st.DrawFn) -> dict[str, str]:
    params: dict[str, str] = {}
    if draw(st.booleans()):
        params["acr_values"] = " ".join(draw(st.lists(acr_tokens, max_size=3)))
    if draw(st.booleans()):
        params["max_age"] = str(draw(st.sampled_from([0, 1, 30, 600, 100_000])))
    if draw(st.booleans()):
        params["prompt"] = draw(st.sampled_from(["none", "login", "consent", "select_account"]))
    if draw(st.booleans()):
        acr: dict[str, Any] = {"essential": draw(st.booleans())}
        acr["values"] = draw(st.lists(acr_tokens, min_size=1, max_size=2))
        params["claims"] = json.dumps({"id_token": {"acr": acr}})
    return params


def _check(
    acr: str, policy: ClientPolicy, session: SessionState, now: int, *, active_only: bool = False
) -> bool:
    evs = [e for e in session.events if not (active_only and e.remembered)]
    return LADDER.with_lifetimes(policy.level_lifetimes).satisfies(
        acr,
        evs,
        session,
        now,
        allowed_aaguids=policy.allowed_aaguids,
        min_pin_length=policy.min_pin_length,
    )


def _accepts(event: Event, policy: ClientPolicy) -> bool:
    """A real event of a method the client accepts (docs/security.md case 48)."""
    if event.remembered:
        return False
    if policy.step_up_methods and event.method not in policy.step_up_methods:
        return False
    if event.method == "pin" and policy.min_pin_length is not None:
        return (event.pin_length or 0) >= policy.min_pin_length
    if event.method == "passkey":
        if policy.allowed_aaguids and event.aaguid not in policy.allowed_aaguids:
            return False
        return event.uv or policy.passkey_user_verification != "required"
    return True


def _requirement(params: dict[str, str], policy: ClientPolicy, started: int) -> Requirement:
    return parse_requirement(params, policy, LADDER, transaction_started_at=started)


@given(
    st.lists(events(), max_size=6),
    events(),
    st.sampled_from([None, (AAGUIDS[0],)]),
    st.sampled_from([None, 6]),
    st.integers(min_value=NOW - 100_000, max_value=NOW),
)
def test_adding_an_event_never_lowers_the_level(
    before: list[Event],
    extra: Event,
    aaguids: tuple[str, ...] | None,
    min_pin: int | None,
    last_active: int,
) -> None:
    state = SessionState("u", tuple(before), created_at=NOW - 100_000, last_active_at=last_active)
    kwargs: dict[str, Any] = {"allowed_aaguids": aaguids or (), "min_pin_length": min_pin}
    old = LADDER.highest_satisfied(before, state, NOW, **kwargs)
    new = LADDER.highest_satisfied([*before, extra], state, NOW, **kwargs)
    assert (new.level if new else 0) >= (old.level if old else 0)
    old_set = {lvl.acr for lvl in LADDER.satisfied_levels(before, state, NOW, **kwargs)}
    new_set = {lvl.acr for lvl in LADDER.satisfied_levels([*before, extra], state, NOW, **kwargs)}
    assert old_set <= new_set


@settings(max_examples=300)
@given(
    request_params(),
    st.sampled_from(["0", "1", "30", "600", "5000"]),
    policies,
    sessions(),
    enrolled_methods,
    st.integers(min_value=0, max_value=100_000),
    st.integers(min_value=0, max_value=100_000),
)
def test_later_now_never_satisfies_a_failed_max_age(
    params: dict[str, str],
    max_age: str,
    policy: ClientPolicy,
    session: SessionState,
    enrolled: list[EnrolledMethod],
    wait: int,
    started_ago: int,
) -> None:
    started = NOW - started_ago
    requirement = _requirement({**params, "max_age": max_age}, policy, started)
    first = decide(requirement, policy, LADDER, session, enrolled, NOW)
    if getattr(first, "reason", None) != "max_age":
        return
    later = decide(requirement, policy, LADDER, session, enrolled, NOW + wait)
    assert not isinstance(later, Satisfied)


@settings(max_examples=500)
@given(request_params(), policies, sessions(), enrolled_methods, st.integers(0, 1000))
def test_emitted_acr_is_satisfied_and_floor_holds(
    params: dict[str, str],
    policy: ClientPolicy,
    session: SessionState,
    enrolled: list[EnrolledMethod],
    started_ago: int,
) -> None:
    requirement = _requirement(params, policy, NOW - started_ago)
    decision = decide(requirement, policy, LADDER, session, enrolled, NOW)
    if not isinstance(decision, Satisfied):
        return
    # The emitted acr is one the events satisfy, checked with the ladder directly.
    assert decision.acr is not None
    assert _check(decision.acr, policy, session, NOW)
    # The floor is never undercut.
    if policy.minimum_acr is not None:
        assert _check(policy.minimum_acr, policy, session, NOW)
        if not requirement.essential_acr:
            emitted = LADDER.get(decision.acr)
            floor = LADDER.get(policy.minimum_acr)
            assert emitted is not None and floor is not None
            assert emitted.level >= floor.level
    # Essential values are honoured exactly, with active (non-remembered) events.
    if requirement.essential_acr and requirement.essential_acr_values:
        assert decision.acr in requirement.essential_acr_values
        assert _check(decision.acr, policy, session, NOW, active_only=True)
    # Strict enforcement never silently downgrades an explicit request.
    if (
        policy.acr_enforcement == "strict"
        and requirement.acr_source == "request"
        and requirement.acr_values
        and not requirement.essential_acr
    ):
        allowed = set(requirement.acr_values) | {policy.minimum_acr}
        assert decision.acr in allowed
    # max_age is met by an active event of a method the client accepts
    # (docs/security.md case 48), and auth_time is the latest such event.
    accepted = [e.at for e in session.events if _accepts(e, policy)]
    if requirement.max_age is not None:
        assert accepted
        assert max(accepted) >= NOW - requirement.max_age or max(accepted) >= NOW - started_ago
    if accepted:
        assert decision.auth_time == max(accepted)
    else:
        active = [e.at for e in session.events if not e.remembered]
        days = policy.remember_device_days
        visible = [e.at for e in session.events if NOW - e.at <= days * 86_400]
        assert decision.auth_time == (min(active) if active else max(visible))
    # A replay exists only for a client that accepts remembered browsers (case 47).
    if policy.remember_device_days == 0:
        assert decision.amr == session_amr([e for e in session.events if not e.remembered])
    # Remembered events lift the claim to the client's standing requirement at
    # most (its floor, its default acr values, the lowest level), never beyond
    # what the fresh events reach on their own.
    if any(e.remembered for e in session.events):
        fresh = LADDER.with_lifetimes(policy.level_lifetimes).highest_satisfied(
            [e for e in session.events if not e.remembered],
            session,
            NOW,
            allowed_aaguids=policy.allowed_aaguids,
            min_pin_length=policy.min_pin_length,
        )
        standing = [policy.minimum_acr, *policy.default_acr_values, LADDER.lowest.acr]
        bound = max(
            [level.level for a in standing if a and (level := LADDER.get(a)) is not None]
            + [fresh.level if fresh is not None else 0]
        )
        emitted_level = LADDER.get(decision.acr)
        assert emitted_level is not None and emitted_level.level <= bound


@settings(max_examples=300)
@given(request_params(), policies, sessions(), enrolled_methods)
def test_prompt_none_never_shows_ui(
    params: dict[str, str],
    policy: ClientPolicy,
    session: SessionState,
    enrolled: list[EnrolledMethod],
) -> None:
    params = {**params, "prompt": "none"}
    decision = decide(_requirement(params, policy, NOW), policy, LADDER, session, enrolled, NOW)
    assert type(decision).__name__ in {"Satisfied", "Fail"}


param_names = st.sampled_from(["max_age", "prompt", "acr_values", "claims", "other"])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["id_token", "userinfo", "acr", "auth_time", "essential", "value", "values", "x"]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=500)
@given(
    st.dictionaries(param_names, st.text(), max_size=5),
    st.one_of(st.none(), json_values.map(json.dumps)),
    policies,
)
def test_parse_requirement_only_raises_requirement_error(
    params: dict[str, str], claims: str | None, policy: ClientPolicy
) -> None:
    if claims is not None:
        params = {**params, "claims": claims}
    try:
        requirement = parse_requirement(params, policy, LADDER)
    except RequirementError as exc:
        assert exc.error == "invalid_request"
        assert exc.description
        return
    assert all(value in LADDER for value in requirement.acr_values)
    assert requirement.max_age is None or 0 <= requirement.max_age <= 2**31 - 1
    assert not ("none" in requirement.prompt and len(requirement.prompt) > 1)


#: Sessions whose events are often past a level's lifetime, and mostly unlocked
#: methods: where a level needs more than one new event.
old_times = st.sampled_from([NOW - 90_000, NOW - 5000, NOW - 400, NOW - 10]) | times
plan_sessions = st.builds(
    lambda evs, idle: SessionState(
        "u", tuple(evs), created_at=min(e.at for e in evs), last_active_at=NOW - idle
    ),
    st.lists(
        st.builds(
            lambda e, at: replace(e, at=at),
            events(),
            old_times,
        ),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([0, 10, 1000, 4000]),
)
plan_method = st.builds(
    EnrolledMethod,
    method=st.sampled_from(METHODS),
    credential_id=st.sampled_from([None, "a", "b"]),
    backup_eligible=st.sampled_from([None, True, False]),
    aaguid=st.sampled_from([None, *AAGUIDS]),
    locked=st.sampled_from([False, False, False, True]),
    pin_length=st.sampled_from([None, 6, 8]),
)
# Half the time a knowledge and a possession factor that together make 2fa.
plan_enrolled = st.lists(plan_method, max_size=MAX_PLAN_STEPS) | st.lists(
    plan_method, max_size=MAX_PLAN_STEPS - 2
).map(lambda extra: [EnrolledMethod("password"), EnrolledMethod("totp"), *extra])


@settings(max_examples=500)
@given(request_params(), policies, plan_sessions, plan_enrolled, st.integers(0, 1000))
def test_a_target_the_enrolled_methods_reach_is_never_unmet(
    params: dict[str, str],
    policy: ClientPolicy,
    session: SessionState,
    enrolled: list[EnrolledMethod],
    started_ago: int,
) -> None:
    """docs/security.md case 49: if the enrolled, unlocked methods together (one new
    event each, as step-ups for this client) reach a target of the request, decide
    never answers unmet_authentication_requirements -- however many steps it takes."""
    requirement = _requirement(params, policy, NOW - started_ago)
    decision = decide(requirement, policy, LADDER, session, enrolled, NOW)
    if not (isinstance(decision, Fail) and decision.error == UNMET_AUTHENTICATION_REQUIREMENTS):
        return
    if decision.reason == "essential_acr_unknown":
        return
    added = [e for m in enrolled if (e := step_up_event(m, policy, NOW)) is not None]
    ladder = LADDER.with_lifetimes(policy.level_lifetimes)
    # What this client may count of the session (docs/security.md case 47).
    counted = client_events(session, policy, NOW)

    def reached(checks: list[tuple[str, bool]]) -> bool:
        return all(
            ladder.satisfies(
                acr,
                [*(e for e in counted.events if not (active_only and e.remembered)), *added],
                counted,
                NOW,
                allowed_aaguids=policy.allowed_aaguids,
                min_pin_length=policy.min_pin_length,
            )
            for acr, active_only in checks
        )

    # The request's targets, as decide() derives them (docs/design.md "The decision").
    if requirement.essential_acr and requirement.essential_acr_values:
        values, essential = requirement.essential_acr_values, True
    else:
        values = requirement.acr_values
        essential = requirement.essential_acr and bool(values)
    active_only = essential or requirement.acr_source == "request"
    floor = LADDER.get(policy.minimum_acr) if policy.minimum_acr is not None else None
    targets: list[list[tuple[str, bool]]] = []
    for value in values:
        level = LADDER.get(value)
        assert level is not None
        if floor is not None and level.level < floor.level and not essential:
            targets.append([(floor.acr, False)])
        else:
            targets.append([(value, active_only), *([(floor.acr, False)] if floor else [])])
    if decision.reason == "floor_not_met":
        assert floor is not None
        targets.append([(floor.acr, False)])
    for checks in targets:
        assert not reached(checks), (checks, decision)


@settings(max_examples=400)
@given(
    request_params(),
    policies,
    plan_sessions,
    plan_enrolled,
    st.integers(0, 1000),
    st.randoms(use_true_random=False),
)
def test_following_the_offered_steps_reaches_the_target(
    params: dict[str, str],
    policy: ClientPolicy,
    session: SessionState,
    enrolled: list[EnrolledMethod],
    started_ago: int,
    rnd: Any,
) -> None:
    """docs/security.md case 49, no dead end: answering any offered method, again and
    again (the challenge page decides after each step), ends Satisfied within a few
    steps, and only enrolled, unlocked methods are ever offered."""
    params = {k: v for k, v in params.items() if k != "prompt"}
    # One credential per non-passkey method, and a distinct id for every
    # passkey, as accounts have (provider/factors/passkey/factor.py): the
    # offer names the passkeys that reach the target by their ids, so two
    # passkeys sharing an id (or both without one) could not be told apart.
    firsts: dict[str, EnrolledMethod] = {}
    for m in enrolled:
        if m.method != "passkey":
            firsts.setdefault(m.method, m)
    enrolled = [
        replace(m, credential_id=f"passkey:{i}") if m.method == "passkey" else m
        for i, m in enumerate(enrolled)
        if m.method == "passkey" or firsts[m.method] is m
    ]
    requirement = _requirement(params, policy, NOW - started_ago)
    now = NOW
    decision = decide(requirement, policy, LADDER, session, enrolled, now)
    steps = 0
    while isinstance(decision, StepUp):
        assert steps < 2 * MAX_PLAN_STEPS, decision
        usable = {m.method for m in enrolled if not m.locked}
        assert set(decision.methods) <= usable
        method = rnd.choice(decision.methods)
        candidates = [
            m
            for m in enrolled
            if m.method == method
            and not m.locked
            and (
                method != "passkey"
                or not decision.passkey_credential_ids
                or m.credential_id in decision.passkey_credential_ids
            )
            and step_up_event(m, policy, now) is not None
        ]
        assert candidates, decision
        now += 1
        event = step_up_event(rnd.choice(candidates), policy, now)
        assert event is not None
        session = record_event(session, event)
        decision = decide(requirement, policy, LADDER, session, enrolled, now)
        steps += 1
    if steps:
        assert isinstance(decision, Satisfied), decision
