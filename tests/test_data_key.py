"""The data key is checked against the database (docs/security.md case 57): a
wrong key stops the server and the CLI with a clear message naming
BELAY_DATA_KEY and the key file; the CLI never leaves a new key behind; a
secret that still cannot be decrypted at use is a clear 503, never a 500."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from flask import Flask

from provider import clock
from provider.app import create_app
from provider.extensions import db
from provider.flows.data_key import DataKeyMismatch
from provider.storage.models import Setting, TotpCredential
from tests.conftest import ROOT, Actions, base_config, csrf_from

OTHER_KEY = Fernet.generate_key().decode()
FINGERPRINT = "data_key_fingerprint"


@pytest.fixture
def restore_fingerprint(app: Flask) -> Iterator[None]:
    """Tests that change the stored fingerprint put the right one back."""
    yield
    with app.app_context():
        db.session.rollback()
        row = db.session.get(Setting, FINGERPRINT)
        right = {"hmac_sha256": app.extensions["belay_data_key"].fingerprint()}
        if row is None:
            db.session.add(Setting(key=FINGERPRINT, value=right))
        else:
            row.value = right
        db.session.commit()


def _stored(app: Flask) -> Any:
    with app.app_context():
        db.session.expire_all()
        row = db.session.get(Setting, FINGERPRINT)
        return row.value if row is not None else None


def test_the_database_holds_the_keys_fingerprint(app: Flask) -> None:
    stored = _stored(app)
    assert stored == {"hmac_sha256": app.extensions["belay_data_key"].fingerprint()}
    assert app.config["DATA_KEY"] not in str(stored)


def test_create_app_refuses_another_data_key(app: Flask) -> None:
    with pytest.raises(DataKeyMismatch) as refused:
        create_app(base_config(DATA_KEY=OTHER_KEY))
    message = str(refused.value)
    assert "BELAY_DATA_KEY" in message and "data_key file" in message
    assert OTHER_KEY not in message and app.config["DATA_KEY"] not in message
    assert _stored(app) == {"hmac_sha256": app.extensions["belay_data_key"].fingerprint()}


def test_a_database_without_a_fingerprint_gets_one_at_start(
    app: Flask, restore_fingerprint: None
) -> None:
    """The upgrade path: a database from before this check."""
    with app.app_context():
        db.session.delete(db.session.get(Setting, FINGERPRINT))
        db.session.commit()
    assert _stored(app) is None
    create_app(base_config())
    assert _stored(app) == {"hmac_sha256": app.extensions["belay_data_key"].fingerprint()}


def test_an_upgrade_with_the_wrong_key_is_refused_not_recorded(
    app: Flask, restore_fingerprint: None
) -> None:
    """Without a fingerprint yet, a wrong key is still caught: it cannot read
    the signing keys, so it is refused and no fingerprint is recorded."""
    with app.app_context():
        db.session.delete(db.session.get(Setting, FINGERPRINT))
        db.session.commit()
    with pytest.raises(DataKeyMismatch):
        create_app(base_config(DATA_KEY=OTHER_KEY))
    assert _stored(app) is None


def _cli(env_changes: dict[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        BELAY_DATABASE_URL=base_config()["DATABASE_URL"],
        BELAY_SECRET_KEY="test-secret-key",
        BELAY_ARGON2_TIME_COST="1",
        BELAY_ARGON2_MEMORY_COST="1024",
    )
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-m", "provider.cli", *args],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_cli_refuses_a_wrong_key_with_a_clear_message(app: Flask, tmp_path: Path) -> None:
    wrong = _cli(
        {"BELAY_DATA_KEY": OTHER_KEY, "BELAY_INSTANCE_PATH": str(tmp_path)}, "user", "list"
    )
    assert wrong.returncode == 1, (wrong.stdout, wrong.stderr)
    assert "BELAY_DATA_KEY" in wrong.stderr and "Traceback" not in wrong.stderr
    assert OTHER_KEY not in wrong.stderr + wrong.stdout
    right = _cli(
        {"BELAY_DATA_KEY": app.config["DATA_KEY"], "BELAY_INSTANCE_PATH": str(tmp_path)},
        "user",
        "list",
    )
    assert right.returncode == 0, right.stderr


def test_the_cli_never_leaves_a_new_data_key_behind(app: Flask, tmp_path: Path) -> None:
    """Run from a directory without the key (no BELAY_DATA_KEY, no key file):
    the database's fingerprint refuses the key just made, and it is removed."""
    instance = tmp_path / "elsewhere"
    result = _cli({"BELAY_DATA_KEY": None, "BELAY_INSTANCE_PATH": str(instance)}, "client", "list")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "BELAY_DATA_KEY" in result.stderr and str(instance / "data_key") in result.stderr
    assert not (instance / "data_key").exists()


def test_a_totp_secret_under_another_key_is_a_clear_503_not_a_500(
    actions: Actions, app: Flask
) -> None:
    user_id = actions.create_user(is_admin=True)
    with app.app_context():
        uri = app.extensions["belay_factors"].get("totp").add_confirmed(user_id, "alice").uri
        secret = pyotp.parse_uri(uri).secret
        row = db.session.scalar(db.select(TotpCredential).where(TotpCredential.user_id == user_id))
        row.secret_encrypted = Fernet(OTHER_KEY.encode()).encrypt(secret.encode()).decode()
        db.session.commit()
    actions.login()
    page = actions.client.get("/admin/")
    assert page.status_code == 403 and 'id="totp-form"' in page.text, page.text[:300]
    clock.set_offset(31)
    response = actions.client.post(
        "/admin/confirm",
        data={
            "csrf_token": csrf_from(page.text),
            "method": "totp",
            "code": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    assert response.status_code == 503, response.text[:300]
    assert "administrator" in response.text
    assert actions.client.get("/admin/").status_code == 403  # nothing was granted


def test_a_database_down_at_start_is_checked_at_the_first_request(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server still starts while the database is unreachable, and liveness
    stays up; the key is checked as soon as the database answers, and a wrong
    one is refused then."""
    from sqlalchemy.exc import OperationalError

    from provider.storage import data_key as store

    def unreachable() -> bool:
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "has_settings_table", unreachable)
    wrong = create_app(base_config(DATA_KEY=OTHER_KEY)).test_client()
    right = create_app(base_config()).test_client()
    assert wrong.get("/healthz").status_code == 200  # still unreachable: not checked yet
    monkeypatch.undo()  # the database is back
    refused = wrong.get("/healthz")
    assert refused.status_code == 503 and "data key" in refused.text
    assert wrong.get("/jwks.json").status_code == 503
    assert right.get("/healthz").status_code == 200
    assert right.get("/jwks.json").status_code == 200
