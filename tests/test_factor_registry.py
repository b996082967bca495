"""The factor registry, the password as a step-up factor, configuration and the
``belay user set-pin`` command."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import text

from provider import clock, storage
from provider.config import DEFAULTS, ConfigError, load_config
from provider.extensions import db
from provider.factors.base import (
    Factor,
    InvalidCode,
    Locked,
    Malformed,
    NotEnrolled,
    NotRemovable,
    Verified,
)
from provider.factors.hashing import SecretHasher
from provider.factors.password import PasswordFactor
from provider.factors.registry import FactorRegistry, build_registry
from provider.policy import EnrolledMethod
from provider.storage import throttle
from provider.storage.models import User

PASSWORD = "correct horse battery"
PIN = "480975"


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


@pytest.fixture
def registry(ctx: Flask) -> FactorRegistry:
    value = ctx.extensions["belay_factors"]
    assert isinstance(value, FactorRegistry)
    return value


def make_user(app: Flask, name: str = "alice", password: str | None = PASSWORD) -> int:
    hasher: SecretHasher = app.extensions["belay_hasher"]
    user = User(
        username=name,
        password_hash=hasher.hash(password) if password else None,
        created_at=clock.now(),
    )
    storage.save(user)
    return int(user.id)


# -- the registry ------------------------------------------------------------------


def test_the_app_registry_has_every_factor_in_order(registry: FactorRegistry) -> None:
    assert registry.methods() == [
        "password",
        "passkey",
        "totp",
        "pin",
        "email_otp",
        "sms_otp",
        "backup_code",
    ]
    for factor in registry.all():
        assert isinstance(factor, Factor)
        assert registry.get(factor.method) is factor
        assert factor.method in registry


def test_lifecycle_lists_come_from_the_catalogue_and_the_registry(
    registry: FactorRegistry,
) -> None:
    """What can be unlocked, removed or receive codes is read from the
    catalogue and the factors, not spelled out again."""
    from provider.flows.assurance import lifecycle
    from provider.policy import METHODS, SECOND_FACTORS

    assert set(lifecycle.UNLOCKABLE) == set(METHODS) == set(registry.methods())
    assert lifecycle.removable() == ["totp", "pin", "email_otp", "sms_otp", "backup_code"]
    # Passkeys go one by one, the password is changed, never removed.
    assert set(lifecycle.removable()) == set(SECOND_FACTORS) - {"passkey"}
    assert registry.counters()["totp"] == ("totp", "totp_enrol")
    assert [f.destination_kind for f in registry.code_factors()] == ["email", "phone"]


@pytest.mark.parametrize(
    ("method", "amr", "form_id", "fields"),
    [
        ("password", ("pwd",), "password-form", ("password",)),
        ("pin", ("pin",), "pin-form", ("pin",)),
        ("totp", ("otp",), "totp-form", ("code",)),
        ("backup_code", ("otp",), "backup-form", ("code",)),
        ("passkey", ("hwk", "swk", "user"), "passkey-form", ("credential",)),
    ],
)
def test_each_factor_follows_the_page_contract(
    registry: FactorRegistry,
    method: str,
    amr: tuple[str, ...],
    form_id: str,
    fields: tuple[str, ...],
) -> None:
    factor = registry.get(method)
    assert (factor.amr, factor.form_id, factor.fields) == (amr, form_id, fields)
    assert factor.label


def test_unknown_methods_and_duplicates(registry: FactorRegistry) -> None:
    with pytest.raises(LookupError):
        registry.get("carrier_pigeon")
    with pytest.raises(LookupError):
        registry.get("")
    assert "carrier_pigeon" not in registry
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.get("pin"))
    with pytest.raises(TypeError):
        FactorRegistry().register(object())  # type: ignore[arg-type]


def test_a_new_factor_is_listed_after_the_known_ones() -> None:
    class Carrier:
        method = "carrier_pigeon"
        amr = ("otp",)
        category = "possession"
        form_id = "pigeon-form"
        fields = ("code",)
        label = "Pigeon"
        counters = ("carrier_pigeon",)
        removable = True

        def enrolled(self, user_id: int) -> list[EnrolledMethod]:
            return [EnrolledMethod(self.method)]

        def status(self, user_id: int) -> Any:
            return None

        def verify(self, user_id: int, submitted: Any) -> Verified:
            return Verified(self.method, self.amr)

        def remove(self, user_id: int) -> None:
            pass

    registry = FactorRegistry()
    registry.register(Carrier())
    assert registry.methods() == ["carrier_pigeon"]
    assert registry.enrolled(1) == [EnrolledMethod("carrier_pigeon")]


def test_enrolled_lists_every_factor_of_the_user_in_order(
    ctx: Flask, registry: FactorRegistry
) -> None:
    user = make_user(ctx)
    assert registry.enrolled(user) == [EnrolledMethod("password")]
    registry.get("backup_code").generate(user)  # type: ignore[attr-defined]
    registry.get("pin").set_pin(user, PIN, PIN)  # type: ignore[attr-defined]
    registry.get("totp").add_confirmed(user, "alice")  # type: ignore[attr-defined]
    enrolled = registry.enrolled(user)
    assert [m.method for m in enrolled] == ["password", "totp", "pin", "backup_code"]
    assert enrolled[2].pin_length == 6
    assert not any(m.locked for m in enrolled)
    other = make_user(ctx, "bob", password=None)
    assert registry.enrolled(other) == []


def test_build_registry_takes_the_limits_from_configuration(ctx: Flask) -> None:
    config = dict(ctx.config, PIN_MAX_FAILURES=2, PIN_DELAY_AFTER=100)
    registry = build_registry(
        config, ctx.extensions["belay_hasher"], ctx.extensions["belay_data_key"]
    )
    user = make_user(ctx)
    pin: Any = registry.get("pin")
    pin.set_pin(user, PIN, PIN)
    for _ in range(2):
        with pytest.raises(InvalidCode):
            pin.verify(user, {"pin": "480976"})
    with pytest.raises(Locked):
        pin.verify(user, {"pin": PIN})


@pytest.mark.settings(PIN_MIN_LENGTH=8, TOTP_ISSUER_NAME="Example Bank")
def test_settings_reach_the_factors(ctx: Flask, registry: FactorRegistry) -> None:
    from provider.factors.pin import PinRejected

    user = make_user(ctx)
    pin: Any = registry.get("pin")
    with pytest.raises(PinRejected, match="at least 8"):
        pin.set_pin(user, PIN, PIN)
    uri = registry.get("totp").begin(user, "alice").uri  # type: ignore[attr-defined]
    assert "issuer=Example%20Bank" in uri


# -- configuration -----------------------------------------------------------------


def test_the_new_options_have_documented_defaults() -> None:
    expected = {
        "PIN_MIN_LENGTH": 6,
        "PIN_MAX_LENGTH": 12,
        "PIN_DELAY_AFTER": 5,
        "PIN_MAX_FAILURES": 10,
        "TOTP_DELAY_AFTER": 5,
        "TOTP_MAX_FAILURES": 10,
        "BACKUP_CODE_DELAY_AFTER": 5,
        "BACKUP_CODE_MAX_FAILURES": 10,
        "TOTP_ISSUER_NAME": "Belay",
    }
    assert {k: DEFAULTS[k] for k in expected} == expected
    config = load_config({"BELAY_PIN_MIN_LENGTH": "8", "BELAY_TOTP_ISSUER_NAME": "Bank"})
    assert (config["PIN_MIN_LENGTH"], config["TOTP_ISSUER_NAME"]) == (8, "Bank")


@pytest.mark.parametrize(
    "environ",
    [
        {"BELAY_PIN_MIN_LENGTH": "3"},
        {"BELAY_PIN_MIN_LENGTH": "13"},
        {"BELAY_PIN_MAX_LENGTH": "65"},
        {"BELAY_PIN_MAX_FAILURES": "0"},
        {"BELAY_TOTP_MAX_FAILURES": "101"},
        {"BELAY_BACKUP_CODE_MAX_FAILURES": "1000"},
    ],
)
def test_unusable_factor_options_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load_config(environ)


# -- the password as a step-up factor ------------------------------------------------


def test_password_step_up(ctx: Flask, registry: FactorRegistry) -> None:
    user = make_user(ctx)
    factor = registry.get("password")
    assert isinstance(factor, PasswordFactor)
    verified = factor.verify(user, {"password": PASSWORD})
    assert (verified.method, verified.amr) == ("password", ("pwd",))
    with pytest.raises(InvalidCode):
        factor.verify(user, {"password": "wrong password"})
    for submitted in ({}, {"password": ""}, {"password": "x" * 5000}, {"pin": PASSWORD}):
        with pytest.raises(Malformed):
            factor.verify(user, submitted)
    assert throttle.state(user, "password").failures == 1  # type: ignore[union-attr]
    with pytest.raises(NotRemovable):
        factor.remove(user)
    no_password = make_user(ctx, "bob", password=None)
    with pytest.raises(NotEnrolled):
        factor.verify(no_password, {"password": PASSWORD})


@pytest.mark.settings(PASSWORD_DELAY_AFTER=100, PASSWORD_MAX_FAILURES=3)
def test_password_step_up_shares_the_login_lock(ctx: Flask, registry: FactorRegistry) -> None:
    user = make_user(ctx)
    factor = registry.get("password")
    for _ in range(3):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"password": "wrong password"})
    with pytest.raises(Locked) as locked:
        factor.verify(user, {"password": PASSWORD})
    # A lock window (PASSWORD_LOCK_WINDOW, 1 h), not a lock for good (docs/factors.md).
    assert locked.value.retry_after is not None and 3590 <= locked.value.retry_after <= 3600
    assert registry.enrolled(user) == [EnrolledMethod("password", locked=True)]


def test_password_step_up_rehashes_old_parameters(ctx: Flask, registry: FactorRegistry) -> None:
    old = SecretHasher(time_cost=2, memory_cost=1024, parallelism=1)
    user = User(username="alice", password_hash=old.hash(PASSWORD), created_at=clock.now())
    storage.save(user)
    before = user.password_hash
    registry.get("password").verify(user.id, {"password": PASSWORD})
    after = db.session.execute(
        text("SELECT password_hash FROM users WHERE id = :id"), {"id": user.id}
    ).scalar_one()
    assert after != before and "t=1," in after


# -- belay user set-pin ----------------------------------------------------------------


def test_cli_set_pin(app: Flask, runner: Any) -> None:
    with app.app_context():
        user = make_user(app)
    result = runner.invoke(args=["user", "set-pin", "alice", "--pin-stdin"], input=PIN + "\n")
    assert result.exit_code == 0, result.output
    assert "PIN set for alice" in result.output
    assert PIN not in result.output
    with app.app_context():
        pin: Any = app.extensions["belay_factors"].get("pin")
        assert pin.verify(user, {"pin": PIN}).method == "pin"
        rows = db.session.execute(text("SELECT * FROM audit_events")).mappings().all()
        assert any(r["event"] == "factor_enrolled" and r["method"] == "pin" for r in rows)
        assert all(PIN not in str(dict(r)) for r in rows)


def test_cli_set_pin_checks_the_policy(app: Flask, runner: Any) -> None:
    with app.app_context():
        user = make_user(app)
    result = runner.invoke(args=["user", "set-pin", "alice", "--pin-stdin"], input="123456\n")
    assert result.exit_code != 0
    assert "run of digits" in result.output
    with app.app_context():
        assert app.extensions["belay_factors"].get("pin").enrolled(user) == []


def test_cli_set_pin_resets_the_lock(app: Flask, runner: Any) -> None:
    with app.app_context():
        user = make_user(app)
        pin: Any = app.extensions["belay_factors"].get("pin")
        pin.set_pin(user, PIN, PIN)
        for attempt in range(10):
            clock.set_offset(attempt * 1000)  # past each growing delay
            with pytest.raises(InvalidCode):
                pin.verify(user, {"pin": "480976"})
        assert pin.status(user).locked
    result = runner.invoke(args=["user", "set-pin", "alice", "--pin-stdin"], input="7305182\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert not pin.status(user).locked
        assert pin.verify(user, {"pin": "7305182"}).details == {"pin_length": 7}


def test_cli_set_pin_needs_a_user_and_a_pin(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["user", "set-pin", "nobody", "--pin-stdin"], input=PIN + "\n")
    assert result.exit_code != 0 and "no user 'nobody'" in result.output
    with app.app_context():
        make_user(app)
    result = runner.invoke(args=["user", "set-pin", "alice", "--pin-stdin"], input="\n")
    assert result.exit_code != 0 and "PIN on standard input" in result.output
    result = runner.invoke(args=["user", "set-pin", "alice"], input=PIN + "\n")
    assert result.exit_code != 0  # --pin-stdin is required: never a PIN in argv


def test_cli_add_totp_then_step_up(app: Flask, runner: Any) -> None:
    with app.app_context():
        user = make_user(app)
    result = runner.invoke(args=["user", "add-totp", "alice"])
    assert result.exit_code == 0, result.output
    secret = result.output.split("secret=")[1].split("&")[0]
    with app.app_context():
        registry: FactorRegistry = app.extensions["belay_factors"]
        assert [m.method for m in registry.enrolled(user)] == ["password", "totp"]
        verified = registry.get("totp").verify(user, {"code": pyotp.TOTP(secret).now()})
        assert verified.amr == ("otp",)
