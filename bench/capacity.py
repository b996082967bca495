"""Different users signing in at the same moment (Belay; issue 20 item 3).

Each simulated browser opens the sign-in page (not timed), then all of them post
the form (username + password: one argon2id verification each) at the same
instant, released by a barrier. Nothing is retried: a browser does not retry a
``503``, so for a person it is a failed sign-in. Each browser connects from its
own loopback address (127.0.x.y), so the server sees as many client addresses
as there are people, as it would on the internet; the limit of sign-ins per
address (``SIGN_IN_ADDRESS_LIMIT``) stays at its default. (From one address the
limit would not interfere either: a success gives its attempt back and 32 is
below the default 100, but people are not one address.)
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from bench.browser import Browser, Response
from bench.driver import pct
from bench.targets import PASSWORD, BelayTarget

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def address(i: int) -> str:
    """The ``i``-th simulated client address (127.0.1.1 onwards; 127.0.0.1, the
    driver's usual address, is never one of them)."""
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


@dataclass
class Burst:
    users: int
    statuses: Counter[int] = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)  # seconds, request to answer
    argon2: float = 0.0
    seconds: float = 0.0  # from the release to the last answer

    @property
    def signed_in(self) -> int:
        return self.statuses[302] + self.statuses[303]

    def p(self, q: float) -> float:
        """The q-th percentile of the answer times, in ms."""
        return pct(self.times, q)

    @property
    def other(self) -> int:
        return self.users - self.signed_in - self.statuses[503] - self.statuses[429]


def sign_in_burst(target: BelayTarget, names: list[str], first_address: int = 0) -> Burst:
    """``names`` post the sign-in form at once, each from its own client address."""
    browsers = [Browser(target.url, source=address(first_address + i)) for i in range(len(names))]
    forms: list[dict[str, str]] = []
    for browser, name in zip(browsers, names, strict=True):
        page = browser.get(target.url + "/login", follow=True)
        csrf = _CSRF.search(page.text)
        assert csrf, page.text[:300]
        forms.append({"csrf_token": csrf.group(1), "username": name, "password": PASSWORD})
    burst = Burst(len(names))
    answers: list[Response | None] = [None] * len(names)
    times = [0.0] * len(names)
    release = threading.Barrier(len(names) + 1)

    def post(i: int) -> None:
        release.wait()
        start = time.perf_counter()
        answers[i] = browsers[i].post(target.url + "/login", forms[i])
        times[i] = time.perf_counter() - start

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(names))]
    for thread in threads:
        thread.start()
    argon2_before = target.argon2_operations()
    start = time.perf_counter()
    release.wait()
    for thread in threads:
        thread.join()
    burst.seconds = time.perf_counter() - start
    burst.argon2 = target.argon2_operations() - argon2_before
    for browser in browsers:
        browser.close()
    for answer in answers:
        assert answer is not None
        burst.statuses[answer.status] += 1
    burst.times = times
    return burst
