"""Every configuration option, its default and what it means — in one place.

Order of precedence (lowest first): the defaults below, a TOML file named by
``BELAY_CONFIG``, ``BELAY_*`` environment variables, then ``test_config``
passed to :func:`provider.app.create_app`. Environment variables use the
option name prefixed with ``BELAY_`` (``BELAY_ISSUER``); a TOML file uses the
option names in lower case at the top level (``issuer = "https://…"``).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULTS",
    "ConfigError",
    "ensure_instance_secrets",
    "is_local_http",
    "load_config",
    "valid_timezone",
    "validate",
]

DEFAULTS: dict[str, Any] = {
    # Public identifier of this OP; also the base URL of every endpoint.
    "ISSUER": "http://localhost:5000",
    # SQLAlchemy URL. Default: SQLite file ``instance/belay.sqlite3``.
    # PostgreSQL: ``postgresql+psycopg://user@host/db`` (``postgresql://`` works too).
    "DATABASE_URL": None,
    # SQLite only (WAL mode): NORMAL syncs the log at checkpoints rather than at
    # every commit. A crashed or killed process loses nothing; a power cut or OS
    # crash may lose the last commits, never the file. FULL syncs every commit.
    "SQLITE_SYNCHRONOUS": "normal",
    # Signs CSRF tokens. Generated into instance/secret_key (0600) when unset.
    "SECRET_KEY": None,
    # Fernet key encrypting private signing keys and TOTP secrets at rest.
    # Generated into instance/data_key (0600) when unset.
    "DATA_KEY": None,
    # WebAuthn relying-party id and allowed origins (comma-separated).
    "RP_ID": "localhost",
    "ORIGINS": "http://localhost:5000",
    # Passkeys (docs/passkeys.md): the name authenticators show, how long a
    # WebAuthn challenge lives (seconds), and attestation root certificates
    # (PEM files, comma-separated) trusted besides those added with
    # ``belay passkeys add-root``.
    "RP_NAME": "Belay",
    "PASSKEY_CHALLENGE_TTL": 120,
    "PASSKEY_ATTESTATION_ROOTS": "",
    # Cookies: Secure unless the issuer is plain http on a loopback host.
    "SESSION_COOKIE_NAME": "belay_session",
    # Server-side session lifetime bounds (seconds), NIST SP 800-63B-4 style.
    "SESSION_IDLE_TIMEOUT": 8 * 3600,
    "SESSION_ABSOLUTE_TIMEOUT": 24 * 3600,
    # An authorize transaction (login/consent/step-up in progress) lives this long.
    "AUTHORIZE_TRANSACTION_TTL": 15 * 60,
    # Token lifetimes (seconds).
    "AUTHORIZATION_CODE_TTL": 60,
    "ACCESS_TOKEN_TTL": 600,
    "ID_TOKEN_TTL": 600,
    "REFRESH_TOKEN_TTL": 30 * 24 * 3600,
    # Signing keys: algorithm used when a client does not ask for another one.
    "DEFAULT_SIGNING_ALG": "ES256",
    # A rotated-in key is published this long before it starts signing, so
    # relying parties that cache the JWKS already know it.
    "KEY_PUBLISH_DELAY": 300,
    # How long each process caches the key table (must stay below KEY_PUBLISH_DELAY).
    "KEY_CACHE_TTL": 5.0,
    # Audience of access tokens when the request names no ``resource``
    # (RFC 8707); empty means the client's own id.
    "DEFAULT_AUDIENCE": "",
    # Behind a TLS-terminating proxy: trust this many X-Forwarded-* hops.
    "TRUSTED_PROXIES": 0,
    # Password throttling (docs/factors.md "Password lock"): from the Nth
    # consecutive failure a growing delay (1 s, 2 s, 4 s … capped at
    # THROTTLE_MAX_DELAY); every PASSWORD_MAX_FAILURES-th consecutive failure
    # opens a lock window (the password is refused, other factors still work)
    # of PASSWORD_LOCK_WINDOW seconds, doubled at each further lock up to
    # PASSWORD_LOCK_WINDOW_MAX. Anonymous failures never lock the password for
    # good, except at PASSWORD_FAILURE_LIMIT consecutive failures (NIST SP
    # 800-63B-4 allows at most 100): then until an admin unlock. With the
    # defaults that takes more than five days of guessing.
    "PASSWORD_DELAY_AFTER": 5,
    "PASSWORD_MAX_FAILURES": 10,
    "PASSWORD_LOCK_WINDOW": 3600,
    "PASSWORD_LOCK_WINDOW_MAX": 86400,
    "PASSWORD_FAILURE_LIMIT": 100,
    "THROTTLE_MAX_DELAY": 300,
    # PIN policy (provider/factors/pin_policy.py): ASCII digits only, length in
    # these bounds (4 <= min <= max <= 64), no repeated digit, run, repeated
    # group, mirror, date or common PIN. A client may demand a longer minimum.
    "PIN_MIN_LENGTH": 6,
    "PIN_MAX_LENGTH": 12,
    # PIN throttling: growing delay from the Nth consecutive failure, locked at
    # the limit until the user sets a new PIN (after a stronger login) or an
    # admin unlocks it. 10: a server-checked short PIN is neither a NIST
    # password nor an activation secret (docs/security.md).
    "PIN_DELAY_AFTER": 5,
    "PIN_MAX_FAILURES": 10,
    # TOTP throttling (same scheme; NIST SP 800-63B-4 allows at most 100).
    "TOTP_DELAY_AFTER": 5,
    "TOTP_MAX_FAILURES": 10,
    # Backup-code throttling (same scheme).
    "BACKUP_CODE_DELAY_AFTER": 5,
    "BACKUP_CODE_MAX_FAILURES": 10,
    # One-time codes by email or SMS: a code lives OTP_CODE_TTL seconds and
    # allows OTP_MAX_TRIES tries; at most OTP_RESEND_LIMIT codes are sent per
    # user and per destination in OTP_RESEND_WINDOW seconds. The factor
    # counters (growing delay, lock) work as for the PIN.
    "OTP_CODE_TTL": 300,
    "OTP_MAX_TRIES": 5,
    "OTP_RESEND_LIMIT": 3,
    "OTP_RESEND_WINDOW": 900,
    "OTP_DELAY_AFTER": 5,
    "OTP_MAX_FAILURES": 10,
    # Email delivery over SMTP (enabled when SMTP_HOST and SMTP_SENDER are set).
    # SMTP_SECURITY: starttls, tls (implicit, usually port 465) or none.
    "SMTP_HOST": "",
    "SMTP_PORT": 587,
    "SMTP_SECURITY": "starttls",
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_SENDER": "",
    # Empty: the subject in the reader's language ("Your Belay sign-in code");
    # any other value is sent as is.
    "SMTP_SUBJECT": "",
    # SMS delivery: a JSON POST {to, message} to this URL with this bearer
    # token (enabled when SMS_WEBHOOK_URL is set).
    "SMS_WEBHOOK_URL": "",
    "SMS_WEBHOOK_TOKEN": "",
    # Development only (``make run`` turns it on): codes by email and SMS are not
    # sent but kept in the database, listed at /dev/outbox (404 when off; only to
    # requests from this host) and printed on standard error, so every factor can
    # be tried without a mail server or SMS gateway. Refused unless the issuer is
    # plain http on a loopback host (a production issuer is https or public).
    "DEV_OUTBOX": False,
    # The language of a page when neither the sign-in request's ui_locales nor
    # the browser's Accept-Language names en or de (docs/i18n.md), and the time
    # zone of dates for people who chose none on their account page.
    "DEFAULT_LOCALE": "en",
    "DEFAULT_TIMEZONE": "UTC",
    # Issuer shown by authenticator apps next to the account name (otpauth URI).
    "TOTP_ISSUER_NAME": "Belay",
    # argon2id parameters (RFC 9106 "second recommended" time and memory). One
    # lane (OWASP's choice): a computation then keeps one core busy, so the
    # ARGON2_MAX_CONCURRENT bound below really leaves the other cores to
    # requests that need no hash (4 lanes made one computation take both cores
    # of a 2-core machine for ~30 ms less wall time; bench/RESULTS.md, storm).
    "ARGON2_TIME_COST": 3,
    "ARGON2_MEMORY_COST": 65536,
    "ARGON2_PARALLELISM": 1,
    # At most this many argon2 computations at once per host (0: half the
    # CPUs, at least one). A password or PIN check may wait for one up to
    # ARGON2_MAX_WAIT_MS milliseconds: the queue holds as many checks as the
    # slots get through in that time (from the measured hash time of a
    # computation, its CPU time with one lane; at most 256 waiting); a check
    # beyond it is refused at once ("try again", 503), before anything is
    # counted. 0: no waiting at all.
    "ARGON2_MAX_CONCURRENT": 0,
    "ARGON2_MAX_WAIT_MS": 2000,
    # argon2 runs on threads this many CPU niceness steps below the server
    # (0-19, like ``nice -n``; 0: on the request thread, at normal priority),
    # so hashing only takes CPU nothing else wants: a guessing storm slows its
    # own guesses, not the token requests beside it.
    "ARGON2_NICE": 10,
    # Password and PIN sign-ins from one client address (IPv4, or the /64 of
    # an IPv6 address; behind a proxy the address TRUSTED_PROXIES gives): at
    # most SIGN_IN_ADDRESS_LIMIT that did not succeed in a window of
    # SIGN_IN_ADDRESS_WINDOW seconds, counted before anything is checked (in
    # the database, for every instance); beyond it a sign-in from there is
    # refused (429, Retry-After: until the window ends) without any argon2
    # work. A success does not count. 0: no limit by address.
    "SIGN_IN_ADDRESS_LIMIT": 100,
    "SIGN_IN_ADDRESS_WINDOW": 300,
    # "Confirm access" on the account page lasts this long (seconds).
    "CONFIRM_ACCESS_MAX_AGE": 300,
    # Lifetime of the first-party step-up API's re-authentication token.
    "REAUTH_TOKEN_TTL": 300,
    # RFC 7591 dynamic registration is off unless enabled.
    "REGISTRATION_ENABLED": False,
    # The initial access token (RFC 7591 §3) a registration request must carry
    # as a bearer token; registration refuses every request while it is empty.
    "REGISTRATION_INITIAL_ACCESS_TOKEN": "",
    # The admin console (/admin) asks for this acr, reached within ADMIN_MAX_AGE
    # seconds (a step-up in the admin's session when it is older or weaker).
    "ADMIN_ACR": "urn:belay:acr:2fa",
    "ADMIN_MAX_AGE": 15 * 60,
    # Log lines: "json" (one object per line) or "text"; empty means json under
    # ``belay serve`` and text otherwise. Logs never hold a secret.
    "LOG_FORMAT": "",
    # The least level logged: debug, info, warning or error. ``warning`` leaves out
    # the per-request access lines and the audit lines (``make run`` uses it: the
    # audit log stays in the database, /admin/audit).
    "LOG_LEVEL": "info",
    # /metrics (Prometheus) asks for this bearer token when set; when empty it
    # answers only requests from this host (loopback, no proxy header).
    "METRICS_TOKEN": "",
    # Expired rows (browser sessions, authorize transactions, WebAuthn
    # challenges, one-time codes, spent authorization codes, client-assertion
    # jtis) are deleted in batches of at most PURGE_BATCH per kind, every
    # PURGE_EVERY_REQUESTS requests per process (0: only by ``belay purge``).
    "PURGE_EVERY_REQUESTS": 500,
    "PURGE_BATCH": 500,
    # Dev server / gunicorn bind.
    "HOST": "127.0.0.1",
    "PORT": 5000,
}

_INT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, int) and not isinstance(v, bool)}
_FLOAT_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, float)}
_BOOL_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, bool)}


#: Options that no longer exist, and what replaced them: set, they stop the
#: start rather than being ignored (a TOML file names them as unknown).
_GONE = {
    "ARGON2_MAX_WAITING": "the argon2 queue is sized by time, BELAY_ARGON2_MAX_WAIT_MS",
}


class ConfigError(ValueError):
    """A configuration value that cannot be used (the message names the option)."""


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if key in _BOOL_KEYS:
            return value.strip().lower() in {"1", "true", "yes", "on"}
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
    except ValueError:
        kind = "an integer" if key in _INT_KEYS else "a number"
        raise ConfigError(f"BELAY_{key} must be {kind}, got {value!r}") from None
    return value


def load_config(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then the TOML file named by ``BELAY_CONFIG``, then ``BELAY_*``."""
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    path = env.get("BELAY_CONFIG")
    if path:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        unknown = sorted(k for k in data if k.upper() not in DEFAULTS)
        for key in unknown:
            if key.upper() in _GONE:
                raise ConfigError(f"{path}: {key} is gone: {_GONE[key.upper()]}")
        if unknown:
            raise ConfigError(f"{path}: unknown option(s) {', '.join(unknown)}")
        for key, value in data.items():
            config[key.upper()] = _coerce(key.upper(), value)
    for key, replacement in _GONE.items():
        if f"BELAY_{key}" in env:
            raise ConfigError(f"BELAY_{key} is gone: {replacement}")
    for key in DEFAULTS:
        if f"BELAY_{key}" in env:
            config[key] = _coerce(key, env[f"BELAY_{key}"])
    return validate(config)


