"""The load driver: worker processes, one keep-alive connection per simulated browser.

A flow is authorize (live session) -> (step-up) -> code -> token
(client_secret_basic + PKCE) -> ID token verified with joserfc against the JWKS
(fetched once), timed per step. The same code drives every target.

The simulated browsers are spread over forked worker processes (threads inside a
worker only when it holds more than one browser), so the driver is not held to
one core by the GIL. Each worker measures its own CPU (user + system time,
``time.process_time()``) over the timed part, so the report can show the driver's cost per
flow beside the server's: a driver that saturates first would flatter the slower
server.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import multiprocessing
import os
import queue
import secrets
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, urlsplit

import pyotp
from joserfc import jwt

from bench.browser import Browser
from bench.targets import ACR_2FA, CLIENT_ID, REDIRECT, BelayTarget, Target

STEP_UP_CLAIMS = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_2FA]}}})
#: worker processes at most (each runs its share of the browsers on threads): one per
#: CPU; more only add context switches on a machine the servers share
DEFAULT_PROCESSES = max(2, os.cpu_count() or 2)
#: seconds to wait for the workers to connect and warm up
READY_TIMEOUT = 300.0


#: a step-up in the flow: a TOTP authenticator, a PIN, or none
StepUp = pyotp.TOTP | str | None


class Stop(Protocol):
    def is_set(self) -> bool: ...


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_query(target: Target, **extra: str) -> tuple[dict[str, str], str]:
    verifier, challenge = pkce()
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return query, verifier


def basic_auth(target: Target) -> dict[str, str]:
    """client_secret_basic (RFC 6749 section 2.3.1: each part form-encoded first)."""
    pair = f"{quote(CLIENT_ID, safe='')}:{quote(target.client_secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def redeem(target: Target, back: Browser, code: str, verifier: str) -> dict[str, Any]:
    """The relying party's token request for ``code``; the token response."""
    response = back.post(
        target.meta["token_endpoint"],
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        basic_auth(target),
    )
    assert response.status == 200, response.text[:300]
    body: dict[str, Any] = response.json()
    return body


def one_flow(
    target: Target, browser: Browser, back: Browser, step_up: StepUp = None
) -> dict[str, float]:
    """One code + PKCE flow; seconds per step. With a TOTP (``step_up``), the request
    asks for an essential 2fa acr and the step-up page is answered with its current
    code; with a PIN (a string, Belay only), it asks for a fresh 2fa (``max_age=0``)
    of a 2fa session and the page is answered with the PIN."""
    times: dict[str, float] = {}
    extra = {"claims": STEP_UP_CLAIMS} if step_up is not None else {}
    if isinstance(step_up, str):
        extra["max_age"] = "0"
    query, verifier = authorize_query(target, **extra)
    start = time.perf_counter()
    response = browser.get(target.authorize_url(query))
    assert response.status in (302, 303), (response.status, response.text[:300])
    location = response.headers["location"]
    times["authorize"] = time.perf_counter() - start
    if step_up is not None:
        t = time.perf_counter()
        assert not location.startswith(REDIRECT), "expected a step-up"
        if isinstance(step_up, str):
            assert isinstance(target, BelayTarget), "only Belay has PINs"
            location = target.step_up_pin(browser, location, step_up)
        else:
            location = target.step_up_totp(browser, location, step_up.now())
        times["step_up"] = time.perf_counter() - t
    assert location.startswith(REDIRECT), location
    params = parse_qs(urlsplit(location).query)
    assert params["state"] == [query["state"]], location
    t = time.perf_counter()
    body = redeem(target, back, params["code"][0], verifier)
    times["token"] = time.perf_counter() - t
    t = time.perf_counter()
    assert target.keys is not None
    claims = jwt.decode(body["id_token"], target.keys, algorithms=["ES256"]).claims
    assert claims["nonce"] == query["nonce"] and claims["aud"] == CLIENT_ID, claims
    assert claims["iss"] == target.meta["issuer"], claims
    if step_up is not None:
        assert claims.get("acr") == ACR_2FA, claims
    times["verify"] = time.perf_counter() - t
    times["flow"] = time.perf_counter() - start
    return times


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank), in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


