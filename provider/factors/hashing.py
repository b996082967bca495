"""argon2id hashing of low-entropy secrets (passwords, PINs).

Parameters come from configuration; a hash made with older parameters still
verifies and is rehashed once (docs/security.md case 40).

Concurrent argon2 work is bounded per host (``max_concurrent``, default:
half the CPUs, at least one; lock files in the instance folder, shared by every
gunicorn worker): each computation holds 64 MiB and keeps
``ARGON2_PARALLELISM`` threads busy, so a storm of guesses would otherwise take
every core and starve the requests that need no hash at all (bench/RESULTS.md,
"PIN storm"). A computation waits for a slot instead. Every computation is counted in
``belay_argon2_operations_total`` (a locked factor never reaches this module).

The computations themselves run on a few dedicated threads at a lower CPU
priority (``nice``, ``ARGON2_NICE``; Linux schedules threads one by one): while
anything else wants the CPU — token requests, page views — the scheduler gives
it to them first, so hashing takes the idle time and a storm of guesses slows
itself rather than the requests beside it. Those threads are made lazily in
each process (gunicorn forks its workers after the app is built).

Waiting costs a server thread, and a person waiting for a sign-in, so a check
that will hash first asks for :meth:`SecretHasher.admission`. The queue is
sized by time, not by a count (``max_wait_ms``, ``ARGON2_MAX_WAIT_MS``): with
``s`` slots and a computation taking ``t`` (a running estimate of the
computations this process measured, the first one at start), at most
``s + s * floor(max_wait_ms / t)`` checks are admitted at once on the host
(:data:`MAX_QUEUED` waiting at most), so none waits more than
``max_wait_ms`` for its slot. Admission
places are lock files too (``flock``, released by the kernel when a process
dies), so the bound holds across every gunicorn worker of the host. One check
more is refused at once with :class:`HasherBusy` -- before any attempt is
counted, so a refused check is no attempt at all (docs/security.md A.1 still
counts exactly ten failures). Guessing storms are held back before they get
here, by the per-account counters and the per-address limit of sign-ins
(docs/security.md case 58).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from prometheus_client import Counter

__all__ = ["MAX_QUEUED", "HasherBusy", "SecretHasher", "Verified", "default_max_concurrent"]

#: At most this many checks wait for a slot on a host, whatever the budget: each
#: holds a server thread and an open file (with fast parameters the budget alone
#: would allow thousands).
MAX_QUEUED = 256
#: The weight of the newest computation in the running estimate of their duration.
_SMOOTHING = 0.2
#: An estimate never below this (ms): no division by zero, no absurd queue.
_MIN_HASH_MS = 0.1

ARGON2_OPERATIONS = Counter(
    "belay_argon2_operations",
    "argon2id computations (hash or verify) by operation",
    ["operation"],
)
ARGON2_BUSY = Counter(
    "belay_argon2_busy_refusals",
    "Password or PIN checks refused at once because the argon2 queue was full "
    "(they would have waited longer than ARGON2_MAX_WAIT_MS)",
)


class HasherBusy(Exception):
    """Every argon2 admission place of this host is taken: try again shortly."""


def default_max_concurrent() -> int:
    """Half the CPUs this process may use, at least one."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, cpus // 2)


class _Slots(Protocol):
    def hold(self) -> contextlib.AbstractContextManager[None]:
        """Hold one argon2 slot for the ``with`` block (waiting for one if need be)."""
        ...


class _ProcessSlots:
    def __init__(self, slots: int) -> None:
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        with self._semaphore:
            yield


