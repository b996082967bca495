"""The policy engine's data: authentication events, sessions, client policy, decisions.

Implements the data side of:

- RFC 8176 §2 (Authentication Method Reference Values): every event carries the
  registered ``amr`` values of its method; ``mfa`` is added when "multiple-factor
  authentication" happened (two categories, or a passkey with user verification).
- OpenID Connect Core 1.0 §2 (``acr``, ``amr``, ``auth_time``): ``auth_time`` is
  "the time when the End-User authentication occurred" -- the most recent active
  event of the session, never a user-table column (docs/design.md, "mistakes").
- RFC 9470 §3-§5 (Step Up Authentication Challenge): a requirement is
  ``acr_values`` + ``max_age``; the decision either satisfies it, steps up, asks
  for a login, or fails with ``unmet_authentication_requirements``
  (OpenID Connect Unmet Authentication Requirements 1.0).

Everything here is a frozen dataclass; ``now`` is always a parameter elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Final, Literal, TypeAlias

__all__ = [
    "CATALOGUE",
    "CATEGORIES",
    "KNOWLEDGE",
    "METHODS",
    "POSSESSION",
    "SECOND_FACTORS",
    "USER_VERIFICATION",
    "AcrEnforcement",
    "AcrSource",
    "ClientPolicy",
    "Decision",
    "EnrolledMethod",
    "Event",
    "Fail",
    "FirstFactor",
    "Lifetime",
    "Login",
    "MethodFacts",
    "PasskeyUserVerification",
    "Reason",
    "Requirement",
    "Satisfied",
    "SessionState",
    "StepUp",
    "auth_time_of",
    "categories",
    "event_for",
    "first_factor_methods",
    "record_activity",
    "record_event",
    "session_amr",
]

# --- factor categories (NIST SP 800-63B §4: something you know / have / are) ---

KNOWLEDGE: Final = "knowledge"
POSSESSION: Final = "possession"
#: The authenticator's own local check on a passkey with the UV flag set: a
#: biometric (inherence) or a device PIN (knowledge) -- WebAuthn does not say
#: which, so it is a category of its own. It makes a UV passkey multi-factor.
USER_VERIFICATION: Final = "user_verification"
CATEGORIES: Final[tuple[str, ...]] = (KNOWLEDGE, POSSESSION, USER_VERIFICATION)

# --- the method catalogue: the one place a method's facts are written ---

FirstFactor: TypeAlias = Literal["always", "pin_login", "passwordless_login", "never"]


@dataclass(frozen=True)
class MethodFacts:
    """What the engine knows of one authentication method.

    - ``amr``: every RFC 8176 value its events can carry (a passkey's own
      depend on its flags: :func:`event_for`);
    - ``category``: the factor category it proves (a passkey verified with UV
      proves :data:`USER_VERIFICATION` too: :func:`categories`);
    - ``second_factor``: it can add to a session after a login (everything
      but the password);
    - ``first_factor``: when a login may start with it: always, with the
      client's ``pin_login`` or ``passwordless_login``, or never.
    """

    method: str
    amr: tuple[str, ...]
    category: str
    second_factor: bool = True
    first_factor: FirstFactor = "never"


#: Every method the engine knows, in the stable order step-up offers them.
CATALOGUE: Final[Mapping[str, MethodFacts]] = MappingProxyType(
    {
        facts.method: facts
        for facts in (
            MethodFacts("passkey", ("hwk", "swk", "user"), POSSESSION, first_factor="always"),
            MethodFacts("totp", ("otp",), POSSESSION),
            # RFC 8176 "pin" is a PIN unlocking a key on the device; we use it for the
            # server-side PIN too, the closest registered value (docs/acr.md).
            MethodFacts("pin", ("pin",), KNOWLEDGE, first_factor="pin_login"),
            # A backup code is a look-up secret; "otp" is the closest registered amr.
            MethodFacts("backup_code", ("otp",), POSSESSION),
            MethodFacts("email_otp", ("otp",), POSSESSION, first_factor="passwordless_login"),
            MethodFacts("sms_otp", ("sms",), POSSESSION, first_factor="passwordless_login"),
            MethodFacts(
                "password", ("pwd",), KNOWLEDGE, second_factor=False, first_factor="always"
            ),
        )
    }
)

#: Every method the engine knows, in the stable order step-up offers them.
METHODS: Final[tuple[str, ...]] = tuple(CATALOGUE)

#: The methods that can add to a session after its login (all but the password).
SECOND_FACTORS: Final[tuple[str, ...]] = tuple(m for m, f in CATALOGUE.items() if f.second_factor)

# method -> (amr, category) of the methods whose event always carries the same
# amr; passkey's amr depends on the BE flag (see event_for).
_SIMPLE_METHODS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        method: (facts.amr[0], facts.category)
        for method, facts in CATALOGUE.items()
        if method != "passkey"
    }
)
# categories() per method, built once: rules ask for them on every decide().
_SIMPLE_CATEGORIES: Final[Mapping[str, tuple[str, ...]]] = {
    method: (category,) for method, (_, category) in _SIMPLE_METHODS.items()
}
_PASSKEY_CATEGORIES: Final = (POSSESSION,)
_PASSKEY_UV_CATEGORIES: Final = (POSSESSION, USER_VERIFICATION)


def first_factor_methods(*, pin_login: bool, passwordless_login: bool) -> frozenset[str]:
    """The methods a login may start with, for a client's ``pin_login`` and
    ``passwordless_login`` (:class:`ClientPolicy`)."""
    allowed = {"always"}
    if pin_login:
        allowed.add("pin_login")
    if passwordless_login:
        allowed.add("passwordless_login")
    return frozenset(m for m, facts in CATALOGUE.items() if facts.first_factor in allowed)


@dataclass(frozen=True)
class Event:
    """One successful factor check in a session (docs/design.md, "Authentication events").

    ``at`` is epoch seconds. ``uv``, ``backup_eligible`` and ``aaguid`` only
    mean something for passkeys (``backup_eligible=None`` means unknown and is
    treated as synced). ``remembered`` marks an event replayed from a
    remembered device with its original time. ``pin_length`` is recorded for PIN
    events so a client's ``min_pin_length`` can be honoured.
    """

    method: str
    amr: tuple[str, ...]
    at: int
    credential_id: str | None = None
    uv: bool = False
    backup_eligible: bool | None = None
    aaguid: str | None = None
    remembered: bool = False
    pin_length: int | None = None


def event_for(
    method: str,
    at: int,
    *,
    uv: bool = False,
    backup_eligible: bool | None = None,
    aaguid: str | None = None,
    credential_id: str | None = None,
    remembered: bool = False,
    pin_length: int | None = None,
) -> Event:
    """Build the :class:`Event` for ``method`` with its RFC 8176 ``amr`` filled in.

    A passkey is ``hwk`` when its BE flag is clear (``backup_eligible=False``),
    ``swk`` otherwise, plus ``user`` when user verification happened.
    Raises ``ValueError`` for an unknown method or passkey-only details on
    another method.
    """
    if method == "passkey":
        amr: tuple[str, ...] = ("hwk" if backup_eligible is False else "swk",)
        if uv:
            amr += ("user",)
        return Event(
            method=method,
            amr=amr,
            at=at,
            credential_id=credential_id,
            uv=uv,
            backup_eligible=backup_eligible,
            aaguid=aaguid.lower() if aaguid is not None else None,
            remembered=remembered,
        )
    simple = _SIMPLE_METHODS.get(method)
    if simple is None:
        raise ValueError(f"unknown authentication method {method!r}; known: {', '.join(METHODS)}")
    if uv or backup_eligible is not None or aaguid is not None:
        raise ValueError(f"uv, backup_eligible and aaguid only apply to passkeys, not {method!r}")
    return Event(
        method=method,
        amr=(simple[0],),
        at=at,
        credential_id=credential_id,
        remembered=remembered,
        pin_length=pin_length if method == "pin" else None,
    )


def categories(event: Event) -> tuple[str, ...]:
    """The factor categories ``event`` proves.

    Password and PIN are knowledge; TOTP, backup codes, e-mail/SMS codes and
    passkeys are possession; a passkey verified with UV also proves
    :data:`USER_VERIFICATION`, so on its own it is multi-factor.
    An unknown method proves nothing.
    """
    if event.method == "passkey":
        return _PASSKEY_UV_CATEGORIES if event.uv else _PASSKEY_CATEGORIES
    return _SIMPLE_CATEGORIES.get(event.method, ())


def session_amr(events: Sequence[Event]) -> tuple[str, ...]:
    """``amr`` for a token: the union of the events' amr in first-seen order, plus ``mfa``.

    RFC 8176 §2 ``mfa``: added when the events span two or more categories or
    a passkey was verified with UV.
    """
    seen: dict[str, None] = {}
    cats: set[str] = set()
    for event in events:
        for value in event.amr:
            seen.setdefault(value, None)
        cats.update(categories(event))
    if len(cats) >= 2:
        seen.setdefault("mfa", None)
    return tuple(seen)


def auth_time_of(events: Sequence[Event]) -> int | None:
    """OIDC Core §2 ``auth_time``: the time of the most recent *active* event.

    Remembered events are replays, not active authentications; they are used
    only when nothing else is in the session.
    """
    active = [event.at for event in events if not event.remembered]
    if active:
        return max(active)
    replayed = [event.at for event in events]
    return max(replayed) if replayed else None


@dataclass(frozen=True)
class SessionState:
    """A logged-in browser session: the successful factor checks since the last login.

    ``last_active_at`` is the session's last activity *before* the request being
    decided: call :func:`decide` first, then :func:`record_activity` (or
    :func:`record_event` after a step-up) and store the result.
    ``idle_gaps`` are past inactivity periods ``(from, until)`` kept by
    :func:`record_activity`, so an idle timeout stays in force after the user
    comes back (see :class:`Lifetime`).
    """

    user_id: str
    events: tuple[Event, ...]
    created_at: int
    last_active_at: int
    idle_gaps: tuple[tuple[int, int], ...] = ()


def record_activity(session: SessionState, now: int) -> SessionState:
    """The session after activity at ``now``: the idle gap is remembered, then reset.

    Only gaps that matter are kept: a gap is dropped once a later gap is at
    least as long (every event the earlier gap idled out, the later one does
    too, for every idle bound), so the list stays short.
    """
    if now <= session.last_active_at:
        return session
    gaps = idle_gaps_after(session.idle_gaps, session.last_active_at, now)
    return replace(session, last_active_at=now, idle_gaps=gaps)


def idle_gaps_after(
    idle_gaps: Sequence[Sequence[int]], last_active_at: int, now: int
) -> tuple[tuple[int, int], ...]:
    """``idle_gaps`` once the inactivity ``(last_active_at, now)`` has ended.

    The storage layer keeps this list with the session (see :func:`record_activity`).
    """
    if now <= last_active_at:
        return tuple((int(g[0]), int(g[1])) for g in idle_gaps)
    length = now - last_active_at
    kept = tuple((int(g[0]), int(g[1])) for g in idle_gaps if g[1] - g[0] > length)
    return (*kept, (last_active_at, now))


def record_event(session: SessionState, event: Event) -> SessionState:
    """The session after a successful step-up ``event`` (activity at ``event.at``)."""
    touched = record_activity(session, event.at)
    return replace(touched, events=(*touched.events, event))


@dataclass(frozen=True)
class EnrolledMethod:
    """A factor the user could use to step up (one row per credential)."""

    method: str
    credential_id: str | None = None
    backup_eligible: bool | None = None
    aaguid: str | None = None
    locked: bool = False
    pin_length: int | None = None


@dataclass(frozen=True)
class Lifetime:
    """How long a level's qualifying events count (docs/security.md D29).

    ``absolute_seconds``: only events with ``now - event.at <= absolute_seconds``
    count for the level.

    ``idle_seconds``: an event followed by an inactivity gap longer than
    ``idle_seconds`` (the current one, ``now - session.last_active_at``, or a
    past one in ``session.idle_gaps``) has *idled out* for the level. The level
    then holds only with a newer event that is part of a set of events
    satisfying it: after an hour idle, a TOTP code or a password brings ``2fa``
    back together with the older factor of the other category (NIST SP
    800-63B's AAL2 re-authentication), but ``phr`` comes back only with a new
    passkey, since a password adds nothing to what ``phr`` needs.

    ``None`` means no bound.
    """

    idle_seconds: int | None = None
    absolute_seconds: int | None = None


AcrEnforcement: TypeAlias = Literal["strict", "voluntary"]
PasskeyUserVerification: TypeAlias = Literal["required", "preferred", "discouraged"]


@dataclass(frozen=True)
class ClientPolicy:
    """What a client (relying party) considers enough; see docs/acr.md.

    - ``minimum_acr``: the floor; never lowered by a request.
    - ``default_acr_values`` / ``default_max_age`` / ``require_auth_time``:
      OIDC Dynamic Client Registration 1.0 §2 client metadata.
    - ``acr_enforcement``: ``strict`` (RFC 9470 §5: the requested acr is
      necessary) or ``voluntary`` (OIDC Core §3.1.2.1).
    - ``step_up_methods``: methods offered for step-up (empty: all).
    - ``passkey_user_verification``: WebAuthn ``userVerification`` for this client.
    - ``allowed_aaguids``: only passkeys of these authenticator models count (empty: any).
    - ``min_pin_length``: shorter PINs are neither offered nor counted.
    - ``level_lifetimes``: per-acr :class:`Lifetime` overriding the ladder's.
    - ``remember_device_days``: how long a remembered browser may replay its
      second-factor event for this client's standing minimum (0: off).
    - ``pin_login``: username + PIN is offered as a first factor (``1fa``).
    - ``passwordless_login``: a one-time code by email or SMS is offered as a
      first factor.
    """

    minimum_acr: str | None = None
    default_acr_values: tuple[str, ...] = ()
    default_max_age: int | None = None
    require_auth_time: bool = False
    acr_enforcement: AcrEnforcement = "strict"
    step_up_methods: tuple[str, ...] = ()
    passkey_user_verification: PasskeyUserVerification = "required"
    allowed_aaguids: tuple[str, ...] = ()
    min_pin_length: int | None = None
    level_lifetimes: Mapping[str, Lifetime] = field(default_factory=dict)
    remember_device_days: int = 0
    pin_login: bool = False
    passwordless_login: bool = False

    def __post_init__(self) -> None:
        # A read-only copy keeps the frozen dataclass actually immutable.
        object.__setattr__(self, "level_lifetimes", MappingProxyType(dict(self.level_lifetimes)))
        object.__setattr__(self, "allowed_aaguids", tuple(a.lower() for a in self.allowed_aaguids))


AcrSource: TypeAlias = Literal["request", "default", "none"]


@dataclass(frozen=True)
class Requirement:
    """A parsed authorization request, merged with the client's defaults.

    - ``acr_values``: known values in preference order (from ``acr_values``
      and non-essential ``claims`` acr values, or the client's defaults);
      ``acr_source`` says which (``request`` values are explicit step-ups).
    - ``unknown_acr_values``: requested values not in the ladder (dropped).
    - ``essential_acr`` / ``essential_acr_values`` /
      ``unknown_essential_acr_values``: OIDC Core §5.5.1.1 essential ``acr``.
    - ``max_age``: request ``max_age`` or else the client's ``default_max_age``.
    - ``prompt``: OIDC Core §3.1.2.1 values.
    - ``transaction_started_at``: when this authorization request began; an
      event at or after it always counts as fresh (``max_age=0`` without a loop).
    """

    acr_values: tuple[str, ...] = ()
    acr_source: AcrSource = "none"
    unknown_acr_values: tuple[str, ...] = ()
    essential_acr: bool = False
    essential_acr_values: tuple[str, ...] = ()
    unknown_essential_acr_values: tuple[str, ...] = ()
    max_age: int | None = None
    prompt: frozenset[str] = frozenset()
    transaction_started_at: int | None = None


class Reason(StrEnum):
    """Reason codes carried by decisions and written to the audit log."""

    SATISFIED = "satisfied"
    VOLUNTARY_DOWNGRADE = "voluntary_downgrade"
    NO_SESSION = "no_session"
    PROMPT_LOGIN = "prompt_login"
    SELECT_ACCOUNT = "select_account"
    MAX_AGE = "max_age"
    ACR_NOT_MET = "acr_not_met"
    ESSENTIAL_ACR_UNREACHABLE = "essential_acr_unreachable"
    ESSENTIAL_ACR_UNKNOWN = "essential_acr_unknown"
    FLOOR_NOT_MET = "floor_not_met"
    UNMET = "unmet"
    INTERACTION_REQUIRED = "interaction_required"
    LOGIN_REQUIRED = "login_required"


@dataclass(frozen=True)
class Satisfied:
    """Issue the code: the session meets the requirement.

    ``acr`` is the emitted value, ``amr`` the session's methods, ``auth_time``
    the most recent active event.
    """

    acr: str | None
    amr: tuple[str, ...]
    auth_time: int
    reason: str = Reason.SATISFIED


@dataclass(frozen=True)
class StepUp:
    """Show the challenge page offering exactly ``methods``.

    ``target_acr`` is None when only freshness is needed. For passkeys,
    ``passkey_credential_ids`` lists the credentials that would reach the target
    (for WebAuthn ``allowCredentials``).
    """

    target_acr: str | None
    methods: tuple[str, ...]
    reason: str
    passkey_credential_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Login:
    """Run a full login (no session, ``prompt=login``, or nothing less helps)."""

    reason: str


@dataclass(frozen=True)
class Fail:
    """Return the OAuth/OIDC ``error`` to the client (RFC 6749 §4.1.2.1)."""

    error: str
    description: str
    reason: str


Decision: TypeAlias = Satisfied | StepUp | Login | Fail
