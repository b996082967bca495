"""The query plans of the hot statements, as Belay builds them (issue 20 item 4).

    BELAY_DATABASE_URL=... python -m bench.plans > plans.json

Each hot statement is made by calling the storage function that the request
path calls, with values that match nothing (or, for the audit row, a real
insert of one bench row); the SQL and parameters it sent are caught on the
engine (``before_cursor_execute``) and explained: ``EXPLAIN`` on PostgreSQL,
``EXPLAIN QUERY PLAN`` on SQLite. Prints [{"name", "sql", "plan"}] as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import event

from provider.app import create_app


def hot_statements() -> list[tuple[str, Callable[[], object]]]:
    """(name, a call that runs the statement) for each hot statement."""
    from flask import current_app

    from provider.storage import audit, grants, sessions, transactions, users
    from provider.storage.clients import get_client

    idle = int(current_app.config["SESSION_IDLE_TIMEOUT"])
    return [
        ("session by cookie", lambda: sessions.find("no-such-cookie", idle_timeout=idle)),
        ("user by name", lambda: users.user_by_name("bulk050000")),
        ("client by id", lambda: get_client("bench")),
        ("transaction by id", lambda: transactions.get_transaction("no-such-tx", 1)),
        ("code claim", lambda: grants.claim_code("no-such-code", "bench")),
        ("refresh token lookup", lambda: grants.find_token_by_refresh("no-such-token")),
        (
            "access token lookup (introspection)",
            lambda: grants.introspection_row("no-such-token", refresh=False),
        ),
        (
            "audit insert",
            lambda: audit.record("bench_plan", "success", client_id="bench", method="plans"),
        ),
    ]


def explain(app: Flask) -> list[dict[str, str]]:
    """[{"name", "sql", "plan"}] for each hot statement, on ``app``'s database."""
    out: list[dict[str, str]] = []
    with app.app_context():
        from provider.extensions import db

        engine = db.engine
        caught: list[tuple[str, Any]] = []

        def catch(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            caught.append((statement, parameters))

        for name, call in hot_statements():
            db.session.remove()  # no memo, no identity map: the statement is sent
            caught.clear()
            event.listen(engine, "before_cursor_execute", catch)
            try:
                call()
            except Exception as exc:  # a renamed function: say so, do not stop the bench
                out.append({"name": name, "sql": "", "plan": f"not run: {exc!r}"})
                continue
            finally:
                event.remove(engine, "before_cursor_execute", catch)
                db.session.rollback()
            statements = [
                (sql, params)
                for sql, params in caught
                if sql.lstrip().split(None, 1)[0].upper() in {"SELECT", "INSERT", "UPDATE"}
                and " ".join(sql.split()).upper() != "SELECT 1"  # a connection check
            ]
            if not statements:
                out.append({"name": name, "sql": "", "plan": "no statement sent"})
                continue
            sql, params = statements[0]
            prefix = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
            with engine.connect() as conn:
                rows = conn.exec_driver_sql(prefix + sql, params).fetchall()
                conn.rollback()
            if engine.dialect.name == "postgresql":
                plan = "\n".join(str(row[0]) for row in rows)
            else:  # (id, parent, notused, detail)
                plan = "\n".join(str(row[-1]) for row in rows)
            out.append({"name": name, "sql": " ".join(sql.split()), "plan": plan})
    return out


def main() -> None:
    json.dump(explain(create_app()), sys.stdout)


if __name__ == "__main__":
    main()