class _HostSlots:
    """``slots`` argon2 slots shared by every process and thread on this host:
    one lock file per slot, held with ``flock`` (a lock belongs to one open
    file, so two threads of one process exclude each other too). gunicorn's
    workers are separate processes, so a per-process bound would let each of
    them take a core; this keeps the bound for the whole server."""

    def __init__(self, directory: Path, slots: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._paths = [directory / f"argon2-slot-{i}.lock" for i in range(slots)]

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        fd = self._take()
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _take(self) -> int:
        start = threading.get_ident() % len(self._paths)
        order = self._paths[start:] + self._paths[:start]
        for path in order:  # a free slot, if any
            fd = _try_lock(path)
            if fd is not None:
                return fd
        fd = os.open(order[0], os.O_RDWR | os.O_CREAT, 0o600)  # else wait for one
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        return fd


_Release = Callable[[], None]


class _Places(Protocol):
    def take(self, places: int) -> _Release | None:
        """One of the first ``places`` admission places (its release), or None
        when every one is held."""
        ...


class _ProcessPlaces:
    def __init__(self) -> None:
        self._held = 0
        self._lock = threading.Lock()

    def take(self, places: int) -> _Release | None:
        with self._lock:
            if self._held >= places:
                return None
            self._held += 1
        return self._release

    def _release(self) -> None:
        with self._lock:
            self._held -= 1


class _HostPlaces:
    """Admission places shared by every process and thread on this host: one
    lock file per place, held with a non-blocking ``flock`` (the kernel drops
    it when a process dies, so a crash leaks no place). The scan starts at a
    random place: while few are held, the first try finds one."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory

    def take(self, places: int) -> _Release | None:
        start = random.randrange(places)  # spreads the scan; no secret
        for i in range(places):
            fd = _try_lock(self._directory / f"argon2-place-{(start + i) % places}.lock")
            if fd is not None:
                return functools.partial(_unlock, fd)
        return None


def _try_lock(path: Path) -> int | None:
    """The open lock file ``path`` with an exclusive ``flock`` taken, or None
    when another open file holds it (never waits)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_T = TypeVar("_T")


class _Lane(Protocol):
    def run(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` (one argon2 computation) and return what it returns."""
        ...


class _InlineLane:
    def run(self, work: Callable[[], _T]) -> _T:
        return work()


class _NicedLane:
    """``threads`` worker threads, ``nice`` steps below their process, per process.

    Only niceness can be raised without privileges, so a request thread cannot
    lower its priority for one hash and raise it again: the hashes go to
    threads that stay low. argon2-cffi releases the GIL while it computes.
    """

    def __init__(self, threads: int, nice: int) -> None:
        self._threads = threads
        self._nice = nice
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def _lower_priority(self) -> None:
        # Linux: PRIO_PROCESS with a thread id sets that thread's niceness alone.
        # Relative, like ``nice -n``: this thread ends up below its process.
        with contextlib.suppress(OSError, AttributeError):
            thread = threading.get_native_id()
            current = os.getpriority(os.PRIO_PROCESS, thread)
            os.setpriority(os.PRIO_PROCESS, thread, min(19, current + self._nice))

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                # A forked child inherits the object but not the threads.
                self._pool = ThreadPoolExecutor(
                    self._threads, "argon2", initializer=self._lower_priority
                )
                self._pid = os.getpid()
            return self._pool

    def run(self, work: Callable[[], _T]) -> _T:
        return self._executor().submit(work).result()


@dataclass(frozen=True)
class Verified:
    ok: bool
    new_hash: str | None = None  # set when the stored hash should be replaced


class SecretHasher:
    def __init__(
        self,
        *,
        time_cost: int,
        memory_cost: int,
        parallelism: int,
        max_concurrent: int | None = None,
        max_wait_ms: int = 2000,
        slot_dir: str | os.PathLike[str] | None = None,
        nice: int = 0,
        hash_ms: float | None = None,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        # At most this many argon2 computations at once (0/None: default): on the
        # whole host when ``slot_dir`` is given (every gunicorn worker shares
        # the slots and the admission places), else in this process.
        slots = max_concurrent or default_max_concurrent()
        self._slot_count = slots
        self._slots: _Slots = _ProcessSlots(slots)
        self._places: _Places = _ProcessPlaces()
        if slot_dir:
            # A folder we cannot write to (a read-only image) keeps the
            # per-process bounds rather than failing to start.
            with contextlib.suppress(OSError):
                host_slots = _HostSlots(Path(slot_dir), slots)
                self._places = _HostPlaces(Path(slot_dir))
                self._slots = host_slots
        self._lane: _Lane = _NicedLane(slots, nice) if nice > 0 else _InlineLane()
        self._max_wait_ms = max(0, max_wait_ms)
        # Verifying against this keeps the time of an unknown-user attempt equal
        # to a known one, so timing does not reveal which accounts exist. Making
        # it is also the first measure of how long a computation takes here.
        # The budget counts *hash time*: the CPU one computation costs, which
        # a loaded host (or the niced lane) does not stretch. With one lane the
        # computing thread's CPU time is exactly that; with several, libargon2
        # computes in threads of its own, so the wall clock is all we have.
        self._clock = time.thread_time if parallelism == 1 else time.perf_counter
        started = self._clock()
        self._dummy = self._hasher.hash("belay-dummy-secret")
        measured = (self._clock() - started) * 1000
        self._hash_ms = max(_MIN_HASH_MS, measured if hash_ms is None else hash_ms)

    @property
    def hash_ms(self) -> float:
        """The running estimate of one computation's hash time here (ms of
        CPU with one lane, else of wall clock)."""
        return self._hash_ms

    def _observe(self, ms: float) -> None:
        self._hash_ms = max(_MIN_HASH_MS, self._hash_ms + _SMOOTHING * (ms - self._hash_ms))

    def places(self) -> int:
        """How many checks may be admitted at once on this host: one per slot,
        and as many waiting as the slots get through within ``max_wait_ms``."""
        rounds = int(self._max_wait_ms // self._hash_ms)
        return self._slot_count + min(MAX_QUEUED, rounds * self._slot_count)

    def saturated(self) -> bool:
        """Whether a check asking for admission now would be refused (a hint for
        answering early and cheaply; :meth:`admission` alone decides)."""
        release = self._places.take(self.places())
        if release is None:
            return True
        release()
        return False

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Admit one password or PIN check (its hashing included), or raise
        :class:`HasherBusy` at once when it would wait longer than the budget."""
        release = self._places.take(self.places())
        if release is None:
            ARGON2_BUSY.inc()
            raise HasherBusy
        try:
            yield
        finally:
            release()

    def _compute(self, operation: str, work: Callable[[], _T]) -> _T:
        """One argon2 computation: in a slot, on the (low-priority) lane."""

        def in_slot() -> _T:
            with self._slots.hold():
                ARGON2_OPERATIONS.labels(operation).inc()
                started = self._clock()
                try:
                    return work()
                finally:
                    self._observe((self._clock() - started) * 1000)

        return self._lane.run(in_slot)

    def hash(self, secret: str) -> str:
        return self._compute("hash", lambda: self._hasher.hash(secret))

    def _matches(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._compute("verify", lambda: self._hasher.verify(stored_hash, secret))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify(self, stored_hash: str | None, secret: str) -> Verified:
        if stored_hash is None:
            self.dummy_verify(secret)
            return Verified(ok=False)
        if not self._matches(stored_hash, secret):
            return Verified(ok=False)
        if self._hasher.check_needs_rehash(stored_hash):
            return Verified(ok=True, new_hash=self.hash(secret))
        return Verified(ok=True)

    def dummy_verify(self, secret: str) -> None:
        self._matches(self._dummy, secret)
