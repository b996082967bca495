"""SQLAlchemy 2 typed models. The schema is made only by Alembic migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from provider.extensions import db
from provider.storage.usernames import lookup_key

__all__ = [
    "AttestationRoot",
    "AuditEvent",
    "AuthEvent",
    "AuthorizationCode",
    "AuthorizeTransaction",
    "BackupCode",
    "Client",
    "ClientAssertionJti",
    "Consent",
    "DevOutboxMessage",
    "FactorCounter",
    "OneTimeCode",
    "Passkey",
    "PasskeyUserHandle",
    "PinCredential",
    "RememberedDevice",
    "Setting",
    "SigningKey",
    "Token",
    "TotpCredential",
    "User",
    "WebAuthnChallenge",
    "WebSession",
]

Json = JSON()


class User(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: as typed when the account was made (shown, put in tokens)
    username: Mapped[str] = mapped_column(String(150), unique=True, index=True)
    #: what sign-in matches: the username case-folded and NFKC-normalised
    #: (provider/storage/usernames.py); set with ``username``, unique
    username_key: Mapped[str] = mapped_column(String(300), unique=True, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    # When a code sent to ``email`` / ``phone`` was entered (or an admin set it):
    # only a verified address or number receives sign-in codes.
    email_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_verified_at: Mapped[int | None] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(200))
    # OIDC ``zoneinfo``: the IANA time zone dates are shown in (None: DEFAULT_TIMEZONE).
    zoneinfo: Mapped[str | None] = mapped_column(String(64))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    disabled_at: Mapped[int | None] = mapped_column(BigInteger)

    @validates("username")
    def _keep_key(self, _field: str, value: str) -> str:
        self.username_key = lookup_key(value)
        return value

    def get_user_id(self) -> str:
        return str(self.id)


class Client(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200), unique=True, index=True)
    # SHA-256 of a high-entropy generated secret: argon2's cost buys nothing
    # for a 256-bit random value and would slow every token request.
    client_secret_hash: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200), default="")
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(40))
    redirect_uris: Mapped[list[str]] = mapped_column(Json, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(Json, default=list)
    grant_types: Mapped[list[str]] = mapped_column(Json, default=list)
    scope: Mapped[str] = mapped_column(Text, default="openid profile email")
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(String(10))
    access_token_format: Mapped[str] = mapped_column(String(10), default="jwt")
    jwks: Mapped[dict[str, Any] | None] = mapped_column(Json)
    policy: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Marked for administration: may get the ``belay:admin`` scope by
    # client_credentials and call /api/admin (docs/admin.md).
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # RFC 7592: SHA-256 of the registration access token (dynamically
    # registered clients only) and the registration metadata we only echo.
    registration_access_token_hash: Mapped[str | None] = mapped_column(String(64))
    registration_metadata: Mapped[dict[str, Any] | None] = mapped_column(Json)


class WebSession(db.Model):  # type: ignore[name-defined,misc]
    """A browser session. The cookie holds a random token; only its hash is here."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    # Public session id (the ID token's ``sid``); new at every login.
    sid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)
    authenticated_at: Mapped[int | None] = mapped_column(BigInteger)
    last_seen_at: Mapped[int] = mapped_column(BigInteger)
    # Past inactivity periods [from, until] (policy.idle_gaps_after): per-level
    # idle timeouts stay in force after the browser comes back.
    idle_gaps: Mapped[list[list[int]]] = mapped_column(Json, default=list)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    user_agent: Mapped[str | None] = mapped_column(String(300))

    events: Mapped[list[AuthEvent]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="AuthEvent.id"
    )


class AuthEvent(db.Model):  # type: ignore[name-defined,misc]
    """One successful factor check inside a session (docs/design.md "Authentication events")."""

    __tablename__ = "auth_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("web_sessions.id", ondelete="CASCADE"), index=True
    )
    method: Mapped[str] = mapped_column(String(30))
    amr: Mapped[list[str]] = mapped_column(Json, default=list)
    at: Mapped[int] = mapped_column(BigInteger)
    credential_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)

    session: Mapped[WebSession] = relationship(back_populates="events")


