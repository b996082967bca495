"""The user's own account: "Confirm access", what the account page shows,
and the changes a user makes without confirming (sign out a session, forget a
browser). Factor changes behind Confirm access: provider/flows/assurance/lifecycle.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flask import current_app

from provider import clock, policy, storage
from provider.config import valid_timezone
from provider.crypto import DataKey, DataKeyError, random_token
from provider.errors import N_, BelayError
from provider.flows import step_up
from provider.flows.assurance import events
from provider.i18n import translate
from provider.oidc.server import sign_jwt
from provider.storage import audit, devices
from provider.storage import passkeys as passkey_store
from provider.storage import sessions as session_store
from provider.storage.ladder import current_ladder
from provider.storage.models import AuditEvent, Passkey, RememberedDevice, User, WebSession

__all__ = [
    "RECOVERY_ADMIN_RESET",
    "RECOVERY_BACKUP_CODE",
    "AccessCheck",
    "InvalidTimeZone",
    "Overview",
    "ReauthToken",
    "check_access",
    "check_level",
    "confirm_access",
    "current_acr",
    "forget_device",
    "issue_reauth_token",
    "open_one_time",
    "overview",
    "revoke_session",
    "seal_one_time",
    "set_time_zone",
    "time_zones",
]

#: How long what a page shows once (fresh backup codes, a new authenticator's
#: QR code) waits in the session for the page after the POST (seconds)
ONE_TIME_MAX_AGE = 300


def _data_key() -> DataKey:
    key: DataKey = current_app.extensions["belay_data_key"]
    return key


def seal_one_time(material: Mapping[str, Any]) -> str:
    """``material`` (JSON values) encrypted under the data key, to wait in the
    server-side session for the one page that shows it: the session row never
    holds backup codes in the clear."""
    return _data_key().encrypt(json.dumps({"at": clock.now(), **material}))


def open_one_time(sealed: str) -> dict[str, Any]:
    """What :func:`seal_one_time` sealed, or ``{}`` when it is older than
    :data:`ONE_TIME_MAX_AGE` or unreadable."""
    try:
        data = json.loads(_data_key().decrypt(sealed[:20000]))
    except (DataKeyError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    at = data.pop("at", None)
    if not isinstance(at, int) or not 0 <= clock.now() - at <= ONE_TIME_MAX_AGE:
        return {}
    return data


#: Recovery when the factor a level needs is locked (docs/security.md case 44):
#: a backup code reaches the level with the password ...
RECOVERY_BACKUP_CODE = "backup_code"
#: ... or nothing the user holds does: only an administrator's reset helps.
RECOVERY_ADMIN_RESET = "admin_reset"


@dataclass(frozen=True)
class AccessCheck:
    """Whether changes are allowed now, and if not, what would allow them."""

    confirmed: bool
    target_acr: str
    methods: tuple[str, ...]
    expires_at: int | None
    #: the passkeys (``passkey:<id>``) that can confirm (WebAuthn allowCredentials)
    passkey_credential_ids: tuple[str, ...] = ()
    #: enrolled methods that are locked and would otherwise help reach the target
    locked: tuple[str, ...] = ()
    #: how to recover while they are locked: :data:`RECOVERY_BACKUP_CODE`,
    #: :data:`RECOVERY_ADMIN_RESET` or None (nothing needed is locked)
    recovery: str | None = None
    #: backup codes are enrolled but cannot reach the target (``phr``, ``phrh``)
    backup_codes_too_weak: bool = False

    @property
    def locked_labels(self) -> tuple[str, ...]:
        """What people call the locked methods ("authenticator app", …)."""
        return tuple(_label(method) for method in self.locked)


def _label(method: str) -> str:
    try:
        label = str(step_up.factors().get(method).label)
    except LookupError:
        return method
    return label if label.isupper() else label[:1].lower() + label[1:]


def check_access(
    user: User, row: WebSession, previous_seen_at: int | None, started_at: int | None
) -> AccessCheck:
    """Confirm access = the level of the strongest factor the user has enrolled,
    locked or not, within ``CONFIRM_ACCESS_MAX_AGE`` seconds (NIST SP 800-63B-4
    §4.1.2.1; docs/security.md case 44). The same engine call as /authorize,
    with a built-in strict policy."""
    enrolled = step_up.factors().enrolled(user.id)
    target = step_up.confirm_access_target(enrolled, current_ladder(), clock.now())
    max_age = int(current_app.config["CONFIRM_ACCESS_MAX_AGE"])
    return check_level(
        user, row, previous_seen_at, started_at, target=target, max_age=max_age, enrolled=enrolled
    )


def stronger(ladder: policy.Ladder, first: str, second: str) -> str:
    """The higher of two acr values (an unknown one loses)."""
    a, b = ladder.get(first), ladder.get(second)
    if a is None:
        return second
    if b is None:
        return first
    return second if b.level > a.level else first


def check_level(
    user: User,
    row: WebSession,
    previous_seen_at: int | None,
    started_at: int | None,
    *,
    target: str,
    max_age: int,
    enrolled: list[policy.EnrolledMethod] | None = None,
    at_least_enrolled: bool = False,
) -> AccessCheck:
    """Whether the session reached ``target`` within ``max_age`` seconds — the
    engine's decision for ``acr_values=target&max_age=max_age`` under a strict
    built-in policy (used by "Confirm access" and the admin console).

    ``at_least_enrolled``: raise ``target`` to the level of the strongest
    enrolled factor, locked or not (the admin console; docs/security.md case 44).
    """
    ladder = current_ladder()
    now = clock.now()
    if enrolled is None:
        enrolled = step_up.factors().enrolled(user.id)
    if at_least_enrolled:
        target = stronger(ladder, target, step_up.confirm_access_target(enrolled, ladder, now))
    client = policy.ClientPolicy()
    requirement = policy.parse_requirement(
        {"acr_values": target, "max_age": str(max_age)},
        client,
        ladder,
        transaction_started_at=started_at,
    )
    state = step_up.session_state(row, previous_seen_at)
    decision = policy.decide(requirement, client, ladder, state, enrolled, now)
    if isinstance(decision, policy.Satisfied):
        return AccessCheck(True, target, (), decision.auth_time + max_age)
    methods: tuple[str, ...] = ()
    credentials: tuple[str, ...] = ()
    if isinstance(decision, policy.StepUp):
        methods, credentials = decision.methods, decision.passkey_credential_ids
    locked, recovery, too_weak = _recovery(
        requirement, client, ladder, state, enrolled, now, methods
    )
    return AccessCheck(False, target, methods, None, credentials, locked, recovery, too_weak)


def _recovery(
    requirement: policy.Requirement,
    client: policy.ClientPolicy,
    ladder: policy.Ladder,
    state: policy.SessionState | None,
    enrolled: Sequence[policy.EnrolledMethod],
    now: int,
    methods: tuple[str, ...],
) -> tuple[tuple[str, ...], str | None, bool]:
    """(locked methods the target needs, the recovery path, backup codes too weak).

    The locked methods are those the engine would offer were they unlocked and
    does not offer now. The bar is never lowered: the recovery is a backup code
    when one reaches the target, otherwise an administrator's reset.
    """
    if state is None or not any(m.locked for m in enrolled):
        return (), None, False
    unlocked = [replace(m, locked=False) for m in enrolled]
    would = policy.decide(requirement, client, ladder, state, unlocked, now)
    if not isinstance(would, policy.StepUp):
        return (), None, False
    locked_names = {m.method for m in enrolled if m.locked}
    needed = tuple(m for m in would.methods if m in locked_names and m not in methods)
    if not needed:
        return (), None, False
    if "backup_code" in methods:
        return needed, RECOVERY_BACKUP_CODE, False
    has_backup_codes = any(m.method == "backup_code" and not m.locked for m in enrolled)
    return needed, RECOVERY_ADMIN_RESET, has_backup_codes


def confirm_access(
    user: User,
    row: WebSession,
    access: AccessCheck,
    *,
    method: str,
    submitted: Mapping[str, str],
    purpose: str,
    ip: str | None,
) -> step_up.StepUpDone | None:
    """Confirm access: one factor check inside this session, at the level
    ``access`` asks (:func:`check_access` for the account page,
    :func:`check_level` for the admin console); ``purpose`` is the audit event
    (``confirm_access``, ``admin_step_up``). ``None`` when access is already
    confirmed (nothing checked); a :class:`provider.factors.base.FactorError`
    when the check fails."""
    if access.confirmed:
        return None
    return step_up.verify_in_session(
        user=user,
        row=row,
        method=method,
        submitted=submitted,
        allowed=access.methods,
        client_id=None,
        purpose=purpose,
        target_acr=access.target_acr,
        ip=ip,
    )


# -- what the account page shows -------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """The user's passkeys, sessions, remembered browsers and latest events."""

    passkeys: list[Passkey]
    sessions: list[WebSession]
    devices: list[RememberedDevice]
    events: list[AuditEvent]


