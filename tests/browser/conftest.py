"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against a
real server process. Screenshots of key pages go to tests/artifacts/.

Every page of Belay the tests reach is checked once per run for accessibility
(tests/browser/a11y.py: axe-core's serious and critical violations, sideways
scroll): a test that reaches a failing page fails at teardown.

Passkeys use the Chrome DevTools WebAuthn virtual authenticator. WebAuthn
needs a domain as RP ID, so the browser talks to http://localhost:PORT.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.a11y import WatchedBrowser, Watcher
from tests.conftest import ARTIFACTS, LiveServer, free_port, server_env

CHROMIUM = os.environ.get("BELAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CALLBACK = "http://localhost:8976/callback"
WATCHER = Watcher()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install Debian's chromium package (.ci/run does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield WatchedBrowser(instance, WATCHER)
        instance.close()


@pytest.fixture(autouse=True)
def _accessible_pages() -> Iterator[None]:
    """The pages this test reached first in the run have no serious accessibility fault."""
    WATCHER.take()
    yield
    findings = WATCHER.take()
    if findings:
        pytest.fail(
            f"{len(findings)} accessibility finding(s) on pages this test reached:\n"
            + "\n".join(findings)
        )


@pytest.fixture
def op(app: Any) -> Iterator[LiveServer]:
    """The OP on http://localhost:PORT, sharing the test database."""
    port = free_port()
    origin = f"http://localhost:{port}"
    env = server_env(port, BELAY_ISSUER=origin, BELAY_RP_ID="localhost", BELAY_ORIGINS=origin)
    server = LiveServer(port, env).start()
    server.url = origin
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    tab = context.new_page()
    # The relying party's callback: answer it so the browser shows where it landed.
    tab.route(
        f"{CALLBACK}*",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>callback</h1>"),
    )
    yield tab
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def other_way(page: Any, selector: str) -> None:
    """Open "Use another way" on a challenge page when ``selector`` is one of
    the ways under it (provider/web/factor_forms.py ``arrange``)."""
    if not page.is_visible(selector):
        page.click("#other-ways summary")
        page.wait_for_selector(selector, state="visible")