class AuthorizeTransaction(db.Model):  # type: ignore[name-defined,misc]
    """An authorization request in progress (login, consent or step-up pending).

    Bound to the browser session that started it: it cannot complete another
    request or another browser.
    """

    __tablename__ = "authorize_transactions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("web_sessions.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    consent_given: Mapped[bool] = mapped_column(Boolean, default=False)
    # The session's login (sid) and last authentication event when this
    # transaction began: only later events count as made during it (times are
    # whole seconds, so a login in the same second must not pass for a new one).
    baseline_sid: Mapped[str | None] = mapped_column(String(64))
    baseline_event_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AuthorizationCode(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "authorization_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    client_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text, default="")
    nonce: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    acr: Mapped[str | None] = mapped_column(String(200))
    amr: Mapped[list[str]] = mapped_column(Json, default=list)
    auth_time: Mapped[int] = mapped_column(BigInteger)
    sid: Mapped[str | None] = mapped_column(String(64))
    resource: Mapped[list[str]] = mapped_column(Json, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)
    # Set when the code is presented again; the first redemption checks it
    # after saving its tokens, closing the race with a replay in between.
    replayed_at: Mapped[int | None] = mapped_column(BigInteger)


class Token(db.Model):  # type: ignore[name-defined,misc]
    """An issued access token (and its refresh token), with the grant it came from."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text, default="")
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the access token as sent (JWT or opaque), for introspection.
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # Every refresh token rotated from one authorization shares a family.
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    code_id: Mapped[int | None] = mapped_column(Integer, index=True)
    acr: Mapped[str | None] = mapped_column(String(200))
    amr: Mapped[list[str]] = mapped_column(Json, default=list)
    auth_time: Mapped[int | None] = mapped_column(BigInteger)
    sid: Mapped[str | None] = mapped_column(String(64))
    audience: Mapped[list[str]] = mapped_column(Json, default=list)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    access_expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    refresh_expires_at: Mapped[int | None] = mapped_column(BigInteger)
    refresh_used_at: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)


class SigningKey(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(10))
    # The private JWK, Fernet-encrypted with the data key.
    private_jwk: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(Json)
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Published in the JWKS from creation; signs from activates_at.
    activates_at: Mapped[int] = mapped_column(BigInteger)
    # Stops signing at retired_at; leaves the JWKS at retired_at + max token TTL.
    retired_at: Mapped[int | None] = mapped_column(BigInteger)


class FactorCounter(db.Model):  # type: ignore[name-defined,misc]
    """Consecutive failures of one factor of one user, updated atomically."""

    __tablename__ = "factor_counters"
    __table_args__ = (UniqueConstraint("user_id", "factor"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    factor: Mapped[str] = mapped_column(String(30))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_allowed_at: Mapped[int | None] = mapped_column(BigInteger)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)


class AddressCounter(db.Model):  # type: ignore[name-defined,misc]
    """Password and PIN sign-ins from one client address that have not
    succeeded, in the window ending at ``window_ends_at`` (docs/security.md
    case 58). ``address`` is an IPv4 address or an IPv6 /64 prefix."""

    __tablename__ = "address_counters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    window_ends_at: Mapped[int] = mapped_column(BigInteger, index=True)


class ClientAssertionJti(db.Model):  # type: ignore[name-defined,misc]
    """Seen ``jti`` values of private_key_jwt assertions (RFC 7523 §3 replay check)."""

    __tablename__ = "client_assertion_jtis"
    __table_args__ = (UniqueConstraint("client_id", "jti"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(200))
    jti: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[int] = mapped_column(BigInteger)


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """Who did what, when, for which client, with what result. Never a secret."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    event: Mapped[str] = mapped_column(String(60), index=True)
    result: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    username: Mapped[str | None] = mapped_column(String(150))
    client_id: Mapped[str | None] = mapped_column(String(200))
    method: Mapped[str | None] = mapped_column(String(30))
    acr: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class Consent(db.Model):  # type: ignore[name-defined,misc]
    """Scopes a user has granted to a client (asked again only for new scopes)."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("user_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(Text, default="")
    granted_at: Mapped[int] = mapped_column(BigInteger)


class Setting(db.Model):  # type: ignore[name-defined,misc]
    """Deployment-wide documents edited at run time (the acr ladder)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(Json)


class PinCredential(db.Model):  # type: ignore[name-defined,misc]
    """A user's PIN (one per user): argon2id hash only, never the digits."""

    __tablename__ = "pins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(255))
    # Kept so a client's minimum PIN length can be checked without the PIN.
    length: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class TotpCredential(db.Model):  # type: ignore[name-defined,misc]
    """A user's TOTP authenticator (one per user). Secrets are Fernet-encrypted
    with the data key: they must be read back to compute codes.

    ``secret_encrypted`` is the active secret (None until a first code from it
    verified, ``confirmed_at``); ``pending_secret_encrypted`` a new secret shown
    to the user and waiting for its first code (verify-before-enable), so
    re-enrolling never disables the authenticator that works until the new one
    does.
    """

    __tablename__ = "totp_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)
    confirmed_at: Mapped[int | None] = mapped_column(BigInteger)
    # The last accepted RFC 6238 time step: each step is accepted once only.
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    pending_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    pending_created_at: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class BackupCode(db.Model):  # type: ignore[name-defined,misc]
    """One single-use backup code, stored as a keyed hash (HMAC-SHA256)."""

    __tablename__ = "backup_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class OneTimeCode(db.Model):  # type: ignore[name-defined,misc]
    """A code sent by email or SMS, stored as a keyed hash (HMAC-SHA256).

    ``purpose`` is ``login`` (a sign-in code to the verified destination),
    ``step_up`` (a confirmation inside a session) or ``verify`` (a code proving
    a new address or number on the account page). ``context_hash`` is an HMAC
    of what it was sent for (the browser session and authorize transaction, or
    the session and the step-up page): a code is only looked up there
    (docs/security.md case 50). Rows from before it (NULL) match nothing.
    """

    __tablename__ = "one_time_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(10))
    context_hash: Mapped[str | None] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(320), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger)