@dataclass
class LoadResult:
    concurrency: int
    flows: int
    seconds: float
    cpu_ms: float  # the server's
    driver_cpu_ms: float = 0.0  # the driver's worker processes, over the same timed part
    processes: int = 1  # the driver's worker processes
    samples: list[dict[str, float]] = field(default_factory=list)

    @property
    def flows_per_s(self) -> float:
        return self.flows / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_flow(self) -> float:
        return self.cpu_ms / self.flows if self.flows else float("nan")

    @property
    def driver_ms_per_flow(self) -> float:
        return self.driver_cpu_ms / self.flows if self.flows else float("nan")

    @property
    def server_cores(self) -> float:
        """The server's CPU over the wall time: 1.0 is one core busy throughout."""
        return self.cpu_ms / 1000 / self.seconds if self.seconds else 0.0

    @property
    def driver_cores(self) -> float:
        return self.driver_cpu_ms / 1000 / self.seconds if self.seconds else 0.0

    def step(self, name: str, p: float) -> float:
        return pct([s[name] for s in self.samples if name in s], p)

    @property
    def steps(self) -> list[str]:
        names = [k for k in (self.samples[0] if self.samples else {}) if k != "flow"]
        return [*names, "flow"]


# -- worker processes -------------------------------------------------------------------------

#: one lane is one simulated browser's sequence of flows, run on its own thread:
#: (index into the browsers, the step-up's TOTP or PIN, or None)
Lane = list[tuple[int, StepUp]]


@dataclass
class _WorkerResult:
    samples: list[dict[str, float]]
    cpu_ms: float
    end: float  # time.monotonic() when its last flow ended
    cookies: dict[int, Any]  # browser index -> its cookie jar after the run
    error: str = ""


def _cpu_ms() -> float:
    """This process's user + system CPU (all its threads), at nanosecond resolution
    (``os.times()`` counts in clock ticks of 10 ms)."""
    return time.process_time() * 1000


