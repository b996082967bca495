"""The decision: does the session meet the request, or what runs next?

Implements, purely (no I/O; ``now`` is a parameter):

- RFC 9470 §4-§5: ``acr_values`` and ``max_age`` are the step-up
  requirement; "the authorization server [...] SHOULD treat the acr_values as
  necessary" -- unless a client opts into ``voluntary`` enforcement, an
  unreachable requirement fails with ``unmet_authentication_requirements``
  (OpenID Connect Unmet Authentication Requirements 1.0 §3), never a silent
  downgrade;
- OpenID Connect Core 1.0 §3.1.2.1: ``max_age`` ("the Authorization Server
  MUST attempt to actively re-authenticate the End-User" when exceeded) and
  ``prompt`` (``none``: "MUST NOT display any authentication or consent user
  interface pages", ``login_required`` / ``interaction_required``;
  ``login``: "SHOULD prompt the End-User for reauthentication");
- OpenID Connect Core 1.0 §5.5.1.1: an essential ``acr`` that cannot be met
  is an error;
- docs/design.md "The decision": preference order, the client's floor, step-up
  offering exactly the enrolled methods that reach the target, and
  remembered events that never satisfy an explicit step-up.

See docs/acr.md for the walk-through and reason codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from itertools import combinations
from typing import Final, NamedTuple

from provider.policy.ladder.ladder import Ladder
from provider.policy.ladder.level_check import LevelCheck
from provider.policy.ladder.levels import Level
from provider.policy.model import (
    METHODS,
    ClientPolicy,
    Decision,
    EnrolledMethod,
    Event,
    Fail,
    Login,
    Reason,
    Requirement,
    Satisfied,
    SessionState,
    StepUp,
    auth_time_of,
    event_for,
    session_amr,
)

__all__ = [
    "MAX_PLAN_STEPS",
    "UNMET_AUTHENTICATION_REQUIREMENTS",
    "accepts_event",
    "client_auth_time",
    "client_events",
    "decide",
    "session_acr",
    "step_up_event",
]

UNMET_AUTHENTICATION_REQUIREMENTS = "unmet_authentication_requirements"
_LOGIN_PROMPTS = frozenset({"login", "select_account"})
#: The most new events a plan of challenges may take (docs/security.md case 49): a
#: level whose rule needs more than this many new events is refused as before.
MAX_PLAN_STEPS: Final = 4


# Named tuples, not frozen dataclasses: decide() builds a few per call, and a
# frozen dataclass's __init__ costs a setattr per field. Compared only with each other.
class _Check(NamedTuple):
    acr: str
    # True for explicit requests: remembered events do not count (docs/design.md,
    # "Remembered devices": never an explicit step-up).
    active_only: bool


class _Plan(NamedTuple):
    """The first step of a plan that reaches a goal in several steps (docs/security.md case 49).

    ``methods`` / ``credentials``: what the challenge offers now (every method that
    starts a shortest plan); both empty when only a new login reaches the goal.
    """

    methods: tuple[str, ...]
    credentials: tuple[str, ...]


class _Goal(NamedTuple):
    checks: tuple[_Check, ...]
    emit: str | None  # acr to emit once met; None: the highest level satisfied
    target: str  # the acr a step-up aims at
    shown: str | None  # StepUp.target_acr when only freshness is missing
    reason: str  # StepUp reason when not met


_DAY = 86400


def client_events(session: SessionState, policy: ClientPolicy, now: int) -> SessionState:
    """The session as one client may count it (docs/security.md case 47).

    An event replayed from a remembered browser counts only for a client that
    accepts remembered browsers (``remember_device_days > 0``), and only while
    it is younger than that client's own ``remember_device_days``: for every
    other client it does not exist -- no acr, no ``amr``, no ``auth_time``.
    """
    if not any(event.remembered for event in session.events):
        return session
    days = policy.remember_device_days
    horizon = now - days * _DAY
    kept = tuple([e for e in session.events if not e.remembered or (days > 0 and e.at >= horizon)])
    if len(kept) == len(session.events):
        return session
    return replace(session, events=kept)


def accepts_event(event: Event, policy: ClientPolicy) -> bool:
    """Whether ``event`` is a real authentication of a method this client accepts.

    docs/security.md case 48: only such an event meets the client's ``max_age``
    and sets its ``auth_time``. A replay from a remembered browser never does;
    neither does a method outside ``step_up_methods`` (when set), a PIN shorter
    than ``min_pin_length`` (or of unknown length), a passkey outside
    ``allowed_aaguids``, or a passkey without UV when the client requires UV.
    """
    if event.remembered:
        return False
    if policy.step_up_methods and event.method not in policy.step_up_methods:
        return False
    if event.method == "pin":
        minimum = policy.min_pin_length
        return minimum is None or (event.pin_length is not None and event.pin_length >= minimum)
    if event.method == "passkey":
        if policy.allowed_aaguids and event.aaguid not in policy.allowed_aaguids:
            return False
        return event.uv or policy.passkey_user_verification != "required"
    return True


def client_auth_time(events: Sequence[Event], policy: ClientPolicy) -> int | None:
    """``auth_time`` for this client: the latest event of a method it accepts.

    When the session holds no such event (a client accepting only TOTP, a
    session signed in with a password), the session's sign-in -- its earliest
    active event -- stands: a later event the client does not accept never
    moves this client's ``auth_time`` (docs/security.md case 48). Replays are
    used only when nothing else is in the session (:func:`auth_time_of`).
    """
    latest: int | None = None
    earliest: int | None = None
    for event in events:
        if event.remembered:
            continue
        if earliest is None or event.at < earliest:
            earliest = event.at
        if accepts_event(event, policy) and (latest is None or event.at > latest):
            latest = event.at
    if latest is not None:
        return latest
    if earliest is not None:
        return earliest
    return auth_time_of(events)


def step_up_event(method: EnrolledMethod, policy: ClientPolicy, now: int) -> Event | None:
    """The event a step-up with ``method`` would add at ``now`` for this client, or None.

    None when the method is unknown, locked, not allowed by the client's
    ``step_up_methods``, a PIN shorter than ``min_pin_length`` (or of unknown
    length when a minimum is set), or a passkey outside ``allowed_aaguids``.
    A passkey is assumed verified (UV) unless the client's
    ``passkey_user_verification`` is ``discouraged``.
    """
    kind = _step_up_kind(method, policy)
    if kind is None:
        return None
    return replace(kind, at=now, credential_id=method.credential_id)


def _step_up_kind(method: EnrolledMethod, policy: ClientPolicy) -> Event | None:
    """:func:`step_up_event` but for its time and credential id (``at=0``, no credential).

    What a rule or the counting of events reads of the new event
    (:meth:`~provider.policy.ladder.level_check.LevelCheck.holds_adding`), shared by every
    enrolled credential of the same kind and by every request.
    """
    name = method.method
    if name not in METHODS or method.locked:
        return None
    if policy.step_up_methods and name not in policy.step_up_methods:
        return None
    if name == "passkey":
        aaguid = method.aaguid.lower() if method.aaguid is not None else None
        if policy.allowed_aaguids and aaguid not in policy.allowed_aaguids:
            return None
        return _kind_event(
            name, policy.passkey_user_verification != "discouraged", method.backup_eligible, aaguid
        )
    if name != "pin":
        return _kind_event(name)
    if policy.min_pin_length is not None and (
        method.pin_length is None or method.pin_length < policy.min_pin_length
    ):
        return None
    return _kind_event(name, pin_length=method.pin_length)


@lru_cache(maxsize=1024)
def _kind_event(
    name: str,
    uv: bool = False,
    backup_eligible: bool | None = None,
    aaguid: str | None = None,
    pin_length: int | None = None,
) -> Event:
    """The (immutable) event of one kind of step-up at time 0: built once, not per request.

    Bounded: a handful of methods, a few passkey models and PIN lengths in practice.
    """
    if name == "passkey":
        return event_for(name, 0, uv=uv, backup_eligible=backup_eligible, aaguid=aaguid)
    return event_for(name, 0, pin_length=pin_length)


class _Context:
    """The ladder and events as one client sees them at ``now``."""

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
        self.active_events = tuple([e for e in session.events if not e.remembered])
        self._enrolled = enrolled
        self._options: list[tuple[EnrolledMethod, Event]] | None = None
        # One LevelCheck per (acr, active_only): the session's events are counted
        # and split by lifetime once, not again for every goal and step-up option.
        self._checks: dict[_Check, LevelCheck] = {}
        # Per goal (by identity: hashing a goal costs more than it saves), met() and
        # offers() are asked more than once (bench/analysis.md).
        self._met: dict[int, bool] = {}
        self._offers: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._plans: dict[int, _Plan | None] = {}

    def options(self) -> list[tuple[EnrolledMethod, Event]]:
        """(method, the kind of event a step-up with it would add): only needed when not met."""
        if self._options is None:
            self._options = [
                (method, kind)
                for method in self._enrolled
                if (kind := _step_up_kind(method, self.policy)) is not None
            ]
        return self._options

    def _check(self, check: _Check) -> LevelCheck:
        level_check = self._checks.get(check)
        if level_check is None:
            level_check = self._checks[check] = self.ladder.level_check(
                check.acr,
                self.active_events if check.active_only else self.events,
                self.session,
                self.now,
                allowed_aaguids=self.policy.allowed_aaguids,
                min_pin_length=self.policy.min_pin_length,
            )
        return level_check

    def met(self, goal: _Goal) -> bool:
        key = id(goal)
        met = self._met.get(key)
        if met is None:
            met = True
            for check in goal.checks:
                if not self._check(check).holds():
                    met = False
                    break
            self._met[key] = met
        return met

    def offers(self, goal: _Goal) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Methods (stable order) and passkey credential ids that reach ``goal`` in one step."""
        key = id(goal)
        offers = self._offers.get(key)
        if offers is None:
            offers = self._offers[key] = self._compute_offers(goal)
        return offers

    def _compute_offers(self, goal: _Goal) -> tuple[tuple[str, ...], tuple[str, ...]]:
        checks = [self._check(check) for check in goal.checks]
        methods: set[str] = set()
        credentials: list[str] = []
        for method, kind in self.options():
            name = method.method
            if name in methods and (name != "passkey" or method.credential_id is None):
                continue  # would add nothing: the method is offered already
            for level_check in checks:
                if not level_check.holds_adding(kind):
                    break
            else:
                methods.add(name)
                if name == "passkey" and method.credential_id is not None:
                    credentials.append(method.credential_id)
        if not methods:
            return (), ()
        ordered = tuple([m for m in METHODS if m in methods])
        return ordered, tuple(dict.fromkeys(credentials))

    def plan(self, goal: _Goal) -> _Plan | None:
        """How ``goal`` is reached when it is neither met nor reached in one step, or None.

        Only asked then (it costs a search): the first step of a shortest plan of
        challenges, or an empty plan when only a new login (which replaces the
        session's events) followed by challenges reaches it; None when neither does.
        """
        key = id(goal)
        if key in self._plans:
            return self._plans[key]
        plan = self._plans[key] = self._compute_plan(goal)
        return plan

    def _compute_plan(self, goal: _Goal) -> _Plan | None:
        # One pool entry per usable credential, at most MAX_PLAN_STEPS of one kind
        # (credentials of the same kind are interchangeable in a plan).
        by_kind: dict[Event, list[EnrolledMethod]] = {}
        for method, kind in self.options():
            by_kind.setdefault(kind, []).append(method)
        pool = [kind for kind, methods in by_kind.items() for _ in methods[:MAX_PLAN_STEPS]]
        first = self._shortest_plans(goal, pool)
        if first:
            names: set[str] = set()
            credentials: list[str] = []
            for method, kind in self.options():  # enrolled order, as offers() lists them
                if kind in first:
                    names.add(method.method)
                    if method.method == "passkey" and method.credential_id is not None:
                        credentials.append(method.credential_id)
            ordered = tuple([m for m in METHODS if m in names])
            return _Plan(ordered, tuple(dict.fromkeys(credentials)))
        if self._login_reaches(goal, pool):
            return _Plan((), ())
        return None

    def _reaches(self, goal: _Goal, added: Sequence[Event], *, after_login: bool = False) -> bool:
        """Whether the session's events (none ``after_login``) plus ``added`` kinds made
        at ``now`` meet every check of ``goal``."""
        now = self.now
        new = [replace(kind, at=now) for kind in added]
        for check in goal.checks:
            if after_login:
                events: Sequence[Event] = new
            else:
                base = self.active_events if check.active_only else self.events
                events = (*base, *new)
            if not self.ladder.satisfies(
                check.acr,
                events,
                None if after_login else self.session,
                now,
                allowed_aaguids=self.policy.allowed_aaguids,
                min_pin_length=self.policy.min_pin_length,
            ):
                return False
        return True

    def _shortest_plans(self, goal: _Goal, pool: list[Event]) -> set[Event]:
        """The kinds that start a shortest plan of 2 to MAX_PLAN_STEPS steps (empty: none).

        Every kind of a shortest plan may come first: after it, the rest of that plan
        reaches the goal in one step less, so each challenge makes progress.
        """
        if len(pool) < 2 or not self._reaches(goal, pool):
            return set()
        for size in range(2, min(len(pool), MAX_PLAN_STEPS) + 1):
            found: set[Event] = set()
            seen: set[tuple[Event, ...]] = set()
            for combo in combinations(pool, size):
                if combo in seen:
                    continue
                seen.add(combo)
                if self._reaches(goal, combo):
                    found.update(combo)
            if found:
                return found
        return set()

    def _login_reaches(self, goal: _Goal, pool: list[Event]) -> bool:
        """Whether a new login, then at most MAX_PLAN_STEPS challenges, reaches ``goal``.

        A login may use a first factor the client does not accept as a step-up
        (``step_up_methods``): the password always, a passkey, a PIN with
        ``pin_login``, an email/SMS code with ``passwordless_login``.
        """
        policy = self.policy
        login_methods = {"password", "passkey"}
        if policy.pin_login:
            login_methods.add("pin")
        if policy.passwordless_login:
            login_methods.update(("email_otp", "sms_otp"))
        unrestricted = replace(policy, step_up_methods=())
        logins = {
            kind
            for method in self._enrolled
            if method.method in login_methods
            and (kind := _step_up_kind(method, unrestricted)) is not None
        }
        for login in logins:
            if not self._reaches(goal, [login, *pool], after_login=True):
                continue
            for size in range(min(len(pool), MAX_PLAN_STEPS) + 1):
                for combo in combinations(pool, size):
                    if self._reaches(goal, [login, *combo], after_login=True):
                        return True
        return False

    def highest(self, standing: str) -> Level | None:
        """The highest level to claim once the standing minimum ``standing`` is met.

        Remembered events lift the claim up to ``standing`` at most: a browser
        remembered after a passkey step-up must not make every later sign-in
        claim ``phrh`` (tokens never claim more than really happened fresh).
        """

        def best(events: tuple[Event, ...]) -> Level | None:
            return self.ladder.highest_satisfied(
                events,
                self.session,
                self.now,
                allowed_aaguids=self.policy.allowed_aaguids,
                min_pin_length=self.policy.min_pin_length,
            )

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


