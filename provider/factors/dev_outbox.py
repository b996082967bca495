"""Development delivery (BELAY_DEV_OUTBOX): codes by email and SMS kept, not sent.

Each message is stored in the database (every server process lists the same
ones at /dev/outbox) and printed on standard error, so a newcomer running
``make run`` can try every factor without a mail server or SMS gateway. The
configuration refuses the setting unless the issuer is http on a loopback host
(provider/config.py); the page answers only requests from this host.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from provider import clock
from provider.factors.delivery import Channel, EmailChannel, sms_text
from provider.storage import dev_outbox as store

__all__ = ["OutboxChannel", "outbox_channels"]


class OutboxChannel:
    """A channel ("email" or "sms") whose messages go to the development outbox."""

    def __init__(
        self,
        name: str,
        *,
        render: Callable[[str, str, int, str], str],
        page: str,
        now: Callable[[], int] = clock.now,
    ) -> None:
        self.name = name
        self._render = render
        self._page = page
        self._now = now

    def send(self, to: str, code: str, *, ttl: int, purpose: str) -> None:
        text = self._render(to, code, ttl, purpose)
        store.add(channel=self.name, recipient=to, text=text, now=self._now())
        print(
            f"[dev outbox] {self.name} to {to}: code {code} ({purpose}; {self._page})",
            file=sys.stderr,
            flush=True,
        )


def outbox_channels(config: Mapping[str, Any]) -> dict[str, Channel]:
    """Email and SMS both delivered to the outbox (a configured SMTP server or SMS
    webhook is not used while the outbox is on)."""
    issuer_name = str(config.get("TOTP_ISSUER_NAME", "Belay"))
    page = f"{str(config['ISSUER']).rstrip('/')}/dev/outbox"
    email = EmailChannel(
        host="dev-outbox.invalid",
        port=25,
        security="none",
        sender=str(config.get("SMTP_SENDER") or "belay@localhost"),
        subject=str(config["SMTP_SUBJECT"]),
        issuer_name=issuer_name,
    )

    def email_text(to: str, code: str, ttl: int, purpose: str) -> str:
        message = email.message(to, code, ttl=ttl, purpose=purpose)
        body = message.get_body(("plain",))
        content = body.get_content() if body is not None else ""
        return f"Subject: {message['Subject']}\n\n{str(content).strip()}"

    def sms(to: str, code: str, ttl: int, purpose: str) -> str:
        return sms_text(issuer_name, code, ttl=ttl, purpose=purpose)

    return {
        "email": OutboxChannel("email", render=email_text, page=page),
        "sms": OutboxChannel("sms", render=sms, page=page),
    }
