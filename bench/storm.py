"""The PIN brute-force storm (Belay only: oidc-provider has no PIN).

Two sets of accounts, each account with a live ``2fa`` session (password + TOTP)
and an open step-up page asking for a fresh ``2fa`` (``max_age=0``):

- phase "wrong": ``accounts`` accounts whose PIN works; one attacker thread per
  account posts ``wrong_rounds`` wrong PINs, all at once (every one is an argon2
  verification: the bench sets PIN_DELAY_AFTER above PIN_MAX_FAILURES);
- phase "locked": as many accounts whose PIN is locked (PIN_MAX_FAILURES failures
  counted by bench/seed.py); one attacker thread each posts ``locked_rounds``
  wrong PINs. Belay no longer offers the PIN there and must not hash anything;
- phase "spray": password spraying from one client address (127.0.99.1): wrong
  passwords at the sign-in form for the same accounts (and unknown usernames when
  they are too few), one attacker thread per username, about twice
  ``SIGN_IN_ADDRESS_LIMIT`` guesses in all (at most 4 per account, below the
  per-account delay). Beyond the limit the address gets ``429`` with no
  argon2 work (docs/security.md case 58).

A step-up inside a signed-in session is not a sign-in: the PIN guesses of the
first two phases are not counted against the per-address limit (the attackers
hold sessions signed in with the password, and the per-account PIN lock stops
them), so those phases still hash every guess before the lock, as in Order 8,
wherever the attackers come from. ``429`` answers are counted apart ("limited").

The attackers run in a forked child process, and the normal flows that run beside
each phase (concurrency ``concurrency``) in the driver's own worker processes;
their p95 is compared with a run without the storm. argon2 computations are read
from /metrics (``belay_argon2_operations_total``).
"""

from __future__ import annotations

import http.client
import math
import multiprocessing
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import pyotp

from bench.browser import Browser, Response
from bench.driver import (
    STEP_UP_CLAIMS,
    LoadResult,
    authorize_query,
    one_flow,
    sign_in_all,
    timed_flows,
)
from bench.targets import PASSWORD, PIN, REDIRECT, BelayTarget
from provider.config import DEFAULTS

WRONG_PIN = "194628" if PIN != "194628" else "284619"
WRONG_PASSWORD = PASSWORD + " wrong"
#: the one client address of the password spray
SPRAY_ADDRESS = "127.0.99.1"
#: wrong passwords per account at most in the spray (PASSWORD_DELAY_AFTER is 5)
SPRAY_ROUNDS_MAX = 4
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
#: seconds an attacker waits before retrying a guess the server was too busy to
#: check, when the answer has no Retry-After
BUSY_PAUSE = 1.0
Page = tuple[Browser, str, str]


@dataclass
class StormPhase:
    name: str
    accounts: int
    attempts: int
    refused_unchecked: int  # answers that say the PIN is locked or not offered
    busy: int  # 503 "try again" answers (argon2 load shedding), each guess retried
    limited: int  # 429 answers (the per-address limit of sign-ins), not retried
    seconds: float
    cpu_ms: float
    argon2: float
    normal: LoadResult


@dataclass
class Storm:
    baseline: LoadResult
    phases: list[StormPhase]
    address_limit: int = 0  # the server's SIGN_IN_ADDRESS_LIMIT


def open_pin_pages(target: BelayTarget, names: list[str], *, locked: bool) -> list[Page]:
    """Per account: (browser, tx, csrf) of a fresh-2fa step-up page."""
    browsers = sign_in_all(target, names)
    pages: list[Page] = []
    back = Browser(target.url)
    for browser, name in zip(browsers, names, strict=True):
        # Reach 2fa with the authenticator, then ask for a fresh 2fa: PIN is offered.
        one_flow(target, browser, back, pyotp.TOTP(target.totp_secrets[name]))
        query, _ = authorize_query(target, claims=STEP_UP_CLAIMS, max_age="0")
        response = browser.get(target.authorize_url(query))
        location = response.headers["location"]
        assert not location.startswith(REDIRECT), "expected a step-up page"
        tx, csrf, page = target.challenge_form(browser, location)
        assert ('name="pin"' in page) != locked, "the PIN should be offered unless locked"
        pages.append((browser, tx, csrf))
    return pages


def open_login_pages(target: BelayTarget, names: list[str], source: str) -> list[Page]:
    """Per account: (browser from ``source``, username, csrf) of the sign-in page."""
    pages: list[Page] = []
    for name in names:
        browser = Browser(target.url, source=source)
        page = browser.get(target.url + "/login", follow=True)
        csrf = _CSRF.search(page.text)
        assert csrf, page.text[:300]
        pages.append((browser, name, csrf.group(1)))
    return pages