def _goals(req: Requirement, ladder: Ladder, floor: Level | None) -> tuple[list[_Goal], bool]:
    """Candidate goals in preference order, and whether they are essential."""
    if req.essential_acr and req.essential_acr_values:
        values, essential = req.essential_acr_values, True
    else:
        values = req.acr_values
        essential = req.essential_acr and bool(values)
    active_only = essential or req.acr_source == "request"
    goals: list[_Goal] = []
    for value in values:
        level = ladder.get(value)
        if level is None:
            continue
        if floor is not None and level.level < floor.level and not essential:
            # A requested value below the floor is replaced by the floor, a
            # standing minimum (docs/security.md D21: lower values never lower it).
            goal = _Goal(
                checks=(_Check(floor.acr, active_only=False),),
                emit=floor.acr,
                target=floor.acr,
                shown=floor.acr,
                reason=Reason.FLOOR_NOT_MET,
            )
        else:
            checks = [_Check(value, active_only)]
            target = value
            if floor is not None:
                if _Check(floor.acr, False) not in checks:
                    checks.append(_Check(floor.acr, active_only=False))
                if floor.level > level.level:
                    # Essential and below the floor: the acr claim must be one of
                    # the essential values, and the floor must still hold.
                    target = floor.acr
            goal = _Goal(
                checks=tuple(checks),
                emit=value,
                target=target,
                shown=value,
                reason=Reason.ACR_NOT_MET,
            )
        if goal not in goals:
            goals.append(goal)
    return goals, essential