def overview(user: User) -> Overview:
    return Overview(
        passkeys=passkey_store.list_for_user(user.id),
        sessions=session_store.list_for_user(user.id),
        devices=devices.list_for_user(user.id),
        events=audit.recent(user_id=user.id, limit=20),
    )


def current_acr(row: WebSession, previous_seen_at: int | None) -> str | None:
    """The session's acr for the OP's own pages (no remembered browser counts)."""
    return step_up.current_acr(row, previous_seen_at, current_ladder())


# -- changes that need no confirmation (taking access away) ----------------------------


def revoke_session(user: User, current: WebSession, session_id: str) -> None:
    """Sign out another of the user's sessions (never the current one)."""
    for other in session_store.list_for_user(user.id):
        if str(other.id) == session_id and other.id != current.id:
            session_store.delete_session(other)
            audit.record("session_revoked", "success", user_id=user.id)


def forget_device(user: User, device_id: int, *, ip: str | None) -> bool:
    """Forget a remembered browser of the user's; False when there is none."""
    if not devices.revoke(user.id, device_id):
        return False
    audit.record(
        "device_revoked", "success", user_id=user.id, ip=ip, details={"device_id": device_id}
    )
    return True


class InvalidTimeZone(BelayError):
    """Not an IANA time zone name this server knows."""

    error = "invalid_time_zone"

    def __init__(self) -> None:
        super().__init__(translate(N_("Choose a time zone from the list.")))

    def field_errors(self) -> dict[str, str]:
        return {"zoneinfo": self.description}


