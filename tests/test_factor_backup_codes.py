"""Backup codes: shown once, hashed at rest, single use, consumed atomically
(docs/security.md B.13)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from provider import clock, storage
from provider.extensions import db
from provider.factors.backup_codes import BackupCodeFactor, derive_hmac_key, normalise
from provider.factors.base import InvalidCode, Locked, Malformed, NotEnrolled, Replayed
from provider.policy import EnrolledMethod
from provider.storage import throttle
from provider.storage.models import User

CODE_SHAPE = re.compile(
    r"^[0-9abcdefghjkmnpqrstvwxyz]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$"
)
NO_DELAY = throttle.Limits(delay_after=1000, max_failures=10)


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


def make_user(name: str = "alice") -> int:
    user = User(username=name, created_at=clock.now())
    storage.save(user)
    return int(user.id)


def backup_factor(app: Flask, limits: throttle.Limits = NO_DELAY) -> BackupCodeFactor:
    return BackupCodeFactor(hmac_key=derive_hmac_key(app.config["DATA_KEY"]), limits=limits)


def test_ten_random_friendly_codes(ctx: Flask) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    codes = factor.generate(user)
    assert len(codes) == 10 == len(set(codes))
    assert all(CODE_SHAPE.match(code) for code in codes), codes
    assert factor.remaining(user) == 10
    assert factor.enrolled(user) == [EnrolledMethod("backup_code", locked=False)]
    assert set(codes).isdisjoint(factor.generate(user))


def test_a_code_works_once(ctx: Flask) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    codes = factor.generate(user)
    verified = factor.verify(user, {"code": codes[3]})
    assert verified.method == "backup_code"
    assert verified.amr == ("otp",)
    assert verified.credential_id is not None and verified.credential_id.startswith("backup_code:")
    assert factor.remaining(user) == 9
    with pytest.raises(Replayed) as replayed:
        factor.verify(user, {"code": codes[3]})
    assert "already used" in replayed.value.message
    assert factor.remaining(user) == 9
    assert factor.verify(user, {"code": codes[4]}).method == "backup_code"
    assert factor.remaining(user) == 8


@pytest.mark.parametrize(
    "typed",
    [
        lambda c: c.upper(),
        lambda c: c.replace("-", ""),
        lambda c: c.replace("-", " "),
        lambda c: f"  {c}  ",
        lambda c: c.replace("0", "o").replace("1", "l"),
    ],
)
def test_codes_are_forgiving_about_how_they_are_typed(ctx: Flask, typed: Any) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    code = factor.generate(user)[0]
    assert factor.verify(user, {"code": typed(code)}).method == "backup_code"


@pytest.mark.parametrize(
    "code",
    [
        "",
        "abcd-efgh-jkm",
        "abcd-efgh-jkmnp",
        "abcd-efgh-jkm!",
        "abcd-efgh-jkmu",  # u is not in the alphabet
        "ａｂｃｄ-ｅｆｇｈ-ｊｋｍｎ",  # full-width letters
        "abcd-efgh-jkm\x00",
        "x" * 10_240,
        '["abcd-efgh-jkmn"]',
        "\u212a" * 12,  # KELVIN SIGN lower-cases to "k": refused before
    ],
)
def test_malformed_codes_are_not_counted(ctx: Flask, code: str) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    factor.generate(user)
    with pytest.raises(Malformed):
        factor.verify(user, {"code": code})
    assert factor.status(user).failures == 0


@pytest.mark.parametrize("value", [None, 123, ["abcd-efgh-jkmn"]])
def test_normalise_rejects_non_text(value: Any) -> None:
    assert normalise(value) is None


def test_regenerating_invalidates_the_old_codes(ctx: Flask) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    old = factor.generate(user)
    factor.verify(user, {"code": old[0]})
    new = factor.generate(user)
    assert factor.remaining(user) == 10
    with pytest.raises(InvalidCode):
        factor.verify(user, {"code": old[1]})
    assert factor.verify(user, {"code": new[1]}).method == "backup_code"
    assert db.session.execute(text("SELECT count(*) FROM backup_codes")).scalar_one() == 10


def test_codes_are_hashed_at_rest(ctx: Flask) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    codes = factor.generate(user)
    rows = db.session.execute(text("SELECT * FROM backup_codes")).mappings().all()
    assert len(rows) == 10
    stored = " ".join(str(v) for row in rows for v in row.values())
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored
    assert all(re.fullmatch(r"[0-9a-f]{64}", row["code_hash"]) for row in rows)


def test_a_code_belongs_to_its_user(ctx: Flask) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    factor = backup_factor(ctx)
    codes = factor.generate(alice)
    factor.generate(bob)
    with pytest.raises(InvalidCode):
        factor.verify(bob, {"code": codes[0]})
    assert factor.verify(alice, {"code": codes[0]}).method == "backup_code"


def test_no_codes_left_is_not_enrolled(ctx: Flask) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    with pytest.raises(NotEnrolled):
        factor.verify(user, {"code": "abcd-efgh-jkmn"})
    codes = factor.generate(user)
    for code in codes:
        factor.verify(user, {"code": code})
    assert factor.remaining(user) == 0
    assert factor.enrolled(user) == []
    with pytest.raises(NotEnrolled):
        factor.verify(user, {"code": codes[0]})


def test_wrong_codes_lock_at_the_limit(ctx: Flask) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    codes = factor.generate(user)
    for _ in range(10):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"code": "abcd-efgh-jkmn"})
    with pytest.raises(Locked) as locked:
        factor.verify(user, {"code": codes[0]})
    assert locked.value.retry_after is None
    assert factor.enrolled(user)[0].locked
    assert factor.remaining(user) == 10  # the refused right code was not spent


def test_remove(ctx: Flask) -> None:
    user = make_user()
    factor = backup_factor(ctx)
    codes = factor.generate(user)
    factor.remove(user)
    assert factor.remaining(user) == 0
    with pytest.raises(NotEnrolled):
        factor.verify(user, {"code": codes[0]})


def test_the_key_is_derived_not_the_data_key_itself(ctx: Flask) -> None:
    key = derive_hmac_key(ctx.config["DATA_KEY"])
    assert len(key) == 32
    assert key != ctx.config["DATA_KEY"].encode()[:32]
    assert derive_hmac_key(ctx.config["DATA_KEY"] + "x") != key
    with pytest.raises(ValueError, match="256 bits"):
        BackupCodeFactor(hmac_key=b"short", limits=NO_DELAY)


def test_10_parallel_uses_of_one_code_give_one_success(app: Flask) -> None:
    """docs/security.md B.13 (with the configured limits in force)."""
    with app.app_context():
        user = make_user()
        factor: Any = app.extensions["belay_factors"].get("backup_code")
        code = factor.generate(user)[0]
    barrier = threading.Barrier(10)

    def attempt(_: int) -> str:
        with app.app_context():
            barrier.wait(timeout=60)
            try:
                factor.verify(user, {"code": code})
            except Replayed:
                return "replayed"
            except Locked:
                return "locked"
            return "success"

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(attempt, range(10)))
    assert results.count("success") == 1, results
    assert set(results) <= {"success", "replayed", "locked"}
    with app.app_context():
        assert factor.remaining(user) == 9
