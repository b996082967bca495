"""Run the whole bench and write bench/RESULTS.md (``make bench``; never run by the tests).

    .venv/bin/python -m bench.run [--seconds 10] [--quick] [--no-postgres] [--out FILE]

Starts, one after the other on this machine: node oidc-provider (bench/oidc_provider,
``npm ci`` on first use), Belay under ``belay serve`` on a fresh SQLite file, and
Belay on a fresh PostgreSQL database (``BENCH_POSTGRES_URL``, default
postgresql://postgres@127.0.0.1:5432/belay_bench, dropped and created by this
script). Each gets the same users and an equivalent confidential client, then:

1. the code + PKCE flow with a live session at concurrency 1, 4, 8, 16, 32 (the
   driver's own CPU per flow measured beside the server's);
2. the same flow with a TOTP step-up in the middle (concurrency 1, 4, 16), and
   (Belay) the step-up round trip with a PIN: a fresh 2fa asked of a 2fa session,
   answered with the PIN (argon2 included), concurrency 1 and 2;
3. (Belay) different users signing in at the same moment (8, then 32; bench/capacity.py);
4. (Belay) the PIN storm and a password spray from one address (bench/storm.py);
5. (Belay) the flow on an empty database, then on one pre-filled with a grown
   deployment's rows (bench/prefill.py, ``--prefill-scale``), the query plans of the
   hot statements (bench/plans.py) and ``belay purge`` on it;

and, in-process, the resource-server kit against the raw ES256 verify rate and
``policy.decide()``. bench/analysis.md (profiles, fixes, explanations) is
appended to the generated figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyotp

from bench import micro
from bench.browser import Browser
from bench.capacity import Burst, sign_in_burst
from bench.driver import (
    DEFAULT_PROCESSES,
    LoadResult,
    authorize_query,
    one_flow,
    redeem,
    sign_in_all,
    step_up_flows,
    timed_flows,
)
from bench.storm import BUSY_PAUSE, SPRAY_ADDRESS, Storm, run_storm
from bench.targets import CLIENT_ID, PIN, BelayTarget, NodeTarget, Target

HERE = Path(__file__).resolve().parent
LEVELS = (1, 4, 8, 16, 32)
STEP_UP_LEVELS = (1, 4, 16)
#: the PIN step-up round trip (Belay): at most 2 hashes at once, never refused busy
PIN_LEVELS = (1, 2)
#: the concurrency at which the targets compare Belay with oidc-provider
REFERENCE = 16
#: different users signing in at the same moment (Belay)
BURSTS = (8, 32)
#: the concurrency levels measured on the empty and the pre-filled database
PREFILL_LEVELS = (1, REFERENCE)
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/belay_bench"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- databases ------------------------------------------------------------------------------


def fresh_postgres(url: str) -> tuple[str | None, str]:
    """Drop and create the bench database; (SQLAlchemy URL, server version) or (None, why)."""
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    if name in {"", "test", "postgres"}:
        return None, f"refusing to use database {name!r}"
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=5) as conn:
            server = str(conn.execute("show server_version").fetchone()[0])  # type: ignore[index]
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    except psycopg.Error as exc:
        return None, f"PostgreSQL not reachable at {base}: {exc}"
    return url.replace("postgresql://", "postgresql+psycopg://", 1), server


# -- one target -------------------------------------------------------------------------------


def bench_target(
    target: Target,
    *,
    seconds: float,
    totp_per_level: dict[int, int],
    storm_accounts: int,
    wrong_rounds: int,
    do_rs_kit: bool,
    processes: int,
    prefill_scale: float = 0.0,
) -> dict[str, Any]:
    flow_users = [f"f{i}" for i in range(max(LEVELS))]
    totp_users = [f"t{i}" for i in range(sum(totp_per_level.values()))]
    belay = isinstance(target, BelayTarget)
    pin_users = [f"p{i}" for i in range(storm_accounts)] if belay else []
    locked_users = [f"l{i}" for i in range(storm_accounts)] if belay else []
    round_users = [f"s{i}" for i in range(max(PIN_LEVELS))] if belay else []
    burst_users = [f"c{i}" for i in range(max(BURSTS))] if belay else []
    out: dict[str, Any] = {"name": target.name}
    log(f"{target.name}: setting up")
    target.setup(
        flow_users + totp_users + pin_users + locked_users + round_users + burst_users,
        totp_users + pin_users + locked_users + round_users,
        pin_users + locked_users + round_users,
        locked_users,
    )
    out["version"] = target.version()
    try:
        browsers = sign_in_all(target, flow_users)
        out["flows"] = []
        for level in LEVELS:
            log(f"{target.name}: code + PKCE flows at concurrency {level}")
            out["flows"].append(timed_flows(target, browsers, level, seconds, processes=processes))
        log(f"{target.name}: signing in {len(totp_users)} users for the TOTP step-up")
        totp_browsers = sign_in_all(target, totp_users)
        totps = [pyotp.TOTP(target.totp_secrets[name]) for name in totp_users]
        out["step_up"] = []
        first = 0
        for level in STEP_UP_LEVELS:
            log(f"{target.name}: TOTP step-up flows at concurrency {level}")
            last = first + totp_per_level[level]
            out["step_up"].append(
                step_up_flows(
                    target,
                    totp_browsers[first:last],
                    totps[first:last],
                    level,
                    processes=processes,
                )
            )
            first = last
        if round_users:
            log(f"{target.name}: PIN step-up round trips")
            out["pin_round_trip"] = pin_round_trips(target, round_users, seconds, processes)
        if burst_users:
            assert isinstance(target, BelayTarget)
            out["bursts"] = []
            for size in BURSTS:
                log(f"{target.name}: {size} users signing in at the same moment")
                out["bursts"].append(sign_in_burst(target, burst_users[:size]))
        if do_rs_kit:
            log(f"{target.name}: resource-server kit")
            out["rs_kit"] = rs_kit(target, browsers[0])
        if pin_users:
            assert isinstance(target, BelayTarget)
            log(f"{target.name}: PIN storm on {len(pin_users)} + {len(locked_users)} accounts")
            out["storm"] = run_storm(
                target,
                pin_users,
                locked_users,
                browsers[:4],
                concurrency=4,
                wrong_rounds=wrong_rounds,
            )
        if belay and prefill_scale > 0:
            assert isinstance(target, BelayTarget)
            out["prefill"] = grown_database(target, browsers, seconds, processes, prefill_scale)
    finally:
        target.stop()
    return out


def pin_round_trips(
    target: Target, names: list[str], seconds: float, processes: int
) -> list[LoadResult]:
    """Sessions brought to 2fa with the authenticator (not timed), then flows asking
    for a fresh 2fa, answered with the PIN, at each of PIN_LEVELS."""
    browsers = sign_in_all(target, names)
    back = Browser(target.url)
    for browser, name in zip(browsers, names, strict=True):
        one_flow(target, browser, back, pyotp.TOTP(target.totp_secrets[name]))
    return [
        timed_flows(target, browsers, level, seconds, processes=processes, pin=PIN)
        for level in PIN_LEVELS
    ]


def grown_database(
    target: BelayTarget,
    browsers: list[Browser],
    seconds: float,
    processes: int,
    scale: float,
) -> dict[str, Any]:
    """The flow on the database as it is (the bench's own few thousand rows), then
    after bench/prefill.py; the hot statements' plans; ``belay purge`` on it."""
    out: dict[str, Any] = {"scale": scale, "empty": [], "filled": []}
    for level in PREFILL_LEVELS:
        log(f"{target.name}: flows at concurrency {level} before the pre-fill")
        out["empty"].append(timed_flows(target, browsers, level, seconds, processes=processes))
    log(f"{target.name}: pre-filling the database (scale {scale:g})")
    out["rows"] = json.loads(target.run_cli("--scale", str(scale), module="bench.prefill"))
    for level in PREFILL_LEVELS:
        log(f"{target.name}: flows at concurrency {level} on the pre-filled database")
        out["filled"].append(timed_flows(target, browsers, level, seconds, processes=processes))
    log(f"{target.name}: query plans of the hot statements")
    out["plans"] = json.loads(target.run_cli(module="bench.plans"))
    log(f"{target.name}: belay purge on the pre-filled database")
    start = time.perf_counter()
    purged = target.run_cli("purge")
    out["purge_seconds"] = time.perf_counter() - start
    out["purged"] = json.loads(purged[purged.index("{") :])
    return out


def burst_lines(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| server | at once | signed in | `503` busy | `429` limited | other "
        "| argon2 computations | p50 / p95 ms | last answer after ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for burst in result.get("bursts", []):
            assert isinstance(burst, Burst)
            lines.append(
                f"| {result['name']} | {burst.users} | {burst.signed_in} | "
                f"{burst.statuses[503]} | {burst.statuses[429]} | {burst.other} | "
                f"{burst.argon2:.0f} | {ms(burst.p(50))} / {ms(burst.p(95))} | "
                f"{burst.seconds * 1000:.0f} |"
            )
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>") or "—"


def _short_sql(sql: str) -> str:
    """The statement with its select and returning lists elided."""
    import re

    sql = re.sub(r"^SELECT .*? FROM ", "SELECT … FROM ", sql)
    return re.sub(r" RETURNING .*$", " RETURNING …", sql)


def prefill_lines(results: list[dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for result in results:
        grown = result.get("prefill")
        if grown is None:
            continue
        rows = grown["rows"]
        counts = ", ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in rows["rows"].items())
        took = ", ".join(f"{kind} {sec:.1f} s" for kind, sec in rows["seconds"].items())
        lines += [
            f"**{result['name']}**, scale {grown['scale']:g}: {counts}; inserted in "
            f"{rows['total']:.1f} s ({took}).",
            "",
            "| conc. | empty flows/s | pre-filled flows/s | × empty | server CPU ms/flow "
            "empty → pre-filled | flow p50 / p95 ms empty → pre-filled |",
            "|---|---|---|---|---|---|",
        ]
        for empty, filled in zip(grown["empty"], grown["filled"], strict=True):
            lines.append(
                f"| {empty.concurrency} | {empty.flows_per_s:.1f} | {filled.flows_per_s:.1f} | "
                f"{ratio(filled.flows_per_s, empty.flows_per_s)} | "
                f"{empty.cpu_ms_per_flow:.1f} → {filled.cpu_ms_per_flow:.1f} | "
                f"{ms(empty.step('flow', 50))} / {ms(empty.step('flow', 95))} → "
                f"{ms(filled.step('flow', 50))} / {ms(filled.step('flow', 95))} |"
            )
        purged = ", ".join(f"{kind.replace('_', ' ')} {n:,}" for kind, n in grown["purged"].items())
        lines += [
            "",
            f"`belay purge` on it: {grown['purge_seconds']:.1f} s (the command, Python start "
            f"included), deleted: {purged}.",
            "",
            "| hot statement | SQL (select and returning lists elided) | plan |",
            "|---|---|---|",
        ]
        for plan in grown["plans"]:
            lines.append(
                f"| {plan['name']} | `{_cell(_short_sql(plan['sql']))}` | {_cell(plan['plan'])} |"
            )
        lines.append("")
    return lines


def pin_lines(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| server | conc. | flows | server CPU ms/flow | p50 / p95 ms per step |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        for run in result.get("pin_round_trip", []):
            steps = ", ".join(
                f"{s} {ms(run.step(s, 50))} / {ms(run.step(s, 95))}" for s in run.steps
            )
            lines.append(
                f"| {result['name']} | {run.concurrency} | {run.flows} | "
                f"{run.cpu_ms_per_flow:.1f} | {steps} |"
            )
    return lines


def rs_kit(target: Target, browser: Browser) -> dict[str, float]:
    """Get a JWT access token with one flow, then time the kit in this process."""
    query, verifier = authorize_query(target)
    response = browser.get(target.authorize_url(query))
    from urllib.parse import parse_qs, urlsplit

    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    access = redeem(target, Browser(target.url), code, verifier)["access_token"]
    return micro.rs_kit_rates(target.url, target.meta["jwks_uri"], CLIENT_ID, access)


# -- report -----------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M %Z')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {int(mem) // 1024} MiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, Flask {version('flask')}, "
        f"SQLAlchemy {version('sqlalchemy')}, Authlib {version('authlib')}, "
        f"cryptography {version('cryptography')}, joserfc {version('joserfc')}, "
        f"argon2-cffi {version('argon2-cffi')}, SQLite {sqlite3.sqlite_version}",
    ]


def ms(value: float) -> str:
    return f"{value:.1f}"


def ratio(mine: float, ref: float) -> str:
    """``mine / ref``, or "?" when ``ref`` is zero (a handful of flows can take less
    CPU than one /proc clock tick, 10 ms)."""
    return f"{mine / ref:.2f}" if ref > 0 else "?"


def flow_table(results: list[dict[str, Any]], key: str, node: dict[str, Any] | None) -> list[str]:
    lines = [
        "| server | conc. | flows | flows/s | × node | server CPU ms/flow | × node "
        "| driver CPU ms/flow | cores: server + driver | p50 / p95 ms per step |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for i, run in enumerate(result[key]):
            assert isinstance(run, LoadResult)
            ref = node[key][i] if node is not None and key in node else None
            x_rate = ratio(run.flows_per_s, ref.flows_per_s) if ref else "1"
            x_cpu = ratio(run.cpu_ms_per_flow, ref.cpu_ms_per_flow) if ref else "1"
            if result is node:
                x_rate = x_cpu = "—"
            steps = ", ".join(
                f"{s} {ms(run.step(s, 50))} / {ms(run.step(s, 95))}" for s in run.steps
            )
            lines.append(
                f"| {result['name']} | {run.concurrency} | {run.flows} | "
                f"{run.flows_per_s:.1f} | {x_rate} | {run.cpu_ms_per_flow:.1f} | {x_cpu} "
                f"| {run.driver_ms_per_flow:.2f} | {run.server_cores:.2f} + "
                f"{run.driver_cores:.2f} | {steps} |"
            )
    return lines


def at_level(result: dict[str, Any], concurrency: int) -> LoadResult:
    runs: list[LoadResult] = result["flows"]
    return next(run for run in runs if run.concurrency == concurrency)


def saturation(node: dict[str, Any]) -> tuple[LoadResult, LoadResult, bool]:
    """(oidc-provider's best level, its highest, saturated?): saturated when its
    flows/s rose less than 10% from the last-but-one level to the last, or its one
    node process was busy 90% of the time at its best level."""
    runs: list[LoadResult] = node["flows"]
    best = max(runs, key=lambda run: run.flows_per_s)
    last, before = runs[-1], runs[-2] if len(runs) > 1 else runs[-1]
    flat = last.flows_per_s < 1.1 * before.flows_per_s
    return best, last, flat or best.server_cores >= 0.9


def driver_lines(results: list[dict[str, Any]], processes: int) -> list[str]:
    """Whether the driver, not the server, set the pace."""
    node = next((r for r in results if r["name"].startswith("node")), None)
    lines = [
        f"The driver runs the simulated browsers in {processes} forked worker processes "
        "(bench/driver.py), each browser on one keep-alive connection written straight "
        "to a socket (bench/browser.py); the ID token is verified with joserfc. Its CPU "
        "(user + system time of the workers, `time.process_time()`) is measured over "
        'the same timed part as the server\'s. "cores" is CPU time over wall time: '
        "oidc-provider is "
        "one node process, so one core is its ceiling; the machine has "
        f"{os.cpu_count()}.",
        "",
    ]
    if node is None:
        return lines
    best, last, saturated = saturation(node)
    ref = at_level(node, REFERENCE)
    lines += [
        f"- oidc-provider at c={REFERENCE}: {ref.flows_per_s:.0f} flows/s, "
        f"{ref.cpu_ms_per_flow:.2f} ms of server CPU per flow; the driver "
        f"{ref.driver_ms_per_flow:.2f} ms per flow "
        f"({ref.driver_ms_per_flow / ref.cpu_ms_per_flow:.2f}× the server's).",
        f"- oidc-provider's best: {best.flows_per_s:.0f} flows/s at c={best.concurrency} "
        f"(its process {best.server_cores:.2f} cores busy, the driver "
        f"{best.driver_cores:.2f}); at c={last.concurrency}: {last.flows_per_s:.0f} flows/s. "
        + (
            "It reached its own saturation in this run."
            if saturated
            else "**It did not saturate in this run** (flows/s still rising with idle "
            "CPU left): its figures are a floor, not its capacity."
        ),
    ]
    return lines


def storm_lines(name: str, storm: Storm) -> list[str]:
    base = storm.baseline
    lines = [
        f"**{name}**: normal flows at concurrency {base.concurrency} beside each phase. "
        f"Without the storm: {base.flows_per_s:.1f} flows/s, flow p95 "
        f"{ms(base.step('flow', 95))} ms.",
        "",
        "| phase | accounts | wrong guesses posted | refused unchecked¹ | busy, retried³ "
        "| `429` limited⁴ | seconds | argon2 computations | server CPU ms per attempt² "
        "| normal flows/s | normal flow p95 ms | p95 × no storm |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for phase in storm.phases:
        normal_cpu = phase.normal.flows * base.cpu_ms_per_flow
        per_attempt = max(0.0, phase.cpu_ms - normal_cpu) / max(1, phase.attempts)
        p95 = phase.normal.step("flow", 95)
        lines.append(
            f"| {phase.name} | {phase.accounts} | {phase.attempts} | {phase.refused_unchecked} | "
            f"{phase.busy} | {phase.limited} | {phase.seconds:.1f} | {phase.argon2:.0f} | "
            f"{per_attempt:.1f} | "
            f"{phase.normal.flows_per_s:.1f} | {ms(p95)} | {p95 / base.step('flow', 95):.2f} |"
        )
    lines += [
        "",
        "¹ answers saying the PIN is locked or not offered. ² server CPU during the phase "
        "minus the normal flows' share (their CPU per flow without the storm). "
        "³ `503` answers of the argon2 load shedding (nothing checked or counted); "
        "the attacker retried each after the answer's `Retry-After` "
        f"({BUSY_PAUSE:.0f} s). ⁴ `429` answers of the per-address limit of sign-ins "
        "(`SIGN_IN_ADDRESS_LIMIT`): nothing checked, not retried. The PIN phases are "
        "step-ups in signed-in sessions, which that limit does not count; the spray "
        f"phase posts wrong passwords at the sign-in form, all from {SPRAY_ADDRESS}.",
    ]
    return lines


def write_report(
    out: Path,
    results: list[dict[str, Any]],
    decide: dict[str, float],
    notes: list[str],
    args: argparse.Namespace,
) -> None:
    node = next((r for r in results if r["name"].startswith("node")), None)
    belays = [r for r in results if r["name"].startswith("Belay")]
    lines = [
        "# Belay benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.run`); timings are never asserted by the "
        "tests. Every figure comes from this one run, with the driver, Belay and "
        "oidc-provider sharing this machine, so compare ratios rather than absolute numbers.",
        "",
        *machine(),
        *(f"- {r['name']}: {r['version']}" for r in results),
        *(f"- {note}" for note in notes),
        f"- each timed level runs {args.seconds:g} s; the driver is {args.driver_processes} "
        "worker processes, one keep-alive connection per simulated browser "
        "(bench/driver.py, section 1a)",
        "",
        "## 1. Code + PKCE flow, live session",
        "",
        "authorize (302 with a code straight away) → token (client_secret_basic + PKCE) → "
        "ID token (ES256) verified against the JWKS. Server CPU: utime + stime of the "
        "server's processes (gunicorn master and workers; node) over the run.",
        "",
        *flow_table(results, "flows", node),
        "",
        "### 1a. The driver's own cost",
        "",
        *driver_lines(results, args.driver_processes),
        "",
        "## 2. The same flow with a TOTP step-up",
        "",
        "A 1fa (password) session; the request asks for an essential "
        "`urn:belay:acr:2fa` (`claims`), so the OP shows its step-up page and the driver "
        "posts the current TOTP code. One flow per user (a TOTP code is good once), "
        "so the counts are small.",
        "",
        *flow_table(results, "step_up", node),
        "",
        "### 2a. The step-up round trip with a PIN, as a user feels it (Belay)",
        "",
        "The resource server has answered 401 (`insufficient_user_authentication`, "
        "decided in the RS kit, section 3) and the relying party sends the user back: "
        "authorize asks for a fresh `urn:belay:acr:2fa` (`max_age=0`) of a 2fa session "
        "(authorize: the redirect to the step-up page); step_up: the page, the PIN "
        "posted (one argon2id verification at the deployment's cost) and the redirect "
        "back with a code; then the new tokens. Times are the driver's, request to "
        "answer, so server time plus the loopback; at this concurrency the driver is "
        "idle between requests.",
        "",
        *pin_lines(belays),
        "",
        "### 2b. Different users signing in at the same moment (Belay)",
        "",
        "Each browser opens the sign-in page, then all post username and password at "
        "once (one argon2id verification each, default settings: ARGON2_MAX_WAIT_MS "
        "2000, SIGN_IN_ADDRESS_LIMIT 100); nothing is retried, since a browser does not "
        "retry a `503`. Each browser connects from its own loopback address "
        "(127.0.1.x), as people come from their own addresses (bench/capacity.py). "
        "Times are request to answer.",
        "",
        *burst_lines(belays),
        "",
        "## 3. Resource-server kit (`provider.resource_server`), JWT access tokens",
        "",
    ]
    for r in belays:
        if "rs_kit" in r:
            kit = r["rs_kit"]
            lines += [
                "| what (one thread, best of 3 rounds) | per second | % of raw ES256 verify |",
                "|---|---|---|",
                "| raw ES256 verify (`cryptography`, same token and key) | "
                f"{kit['raw']:,.0f} | 100% |",
                f"| `TokenValidator.validate()` | {kit['validate']:,.0f} | "
                f"{100 * kit['validate'] / kit['raw']:.0f}% |",
                f"| `ResourceServer.check()` (header parse + validate + requirement) | "
                f"{kit['check']:,.0f} | {100 * kit['check'] / kit['raw']:.0f}% |",
                "",
            ]
            break
    lines += [
        "## 4. `provider.policy.decide()`",
        "",
        "| request (one thread, best of 3 rounds) | calls per second |",
        "|---|---|",
        *(f"| {name} | {value:,.0f} |" for name, value in decide.items()),
        "",
        "## 5. PIN brute-force storm",
        "",
        "Belay only (oidc-provider has no PIN). See bench/storm.py: each account has a 2fa "
        "session and an open step-up page (`max_age=0`) offering the PIN; PIN_DELAY_AFTER "
        "is raised above PIN_MAX_FAILURES (10) so every wrong PIN before the lock is hashed. "
        "The spray phase is password spraying from one client address (wrong passwords "
        "for the same accounts at the sign-in form).",
        "",
    ]
    for r in belays:
        if "storm" in r:
            lines += [*storm_lines(r["name"], r["storm"]), ""]
    lines += [
        "## 6. A grown database (Belay)",
        "",
        "The same code + PKCE flow (live sessions) on the bench's database as it is "
        "(a few thousand rows), then after bench/prefill.py has added a grown deployment's "
        "rows (at scale 1: 100,000 users, 1,000,000 audit rows, 200,000 browser sessions, "
        "half expired, 500,000 token rows, 100,000 spent codes; bulk `COPY` on PostgreSQL, "
        "then `VACUUM (ANALYZE)` and `CHECKPOINT`; `executemany` on SQLite, then a WAL "
        "checkpoint: the steady state of a grown database, not a bulk load's aftermath), "
        "same server, minutes apart. The "
        "server's own purge (every PURGE_EVERY_REQUESTS requests) runs during the "
        "pre-filled measurement, as it would in production. Plans: `EXPLAIN` "
        "(PostgreSQL) or `EXPLAIN QUERY PLAN` (SQLite) of the statements the storage "
        "functions send (bench/plans.py); a plain `INSERT` has no plan on SQLite.",
        "",
        *prefill_lines(belays),
        "## Targets",
        "",
        *targets(results, decide),
        "",
    ]
    analysis = HERE / "analysis.md"
    if analysis.exists():
        lines += [analysis.read_text().rstrip(), ""]
    out.write_text("\n".join(lines))


def targets(results: list[dict[str, Any]], decide: dict[str, float]) -> list[str]:
    node = next((r for r in results if r["name"].startswith("node")), None)
    lines = ["| target | measured | met |", "|---|---|---|"]

    def row(what: str, measured: str, ok: bool) -> None:
        lines.append(f"| {what} | {measured} | {'yes' if ok else '**no**'} |")

    if node is not None:
        ref = at_level(node, REFERENCE)
        share = ref.driver_ms_per_flow / ref.cpu_ms_per_flow
        row(
            f"the driver's CPU/flow ≤ ½ oidc-provider's server CPU/flow (c={REFERENCE})",
            f"{ref.driver_ms_per_flow:.2f} ms vs {ref.cpu_ms_per_flow:.2f} ms ({share:.2f}×)",
            share <= 0.5,
        )
        best, last, saturated = saturation(node)
        row(
            "oidc-provider reaches its own saturation (flows/s flat at the top levels, "
            "or its one process ≥ 0.9 core busy)",
            f"best {best.flows_per_s:.0f} flows/s at c={best.concurrency} "
            f"({best.server_cores:.2f} core), {last.flows_per_s:.0f} at c={last.concurrency}",
            saturated,
        )

    for r in results:
        if not r["name"].startswith("Belay"):
            continue
        if node is not None:
            mine, ref = at_level(r, REFERENCE), at_level(node, REFERENCE)
            x = mine.flows_per_s / ref.flows_per_s
            row(
                f"{r['name']}: flows/s at c={REFERENCE} ≥ 1.0× oidc-provider",
                f"{x:.2f}×",
                x >= 1.0,
            )
            c = mine.cpu_ms_per_flow / ref.cpu_ms_per_flow
            row(f"{r['name']}: server CPU/flow ≤ 2× oidc-provider", f"{c:.2f}×", c <= 2.0)
        if "rs_kit" in r:
            share = r["rs_kit"]["validate"] / r["rs_kit"]["raw"]
            row(
                "RS kit validations ≥ 75% of raw ES256 verify", f"{100 * share:.0f}%", share >= 0.75
            )
        if "storm" in r:
            storm = r["storm"]
            locked = next(p for p in storm.phases if p.name == "locked")
            row(
                f"{r['name']}: no argon2 work for locked accounts",
                f"{locked.argon2:.0f} computations for {locked.attempts} attempts",
                locked.argon2 == 0,
            )
            base = storm.baseline.step("flow", 95)
            for phase in storm.phases:
                x = phase.normal.step("flow", 95) / base
                row(
                    f"{r['name']}: normal-flow p95 during the storm ({phase.name} phase) ≤ 2×",
                    f"{x:.2f}×",
                    x <= 2,
                )
            spray = next((p for p in storm.phases if p.name == "spray"), None)
            if spray is not None:
                row(
                    f"{r['name']}: a spray from one address is stopped by the address "
                    f"limit (argon2 computations ≤ SIGN_IN_ADDRESS_LIMIT, {storm.address_limit})",
                    f"{spray.argon2:.0f} computations for {spray.attempts} guesses, "
                    f"{spray.limited} answered `429`",
                    spray.argon2 <= storm.address_limit,
                )
        for burst in r.get("bursts", []):
            if burst.users == max(BURSTS):
                row(
                    f"{r['name']}: no `503` for {burst.users} concurrent sign-ins of "
                    "different users",
                    f"{burst.signed_in} signed in, {burst.statuses[503]} `503`, "
                    f"{burst.statuses[429]} `429`, p95 {ms(burst.p(95))} ms",
                    burst.statuses[503] == 0 and burst.signed_in == burst.users,
                )
        if "prefill" in r:
            grown = r["prefill"]
            empty = next(x for x in grown["empty"] if x.concurrency == REFERENCE)
            filled = next(x for x in grown["filled"] if x.concurrency == REFERENCE)
            x = filled.flows_per_s / empty.flows_per_s if empty.flows_per_s else 0.0
            row(
                f"{r['name']}: pre-filled database (scale {grown['scale']:g}), flows/s at "
                f"c={REFERENCE} within 15% of the empty one",
                f"{filled.flows_per_s:.1f} vs {empty.flows_per_s:.1f} ({x:.2f}×)",
                x >= 0.85,
            )
    slowest = min(decide[k] for k in decide if not k.startswith("parse"))
    row("decide() ≥ 50,000/s on one core", f"{slowest:,.0f}/s (slowest case)", slowest >= 50_000)
    return lines


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per timed level")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-node", action="store_true")
    parser.add_argument("--storm-accounts", type=int, default=100)
    parser.add_argument("--wrong-rounds", type=int, default=2, help="wrong PINs per live account")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--prefill-scale",
        type=float,
        default=None,
        help="size of the pre-filled database (1: 100,000 users, 1,000,000 audit rows, "
        "...; default 1, 0.05 with --quick; 0 skips that phase)",
    )
    parser.add_argument(
        "--driver-processes",
        type=int,
        default=DEFAULT_PROCESSES,
        help="the load driver's worker processes",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2.0
        args.storm_accounts = min(args.storm_accounts, 10)
    if args.prefill_scale is None:
        args.prefill_scale = 0.05 if args.quick else 1.0

    totp_per_level = {1: 8, 4: 24, 16: 64} if not args.quick else {1: 2, 4: 4, 16: 16}
    notes: list[str] = []
    log("policy.decide()")
    decide = micro.decide_rates(1.0 if args.quick else 3.0)
    workdir = Path(tempfile.mkdtemp(prefix="belay-bench-"))
    plan: list[Target] = []
    if not args.no_node:
        plan.append(NodeTarget(workdir / "node"))
    plan.append(
        BelayTarget(workdir / "sqlite", f"sqlite:///{workdir / 'sqlite' / 'belay.sqlite3'}")
    )
    if not args.no_postgres:
        url, info = fresh_postgres(os.environ.get("BENCH_POSTGRES_URL", POSTGRES_URL))
        if url is None:
            notes.append(f"PostgreSQL skipped: {info}")
            log(notes[-1])
        else:
            notes.append(f"PostgreSQL {info} (database `{url.rsplit('/', 1)[1]}`, fresh)")
            plan.append(BelayTarget(workdir / "postgres", url))
    results = []
    for i, target in enumerate(plan):
        target.workdir.mkdir(parents=True, exist_ok=True)
        results.append(
            bench_target(
                target,
                seconds=args.seconds,
                totp_per_level=totp_per_level,
                storm_accounts=args.storm_accounts,
                wrong_rounds=args.wrong_rounds,
                do_rs_kit=isinstance(target, BelayTarget) and i == len(plan) - 1,
                processes=args.driver_processes,
                prefill_scale=args.prefill_scale,
            )
        )
    write_report(args.out, results, decide, notes, args)
    log(f"wrote {args.out} (server logs in {workdir})")
    subprocess.run(["cat", str(args.out)], check=False)


if __name__ == "__main__":
    main()
