"""The PIN factor: policy, lockout before hashing, per-factor counters, rehash
(docs/security.md A.1, A.2, A.5, G.40)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from provider import clock, storage
from provider.extensions import db
from provider.factors.base import Busy, InvalidCode, Locked, Malformed, NotEnrolled, Verified
from provider.factors.hashing import SecretHasher
from provider.factors.pin import PinFactor
from provider.factors.pin_policy import COMMON_PINS, PinRejected, check_pin
from provider.factors.totp import TotpFactor
from provider.policy import EnrolledMethod
from provider.storage import throttle
from provider.storage.models import User

PIN = "480975"
WRONG = "480976"
NO_DELAY = throttle.Limits(delay_after=1000, max_failures=10)


class SpyHasher(SecretHasher):
    """Counts every argon2 computation."""

    def __init__(self, **params: int) -> None:
        super().__init__(
            **{"time_cost": 1, "memory_cost": 1024, "parallelism": 1, **params}  # type: ignore[arg-type]
        )
        self._lock = threading.Lock()
        self.hashes = 0
        self.verifies = 0

    def hash(self, secret: str) -> str:
        with self._lock:
            self.hashes += 1
        return super().hash(secret)

    def verify(self, stored_hash: str | None, secret: str) -> Any:
        with self._lock:
            self.verifies += 1
        return super().verify(stored_hash, secret)

    def dummy_verify(self, secret: str) -> None:
        with self._lock:
            self.verifies += 1
        super().dummy_verify(secret)


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


def make_user(name: str = "alice") -> int:
    user = User(username=name, created_at=clock.now())
    storage.save(user)
    return int(user.id)


def pin_factor(
    hasher: SecretHasher | None = None, limits: throttle.Limits | None = None
) -> PinFactor:
    return PinFactor(
        hasher=hasher or SpyHasher(),
        limits=limits or throttle.Limits(delay_after=5, max_failures=10),
        min_length=6,
        max_length=12,
    )


# -- policy ----------------------------------------------------------------------

ACCEPTED = [
    "480975",
    "394817",
    "602853",
    "7305182",
    "27089461",
    "958303736",
    "104729",  # a prime, not a pattern
    "123457",  # not quite a run
    "000124",
    "849372610451",  # 12 digits: the maximum
    "27089461",  # 8 digits, not a date
]

REJECTED = [
    # (pin, words that must appear in the reason)
    ("", "digits 0 to 9"),
    ("12345a", "digits 0 to 9"),
    ("48 975", "digits 0 to 9"),
    (" 480975", "digits 0 to 9"),
    ("١٢٣٤٥٦", "digits 0 to 9"),  # Arabic-Indic digits
    ("４８０９７５", "digits 0 to 9"),  # full-width digits
    ("480975\x00", "digits 0 to 9"),
    ("-48097", "digits 0 to 9"),
    ("48097", "at least 6"),
    ("4809", "at least 6"),
    ("4809751234567", "at most 12"),
    ("111111", "one digit repeated"),
    ("000000000", "one digit repeated"),
    ("123456", "run of digits"),
    ("987654", "run of digits"),
    ("890123", "run of digits"),  # wraps past 9
    ("321098", "run of digits"),  # wraps past 0
    ("123456789012", "run of digits"),
    ("135791", "equal steps"),
    ("246802", "equal steps"),
    ("147036", "equal steps"),
    ("121212", "repeat a shorter group"),
    ("123123", "repeat a shorter group"),
    ("520520", "repeat a shorter group"),
    ("19841984", "repeat a shorter group"),
    ("123321", "same backwards"),
    ("110011", "same backwards"),
    ("100100", "repeat a shorter group"),
    ("110000", "three different digits"),
    ("900009", "same backwards"),
    ("919199", "three different digits"),
    ("25061984", "date"),  # DDMMYYYY
    ("06251984", "date"),  # MMDDYYYY
    ("19840625", "date"),  # YYYYMMDD
    ("31081984", "date"),
    ("159753", "most common"),
    ("147258", "most common"),
    ("789456", "most common"),
    ("102030", "most common"),
    ("112233", "most common"),
    ("147852", "most common"),
]


@pytest.mark.parametrize("pin", ACCEPTED)
def test_acceptable_pins_pass_the_policy(pin: str) -> None:
    check_pin(pin, min_length=6, max_length=12)


@pytest.mark.parametrize(("pin", "reason"), REJECTED)
def test_weak_pins_are_refused_with_the_reason(pin: str, reason: str) -> None:
    with pytest.raises(PinRejected) as refused:
        check_pin(pin, min_length=6, max_length=12)
    assert reason in refused.value.message


def test_the_table_covers_every_rule() -> None:
    messages = set()
    for pin, _ in REJECTED:
        try:
            check_pin(pin, min_length=6, max_length=12)
        except PinRejected as exc:
            messages.add(exc.message)
    assert len(messages) >= 11  # charset, 2 lengths, 2 runs, repeat, group, mirror, ...
    assert len(ACCEPTED) + len(REJECTED) >= 25


def test_the_common_list_is_shipped_and_every_entry_is_refused() -> None:
    assert len(COMMON_PINS) >= 100
    for pin in COMMON_PINS:
        with pytest.raises(PinRejected):
            check_pin(pin, min_length=4, max_length=12)


def test_six_digit_dates_are_allowed_by_design() -> None:
    # ~11 % of six-digit PINs read as a date; refusing them is not worth it
    # (the module docstring explains). 8-digit dates are refused.
    check_pin("250684", min_length=6, max_length=12)


@given(st.text(max_size=80))
def test_check_pin_only_ever_raises_pin_rejected(value: str) -> None:
    try:
        check_pin(value, min_length=6, max_length=12)
    except PinRejected as exc:
        assert exc.message
    else:
        assert value.isascii() and value.isdigit() and 6 <= len(value) <= 12


@given(st.from_regex(r"[0-9]{4,14}", fullmatch=True))
def test_accepted_pins_have_at_least_three_digits_and_no_run(value: str) -> None:
    try:
        check_pin(value, min_length=6, max_length=12)
    except PinRejected:
        return
    assert len(set(value)) >= 3
    assert value != value[::-1]
    assert value not in "01234567890123456789" and value not in "98765432109876543210"


# -- enrolment and verification ----------------------------------------------------


def test_set_and_verify_a_pin(ctx: Flask) -> None:
    user = make_user()
    factor = pin_factor()
    assert factor.enrolled(user) == []
    factor.set_pin(user, PIN, PIN)
    verified = factor.verify(user, {"pin": PIN})
    assert isinstance(verified, Verified)
    assert verified.method == "pin"
    assert verified.amr == ("pin",)
    assert verified.credential_id is not None and verified.credential_id.startswith("pin:")
    assert verified.details == {"pin_length": 6}
    [method] = factor.enrolled(user)
    assert method == EnrolledMethod(
        "pin", credential_id=verified.credential_id, locked=False, pin_length=6
    )
    status = factor.status(user)
    assert (status.enrolled, status.length, status.locked, status.failures) == (True, 6, False, 0)


def test_set_pin_checks_policy_and_confirmation(ctx: Flask) -> None:
    user = make_user()
    factor = pin_factor()
    with pytest.raises(PinRejected, match="run of digits"):
        factor.set_pin(user, "123456", "123456")
    with pytest.raises(PinRejected, match="don't match"):
        factor.set_pin(user, PIN, WRONG)
    assert factor.status(user).enrolled is False


def test_changing_the_pin_replaces_it(ctx: Flask) -> None:
    user = make_user()
    factor = pin_factor()
    factor.set_pin(user, PIN, PIN)
    factor.set_pin(user, "7305182", "7305182")
    with pytest.raises(InvalidCode):
        factor.verify(user, {"pin": PIN})
    assert factor.verify(user, {"pin": "7305182"}).details == {"pin_length": 7}


def test_the_pin_is_stored_hashed(ctx: Flask) -> None:
    user = make_user()
    pin_factor().set_pin(user, PIN, PIN)
    row = db.session.execute(text("SELECT * FROM pins")).mappings().one()
    assert all(PIN not in str(value) for value in row.values())
    assert str(row["pin_hash"]).startswith("$argon2id$")


@pytest.mark.parametrize(
    "submitted",
    [
        {},
        {"pin": ""},
        {"pin": "123"},
        {"pin": "4809 75"},
        {"pin": "١٢٣٤٥٦"},
        {"pin": "480975\x00"},
        {"pin": "1" * 65},
        {"pin": "9" * 10_240},
        {"pin": '["480975"]'},
        {"pin": ["480975"]},
        {"password": PIN},
    ],
)
def test_malformed_pins_are_not_counted_and_never_hashed(
    ctx: Flask, submitted: dict[str, Any]
) -> None:
    user = make_user()
    hasher = SpyHasher()
    factor = pin_factor(hasher)
    factor.set_pin(user, PIN, PIN)
    with pytest.raises(Malformed):
        factor.verify(user, submitted)
    assert hasher.verifies == 0
    assert factor.status(user).failures == 0


def test_no_pin_is_not_enrolled_and_not_counted(ctx: Flask) -> None:
    user = make_user()
    factor = pin_factor()
    with pytest.raises(NotEnrolled):
        factor.verify(user, {"pin": PIN})
    assert factor.status(user).failures == 0


def test_remove(ctx: Flask) -> None:
    user = make_user()
    factor = pin_factor()
    factor.set_pin(user, PIN, PIN)
    factor.remove(user)
    assert factor.enrolled(user) == []
    with pytest.raises(NotEnrolled):
        factor.verify(user, {"pin": PIN})


# -- throttling --------------------------------------------------------------------


class FrozenClock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t

    def advance(self, seconds: int) -> None:
        self.t += seconds


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    """Stop the provider's clock (the throttle's delays read clock.now())."""
    fake = FrozenClock(1_700_000_000)
    monkeypatch.setattr(clock, "now", fake)
    return fake


def wait_out(factor: PinFactor, user: int, frozen: FrozenClock) -> None:
    """Move the clock past any delay in force."""
    frozen.advance(factor.status(user).retry_after)


def test_locked_at_exactly_ten_failures(ctx: Flask, frozen: FrozenClock) -> None:
    user = make_user()
    hasher = SpyHasher()
    factor = pin_factor(hasher)
    factor.set_pin(user, PIN, PIN)
    for attempt in range(1, 11):
        wait_out(factor, user, frozen)
        with pytest.raises(InvalidCode) as wrong:
            factor.verify(user, {"pin": WRONG})
        assert wrong.value.message == "That PIN is not right."
        assert factor.status(user).failures == attempt
    assert factor.status(user).locked
    assert factor.enrolled(user)[0].locked is True
    for _ in range(5):
        frozen.advance(3600)
        with pytest.raises(Locked) as locked:
            factor.verify(user, {"pin": WRONG})
        assert locked.value.retry_after is None
    assert factor.status(user).failures == 10
    assert hasher.verifies == 10


def test_growing_delay_from_the_fifth_failure(ctx: Flask, frozen: FrozenClock) -> None:
    user = make_user()
    factor = pin_factor()
    factor.set_pin(user, PIN, PIN)
    for _ in range(4):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"pin": WRONG})  # no delay before the 5th
    with pytest.raises(InvalidCode):
        factor.verify(user, {"pin": WRONG})  # the 5th is checked ...
    waits = []
    for _ in range(4):
        with pytest.raises(Locked) as wait:  # ... and then a wait is in force
            factor.verify(user, {"pin": PIN})  # even for the right PIN
        assert wait.value.retry_after is not None
        waits.append(wait.value.retry_after)
        assert str(wait.value.retry_after) in wait.value.message
        frozen.advance(wait.value.retry_after)
        with pytest.raises(InvalidCode):
            factor.verify(user, {"pin": WRONG})
    assert waits == [1, 2, 4, 8]
    assert factor.status(user).failures == 9


def test_the_right_pin_after_the_lock_is_refused_like_a_wrong_one_and_not_hashed(
    ctx: Flask,
) -> None:
    user = make_user()
    hasher = SpyHasher()
    factor = pin_factor(hasher, NO_DELAY)
    factor.set_pin(user, PIN, PIN)
    for _ in range(10):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"pin": WRONG})
    verifies = hasher.verifies
    with pytest.raises(Locked) as right:
        factor.verify(user, {"pin": PIN})
    with pytest.raises(Locked) as wrong:
        factor.verify(user, {"pin": WRONG})
    assert (type(right.value), right.value.message, right.value.retry_after, right.value.code) == (
        type(wrong.value),
        wrong.value.message,
        wrong.value.retry_after,
        wrong.value.code,
    )
    assert hasher.verifies == verifies


def test_setting_a_new_pin_resets_the_lock(ctx: Flask) -> None:
    user = make_user()
    factor = pin_factor(limits=NO_DELAY)
    factor.set_pin(user, PIN, PIN)
    for _ in range(10):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"pin": WRONG})
    assert factor.status(user).locked
    factor.set_pin(user, "7305182", "7305182")
    assert factor.status(user).locked is False
    assert factor.status(user).failures == 0
    assert factor.verify(user, {"pin": "7305182"}).method == "pin"


def test_a_success_resets_the_pin_counter(ctx: Flask) -> None:
    user = make_user()
    factor = pin_factor(limits=NO_DELAY)
    factor.set_pin(user, PIN, PIN)
    for _ in range(9):
        with pytest.raises(InvalidCode):
            factor.verify(user, {"pin": WRONG})
    factor.verify(user, {"pin": PIN})
    assert factor.status(user).failures == 0


def test_counters_are_per_factor(ctx: Flask) -> None:
    """docs/security.md A.5: TOTP failures do not lock the PIN and vice versa; a success
    resets only the factor that succeeded."""
    import pyotp

    user = make_user()
    pin = pin_factor(limits=NO_DELAY)
    pin.set_pin(user, PIN, PIN)
    totp = TotpFactor(
        data_key=ctx.extensions["belay_data_key"], limits=NO_DELAY, issuer_name="Belay"
    )
    secret = totp.add_confirmed(user, "alice").secret
    for _ in range(10):
        with pytest.raises(InvalidCode):
            pin.verify(user, {"pin": WRONG})
    assert pin.status(user).locked
    assert totp.status(user).locked is False
    assert totp.verify(user, {"code": pyotp.TOTP(secret).now()}).method == "totp"
    # The TOTP success did not unlock the PIN.
    assert pin.status(user).locked

    other = make_user("bob")
    pin.set_pin(other, PIN, PIN)
    bob_secret = totp.add_confirmed(other, "bob").secret
    now = clock.now()
    valid = {pyotp.TOTP(bob_secret).at(now + d) for d in (-30, 0, 30)}
    bad = next(c for c in ("000000", "000001", "000002", "000003") if c not in valid)
    for _ in range(3):
        with pytest.raises(InvalidCode):
            pin.verify(other, {"pin": WRONG})
    for _ in range(10):
        with pytest.raises(InvalidCode):
            totp.verify(other, {"code": bad})
    assert totp.status(other).locked
    assert pin.status(other).locked is False
    pin.verify(other, {"pin": PIN})
    assert pin.status(other).failures == 0
    assert totp.status(other).locked  # the PIN success did not reset the TOTP


def test_a_hash_with_old_parameters_is_rehashed_once(ctx: Flask) -> None:
    user = make_user()
    old = SpyHasher(time_cost=1)
    pin_factor(old).set_pin(user, PIN, PIN)
    before = db.session.execute(text("SELECT pin_hash FROM pins")).scalar_one()
    assert "t=1," in before
    new = SpyHasher(time_cost=2)
    factor = pin_factor(new)
    factor.verify(user, {"pin": PIN})
    after = db.session.execute(text("SELECT pin_hash FROM pins")).scalar_one()
    assert after != before and "t=2," in after
    factor.verify(user, {"pin": PIN})
    again = db.session.execute(text("SELECT pin_hash FROM pins")).scalar_one()
    assert again == after


def _until_admitted(factor: PinFactor, user: int, pin: str) -> str:
    """Verify, trying again while the server is busy (a busy answer checks and
    counts nothing: it is no attempt)."""
    while True:
        try:
            factor.verify(user, {"pin": pin})
        except Busy:
            continue
        except InvalidCode:
            return "wrong"
        except Locked as exc:
            return "waiting" if exc.retry_after is not None else "locked"
        return "success"


def test_100_parallel_wrong_pins_count_exactly_10_failures(app: Flask) -> None:
    """docs/security.md A.1: at most 10 argon2 verifications, no success."""
    with app.app_context():
        user = make_user()
        hasher = SpyHasher()
        factor = pin_factor(hasher, NO_DELAY)
        factor.set_pin(user, PIN, PIN)
    barrier = threading.Barrier(100)

    def attempt(_: int) -> str:
        with app.app_context():
            barrier.wait(timeout=60)
            return _until_admitted(factor, user, WRONG)

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(attempt, range(100)))
    assert results.count("success") == 0
    assert results.count("wrong") == 10
    assert results.count("locked") == 90
    assert hasher.verifies == 10
    with app.app_context():
        status = factor.status(user)
        assert status.failures == 10 and status.locked


def test_a_busy_hasher_refuses_at_once_and_counts_nothing(app: Flask) -> None:
    """Load shedding: with the one slot taken and no queue, a check is refused
    with Busy before anything is reserved or hashed; a locked PIN still answers
    locked (that needs no hash)."""
    with app.app_context():
        user = make_user()
        hasher = SpyHasher(max_concurrent=1, max_wait_ms=0)
        factor = pin_factor(hasher, NO_DELAY)
        factor.set_pin(user, PIN, PIN)
        with hasher.admission():  # another request is hashing
            with pytest.raises(Busy) as busy:
                factor.verify(user, {"pin": WRONG})
            assert busy.value.status_code == 503 and busy.value.retry_after == 1
            assert hasher.verifies == 0 and factor.status(user).failures == 0
        for _ in range(10):
            with pytest.raises(InvalidCode):
                factor.verify(user, {"pin": WRONG})
        with hasher.admission(), pytest.raises(Locked):
            factor.verify(user, {"pin": PIN})
        assert hasher.verifies == 10 and factor.status(user).failures == 10
        # Admission is given back: a later check is admitted again.
        with pytest.raises(Locked):
            factor.verify(user, {"pin": PIN})


def test_parallel_wrong_pins_with_the_default_delay_never_exceed_the_limit(
    app: Flask, frozen: FrozenClock
) -> None:
    with app.app_context():
        user = make_user()
        hasher = SpyHasher()
        factor = pin_factor(hasher)
        factor.set_pin(user, PIN, PIN)
    barrier = threading.Barrier(30)

    def attempt(_: int) -> str:
        with app.app_context():
            barrier.wait(timeout=60)
            outcome = _until_admitted(factor, user, WRONG)
            return "wait" if outcome == "waiting" else outcome

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(attempt, range(30)))
    # The 5th reserved attempt starts the delay: the rest of the burst waits.
    assert results.count("wrong") == 5
    assert hasher.verifies == 5


def test_argon2_slots_are_shared_by_every_process_on_the_host(tmp_path: Any) -> None:
    """The slot is a lock file held with flock: another process (here another
    hasher with its own file descriptions) cannot take it while it is held."""
    import fcntl
    import os

    first = SecretHasher(
        time_cost=1, memory_cost=1024, parallelism=1, max_concurrent=1, slot_dir=tmp_path
    )
    SecretHasher(time_cost=1, memory_cost=1024, parallelism=1, max_concurrent=1, slot_dir=tmp_path)
    with first._slots.hold():
        (slot,) = sorted(tmp_path.iterdir())
        fd = os.open(slot, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    fd = os.open(slot, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
    finally:
        os.close(fd)
    assert first.verify(first.hash("123456"), "123456").ok


def test_argon2_runs_on_low_priority_threads_when_nice_is_set() -> None:
    """ARGON2_NICE: the computation runs on a thread of its own at that
    niceness (Linux sets it per thread), never on the caller's thread."""
    import os
    import threading

    seen: dict[str, int] = {}

    class Probe(SecretHasher):
        def _compute(self, operation: str, work: Any) -> Any:
            def probe() -> Any:
                seen["thread"] = threading.get_native_id()
                seen["nice"] = os.getpriority(os.PRIO_PROCESS, seen["thread"])
                return work()

            return super()._compute(operation, probe)

    niced = Probe(time_cost=1, memory_cost=1024, parallelism=1, nice=7)
    stored = niced.hash("482913")
    assert seen["thread"] != threading.get_native_id()
    assert seen["nice"] == os.getpriority(os.PRIO_PROCESS, 0) + 7 or seen["nice"] == 19
    assert niced.verify(stored, "482913").ok and not niced.verify(stored, "482914").ok
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) != seen["nice"]

    inline = Probe(time_cost=1, memory_cost=1024, parallelism=1, nice=0)
    inline.hash("482913")
    assert seen["thread"] == threading.get_native_id()