def _attack(target: BelayTarget, pages: list[Page], rounds: int, out: Any, kind: str) -> None:
    """In the child: one thread per page, ``rounds`` wrong PINs (``kind`` "pin": the
    page is (browser, tx, csrf)) or wrong passwords ("password": (browser, username,
    csrf)) each; puts the tallies."""
    counts = {"attempts": 0, "refused": 0, "busy": 0, "limited": 0, "errors": 0}
    last_error = [""]
    lock = threading.Lock()

    def post(browser: Browser, tx: str, csrf: str) -> Response:
        """One guess; a busy answer (nothing checked) is retried after its
        Retry-After, as an attacker that wants every guess checked would (one
        that ignores it is a plain request flood: rate limits at the proxy)."""
        while True:
            if kind == "pin":
                fields = {"method": "pin", "pin": WRONG_PIN}
                response = target.post_challenge(browser, tx, csrf, fields)
            else:
                fields = {"csrf_token": csrf, "username": tx, "password": WRONG_PASSWORD}
                response = browser.post(target.url + "/login", fields)
            if response.status != 503:
                return response
            with lock:
                counts["busy"] += 1
            time.sleep(float(response.headers.get("retry-after", BUSY_PAUSE)))

    def guess(browser: Browser, tx: str, csrf: str) -> None:
        for _ in range(rounds):
            try:
                response = post(browser, tx, csrf)
            except (OSError, http.client.HTTPException) as exc:
                ok, refused, limited, error = False, False, False, repr(exc)
            else:
                ok = response.status in (401, 429)
                limited = response.status == 429
                text = response.text
                refused = "is locked" in text or "not available here" in text
                error = f"{response.status} {text[:200]}"
            with lock:
                counts["attempts"] += 1
                counts["refused"] += refused
                counts["limited"] += limited
                if not ok:
                    counts["errors"] += 1
                    last_error[0] = error

    for browser, _, _ in pages:
        browser.close()  # the parent's socket, inherited: never shared
    threads = [threading.Thread(target=guess, args=page) for page in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put({**counts, "error": last_error[0]})


def storm_phase(
    target: BelayTarget,
    name: str,
    pages: list[Page],
    rounds: int,
    flow_browsers: list[Browser],
    concurrency: int,
    kind: str = "pin",
) -> StormPhase:
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    stop = context.Event()
    normal: list[LoadResult] = []
    beside = threading.Thread(
        target=lambda: normal.append(
            timed_flows(target, flow_browsers, concurrency, 3600.0, stop=stop)
        )
    )
    argon2_before = target.argon2_operations()
    cpu_before = target.cpu_ms()
    start = time.perf_counter()
    attackers = context.Process(target=_attack, args=(target, pages, rounds, out, kind))
    attackers.start()  # forked before the normal flows' thread starts
    beside.start()
    tally = out.get()
    attackers.join()
    seconds = time.perf_counter() - start
    cpu = target.cpu_ms() - cpu_before
    stop.set()
    beside.join()
    argon2 = target.argon2_operations() - argon2_before
    if tally["errors"]:
        raise RuntimeError(f"storm ({name}): {tally['errors']} bad answers, e.g. {tally['error']}")
    if not normal:
        raise RuntimeError(f"storm ({name}): the normal flows beside it failed")
    return StormPhase(
        name,
        len(pages),
        tally["attempts"],
        tally["refused"],
        tally["busy"],
        tally["limited"],
        seconds,
        cpu,
        argon2,
        normal[0],
    )


def run_storm(
    target: BelayTarget,
    live: list[str],
    locked: list[str],
    flow_browsers: list[Browser],
    *,
    concurrency: int = 4,
    baseline_seconds: float = 10.0,
    wrong_rounds: int = 2,
    locked_rounds: int = 5,
) -> Storm:
    live_pages = open_pin_pages(target, live, locked=False)
    locked_pages = open_pin_pages(target, locked, locked=True)
    baseline = timed_flows(target, flow_browsers, concurrency, baseline_seconds)
    phases = [
        storm_phase(target, "wrong", live_pages, wrong_rounds, flow_browsers, concurrency),
        storm_phase(target, "locked", locked_pages, locked_rounds, flow_browsers, concurrency),
    ]
    limit = int(target.env.get("BELAY_SIGN_IN_ADDRESS_LIMIT", DEFAULTS["SIGN_IN_ADDRESS_LIMIT"]))
    if limit > 0:
        # Usernames from a list, as sprayers have: unknown ones cost a dummy check too.
        names = live + locked
        missing = math.ceil(2 * limit / SPRAY_ROUNDS_MAX) - len(names)
        names += [f"nobody{i}" for i in range(max(0, missing))]
        rounds = min(SPRAY_ROUNDS_MAX, math.ceil(2 * limit / len(names)))
        spray_pages = open_login_pages(target, names, SPRAY_ADDRESS)
        phases.append(
            storm_phase(
                target, "spray", spray_pages, rounds, flow_browsers, concurrency, kind="password"
            )
        )
    return Storm(baseline, phases, limit)