def valid_timezone(name: str) -> bool:
    """Is ``name`` an IANA time zone this machine knows (``Europe/Berlin``, ``UTC``)?"""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name or len(name) > 64 or name != name.strip() or name.startswith(("/", ".")):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Refuse values that would only fail later, mid-request."""
    from urllib.parse import urlsplit

    issuer = str(config["ISSUER"]).rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(
            f"BELAY_ISSUER must be an http(s) URL without query or fragment, got {issuer!r}"
        )
    config["ISSUER"] = issuer
    if config["DEFAULT_SIGNING_ALG"] not in {"ES256", "RS256", "EdDSA"}:
        raise ConfigError("BELAY_DEFAULT_SIGNING_ALG must be ES256, RS256 or EdDSA")
    if not 4 <= int(config["PIN_MIN_LENGTH"]) <= int(config["PIN_MAX_LENGTH"]) <= 64:
        raise ConfigError(
            "BELAY_PIN_MIN_LENGTH and BELAY_PIN_MAX_LENGTH must satisfy 4 <= min <= max <= 64"
        )
    origins = [o.strip() for o in str(config["ORIGINS"]).split(",") if o.strip()]
    if not str(config["RP_ID"]).strip() or not origins:
        raise ConfigError("BELAY_RP_ID and BELAY_ORIGINS must not be empty")
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
            raise ConfigError(
                f"BELAY_ORIGINS: {origin!r} is not an origin like https://host[:port]"
            )
    if not 10 <= int(config["PASSKEY_CHALLENGE_TTL"]) <= 600:
        raise ConfigError("BELAY_PASSKEY_CHALLENGE_TTL must be 10-600 seconds")
    if not 0 <= int(config["ARGON2_MAX_CONCURRENT"]) <= 64:
        raise ConfigError("BELAY_ARGON2_MAX_CONCURRENT must be 0-64 (0: half the CPUs)")
    _check_int(config, "ARGON2_MAX_WAIT_MS", 0, 60000, "milliseconds; 0: no waiting")
    _check_int(config, "SIGN_IN_ADDRESS_LIMIT", 0, 100000, "0: no limit by address")
    _check_int(config, "SIGN_IN_ADDRESS_WINDOW", 1, 86400, "seconds")
    if not 0 <= int(config["ARGON2_NICE"]) <= 19:
        raise ConfigError("BELAY_ARGON2_NICE must be 0-19")
    config["DEFAULT_LOCALE"] = str(config["DEFAULT_LOCALE"]).strip().lower()
    if config["DEFAULT_LOCALE"] not in {"en", "de"}:
        raise ConfigError("BELAY_DEFAULT_LOCALE must be en or de")
    if not valid_timezone(str(config["DEFAULT_TIMEZONE"])):
        raise ConfigError(
            "BELAY_DEFAULT_TIMEZONE must be an IANA time zone name like Europe/Berlin or UTC"
        )
    if str(config["SMTP_SECURITY"]).lower() not in {"starttls", "tls", "none"}:
        raise ConfigError("BELAY_SMTP_SECURITY must be starttls, tls or none")
    config["SMTP_SECURITY"] = str(config["SMTP_SECURITY"]).lower()
    config["SQLITE_SYNCHRONOUS"] = str(config["SQLITE_SYNCHRONOUS"]).strip().lower()
    if config["SQLITE_SYNCHRONOUS"] not in {"normal", "full"}:
        raise ConfigError("BELAY_SQLITE_SYNCHRONOUS must be normal or full")
    for key in ("OTP_CODE_TTL", "OTP_MAX_TRIES", "OTP_RESEND_LIMIT", "OTP_RESEND_WINDOW"):
        if int(config[key]) < 1:
            raise ConfigError(f"BELAY_{key} must be at least 1")
    config["LOG_FORMAT"] = str(config["LOG_FORMAT"] or "").strip().lower()
    if config["LOG_FORMAT"] not in {"", "json", "text"}:
        raise ConfigError("BELAY_LOG_FORMAT must be json or text")
    config["LOG_LEVEL"] = str(config["LOG_LEVEL"] or "info").strip().lower()
    if config["LOG_LEVEL"] not in {"debug", "info", "warning", "error"}:
        raise ConfigError("BELAY_LOG_LEVEL must be debug, info, warning or error")
    if config["DEV_OUTBOX"] and not is_local_http(issuer):
        raise ConfigError(
            "BELAY_DEV_OUTBOX shows every emailed and texted code on a web page: it is for "
            f"development only, with an http://localhost issuer, not {issuer}"
        )
    if not 1 <= int(config["PASSWORD_LOCK_WINDOW"]) <= int(config["PASSWORD_LOCK_WINDOW_MAX"]):
        raise ConfigError(
            "BELAY_PASSWORD_LOCK_WINDOW and BELAY_PASSWORD_LOCK_WINDOW_MAX must satisfy "
            "1 <= window <= max"
        )
    if not int(config["PASSWORD_MAX_FAILURES"]) <= int(config["PASSWORD_FAILURE_LIMIT"]) <= 100:
        raise ConfigError(
            "BELAY_PASSWORD_FAILURE_LIMIT must be between BELAY_PASSWORD_MAX_FAILURES and 100 "
            "(NIST SP 800-63B-4)"
        )
    if int(config["PURGE_EVERY_REQUESTS"]) < 0 or not 1 <= int(config["PURGE_BATCH"]) <= 100000:
        raise ConfigError(
            "BELAY_PURGE_EVERY_REQUESTS must be at least 0 and BELAY_PURGE_BATCH 1-100000"
        )
    for prefix in ("PASSWORD", "PIN", "TOTP", "BACKUP_CODE", "OTP"):
        if not 1 <= int(config[f"{prefix}_MAX_FAILURES"]) <= 100:
            raise ConfigError(f"BELAY_{prefix}_MAX_FAILURES must be 1-100 (NIST SP 800-63B-4)")
    return config


def is_local_http(issuer: str) -> bool:
    """Plain http on a loopback host: a development issuer, never a production one."""
    from urllib.parse import urlsplit

    parts = urlsplit(issuer)
    return parts.scheme == "http" and (parts.hostname or "") in {"localhost", "127.0.0.1", "::1"}


def _check_int(config: dict[str, Any], key: str, low: int, high: int, unit: str) -> None:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"BELAY_{key} must be an integer {low}-{high} ({unit}), got {value!r}")


def _read_or_create_secret(path: Path, make: Any) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value: str = make()
    # O_EXCL: two processes starting at once never overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def ensure_instance_secrets(config: dict[str, Any], instance_path: str) -> None:
    """Fill SECRET_KEY and DATA_KEY from ``instance/`` (created 0600 on first run)."""
    from cryptography.fernet import Fernet

    folder = Path(instance_path)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = _read_or_create_secret(
            folder / "secret_key", lambda: secrets.token_urlsafe(48)
        )
    if not config.get("DATA_KEY"):
        config["DATA_KEY"] = _read_or_create_secret(
            folder / "data_key", lambda: Fernet.generate_key().decode()
        )
    if not config.get("DATABASE_URL"):
        database = folder / "belay.sqlite3"
        if not database.exists():
            # Created empty with 0600 so SQLite never makes it world-readable.
            os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
        config["DATABASE_URL"] = f"sqlite:///{database}"
