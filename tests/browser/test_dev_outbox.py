"""/dev/outbox in Chromium (BELAY_DEV_OUTBOX on): readable at 1280 and 375 px
(no sideways scroll for a long email), no serious accessibility fault (the
browser fixture's axe check), the newest message first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from provider.storage import dev_outbox as store
from tests.browser.a11y import sideways_scroll, violations
from tests.browser.conftest import shot
from tests.conftest import LiveServer, free_port, server_env

LONG = (
    "Subject: Your sign-in code\n\nYour Belay sign-in code is 123456\n\n"
    "Someone asked to sign in to Belay as you with a code sent here. It is valid for "
    "5 minutes, works once, and only in the browser where it was asked for."
)


@pytest.fixture
def outbox_op(app: Any) -> Iterator[LiveServer]:
    port = free_port()
    origin = f"http://localhost:{port}"
    env = server_env(port, BELAY_ISSUER=origin, BELAY_ORIGINS=origin, BELAY_DEV_OUTBOX="on")
    server = LiveServer(port, env).start()
    server.url = origin
    yield server
    server.stop()


@pytest.mark.parametrize("width", [1280, 375])
def test_the_outbox_page_reads_well_on_a_phone(
    app: Any, outbox_op: LiveServer, page: Any, width: int
) -> None:
    with app.app_context():
        store.add(channel="email", recipient="alice@example.test", text=LONG, now=1_800_000_000)
        store.add(
            channel="sms",
            recipient="+447700900123",
            text="Your Belay confirmation code is 654321. Valid 5 min.",
            now=1_800_000_060,
        )
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{outbox_op.url}/dev/outbox")
    items = page.locator("#outbox li")
    assert items.count() == 2
    assert "654321" in items.nth(0).inner_text() and "123456" in items.nth(1).inner_text()
    assert sideways_scroll(page) is None
    assert violations(page) == []
    shot(page, f"dev-outbox-{width}")