def _baseline(ladder: Ladder, floor: Level | None) -> _Goal:
    """The standing minimum: the client's floor, or else the ladder's lowest level.

    The implicit lowest level makes sure *something counts for this client*
    (an AAGUID allow-list or PIN minimum can exclude every event).
    """
    if floor is not None:
        return _Goal(
            checks=(_Check(floor.acr, active_only=False),),
            emit=None,
            target=floor.acr,
            shown=floor.acr,
            reason=Reason.FLOOR_NOT_MET,
        )
    lowest = ladder.lowest.acr
    return _Goal(
        checks=(_Check(lowest, active_only=False),),
        emit=None,
        target=lowest,
        shown=None,
        reason=Reason.ACR_NOT_MET,
    )


def _is_fresh(
    session: SessionState, policy: ClientPolicy, max_age: int, started: int | None, now: int
) -> bool:
    """OIDC Core ``max_age``: strict, no grace; an event during this transaction always counts.

    ``max_age=0`` is met *only* by an event made during this transaction: a
    login earlier in the same second is not a new authentication (docs/security.md
    case 23). Only events of a method the client accepts count (case 48).
    """
    active = [event.at for event in session.events if accepts_event(event, policy)]
    if not active:
        return False
    latest = max(active)
    during_transaction = started is not None and latest >= started
    if max_age == 0:
        return during_transaction
    return latest >= now - max_age or during_transaction


