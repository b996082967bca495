"""Usernames match case-insensitively (docs/admin.md "Usernames"): the name is
kept as typed, found by its NFKC case-folded key under a unique index; a new
name whose key is taken is refused by every door (console, API, CLI), also when
two creations race; migration 0015 adds the key and refuses to guess between
existing names that differ only by case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from provider.app import create_app
from provider.flows.admin import users as admin_users
from provider.flows.admin.errors import AdminError
from provider.storage import users as user_store
from provider.storage.usernames import lookup_key
from tests.conftest import ROOT, Actions, base_config, csrf_from, in_parallel
from tests.test_admin_api import admin_token

PASSWORD = "correct horse battery"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Alice", "alice"),
        ("ALICE", "alice"),
        ("ａｌｉｃｅ", "alice"),  # full-width, as some phone keyboards type it
        ("Straße", "strasse"),  # case folding, not lower(): ß is ss
        ("STRASSE", "strasse"),
        ("ﬁona", "fiona"),  # the fi ligature is two letters under NFKC
    ],
    ids=["capital", "all-caps", "full-width", "sharp-s", "sharp-s-caps", "ligature"],
)
def test_lookup_key_folds_case_and_unicode_forms(typed: str, stored: str) -> None:
    assert lookup_key(typed) == lookup_key(stored)


def test_lookup_key_keeps_different_names_apart() -> None:
    assert lookup_key("alice") != lookup_key("alice2")
    assert lookup_key("alice") != lookup_key("alicé")  # accents are letters, not case


def test_password_sign_in_matches_whatever_the_case(actions: Actions) -> None:
    actions.create_user("Alice")
    for typed in ("alice", "ALICE", "Alice", "ａｌｉｃｅ"):
        actions.client.delete_cookie("belay_session")
        answer = actions.login(typed)
        assert answer.status_code == 302, (typed, answer.text[:300])
        account = actions.client.get("/account")
        assert account.status_code == 200 and "Hello, Alice" in account.text, typed
        page = actions.client.get("/logout")
        actions.client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    wrong = actions.login("alicE", "not the password")
    assert wrong.status_code == 401


def test_id_token_keeps_the_name_as_created(actions: Actions) -> None:
    actions.create_user("Alice")
    secret = actions.create_client("rp")
    actions.login("ALICE")
    callback = actions.code_flow(login=False)
    body = actions.exchange(callback, "rp", secret).get_json()
    assert actions.decode(body["id_token"])["preferred_username"] == "Alice"


@pytest.mark.parametrize("second", ["alice", "ALICE", "ａｌｉｃｅ"])
def test_creating_a_name_that_differs_only_by_case_is_refused(app: Flask, second: str) -> None:
    with app.app_context():
        admin_users.create_user("Alice", password=PASSWORD, actor="test")
        with pytest.raises(AdminError) as refused:
            admin_users.create_user(second, password=PASSWORD, actor="test")
        assert "taken" in refused.value.errors["username"]
        assert user_store.user_by_name(second).username == "Alice"


def test_the_api_and_the_cli_refuse_a_name_taken_by_case(
    app: Flask, actions: Actions, runner: Any
) -> None:
    token = admin_token(app, actions)
    headers = {"Authorization": f"Bearer {token}"}
    made = actions.client.post("/api/admin/users", headers=headers, json={"username": "Bob"})
    assert made.status_code == 201
    again = actions.client.post("/api/admin/users", headers=headers, json={"username": "bob"})
    assert again.status_code == 400
    assert "taken" in again.get_json()["errors"]["username"]
    result = runner.invoke(args=["user", "create", "BOB"])
    assert result.exit_code == 1
    assert "'Bob' already exists (usernames match whatever their case)" in result.output
    shown = runner.invoke(args=["user", "show", "bOb"])
    assert shown.exit_code == 0 and '"Bob"' in shown.output


def test_a_name_too_long_once_normalised_is_refused(app: Flask) -> None:
    # 150 characters, each NFKC-expanded to 18 (U+FDFA): far past the key's 300.
    with app.app_context():
        with pytest.raises(AdminError) as refused:
            admin_users.create_user("\ufdfa" * 150, password=None, actor="test")
        assert "too long" in refused.value.errors["username"]
        assert user_store.user_by_name("\ufdfa" * 150) is None


def test_two_creations_racing_with_the_same_name_by_case_one_wins(app: Flask) -> None:
    def create(name: str) -> str:
        with app.app_context():
            try:
                return admin_users.create_user(name, password=None, actor="test").username
            except AdminError as exc:
                return "refused: " + exc.errors["username"]

    outcomes = in_parallel([lambda n=n: create(n) for n in ("Carol", "carol", "CAROL", "cArOl")])
    winners = [o for o in outcomes if not o.startswith("refused")]
    assert len(winners) == 1, outcomes
    assert all("taken" in o for o in outcomes if o.startswith("refused")), outcomes


def test_the_unique_index_decides_when_both_pass_the_check(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The racing case made certain: both creations passed the "is it taken"
    read; the database's unique index on the key refuses the second."""
    with app.app_context():
        admin_users.create_user("Dave", password=None, actor="test")
        monkeypatch.setattr(user_store, "user_by_name", lambda _name: None)
        with pytest.raises(AdminError) as refused:
            admin_users.create_user("DAVE", password=None, actor="test")
        assert "taken" in refused.value.errors["username"]


