"""The TOTP factor: RFC 6238 window, replay refused atomically, malformed codes,
secrets encrypted at rest, verify-before-enable (docs/security.md B.8-B.12)."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask
from sqlalchemy import text

from provider import clock, storage
from provider.extensions import db
from provider.factors.base import InvalidCode, Locked, Malformed, NotEnrolled, Replayed
from provider.factors.totp import TotpFactor
from provider.storage import throttle
from provider.storage.models import User

#: A fixed secret and time, so the codes below are always the same.
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
STEP_START = 1_700_000_010 // 30 * 30  # the first second of a time step
NO_DELAY = throttle.Limits(delay_after=1000, max_failures=10)


class FrozenClock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    fake = FrozenClock(STEP_START)
    monkeypatch.setattr(clock, "now", fake)
    return fake


def make_user(name: str = "alice") -> int:
    user = User(username=name, created_at=clock.now())
    storage.save(user)
    return int(user.id)


def totp_factor(app: Flask, now: Any = None, limits: throttle.Limits = NO_DELAY) -> TotpFactor:
    return TotpFactor(
        data_key=app.extensions["belay_data_key"],
        limits=limits,
        issuer_name="Belay",
        **({"now": now} if now is not None else {}),
    )


def code_at(t: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(t)


@pytest.fixture
def enrolled(ctx: Flask, frozen: FrozenClock) -> tuple[TotpFactor, int]:
    user = make_user()
    factor = totp_factor(ctx, frozen)
    factor.add_confirmed(user, "alice", SECRET)
    return factor, user


# -- enrolment ---------------------------------------------------------------------


def test_begin_makes_a_160_bit_secret_uri_and_inline_qr(ctx: Flask) -> None:
    user = make_user()
    factor = totp_factor(ctx)
    enrolment = factor.begin(user, "alice@example.test")
    assert len(enrolment.secret) == 32
    assert len(base64.b32decode(enrolment.secret)) * 8 == 160
    assert enrolment.secret != factor.begin(user, "alice").secret  # random each time
    parts = urlsplit(enrolment.uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert parts.path == "/Belay:alice%40example.test"
    query = parse_qs(parts.query)
    assert query["issuer"] == ["Belay"]
    assert query["secret"] == [enrolment.secret]
    assert enrolment.qr_svg.startswith("<svg") and enrolment.qr_svg.endswith("</svg>")
    assert "http" not in enrolment.qr_svg.replace("http://www.w3.org", "")
    assert enrolment.secret not in repr(enrolment)


def test_secret_is_stored_encrypted(ctx: Flask) -> None:
    user = make_user()
    factor = totp_factor(ctx)
    enrolment = factor.begin(user, "alice")
    factor.confirm(user, pyotp.TOTP(enrolment.secret).now())
    row = db.session.execute(text("SELECT * FROM totp_credentials")).mappings().one()
    for value in row.values():
        assert enrolment.secret not in str(value)
        assert enrolment.secret.lower() not in str(value).lower()
    data_key = ctx.extensions["belay_data_key"]
    assert data_key.decrypt(row["secret_encrypted"]) == enrolment.secret
    assert row["pending_secret_encrypted"] is None


def test_an_unconfirmed_authenticator_is_not_offered_nor_verifiable(ctx: Flask) -> None:
    user = make_user()
    factor = totp_factor(ctx)
    enrolment = factor.begin(user, "alice")
    assert factor.enrolled(user) == []
    status = factor.status(user)
    assert (status.enrolled, status.confirmed, status.pending) == (False, False, True)
    with pytest.raises(NotEnrolled):
        factor.verify(user, {"code": pyotp.TOTP(enrolment.secret).now()})
    assert factor.status(user).failures == 0


def test_confirm_needs_a_code_from_the_new_secret(ctx: Flask) -> None:
    user = make_user()
    factor = totp_factor(ctx)
    enrolment = factor.begin(user, "alice")
    totp = pyotp.TOTP(enrolment.secret)
    wrong = next(c for c in ("000000", "111111", "222222") if not totp.verify(c, valid_window=1))
    with pytest.raises(InvalidCode):
        factor.confirm(user, wrong)
    with pytest.raises(Malformed):
        factor.confirm(user, "12345")
    assert factor.enrolled(user) == []
    code = totp.now()
    factor.confirm(user, code)
    [method] = factor.enrolled(user)
    assert method.method == "totp" and method.credential_id and not method.locked
    assert factor.status(user).confirmed
    assert factor.status(user).confirmed_at is not None
    # The confirming code is spent: it cannot also be a step-up.
    with pytest.raises(Replayed):
        factor.verify(user, {"code": code})
    with pytest.raises(NotEnrolled):  # nothing pending any more
        factor.confirm(user, code)


def test_pending_shows_the_same_enrolment_again(ctx: Flask) -> None:
    user = make_user()
    factor = totp_factor(ctx)
    assert factor.pending(user) is None
    enrolment = factor.begin(user, "alice")
    again = factor.pending(user)
    assert again is not None
    assert (again.secret, again.uri) == (enrolment.secret, enrolment.uri)


def test_re_enrolling_keeps_the_old_authenticator_until_the_new_one_is_confirmed(
    enrolled: tuple[TotpFactor, int], frozen: FrozenClock
) -> None:
    factor, user = enrolled
    new = factor.begin(user, "alice")
    assert factor.verify(user, {"code": code_at(frozen.t)}).method == "totp"
    frozen.t += 30
    factor.confirm(user, code_at(frozen.t, new.secret))
    frozen.t += 30
    with pytest.raises(InvalidCode):
        factor.verify(user, {"code": code_at(frozen.t)})  # the old secret is gone
    assert factor.verify(user, {"code": code_at(frozen.t + 30, new.secret)}).method == "totp"


def test_a_superseded_enrolment_cannot_be_confirmed(ctx: Flask) -> None:
    user = make_user()
    factor = totp_factor(ctx)
    first = factor.begin(user, "alice")
    second = factor.begin(user, "alice")
    with pytest.raises(InvalidCode):
        factor.confirm(user, pyotp.TOTP(first.secret).now())
    factor.confirm(user, pyotp.TOTP(second.secret).now())
    assert factor.status(user).confirmed


# -- verification --------------------------------------------------------------------


def test_verify_gives_the_otp_event(enrolled: tuple[TotpFactor, int], frozen: FrozenClock) -> None:
    factor, user = enrolled
    verified = factor.verify(user, {"code": code_at(frozen.t)})
    assert verified.method == "totp"
    assert verified.amr == ("otp",)
    assert verified.credential_id == factor.enrolled(user)[0].credential_id
    assert verified.credential_id is not None and verified.credential_id.startswith("totp:")


@pytest.mark.parametrize("into_step", [0, 29])
@pytest.mark.parametrize("delta", [-30, 0, 30])
def test_one_step_of_drift_is_accepted(
    ctx: Flask, frozen: FrozenClock, into_step: int, delta: int
) -> None:
    user = make_user()
    frozen.t = STEP_START + into_step
    factor = totp_factor(ctx, frozen)
    factor.add_confirmed(user, "alice", SECRET)
    assert factor.verify(user, {"code": code_at(frozen.t + delta)}).method == "totp"


@pytest.mark.parametrize("into_step", [0, 29])
@pytest.mark.parametrize("delta", [-60, 60, -90, 90])
def test_two_steps_of_drift_are_refused(
    ctx: Flask, frozen: FrozenClock, into_step: int, delta: int
) -> None:
    user = make_user()
    frozen.t = STEP_START + into_step
    factor = totp_factor(ctx, frozen)
    factor.add_confirmed(user, "alice", SECRET)
    code = code_at(frozen.t + delta)
    # The fixed secret and time make this a fact, not a probability:
    assert code not in {code_at(frozen.t + d) for d in (-30, 0, 30)}
    with pytest.raises(InvalidCode):
        factor.verify(user, {"code": code})


def test_the_same_code_twice_is_refused(
    enrolled: tuple[TotpFactor, int], frozen: FrozenClock
) -> None:
    factor, user = enrolled
    code = code_at(frozen.t)
    factor.verify(user, {"code": code})
    with pytest.raises(Replayed) as replayed:
        factor.verify(user, {"code": code})
    assert "already used" in replayed.value.message
    frozen.t += 20  # still inside the window
    with pytest.raises(Replayed):
        factor.verify(user, {"code": code})


def test_an_older_step_after_a_newer_one_is_refused(
    enrolled: tuple[TotpFactor, int], frozen: FrozenClock
) -> None:
    factor, user = enrolled
    factor.verify(user, {"code": code_at(frozen.t)})
    with pytest.raises(Replayed):
        factor.verify(user, {"code": code_at(frozen.t - 30)})
    # A newer step is still fine.
    assert factor.verify(user, {"code": code_at(frozen.t + 30)}).method == "totp"


MALFORMED = [
    "",
    "12345",
    "1234567",
    "١٢٣٤٥٦",  # Arabic-Indic digits
    "１２３４５６",  # full-width digits
    "12345\x00",
    "\x00" * 6,
    "1" * 10_240,
    '["123456"]',
    " 123456",
    "123456 ",
    "123 456",
    "+12345",
    "-12345",
    "12345a",
    "1e+05",
]


@pytest.mark.parametrize("code", MALFORMED)
def test_malformed_codes_fail_clearly_and_are_not_counted(
    enrolled: tuple[TotpFactor, int], code: str
) -> None:
    factor, user = enrolled
    with pytest.raises(Malformed) as malformed:
        factor.verify(user, {"code": code})
    assert "6-digit" in malformed.value.message
    assert factor.status(user).failures == 0


@pytest.mark.parametrize("submitted", [{}, {"pin": "123456"}, {"code": ["123456"]}, {"code": None}])
def test_missing_or_non_text_codes_are_malformed(
    enrolled: tuple[TotpFactor, int], submitted: dict[str, Any]
) -> None:
    factor, user = enrolled
    with pytest.raises(Malformed):
        factor.verify(user, submitted)


def test_wrong_codes_lock_at_the_limit(
    enrolled: tuple[TotpFactor, int], frozen: FrozenClock
) -> None:
    factor, user = enrolled
    valid = {code_at(frozen.t + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    for _ in range(10):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"code": wrong})
    with pytest.raises(Locked) as locked:
        factor.verify(user, {"code": code_at(frozen.t)})  # the right code too
    assert locked.value.retry_after is None
    status = factor.status(user)
    assert status.locked and status.failures == 10
    assert factor.enrolled(user)[0].locked


def test_wrong_codes_get_a_growing_delay(ctx: Flask, frozen: FrozenClock) -> None:
    user = make_user()
    factor = totp_factor(ctx, frozen, throttle.Limits(delay_after=5, max_failures=10))
    factor.add_confirmed(user, "alice", SECRET)
    valid = {code_at(frozen.t + d) for d in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    for _ in range(5):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"code": wrong})
    with pytest.raises(Locked) as wait:
        factor.verify(user, {"code": code_at(frozen.t)})
    assert wait.value.retry_after == 1
    assert factor.status(user).retry_after == 1


def test_remove(enrolled: tuple[TotpFactor, int], frozen: FrozenClock) -> None:
    factor, user = enrolled
    factor.remove(user)
    assert factor.enrolled(user) == []
    assert factor.status(user).enrolled is False
    with pytest.raises(NotEnrolled):
        factor.verify(user, {"code": code_at(frozen.t)})


def test_the_secret_and_codes_are_never_logged(
    ctx: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = make_user()
    factor = totp_factor(ctx)
    enrolment = factor.begin(user, "alice")
    code = pyotp.TOTP(enrolment.secret).now()
    factor.confirm(user, code)
    with pytest.raises(Replayed):
        factor.verify(user, {"code": code})
    assert enrolment.secret not in caplog.text
    assert code not in caplog.text


def test_20_parallel_submissions_of_one_code_give_one_success(app: Flask) -> None:
    """docs/security.md B.8."""
    with app.app_context():
        user = make_user()
        # The configured limits (delay from the 5th failure) are in force.
        factor: Any = app.extensions["belay_factors"].get("totp")
        secret = factor.add_confirmed(user, "alice").secret
    code = pyotp.TOTP(secret).now()
    barrier = threading.Barrier(20)

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

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(attempt, range(20)))
    assert results.count("success") == 1, results
    assert set(results) <= {"success", "replayed", "locked"}


# -- command line --------------------------------------------------------------------


def test_cli_add_totp_prints_an_active_authenticator(app: Flask, runner: Any) -> None:
    with app.app_context():
        user = make_user()
    result = runner.invoke(args=["user", "add-totp", "alice"])
    assert result.exit_code == 0, result.output
    uri = result.output.strip()
    assert uri.startswith("otpauth://totp/Belay:alice?")
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    assert len(base64.b32decode(secret)) == 20
    with app.app_context():
        factor: Any = app.extensions["belay_factors"].get("totp")
        assert factor.status(user).confirmed
        assert factor.verify(user, {"code": pyotp.TOTP(secret).now()}).method == "totp"
        rows = db.session.execute(text("SELECT * FROM audit_events")).mappings().all()
        assert all(secret not in str(dict(r)) for r in rows)


def test_cli_add_totp_imports_a_secret(app: Flask, runner: Any) -> None:
    with app.app_context():
        user = make_user()
    spaced = " ".join(SECRET.lower()[i : i + 4] for i in range(0, 32, 4))
    result = runner.invoke(args=["user", "add-totp", "alice", "--secret", spaced])
    assert result.exit_code == 0, result.output
    assert f"secret={SECRET}" in result.output
    with app.app_context():
        factor: Any = app.extensions["belay_factors"].get("totp")
        assert factor.verify(user, {"code": pyotp.TOTP(SECRET).now()}).method == "totp"


def test_cli_add_totp_reads_the_secret_from_stdin(app: Flask, runner: Any) -> None:
    with app.app_context():
        make_user()
    result = runner.invoke(args=["user", "add-totp", "alice", "--secret-stdin"], input=SECRET)
    assert result.exit_code == 0, result.output
    assert f"secret={SECRET}" in result.output


@pytest.mark.parametrize("secret", ["JBSWY3DPEHPK3PXP", "not base32!", "JBSWY3DPEHPK3PX1" * 2])
def test_cli_add_totp_refuses_a_weak_or_bad_secret(app: Flask, runner: Any, secret: str) -> None:
    with app.app_context():
        user = make_user()
    result = runner.invoke(args=["user", "add-totp", "alice", "--secret", secret])
    assert result.exit_code != 0
    assert "secret" in result.output
    with app.app_context():
        assert app.extensions["belay_factors"].get("totp").enrolled(user) == []


def test_cli_add_totp_unknown_user(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["user", "add-totp", "nobody"])
    assert result.exit_code != 0
    assert "no user 'nobody'" in result.output


def test_re_importing_the_same_secret_does_not_revive_a_used_code(
    enrolled: tuple[TotpFactor, int], frozen: FrozenClock
) -> None:
    factor, user = enrolled
    code = code_at(frozen.t)
    factor.verify(user, {"code": code})
    factor.add_confirmed(user, "alice", SECRET)
    with pytest.raises(Replayed):
        factor.verify(user, {"code": code})