def _logged_in_during(session: SessionState, started: int | None) -> bool:
    """Whether the session's login (its first active event) happened during this transaction."""
    if started is None:
        return False
    active = [event.at for event in session.events if not event.remembered]
    return bool(active) and min(active) >= started


def decide(
    requirement: Requirement,
    policy: ClientPolicy,
    ladder: Ladder,
    session: SessionState | None,
    enrolled: Sequence[EnrolledMethod],
    now: int,
) -> Decision:
    """Decide what the authorization request needs next. Pure; see docs/acr.md.

    Order: unknown essential acr -> session -> prompt=login/select_account ->
    target acr (preference order, floor, strict/voluntary) -> freshness
    (max_age) -> step-up -> satisfied. ``prompt=none`` turns every UI answer
    into ``login_required`` / ``interaction_required``.

    A target is *reachable* when it is met, when one step-up reaches it, or
    when a plan does (docs/security.md case 49): a level that needs more than
    one new event -- its absolute lifetime lapsed, or a custom rule asks for
    two factors the session lacks -- is reached, never refused with
    ``unmet_authentication_requirements``, while the user's enrolled, unlocked
    methods can reach it in at most :data:`MAX_PLAN_STEPS` new events. The
    answer is then a :class:`StepUp` offering the first step of a shortest plan
    (every method that starts one); the challenge page decides again after each
    step, so the next answer offers the next step and each step brings the target
    one step closer. When no plan of step-ups reaches it but a new login does
    (the plan needs a first factor the client does not accept as a step-up
    method, e.g. the password for ``step_up_methods = totp passkey``), the
    answer is :class:`Login` with the goal's reason (``acr_not_met`` or
    ``floor_not_met``), like any other "only a new login helps" answer; a
    login replaces the session's events, so it is planned only when nothing
    less helps. Locked methods are never planned: if only they could reach
    the target, the answer is as before.
    """
    req = requirement
    silent = "none" in req.prompt

    if req.essential_acr and req.unknown_essential_acr_values and not req.essential_acr_values:
        return Fail(
            UNMET_AUTHENTICATION_REQUIREMENTS,
            "none of the essential acr values requested is supported",
            Reason.ESSENTIAL_ACR_UNKNOWN,
        )

    if session is None or not session.events:
        if silent:
            return Fail("login_required", "the user is not signed in", Reason.NO_SESSION)
        return Login(Reason.NO_SESSION)

    if req.prompt & _LOGIN_PROMPTS and not _logged_in_during(session, req.transaction_started_at):
        return Login(Reason.PROMPT_LOGIN if "login" in req.prompt else Reason.SELECT_ACCOUNT)

    floor: Level | None = None
    if policy.minimum_acr is not None:
        floor = ladder.get(policy.minimum_acr)
        if floor is None:
            # Fail closed: a floor the ladder no longer knows cannot be checked.
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "the client's minimum acr is not configured",
                Reason.FLOOR_NOT_MET,
            )

    # What this client may count: replays only where remembered browsers are
    # accepted (docs/security.md case 47).
    session = client_events(session, policy, now)
    if not session.events:
        if silent:
            return Fail("login_required", "the user is not signed in", Reason.NO_SESSION)
        return Login(Reason.NO_SESSION)
    ctx = _Context(policy, ladder, session, enrolled, now)
    goals, essential = _goals(req, ladder, floor)

    selected: _Goal | None = None
    for goal in goals:
        if ctx.met(goal) or ctx.offers(goal)[0] or ctx.plan(goal) is not None:
            selected = goal
            break

    downgraded = False
    if selected is None:
        requested = bool(goals) or bool(req.unknown_acr_values)
        if essential:
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "the essential acr requested cannot be met with the user's methods",
                Reason.ESSENTIAL_ACR_UNREACHABLE,
            )
        if requested and policy.acr_enforcement == "strict":
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "none of the requested acr values can be met with the user's methods",
                Reason.UNMET,
            )
        downgraded = bool(goals)
        selected = _baseline(ladder, floor)

    met = ctx.met(selected)
    fresh = req.max_age is None or _is_fresh(
        session, policy, req.max_age, req.transaction_started_at, now
    )
    if met and fresh:
        # Satisfied: what a step-up could offer is not needed (and costs the most).
        methods: tuple[str, ...] = ()
        credentials: tuple[str, ...] = ()
    else:
        methods, credentials = ctx.offers(selected)

    if not met and not methods:
        # More than one new event is needed (docs/security.md case 49): offer the
        # first step of a plan; the challenge page decides again after each step.
        plan = ctx.plan(selected)
        if plan is not None and plan.methods:
            methods, credentials = plan.methods, plan.credentials
        elif plan is not None:
            if silent:
                return Fail("login_required", "a new sign-in is required", selected.reason)
            return Login(selected.reason)

    if not met and not methods:
        # Only the standing minimum gets here (requested goals were reachable).
        if floor is not None:
            return Fail(
                UNMET_AUTHENTICATION_REQUIREMENTS,
                "the client's minimum acr cannot be met with the user's methods",
                Reason.FLOOR_NOT_MET,
            )
        if silent:
            return Fail("login_required", "a new sign-in is required", Reason.ACR_NOT_MET)
        return Login(Reason.ACR_NOT_MET)

    if not fresh:
        if silent:
            return Fail(
                "login_required", "the authentication is older than max_age", Reason.MAX_AGE
            )
        if not methods:
            return Login(Reason.MAX_AGE)
        return StepUp(
            selected.shown if met else selected.target, methods, Reason.MAX_AGE, credentials
        )

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
    auth_time = client_auth_time(session.events, policy)
    assert auth_time is not None  # session.events is not empty
    return Satisfied(
        acr=acr,
        amr=session_amr(session.events),
        auth_time=auth_time,
        reason=Reason.VOLUNTARY_DOWNGRADE if downgraded else Reason.SATISFIED,
    )


def session_acr(
    session: SessionState | None, policy: ClientPolicy, ladder: Ladder, now: int
) -> str | None:
    """The highest acr the session satisfies for this client at ``now`` (None: none)."""
    if session is None:
        return None
    session = client_events(session, policy, now)
    level = ladder.with_lifetimes(policy.level_lifetimes).highest_satisfied(
        session.events,
        session,
        now,
        allowed_aaguids=policy.allowed_aaguids,
        min_pin_length=policy.min_pin_length,
    )
    return level.acr if level is not None else None