def time_zones() -> list[str]:
    """The IANA time zones a user may choose (docs/i18n.md), sorted."""
    from zoneinfo import available_timezones

    regions = (n for n in available_timezones() if "/" in n and not n.startswith("Etc/"))
    return [*sorted(regions), "UTC"]


def set_time_zone(user: User, zone: str, *, ip: str | None) -> None:
    """The user's ``zoneinfo``, the time zone of the dates their pages show; empty
    means the deployment's ``DEFAULT_TIMEZONE``. :class:`InvalidTimeZone` otherwise."""
    cleaned = zone.strip()
    if cleaned and not valid_timezone(cleaned):
        raise InvalidTimeZone()
    before = user.zoneinfo
    user.zoneinfo = cleaned or None
    storage.commit()
    if before != user.zoneinfo:
        audit.record(
            "time_zone_changed",
            "success",
            user_id=user.id,
            ip=ip,
            details={"zoneinfo": user.zoneinfo},
        )


# -- the first-party step-up API's re-auth token ---------------------------------------


@dataclass(frozen=True)
class ReauthToken:
    """A short-lived signed token bound to the user and the session."""

    token: str
    acr: str | None
    amr: list[str]
    auth_time: int | None


def issue_reauth_token(user: User, row: WebSession) -> ReauthToken:
    """The session's state now, from the OP's own view (a remembered browser
    never counts here, docs/security.md case 47), signed as a re-auth token."""
    now = clock.now()
    own = policy.ClientPolicy()
    state = events.client_state(row, None, own, now)
    assert state is not None
    acr = policy.session_acr(state, own, current_ladder(), now)
    amr = list(policy.session_amr(state.events))
    auth_time = policy.client_auth_time(state.events, own)
    config = current_app.config
    token = sign_jwt(
        {
            "iss": config["ISSUER"],
            "aud": config["ISSUER"],
            "sub": str(user.id),
            "sid": row.sid,
            "iat": now,
            "exp": now + int(config["REAUTH_TOKEN_TTL"]),
            "jti": random_token(16),
            "acr": acr,
            "amr": amr,
            "auth_time": auth_time,
        },
        alg=config["DEFAULT_SIGNING_ALG"],
        typ="reauth+jwt",
    )
    return ReauthToken(token, acr, amr, auth_time)
