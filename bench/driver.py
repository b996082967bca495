"""The load driver: threads, one keep-alive ``requests.Session`` per simulated browser.

A flow is authorize -> (step-up) -> code -> token -> ID token verified against the
JWKS (fetched once), timed per step. The same code drives every target.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests
from joserfc import jwt

from bench.targets import ACR_2FA, CLIENT_ID, REDIRECT, Target

STEP_UP_CLAIMS = json.dumps({"id_token": {"acr": {"essential": True, "values": [ACR_2FA]}}})


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


def browser_session() -> requests.Session:
    browser = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
    browser.mount("http://", adapter)
    return browser


def one_flow(
    target: Target,
    browser: requests.Session,
    back: requests.Session,
    totp: pyotp.TOTP | None = None,
) -> dict[str, float]:
    """One code + PKCE flow (with a TOTP step-up when ``totp`` is given); seconds per step."""
    times: dict[str, float] = {}
    extra = {"claims": STEP_UP_CLAIMS} if totp is not None else {}
    query, verifier = authorize_query(target, **extra)
    start = time.perf_counter()
    response = browser.get(target.authorize_url(query), allow_redirects=False, timeout=120)
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["Location"]
    times["authorize"] = time.perf_counter() - start
    if totp is not None:
        t = time.perf_counter()
        assert not location.startswith(REDIRECT), "expected a step-up"
        location = target.step_up_totp(browser, location, totp.now())
        times["step_up"] = time.perf_counter() - t
    assert location.startswith(REDIRECT), location
    params = parse_qs(urlsplit(location).query)
    assert params["state"] == [query["state"]], location
    t = time.perf_counter()
    token = back.post(
        target.meta["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, target.client_secret),
        timeout=120,
    )
    assert token.status_code == 200, token.text[:300]
    body = token.json()
    times["token"] = time.perf_counter() - t
    t = time.perf_counter()
    assert target.keys is not None
    claims = jwt.decode(body["id_token"], target.keys, algorithms=["ES256"]).claims
    assert claims["nonce"] == query["nonce"] and claims["aud"] == CLIENT_ID, claims
    if totp is not None:
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
    cpu_ms: float
    samples: list[dict[str, float]] = field(default_factory=list)

    @property
    def flows_per_s(self) -> float:
        return self.flows / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_flow(self) -> float:
        return self.cpu_ms / self.flows if self.flows else float("nan")

    def step(self, name: str, p: float) -> float:
        return pct([s[name] for s in self.samples if name in s], p)

    @property
    def steps(self) -> list[str]:
        names = [k for k in (self.samples[0] if self.samples else {}) if k != "flow"]
        return [*names, "flow"]


def run_threads(
    target: Target, jobs: list[Callable[[], list[dict[str, float]]]], concurrency: int
) -> LoadResult:
    """Run one job per thread; server CPU and wall time measured around them all."""
    samples: list[dict[str, float]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(job: Callable[[], list[dict[str, float]]]) -> None:
        try:
            got = job()
        except BaseException as exc:
            with lock:
                errors.append(exc)
            return
        with lock:
            samples.extend(got)

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    cpu_before = target.cpu_ms()
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    cpu = target.cpu_ms() - cpu_before
    if errors:
        raise RuntimeError(f"{target.name}: {len(errors)} flow(s) failed") from errors[0]
    return LoadResult(concurrency, len(samples), elapsed, cpu, samples)


def timed_flows(
    target: Target,
    browsers: list[requests.Session],
    concurrency: int,
    seconds: float,
    stop: threading.Event | None = None,
) -> LoadResult:
    """``concurrency`` browsers (each with a live session) looping flows for ``seconds``
    (or until ``stop`` is set)."""

    def job(i: int) -> Callable[[], list[dict[str, float]]]:
        def run() -> list[dict[str, float]]:
            back = browser_session()
            one_flow(target, browsers[i], back)  # warm the connections, not counted
            got = []
            while time.perf_counter() < deadline and not (stop is not None and stop.is_set()):
                got.append(one_flow(target, browsers[i], back))
            return got

        return run

    deadline = time.perf_counter() + seconds
    return run_threads(target, [job(i) for i in range(concurrency)], concurrency)


def step_up_flows(
    target: Target, users: list[tuple[requests.Session, pyotp.TOTP]], concurrency: int
) -> LoadResult:
    """One TOTP step-up flow per (signed-in browser, authenticator), ``concurrency`` at a time."""
    chunks = [users[i::concurrency] for i in range(concurrency)]

    def job(chunk: list[tuple[requests.Session, pyotp.TOTP]]) -> Callable[[], Any]:
        def run() -> list[dict[str, float]]:
            back = browser_session()
            return [one_flow(target, browser, back, totp) for browser, totp in chunk]

        return run

    return run_threads(target, [job(c) for c in chunks], concurrency)


def sign_in_all(target: Target, names: list[str], parallel: int = 8) -> list[requests.Session]:
    browsers = [browser_session() for _ in names]
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
