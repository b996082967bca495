"""Fill a Belay database with a grown deployment's rows, fast (issue 20 item 4).

    BELAY_DATABASE_URL=... python -m bench.prefill [--scale 1.0] > counts.json

At scale 1: 100,000 users, 1,000,000 audit rows, 200,000 browser sessions (half
expired or idle too long, half live) and 500,000 access/refresh token rows (a
fifth of the refresh tokens expired, a fifth used), and 100,000 spent authorization
codes (half expired more than a day ago: ``belay purge`` deletes those). Rows are written in bulk:
``COPY … FROM STDIN`` on PostgreSQL (then ``VACUUM (ANALYZE)``, as autovacuum
would do after such a load, and a ``CHECKPOINT``), one ``executemany`` per chunk
on SQLite (then a WAL checkpoint; no ``ANALYZE``: Belay does not run it, so the
planner sees what a deployment's would). The
names (``bulk000001``) never clash with the bench's own users. Prints the counts
and the seconds taken as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, create_engine, text

from provider.storage.models import AuditEvent, AuthorizationCode, Token, User, WebSession
from provider.storage.usernames import lookup_key

FULL = {
    "users": 100_000,
    "audit_events": 1_000_000,
    "sessions": 200_000,
    "tokens": 500_000,
    "codes": 100_000,
}
CHUNK = 50_000
EVENTS = ("login", "authorize", "token", "step_up", "refresh", "logout", "userinfo")
#: a well-formed argon2id hash of a password nobody knows (never checked here)
FAKE_HASH = "$argon2id$v=19$m=65536,t=3,p=1$YmVuY2hwcmVmaWxsc2FsdA$" + "A" * 43

Row = tuple[Any, ...]


def _hex(size: int = 32) -> str:
    return os.urandom(size).hex()


def user_rows(count: int, now: int) -> Iterator[Row]:
    for i in range(count):
        name = f"bulk{i:06d}"
        yield (name, lookup_key(name), FAKE_HASH, f"{name}@example.org", None, False, now - i)


def session_rows(count: int, user_ids: list[int], now: int) -> Iterator[Row]:
    for i in range(count):
        live = i % 2 == 0
        last_seen = now - random.randrange(0, 3600) if live else now - 2 * 86400 - i
        created = last_seen - 600
        yield (
            _hex(),
            _hex(16),
            random.choice(user_ids),
            "{}",
            created,
            created,
            last_seen,
            "[]",
            created + 86400 if live else last_seen + 3600,
            "Mozilla/5.0 (bench prefill)",
        )


def token_rows(count: int, user_ids: list[int], now: int) -> Iterator[Row]:
    for i in range(count):
        issued = now - random.randrange(0, 40 * 86400)
        refresh_expires = issued + 30 * 86400 if i % 5 else now - 60
        yield (
            "bench",
            random.choice(user_ids),
            "openid offline_access",
            _hex(16),
            _hex(),
            _hex(),
            _hex(16),
            "urn:belay:acr:1fa",
            '["pwd"]',
            issued,
            _hex(16),
            '["bench"]',
            issued,
            issued + 600,
            refresh_expires,
            issued + 3600 if i % 5 == 1 else None,
        )


def code_rows(count: int, user_ids: list[int], now: int) -> Iterator[Row]:
    for i in range(count):
        created = now - 600 - (i * 2 * 86400) // count
        yield (
            _hex(),
            "bench",
            random.choice(user_ids),
            "http://127.0.0.1:8976/callback",
            "openid",
            _hex(8),
            _hex(),
            "S256",
            "urn:belay:acr:1fa",
            '["pwd"]',
            created,
            _hex(16),
            "[]",
            created,
            created + 60,
            created + 1,
        )


def audit_rows(count: int, user_ids: list[int], now: int) -> Iterator[Row]:
    for i in range(count):
        user = random.choice(user_ids)
        yield (
            now - (count - i) * 3,
            EVENTS[i % len(EVENTS)],
            "success" if i % 10 else "failure",
            user,
            f"user{user}",
            "bench",
            "password",
            f"10.{i % 256}.{(i >> 8) % 256}.{(i >> 16) % 256}",
            "{}",
        )


TABLES: dict[str, tuple[str, tuple[str, ...], Callable[..., Iterator[Row]]]] = {
    "users": (
        User.__tablename__,
        ("username", "username_key", "password_hash", "email", "name", "is_admin", "created_at"),
        user_rows,
    ),
    "sessions": (
        WebSession.__tablename__,
        (
            "token_hash",
            "sid",
            "user_id",
            "data",
            "created_at",
            "authenticated_at",
            "last_seen_at",
            "idle_gaps",
            "expires_at",
            "user_agent",
        ),
        session_rows,
    ),
    "tokens": (
        Token.__tablename__,
        (
            "client_id",
            "user_id",
            "scope",
            "jti",
            "access_token_hash",
            "refresh_token_hash",
            "family_id",
            "acr",
            "amr",
            "auth_time",
            "sid",
            "audience",
            "issued_at",
            "access_expires_at",
            "refresh_expires_at",
            "refresh_used_at",
        ),
        token_rows,
    ),
    "codes": (
        AuthorizationCode.__tablename__,
        (
            "code_hash",
            "client_id",
            "user_id",
            "redirect_uri",
            "scope",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "acr",
            "amr",
            "auth_time",
            "sid",
            "resource",
            "created_at",
            "expires_at",
            "used_at",
        ),
        code_rows,
    ),
    "audit_events": (
        AuditEvent.__tablename__,
        ("at", "event", "result", "user_id", "username", "client_id", "method", "ip", "details"),
        audit_rows,
    ),
}


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert(conn: Connection, table: str, columns: tuple[str, ...], rows: Iterator[Row]) -> None:
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    for chunk in _chunks(rows):
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", chunk)


def prefill(url: str, scale: float) -> dict[str, Any]:
    """Insert the rows (``FULL`` × ``scale``); their counts and the seconds taken."""
    counts = {kind: max(1, int(full * scale)) for kind, full in FULL.items()}
    engine = create_engine(url)
    now = int(time.time())
    start = time.perf_counter()
    seconds: dict[str, float] = {}
    with engine.begin() as conn:
        table, columns, make = TABLES["users"]
        t = time.perf_counter()
        _insert(conn, table, columns, make(counts["users"], now))
        seconds["users"] = time.perf_counter() - t
        user_ids = list(
            conn.execute(text(f"SELECT id FROM {table} WHERE username LIKE 'bulk%'")).scalars()
        )
    for kind in ("sessions", "tokens", "codes", "audit_events"):
        table, columns, make = TABLES[kind]
        t = time.perf_counter()
        with engine.begin() as conn:
            _insert(conn, table, columns, make(counts[kind], user_ids, now))
        seconds[kind] = time.perf_counter() - t
    # The steady state of a grown database, not the aftermath of a bulk load: what
    # autovacuum would do after it, and the load's WAL written back.
    t = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM (ANALYZE)")
            conn.exec_driver_sql("CHECKPOINT")
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    seconds["settle"] = time.perf_counter() - t
    engine.dispose()
    return {"rows": counts, "seconds": seconds, "total": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    json.dump(prefill(os.environ["BELAY_DATABASE_URL"], args.scale), sys.stdout)


if __name__ == "__main__":
    main()