def _worker(
    target: Target,
    browsers: Sequence[Browser],
    lanes: list[Lane],
    loop_seconds: float | None,
    ready: Any,
    stop: Stop | None,
    out: Any,
) -> None:
    """In a forked worker: warm up, wait for the start, run the lanes, put the result.

    With ``loop_seconds`` each lane repeats its flows until that time has passed (or
    ``stop`` is set); otherwise each flow of a lane runs once."""
    used = sorted({i for lane in lanes for i, _ in lane})
    try:
        for i in used:
            browsers[i].close()  # the parent's socket, inherited: never shared
        backs = [Browser(target.url) for _ in lanes]
        if loop_seconds is not None:
            for lane, back in zip(lanes, backs, strict=True):
                one_flow(target, browsers[lane[0][0]], back)  # warm up, not counted
        # No connection is opened ahead of its first request: gunicorn's threaded
        # worker gives a new connection a thread that waits for its request.
        ready.wait(READY_TIMEOUT)
    except BaseException:
        ready.abort()
        out.put(_WorkerResult([], 0.0, time.monotonic(), {}, traceback.format_exc()))
        return
    cpu_before = _cpu_ms()
    deadline = time.monotonic() + (loop_seconds or 0.0)
    samples: list[dict[str, float]] = []
    errors: list[str] = []
    ends: list[float] = []
    lock = threading.Lock()

    def run(lane: Lane, back: Browser) -> None:
        got: list[dict[str, float]] = []
        try:
            if loop_seconds is None:
                got = [one_flow(target, browsers[i], back, step) for i, step in lane]
            else:
                while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
                    for i, step in lane:
                        got.append(one_flow(target, browsers[i], back, step))
        except BaseException:
            with lock:
                errors.append(traceback.format_exc())
        with lock:
            samples.extend(got)
            ends.append(time.monotonic())

    if len(lanes) == 1:
        run(lanes[0], backs[0])
    else:
        threads = [
            threading.Thread(target=run, args=(lane, back))
            for lane, back in zip(lanes, backs, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    cpu = _cpu_ms() - cpu_before
    for back in backs:
        back.close()
    cookies = {i: browsers[i].cookies for i in used}
    out.put(_WorkerResult(samples, cpu, max(ends), cookies, errors[0] if errors else ""))


def run_lanes(
    target: Target,
    browsers: Sequence[Browser],
    lanes: list[Lane],
    *,
    loop_seconds: float | None = None,
    stop: Stop | None = None,
    processes: int = DEFAULT_PROCESSES,
) -> LoadResult:
    """Run ``lanes`` (one simulated browser each, all at once) on up to ``processes``
    forked workers; the server's and the driver's CPU measured over the timed part.

    The browsers' connections are closed first (a forked worker opens its own) and
    their cookies are brought back from the workers afterwards, so a live session
    carries over to the next run."""
    context = multiprocessing.get_context("fork")
    count = max(1, min(processes, len(lanes)))
    shares = [lanes[k::count] for k in range(count)]
    for browser in browsers:
        browser.close()
    ready = context.Barrier(count + 1)
    out = context.Queue()
    workers = [
        context.Process(
            target=_worker,
            args=(target, browsers, share, loop_seconds, ready, stop, out),
            daemon=True,
        )
        for share in shares
    ]
    for worker in workers:
        worker.start()
    results: list[_WorkerResult] = []
    # A worker that failed before the start breaks the barrier; its error is in the queue.
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait(READY_TIMEOUT)
    cpu_before = target.cpu_ms()
    start = time.monotonic()
    while len(results) < count:
        try:
            results.append(out.get(timeout=5))
        except queue.Empty:
            if all(not worker.is_alive() for worker in workers) and out.empty():
                raise RuntimeError(f"{target.name}: a driver worker died") from None
    cpu = target.cpu_ms() - cpu_before
    for worker in workers:
        worker.join()
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"{target.name}: {len(errors)} driver worker(s) failed:\n{errors[0]}")
    for result in results:
        for i, jar in result.cookies.items():
            browsers[i].cookies = jar
    samples = [s for r in results for s in r.samples]
    elapsed = max(r.end for r in results) - start
    return LoadResult(
        concurrency=len(lanes),
        flows=len(samples),
        seconds=elapsed,
        cpu_ms=cpu,
        driver_cpu_ms=sum(r.cpu_ms for r in results),
        processes=count,
        samples=samples,
    )


def timed_flows(
    target: Target,
    browsers: Sequence[Browser],
    concurrency: int,
    seconds: float,
    stop: Stop | None = None,
    processes: int = DEFAULT_PROCESSES,
    pin: str | None = None,
) -> LoadResult:
    """``concurrency`` browsers (each with a live session) looping flows for ``seconds``
    (or until ``stop``, a multiprocessing event, is set); each flow with a PIN step-up
    when ``pin`` is given (2fa sessions, Belay)."""
    lanes: list[Lane] = [[(i, pin)] for i in range(concurrency)]
    return run_lanes(target, browsers, lanes, loop_seconds=seconds, stop=stop, processes=processes)


def step_up_flows(
    target: Target,
    browsers: Sequence[Browser],
    totps: Sequence[pyotp.TOTP],
    concurrency: int,
    processes: int = DEFAULT_PROCESSES,
) -> LoadResult:
    """One TOTP step-up flow per (signed-in browser, authenticator), ``concurrency`` at a time."""
    pairs: Lane = [(i, totp) for i, totp in enumerate(totps)]
    lanes = [pairs[k::concurrency] for k in range(concurrency)]
    return run_lanes(target, browsers, lanes, processes=processes)


def sign_in_all(target: Target, names: list[str], parallel: int = 8) -> list[Browser]:
    """A browser per name, signed in with the password (threads: not timed)."""
    browsers = [Browser(target.url) for _ in names]
    errors: list[BaseException] = []

    def work(indexes: range) -> None:
        try:
            for i in indexes:
                target.sign_in(browsers[i], names[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(range(k, len(names), parallel),))
        for k in range(parallel)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return browsers
