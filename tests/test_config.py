"""Configuration: defaults, TOML file, BELAY_* variables, generated secrets."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provider.config import ConfigError, ensure_instance_secrets, load_config


def test_defaults_then_toml_then_environment(tmp_path: Path) -> None:
    toml = tmp_path / "belay.toml"
    toml.write_text('issuer = "https://op.example.test"\naccess_token_ttl = 120\nport = 6000\n')
    config = load_config({"BELAY_CONFIG": str(toml), "BELAY_PORT": "7000"})
    assert config["ISSUER"] == "https://op.example.test"
    assert config["ACCESS_TOKEN_TTL"] == 120
    assert config["PORT"] == 7000  # the environment wins over the file
    assert config["ID_TOKEN_TTL"] == 600  # default


def test_booleans_and_numbers_from_the_environment() -> None:
    config = load_config({"BELAY_REGISTRATION_ENABLED": "yes", "BELAY_KEY_CACHE_TTL": "0.5"})
    assert config["REGISTRATION_ENABLED"] is True
    assert config["KEY_CACHE_TTL"] == 0.5


def test_a_bad_number_names_the_option() -> None:
    with pytest.raises(ConfigError, match="BELAY_ACCESS_TOKEN_TTL must be an integer"):
        load_config({"BELAY_ACCESS_TOKEN_TTL": "ten minutes"})


def test_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    first: dict = {}
    ensure_instance_secrets(first, str(tmp_path))
    for name in ("secret_key", "data_key"):
        mode = stat.S_IMODE(os.stat(tmp_path / name).st_mode)
        assert mode == 0o600, (name, oct(mode))
    second: dict = {}
    ensure_instance_secrets(second, str(tmp_path))
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert first["DATA_KEY"] == second["DATA_KEY"]
    assert first["DATABASE_URL"].startswith("sqlite:///")


def test_configured_secrets_are_not_overwritten(tmp_path: Path) -> None:
    config = {"SECRET_KEY": "given", "DATA_KEY": "k", "DATABASE_URL": "postgresql://x/y"}
    ensure_instance_secrets(config, str(tmp_path))
    assert config == {"SECRET_KEY": "given", "DATA_KEY": "k", "DATABASE_URL": "postgresql://x/y"}
    assert not (tmp_path / "secret_key").exists()


def test_unknown_toml_options_are_refused(tmp_path: Path) -> None:
    toml = tmp_path / "belay.toml"
    toml.write_text('isuser = "typo"\n')
    with pytest.raises(ConfigError, match="unknown option"):
        load_config({"BELAY_CONFIG": str(toml)})


def test_sqlite_synchronous_and_argon2_nice_are_checked() -> None:
    assert load_config({"BELAY_SQLITE_SYNCHRONOUS": " FULL "})["SQLITE_SYNCHRONOUS"] == "full"
    with pytest.raises(ConfigError, match="BELAY_SQLITE_SYNCHRONOUS must be normal or full"):
        load_config({"BELAY_SQLITE_SYNCHRONOUS": "off"})
    assert load_config({"BELAY_ARGON2_NICE": "0"})["ARGON2_NICE"] == 0
    for bad in ("-1", "20"):
        with pytest.raises(ConfigError, match="BELAY_ARGON2_NICE must be 0-19"):
            load_config({"BELAY_ARGON2_NICE": bad})


@pytest.mark.parametrize(("setting", "pragma"), [("normal", 1), ("full", 2)])
def test_sqlite_connections_use_the_configured_synchronous(
    tmp_path: Path, setting: str, pragma: int
) -> None:
    from sqlalchemy import text

    from provider.app import create_app
    from provider.extensions import db
    from tests.conftest import base_config

    app = create_app(
        base_config(
            DATABASE_URL=f"sqlite:///{tmp_path / 'sync.sqlite3'}", SQLITE_SYNCHRONOUS=setting
        )
    )
    with app.app_context(), db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA synchronous")).scalar() == pragma
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    with app.app_context():
        db.engine.dispose()


def test_issuer_is_normalised_and_checked() -> None:
    assert (
        load_config({"BELAY_ISSUER": "https://op.example.test/"})["ISSUER"]
        == "https://op.example.test"
    )
    with pytest.raises(ConfigError):
        load_config({"BELAY_ISSUER": "op.example.test"})
    with pytest.raises(ConfigError):
        load_config({"BELAY_DEFAULT_SIGNING_ALG": "HS256"})


def test_default_sqlite_database_is_private(tmp_path: Path) -> None:
    config: dict = {}
    ensure_instance_secrets(config, str(tmp_path / "instance"))
    assert stat.S_IMODE(os.stat(tmp_path / "instance").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "instance" / "belay.sqlite3").st_mode) == 0o600


def test_readme_documents_every_option() -> None:
    from provider.config import DEFAULTS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    missing = [key for key in DEFAULTS if f"`BELAY_{key}`" not in readme]
    assert missing == [], f"README.md configuration table lacks: {missing}"