# -- migration 0015 ------------------------------------------------------------------


def _database_before_the_key(tmp_path: Path, names: list[str]) -> tuple[Flask, str]:
    url = f"sqlite:///{tmp_path / 'before.sqlite3'}"
    app = create_app(base_config(DATABASE_URL=url))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"), revision="0014")
    engine = create_engine(url)
    with engine.begin() as conn:
        for name in names:
            conn.execute(
                text("INSERT INTO users (username, is_admin, created_at) VALUES (:n, false, 1)"),
                {"n": name},
            )
    engine.dispose()
    return app, url


def test_migration_gives_every_user_its_key(tmp_path: Path) -> None:
    app, url = _database_before_the_key(tmp_path, ["Alice", "bob", "ＣＡＲＯＬ"])
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"), revision="0015")
        assert user_store.user_by_name("ALICE").username == "Alice"
        assert user_store.user_by_name("Bob").username == "bob"
        assert user_store.user_by_name("carol").username == "ＣＡＲＯＬ"
    engine = create_engine(url)
    with engine.connect() as conn:
        keys = dict(conn.execute(text("SELECT username, username_key FROM users")).all())
    engine.dispose()
    assert keys == {"Alice": "alice", "bob": "bob", "ＣＡＲＯＬ": "carol"}


def test_migration_refuses_names_that_differ_only_by_case_and_changes_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    app, url = _database_before_the_key(tmp_path, ["Alice", "alice", "ｂｏｂ", "Bob", "carol"])
    with app.app_context():
        from flask_migrate import upgrade

        # `belay init` (Flask-Migrate) prints the error and exits with status 1.
        with pytest.raises(SystemExit) as refused:
            upgrade(directory=str(ROOT / "migrations"), revision="0015")
    assert refused.value.code == 1
    message = capfd.readouterr().err
    assert "'Alice' (id 1) and 'alice' (id 2)" in message
    assert "'ｂｏｂ' (id 3) and 'Bob' (id 4)" in message
    assert "carol" not in message and "Nothing was changed" in message
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0014"
        columns = [row[1] for row in conn.execute(text("PRAGMA table_info(users)"))]
        assert "username_key" not in columns
        # The operator renames one of each pair; the upgrade then goes through.
        conn.execute(text("UPDATE users SET username = 'alice-2' WHERE id = 2"))
        conn.execute(text("UPDATE users SET username = 'bob-2' WHERE id = 3"))
        conn.commit()
    engine.dispose()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"), revision="0015")
        assert user_store.user_by_name("ALICE-2").id == 2