class DevOutboxMessage(db.Model):  # type: ignore[name-defined,misc]
    """A code message kept instead of sent, with BELAY_DEV_OUTBOX (development
    only, provider/config.py): in the database, so every server process lists
    the same messages at /dev/outbox."""

    __tablename__ = "dev_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(BigInteger)


class PasskeyUserHandle(db.Model):  # type: ignore[name-defined,misc]
    """The WebAuthn user handle (``user.id``) of a user: random, stable, no PII.

    WebAuthn §14.6.1: "It is RECOMMENDED to let the user handle be 64 random
    bytes"; a discoverable credential returns it as ``userHandle``.
    """

    __tablename__ = "passkey_user_handles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # base64url of the random bytes
    handle: Mapped[str] = mapped_column(String(100), unique=True)


class Passkey(db.Model):  # type: ignore[name-defined,misc]
    """A registered WebAuthn credential (public key only)."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # base64url credential id (<= 1023 bytes, so <= 1364 characters); unique
    # across users through its SHA-256 (an index on the long value is costly).
    credential_id: Mapped[str] = mapped_column(Text)
    credential_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    transports: Mapped[list[str]] = mapped_column(Json, default=list)
    aaguid: Mapped[str] = mapped_column(String(36))
    # The attestation format and whether its statement chained to a root we trust.
    attestation_fmt: Mapped[str] = mapped_column(String(40))
    attested: Mapped[bool] = mapped_column(Boolean, default=False)
    backup_eligible: Mapped[bool] = mapped_column(Boolean)
    backup_state: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)


class WebAuthnChallenge(db.Model):  # type: ignore[name-defined,misc]
    """An outstanding WebAuthn challenge: one per browser session and ceremony,
    deleted by the first attempt to use it (pass or fail)."""

    __tablename__ = "webauthn_challenges"
    __table_args__ = (UniqueConstraint("session_id", "ceremony"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("web_sessions.id", ondelete="CASCADE"))
    ceremony: Mapped[str] = mapped_column(String(20))
    # base64url of the random challenge bytes
    challenge: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # What the options promised: user verification, allowed credentials, tx.
    context: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class AttestationRoot(db.Model):  # type: ignore[name-defined,misc]
    """An attestation root certificate the admin trusts (``belay passkeys add-root``)."""

    __tablename__ = "attestation_roots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # SHA-256 of the DER certificate, hex
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    pem: Mapped[str] = mapped_column(Text)
    # attestation statement formats it anchors (empty: every format)
    formats: Mapped[list[str]] = mapped_column(Json, default=list)
    created_at: Mapped[int] = mapped_column(BigInteger)


class RememberedDevice(db.Model):  # type: ignore[name-defined,misc]
    """A browser the user chose to remember after a second factor (docs/design.md
    "Remembered devices"). The cookie holds a random token; only its SHA-256 is
    here. The remembered event is replayed with its original time."""

    __tablename__ = "remembered_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The client it was remembered for (its remember_device_days set expires_at).
    client_id: Mapped[str | None] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(30))
    amr: Mapped[list[str]] = mapped_column(Json, default=list)
    credential_id: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    # When the remembered second factor was really checked.
    event_at: Mapped[int] = mapped_column(BigInteger)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
