"""The engine's fast paths give exactly the answers of a straightforward recomputation.

decide() checks each (acr, active-only) pair once per request with a
:class:`~provider.policy.ladder.level_check.LevelCheck` (the session's events counted and
split by lifetime once), completes rules from :meth:`Rule.plus_one` instead of
re-running them per enrolled method, and reuses cached step-up event *kinds*
(``_kind_event``, time and credential id left out). Here a plain
re-implementation -- the engine as it was before those shortcuts: every step-up
option re-runs ``satisfies`` on the events plus the option's own event -- is
compared with the real one on random ladders, sessions (with idle gaps,
remembered events, old events), client policies, requests and enrolled methods.

The reference also plans a level that needs more than one new event
(docs/security.md case 49) the plain way: every combination of enrolled
credentials, shortest first, then a new login followed by such a combination.
Before plans, the reference (like the engine) answered such a request
``unmet_authentication_requirements`` or downgraded it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from provider.policy import (
    KNOWLEDGE,
    METHODS,
    ClientPolicy,
    Condition,
    Decision,
    DistinctCategories,
    DistinctMethods,
    EnrolledMethod,
    Event,
    EventCondition,
    ExcludeKnowledgeOnly,
    Fail,
    Ladder,
    Level,
    Lifetime,
    Login,
    MinEvents,
    Requirement,
    Rule,
    Satisfied,
    SessionState,
    StepUp,
    auth_time_of,
    decide,
    default_ladder,
    parse_requirement,
    session_amr,
    step_up_event,
)
from provider.policy.engine.client_view import _kind_event
from provider.policy.engine.planning import MAX_PLAN_STEPS
from tests.policy.test_policy_properties import (
    AAGUIDS,
    NOW,
    events,
    plan_enrolled,
    plan_sessions,
    request_params,
)
from tests.policy.test_policy_properties import policies as property_policies

UNMET = "unmet_authentication_requirements"

# --- the reference: plain recomputation, as the engine was written first ---------------


def ref_categories(event: Event) -> tuple[str, ...]:
    if event.method == "passkey":
        return ("possession", "user_verification") if event.uv else ("possession",)
    return {
        "password": ("knowledge",),
        "pin": ("knowledge",),
        "totp": ("possession",),
        "backup_code": ("possession",),
        "email_otp": ("possession",),
        "sms_otp": ("possession",),
    }.get(event.method, ())


def ref_condition(condition: Condition, events: Sequence[Event]) -> bool:
    if isinstance(condition, MinEvents):
        return len(events) >= condition.count
    if isinstance(condition, DistinctCategories):
        return len({c for e in events for c in ref_categories(e)}) >= condition.count
    if isinstance(condition, DistinctMethods):
        return len({e.method for e in events}) >= condition.count
    if isinstance(condition, ExcludeKnowledgeOnly):
        return any(c != KNOWLEDGE for e in events for c in ref_categories(e))

    def matches(event: Event) -> bool:
        c = condition
        return (
            (c.method is None or event.method == c.method)
            and (c.methods_any is None or event.method in c.methods_any)
            and (c.uv is None or event.uv is c.uv)
            and (c.backup_eligible is None or event.backup_eligible is c.backup_eligible)
            and (
                c.aaguid_in is None
                or (event.aaguid is not None and event.aaguid.lower() in c.aaguid_in)
            )
            and (c.category is None or c.category in ref_categories(event))
            and (c.amr_any is None or any(v in c.amr_any for v in event.amr))
        )

    return sum(1 for e in events if matches(e)) >= condition.count


def ref_rule(rule: Rule, events: Sequence[Event]) -> bool:
    return any(all(ref_condition(c, events) for c in alt) for alt in rule.alternatives)


def ref_counted(
    events: Sequence[Event], allowed_aaguids: Sequence[str], min_pin_length: int | None
) -> list[Event]:
    allowed = {a.lower() for a in allowed_aaguids}
    return [
        e
        for e in events
        if not (
            allowed
            and e.method == "passkey"
            and (e.aaguid is None or e.aaguid.lower() not in allowed)
        )
        and not (
            min_pin_length is not None
            and e.method == "pin"
            and (e.pin_length is None or e.pin_length < min_pin_length)
        )
    ]


def ref_revived(rule: Rule, alive: list[Event], idled: list[Event]) -> bool:
    if not alive or not ref_rule(rule, [*alive, *idled]):
        return False
    if ref_rule(rule, alive):
        return True
    recent = sorted(idled, key=lambda e: e.at, reverse=True)[:10]
    return any(
        ref_rule(rule, [*subset, *alive]) and not ref_rule(rule, subset)
        for size in range(1, len(recent) + 1)
        for subset in combinations(recent, size)
    )


def ref_level_holds(
    level: Level | None,
    events: Sequence[Event],
    session: SessionState | None,
    now: int,
    allowed_aaguids: Sequence[str] = (),
    min_pin_length: int | None = None,
) -> bool:
    if level is None:
        return False
    counted = ref_counted(events, allowed_aaguids, min_pin_length)
    lifetime = level.lifetime
    if lifetime is None:
        return ref_rule(level.rule, counted)
    if lifetime.absolute_seconds is not None:
        counted = [e for e in counted if now - e.at <= lifetime.absolute_seconds]
    idle = lifetime.idle_seconds
    if idle is None or session is None:
        return ref_rule(level.rule, counted)
    gaps = [*session.idle_gaps, (session.last_active_at, now)]
    alive: list[Event] = []
    idled: list[Event] = []
    for event in counted:
        if any(start >= event.at and until - start > idle for start, until in gaps):
            idled.append(event)
        else:
            alive.append(event)
    if not idled:
        return ref_rule(level.rule, alive)
    return ref_revived(level.rule, alive, idled)


def ref_step_up_event(method: EnrolledMethod, policy: ClientPolicy, now: int) -> Event | None:
    if method.method not in METHODS or method.locked:
        return None
    if policy.step_up_methods and method.method not in policy.step_up_methods:
        return None
    if method.method == "passkey":
        aaguid = method.aaguid.lower() if method.aaguid is not None else None
        if policy.allowed_aaguids and aaguid not in policy.allowed_aaguids:
            return None
        uv = policy.passkey_user_verification != "discouraged"
        amr = ("hwk" if method.backup_eligible is False else "swk",) + (("user",) if uv else ())
        return Event(
            "passkey",
            amr,
            now,
            credential_id=method.credential_id,
            uv=uv,
            backup_eligible=method.backup_eligible,
            aaguid=aaguid,
        )
    if (
        method.method == "pin"
        and policy.min_pin_length is not None
        and (method.pin_length is None or method.pin_length < policy.min_pin_length)
    ):
        return None
    amr = {
        "password": "pwd",
        "pin": "pin",
        "totp": "otp",
        "backup_code": "otp",
        "email_otp": "otp",
        "sms_otp": "sms",
    }[method.method]
    return Event(
        method.method,
        (amr,),
        now,
        credential_id=method.credential_id,
        pin_length=method.pin_length if method.method == "pin" else None,
    )


@dataclass(frozen=True)
class RefCheck:
    acr: str
    active_only: bool


@dataclass(frozen=True)
class RefGoal:
    checks: tuple[RefCheck, ...]
    emit: str | None
    target: str
    shown: str | None
    reason: str


class RefContext:
    def __init__(
        self,
        policy: ClientPolicy,
        ladder: Ladder,
        session: SessionState,
        enrolled: Sequence[EnrolledMethod],
        now: int,
    ) -> None:
        self.policy = policy
        self.ladder = ladder.with_lifetimes(policy.level_lifetimes)
        self.session = session
        self.now = now
        self.events = session.events
        self.active_events = tuple(e for e in session.events if not e.remembered)
        self.enrolled = enrolled
        self.options = [
            (m, e) for m in enrolled if (e := ref_step_up_event(m, policy, now)) is not None
        ]

    def holds(self, goal: RefGoal, extra: tuple[Event, ...] = ()) -> bool:
        return all(
            ref_level_holds(
                self.ladder.get(check.acr),
                (self.active_events if check.active_only else self.events) + extra,
                self.session,
                self.now,
                self.policy.allowed_aaguids,
                self.policy.min_pin_length,
            )
            for check in goal.checks
        )

    def offers(self, goal: RefGoal) -> tuple[tuple[str, ...], tuple[str, ...]]:
        reaching = [m for m, e in self.options if self.holds(goal, (e,))]
        methods = tuple(m for m in METHODS if any(r.method == m for r in reaching))
        credentials = tuple(
            dict.fromkeys(
                r.credential_id
                for r in reaching
                if r.method == "passkey" and r.credential_id is not None
            )
        )
        return methods, credentials

    def plan(self, goal: RefGoal) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """Shortest combinations of 2..MAX_PLAN_STEPS credentials that reach ``goal``: the
        methods and passkeys in any of them; ((), ()) when only a new login then up to
        MAX_PLAN_STEPS credentials reach it; None when nothing does."""
        for size in range(2, MAX_PLAN_STEPS + 1):
            reaching = [
                combo
                for combo in combinations(self.options, size)
                if self.holds(goal, tuple(e for _, e in combo))
            ]
            if reaching:
                used = [m for m, _ in self.options if any(m in [x for x, _ in c] for c in reaching)]
                methods = tuple(m for m in METHODS if any(u.method == m for u in used))
                credentials = tuple(
                    dict.fromkeys(
                        u.credential_id
                        for u in used
                        if u.method == "passkey" and u.credential_id is not None
                    )
                )
                return methods, credentials
        names = {"password", "passkey"}
        if self.policy.pin_login:
            names.add("pin")
        if self.policy.passwordless_login:
            names |= {"email_otp", "sms_otp"}
        unrestricted = replace(self.policy, step_up_methods=())
        logins = [
            e
            for m in self.enrolled
            if m.method in names and (e := ref_step_up_event(m, unrestricted, self.now))
        ]
        for login in logins:
            for size in range(MAX_PLAN_STEPS + 1):
                for combo in combinations(self.options, size):
                    events = (login, *(e for _, e in combo))
                    if all(
                        ref_level_holds(
                            self.ladder.get(check.acr),
                            events,
                            None,
                            self.now,
                            self.policy.allowed_aaguids,
                            self.policy.min_pin_length,
                        )
                        for check in goal.checks
                    ):
                        return (), ()
        return None

    def highest(self, standing: str) -> Level | None:
        def best(events: Sequence[Event]) -> Level | None:
            found = [
                level
                for level in self.ladder.levels
                if ref_level_holds(
                    level,
                    events,
                    self.session,
                    self.now,
                    self.policy.allowed_aaguids,
                    self.policy.min_pin_length,
                )
            ]
            return found[-1] if found else None

        everything = best(self.events)
        if everything is None or len(self.active_events) == len(self.events):
            return everything
        fresh = best(self.active_events)
        floor = self.ladder.get(standing)
        if floor is None or floor.level > everything.level:
            return fresh
        if fresh is None or floor.level > fresh.level:
            return floor
        return fresh


def ref_goals(req: Requirement, ladder: Ladder, floor: Level | None) -> tuple[list[RefGoal], bool]:
    if req.essential_acr and req.essential_acr_values:
        values, essential = req.essential_acr_values, True
    else:
        values = req.acr_values
        essential = req.essential_acr and bool(values)
    active_only = essential or req.acr_source == "request"
    goals: list[RefGoal] = []
    for value in values:
        level = ladder.get(value)
        if level is None:
            continue
        if floor is not None and level.level < floor.level and not essential:
            goal = RefGoal(
                (RefCheck(floor.acr, False),), floor.acr, floor.acr, floor.acr, "floor_not_met"
            )
        else:
            checks = [RefCheck(value, active_only)]
            target = value
            if floor is not None:
                if RefCheck(floor.acr, False) not in checks:
                    checks.append(RefCheck(floor.acr, False))
                if floor.level > level.level:
                    target = floor.acr
            goal = RefGoal(tuple(checks), value, target, value, "acr_not_met")
        if goal not in goals:
            goals.append(goal)
    return goals, essential


def ref_client_events(session: SessionState, policy: ClientPolicy, now: int) -> SessionState:
    """docs/security.md case 47: a replay exists only for a client accepting
    remembered browsers, within its own remember_device_days."""
    days = policy.remember_device_days
    kept = tuple(
        e for e in session.events if not e.remembered or (days > 0 and now - e.at <= days * 86_400)
    )
    return replace(session, events=kept)


def ref_accepts(event: Event, policy: ClientPolicy) -> bool:
    """docs/security.md case 48: a real event of a method the client accepts."""
    if event.remembered:
        return False
    if policy.step_up_methods and event.method not in policy.step_up_methods:
        return False
    if event.method == "pin" and policy.min_pin_length is not None:
        return event.pin_length is not None and event.pin_length >= policy.min_pin_length
    if event.method == "passkey":
        if policy.allowed_aaguids and event.aaguid not in policy.allowed_aaguids:
            return False
        if policy.passkey_user_verification == "required":
            return event.uv
    return True


def ref_auth_time(events: Sequence[Event], policy: ClientPolicy) -> int | None:
    """The latest accepted event; else the sign-in (earliest active); else a replay."""
    accepted = [e.at for e in events if ref_accepts(e, policy)]
    if accepted:
        return max(accepted)
    active = [e.at for e in events if not e.remembered]
    if active:
        return min(active)
    return auth_time_of(events)


def ref_decide(
    req: Requirement,
    policy: ClientPolicy,
    ladder: Ladder,
    session: SessionState | None,
    enrolled: Sequence[EnrolledMethod],
    now: int,
) -> Decision:
    silent = "none" in req.prompt
    if req.essential_acr and req.unknown_essential_acr_values and not req.essential_acr_values:
        return Fail(
            UNMET,
            "none of the essential acr values requested is supported",
            "essential_acr_unknown",
        )
    if session is None or not session.events:
        if silent:
            return Fail("login_required", "the user is not signed in", "no_session")
        return Login("no_session")
    active = [e.at for e in session.events if not e.remembered]
    started = req.transaction_started_at
    if req.prompt & {"login", "select_account"} and not (
        started is not None and bool(active) and min(active) >= started
    ):
        return Login("prompt_login" if "login" in req.prompt else "select_account")
    floor = None
    if policy.minimum_acr is not None:
        floor = ladder.get(policy.minimum_acr)
        if floor is None:
            return Fail(UNMET, "the client's minimum acr is not configured", "floor_not_met")
    session = ref_client_events(session, policy, now)
    if not session.events:
        if silent:
            return Fail("login_required", "the user is not signed in", "no_session")
        return Login("no_session")
    ctx = RefContext(policy, ladder, session, enrolled, now)
    goals, essential = ref_goals(req, ladder, floor)
    selected = next(
        (g for g in goals if ctx.holds(g) or ctx.offers(g)[0] or ctx.plan(g) is not None), None
    )
    downgraded = False
    if selected is None:
        if essential:
            return Fail(
                UNMET,
                "the essential acr requested cannot be met with the user's methods",
                "essential_acr_unreachable",
            )
        if (goals or req.unknown_acr_values) and policy.acr_enforcement == "strict":
            return Fail(
                UNMET,
                "none of the requested acr values can be met with the user's methods",
                "unmet",
            )
        downgraded = bool(goals)
        if floor is not None:
            selected = RefGoal(
                (RefCheck(floor.acr, False),), None, floor.acr, floor.acr, "floor_not_met"
            )
        else:
            lowest = ladder.lowest.acr
            selected = RefGoal((RefCheck(lowest, False),), None, lowest, None, "acr_not_met")
    met = ctx.holds(selected)
    active = [e.at for e in session.events if ref_accepts(e, policy)]
    if req.max_age is None:
        fresh = True
    elif not active:
        fresh = False
    else:
        during = started is not None and max(active) >= started
        fresh = during if req.max_age == 0 else max(active) >= now - req.max_age or during
    methods, credentials = ctx.offers(selected)
    if not met and not methods:
        plan = ctx.plan(selected)
        if plan is not None and plan[0]:
            methods, credentials = plan
        elif plan is not None:
            if silent:
                return Fail("login_required", "a new sign-in is required", selected.reason)
            return Login(selected.reason)
    if not met and not methods:
        if floor is not None:
            return Fail(
                UNMET,
                "the client's minimum acr cannot be met with the user's methods",
                "floor_not_met",
            )
        if silent:
            return Fail("login_required", "a new sign-in is required", "acr_not_met")
        return Login("acr_not_met")
    if not fresh:
        if silent:
            return Fail("login_required", "the authentication is older than max_age", "max_age")
        if not methods:
            return Login("max_age")
        return StepUp(selected.shown if met else selected.target, methods, "max_age", credentials)
    if not met:
        if silent:
            return Fail(
                "interaction_required", "a step-up authentication is required", selected.reason
            )
        return StepUp(selected.target, methods, selected.reason, credentials)
    acr = selected.emit
    if acr is None:
        highest = ctx.highest(selected.target)
        acr = highest.acr if highest is not None else None
    auth_time = ref_auth_time(session.events, policy)
    assert auth_time is not None
    return Satisfied(
        acr,
        session_amr(session.events),
        auth_time,
        "voluntary_downgrade" if downgraded else "satisfied",
    )


# --- strategies ----------------------------------------------------------------------


@st.composite
def sessions(draw: st.DrawFn) -> SessionState:
    evs = tuple(draw(st.lists(events(), min_size=1, max_size=6)))
    latest = max(e.at for e in evs)
    last = draw(st.sampled_from([latest, NOW]) | st.integers(latest, NOW))
    # Past idle gaps (from, until); sometimes one starting at or after now, which
    # idles out even an event made now (a step-up).
    starts = st.integers(NOW - 100_000, NOW) | st.sampled_from([NOW - 600, NOW, NOW + 5])
    gaps = draw(
        st.lists(
            st.tuples(starts, st.integers(1, 5_000)).map(lambda g: (g[0], g[0] + g[1])),
            max_size=3,
        )
    )
    if draw(st.integers(0, 3)) == 0:
        gaps.append((NOW, NOW + draw(st.integers(1, 5_000))))
    return SessionState("u", evs, NOW - 100_000, last, tuple(sorted(gaps)))


event_conditions = st.builds(
    EventCondition,
    method=st.sampled_from([None, None, *METHODS]),
    methods_any=st.sampled_from([None, None, ("totp", "pin"), ("passkey", "password")]),
    uv=st.sampled_from([None, True, False]),
    backup_eligible=st.sampled_from([None, True, False]),
    aaguid_in=st.sampled_from([None, None, (AAGUIDS[0],)]),
    category=st.sampled_from([None, None, "knowledge", "possession", "user_verification"]),
    amr_any=st.sampled_from([None, None, ("otp",), ("hwk", "pwd")]),
    count=st.sampled_from([1, 1, 2, 3]),
)
conditions: st.SearchStrategy[Condition] = st.one_of(
    st.builds(MinEvents, st.integers(1, 4)),
    st.builds(DistinctCategories, st.integers(1, 3)),
    st.builds(DistinctMethods, st.integers(1, 4)),
    st.just(ExcludeKnowledgeOnly()),
    event_conditions,
)
rules = st.lists(
    st.lists(conditions, min_size=1, max_size=3).map(tuple), min_size=1, max_size=3
).map(lambda alts: Rule(tuple(alts)))
lifetimes = st.none() | st.builds(
    Lifetime,
    idle_seconds=st.sampled_from([None, 60, 900, 3600]),
    # -1: a bound no event meets, not even one made now (only built directly).
    absolute_seconds=st.sampled_from([None, 300, 3600, 86_400, -1]),
)


@st.composite
def ladders(draw: st.DrawFn) -> Ladder:
    if draw(st.booleans()):
        return default_ladder()
    count = draw(st.integers(1, 4))
    return Ladder(
        tuple(Level(f"urn:x:{n}", n, draw(rules), draw(lifetimes), "") for n in range(1, count + 1))
    )


enrolled_method = st.builds(
    EnrolledMethod,
    # Passkeys often: several credentials of one kind reach the same levels.
    method=st.sampled_from(["passkey", "passkey", *METHODS, "carrier_pigeon"]),
    credential_id=st.sampled_from([None, "a", "b", "c"]),
    backup_eligible=st.sampled_from([None, True, False]),
    aaguid=st.sampled_from([None, *AAGUIDS, AAGUIDS[1].upper()]),
    locked=st.sampled_from([False, False, True]),
    pin_length=st.sampled_from([None, 4, 6, 8]),
)
enrolled_methods = st.lists(enrolled_method, max_size=6)


@st.composite
def policies(draw: st.DrawFn, ladder: Ladder) -> ClientPolicy:
    acrs = ladder.acr_values
    return ClientPolicy(
        minimum_acr=draw(st.sampled_from([None, None, None, "urn:x:gone", *acrs])),
        default_acr_values=tuple(draw(st.lists(st.sampled_from(acrs), max_size=2, unique=True))),
        default_max_age=draw(st.sampled_from([None, 0, 60, 3600])),
        acr_enforcement=draw(st.sampled_from(["strict", "voluntary"])),
        step_up_methods=tuple(draw(st.lists(st.sampled_from(METHODS), max_size=3, unique=True))),
        passkey_user_verification=draw(st.sampled_from(["required", "preferred", "discouraged"])),
        allowed_aaguids=draw(st.sampled_from([(), (), (AAGUIDS[0],)])),
        min_pin_length=draw(st.sampled_from([None, None, 6])),
        level_lifetimes=draw(
            st.dictionaries(st.sampled_from(acrs), lifetimes.filter(bool), max_size=1)
        ),
        remember_device_days=draw(st.sampled_from([0, 0, 1, 30])),
    )


@st.composite
def requests(draw: st.DrawFn, ladder: Ladder) -> dict[str, str]:
    tokens = st.sampled_from([*ladder.acr_values, "urn:x:unknown"])
    params: dict[str, str] = {}
    if draw(st.booleans()):
        params["acr_values"] = " ".join(draw(st.lists(tokens, max_size=3)))
    if draw(st.booleans()):
        params["max_age"] = str(draw(st.sampled_from([0, 1, 30, 600, 100_000])))
    if draw(st.integers(0, 3)) == 0:
        params["prompt"] = draw(st.sampled_from(["none", "login", "consent", "select_account"]))
    if draw(st.booleans()):
        acr: dict[str, Any] = {"essential": draw(st.booleans())}
        acr["values"] = draw(st.lists(tokens, min_size=1, max_size=2))
        params["claims"] = json.dumps({"id_token": {"acr": acr}})
    return params


# --- properties ----------------------------------------------------------------------


@settings(max_examples=250)
@given(st.data())
def test_decide_matches_the_plain_recomputation(data: st.DataObject) -> None:
    ladder = data.draw(ladders())
    policy = data.draw(policies(ladder))
    session = data.draw(sessions())
    enrolled = data.draw(enrolled_methods)
    if data.draw(st.booleans()):
        # Two passkeys of one model: both credential ids are offered, or neither.
        passkey = EnrolledMethod(
            "passkey",
            backup_eligible=data.draw(st.sampled_from([None, True, False])),
            aaguid=data.draw(st.sampled_from([None, *AAGUIDS])),
        )
        enrolled = [
            *enrolled,
            replace(passkey, credential_id="p1"),
            replace(passkey, credential_id="p2"),
        ]
    if data.draw(st.booleans()):
        # A knowledge and a possession factor: multi-step plans (case 49) get exercised.
        enrolled = [*enrolled, EnrolledMethod("password"), EnrolledMethod("totp")]
    started = NOW - data.draw(st.integers(0, 1000))
    requirement = parse_requirement(
        data.draw(requests(ladder)),
        policy,
        ladder,
        transaction_started_at=started,
    )
    expected = ref_decide(requirement, policy, ladder, session, enrolled, NOW)
    assert decide(requirement, policy, ladder, session, enrolled, NOW) == expected
    # The same with a fresh, equal ladder object and a cold step-up kind cache: no
    # state carries over between calls or ladders.
    _kind_event.cache_clear()
    fresh_ladder = Ladder(tuple(replace(level) for level in ladder.levels))
    assert decide(requirement, policy, fresh_ladder, session, enrolled, NOW) == expected


@settings(max_examples=200)
@given(st.data())
def test_level_check_matches_satisfies(data: st.DataObject) -> None:
    ladder = data.draw(ladders())
    level = data.draw(st.sampled_from(ladder.levels))
    session = data.draw(sessions())
    base = tuple(data.draw(st.lists(events(), max_size=5)))
    new = replace(data.draw(events()), at=NOW, remembered=False)
    aaguids = data.draw(st.sampled_from([(), (AAGUIDS[0],)]))
    min_pin = data.draw(st.sampled_from([None, 6]))
    check = ladder.level_check(
        level.acr, base, session, NOW, allowed_aaguids=aaguids, min_pin_length=min_pin
    )
    alone = ref_level_holds(level, base, session, NOW, aaguids, min_pin)
    added = ref_level_holds(level, (*base, new), session, NOW, aaguids, min_pin)
    # holds_adding ignores the kind's time and credential id: the new event is made now.
    kind = replace(new, at=data.draw(st.integers(0, NOW)), credential_id=None)
    assert check.holds_adding(kind) is added
    assert check.holds() is alone
    assert check.holds_adding(kind) is added  # asked again, after holds() was memoised
    assert (
        ladder.satisfies(
            level.acr, base, session, NOW, allowed_aaguids=aaguids, min_pin_length=min_pin
        )
        is alone
    )
    unknown = ladder.level_check("urn:x:unknown", base, session, NOW)
    assert not unknown.holds() and not unknown.holds_adding(kind)


@settings(max_examples=300)
@given(rules, st.lists(events(), max_size=5), events())
def test_rule_plus_one_matches_the_rule(rule: Rule, base: list[Event], extra: Event) -> None:
    completed = any(all(test(extra) for test in tests) for tests in rule.plus_one(base))
    assert completed is ref_rule(rule, [*base, extra])
    assert rule.holds(base) is ref_rule(rule, base)


@settings(max_examples=100)
@given(st.data())
def test_step_up_event_matches_the_plain_construction(data: st.DataObject) -> None:
    policy = data.draw(policies(default_ladder()))
    method = data.draw(enrolled_method)
    now = data.draw(st.integers(0, NOW))
    expected = ref_step_up_event(method, policy, now)
    assert step_up_event(method, policy, now) == expected
    _kind_event.cache_clear()
    assert step_up_event(method, policy, now) == expected


@settings(max_examples=300)
@given(
    request_params(),
    property_policies,
    plan_sessions,
    plan_enrolled,
    st.integers(0, 1000),
)
def test_plans_match_the_plain_recomputation(
    params: dict[str, str],
    policy: ClientPolicy,
    session: SessionState,
    enrolled: list[EnrolledMethod],
    started_ago: int,
) -> None:
    """The default ladder with lapsed events and factors that need two steps
    (docs/security.md case 49), where random ladders rarely need a plan."""
    ladder = default_ladder()
    requirement = parse_requirement(
        params, policy, ladder, transaction_started_at=NOW - started_ago
    )
    expected = ref_decide(requirement, policy, ladder, session, enrolled, NOW)
    assert decide(requirement, policy, ladder, session, enrolled, NOW) == expected
