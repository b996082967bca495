"""Delivery channels for one-time codes: email over SMTP and SMS through a webhook.

A channel is enabled only when it is configured (:func:`channels_from_config`).
Sending raises :class:`DeliveryFailed` with a message fit for people; the
caller audits it, and a failed delivery never counts as a failed attempt.

The email bodies are the ``email/code.txt`` and ``email/code.html`` templates,
rendered by a plain Jinja2 environment over the application's templates
directory (HTML autoescaped), not by Flask's request-bound ``render_template``.
Subject, bodies and text messages are in the request's language (the sign-in
request's ``ui_locales``, else the browser's; docs/i18n.md).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import requests
from flask import current_app
from jinja2 import BaseLoader, Environment, select_autoescape

from provider.errors import BelayError
from provider.i18n import _, language, translate, translate_plural

__all__ = [
    "Channel",
    "DeliveryFailed",
    "EmailChannel",
    "WebhookSmsChannel",
    "channels_from_config",
    "email_subject",
    "message_templates",
    "sms_text",
]

#: seconds per network operation (SMTP and webhook)
TIMEOUT = 5.0
#: the webhook is tried at most this many times
WEBHOOK_ATTEMPTS = 2


def message_templates(loader: BaseLoader) -> Environment:
    """A Jinja2 environment for message bodies: HTML templates autoescaped, like
    the pages' (Flask's own choice of extensions), ``_()`` in the request's language."""
    env = Environment(
        loader=loader,
        autoescape=select_autoescape(("html", "htm", "xml", "xhtml", "svg")),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=translate,
        ngettext=translate_plural,
        newstyle=True,
    )
    return env


class DeliveryFailed(BelayError):
    """The code could not be handed to the mail server or SMS gateway: a 503
    (never a failed attempt); ``message`` (the ``description``) says what to do."""

    error = "delivery_failed"
    status_code = 503

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Channel(Protocol):
    #: "email" or "sms"
    name: str

    def send(self, to: str, code: str, *, ttl: int, purpose: str) -> None:
        """Deliver ``code`` to ``to``; :class:`DeliveryFailed` when it cannot."""
        ...


class EmailChannel:
    """SMTP with STARTTLS, implicit TLS or none; plain-text and HTML bodies."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        sender: str,
        subject: str,
        username: str = "",
        password: str = "",
        issuer_name: str = "Belay",
        templates: Environment | None = None,
    ) -> None:
        if security not in {"starttls", "tls", "none"}:
            raise ValueError("security must be starttls, tls or none")
        self.host = host
        self.port = port
        self.security = security
        self.sender = sender
        self.subject = subject
        self.username = username
        self.password = password
        self.issuer_name = issuer_name
        self._templates = templates

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        if self._templates is None:
            # The application's templates directory (configuration, not a request).
            loader = current_app.jinja_loader
            if loader is None:  # pragma: no cover - the app always has its folder
                raise RuntimeError("no templates directory to render email messages from")
            self._templates = message_templates(loader)
        return self._templates.get_template(name).render(context)

    def message(self, to: str, code: str, *, ttl: int, purpose: str) -> EmailMessage:
        context: dict[str, Any] = {
            "code": code,
            "minutes": max(1, ttl // 60),
            "purpose": purpose,
            "issuer_name": self.issuer_name,
            "language": language(),
        }
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = self.subject or email_subject(self.issuer_name, purpose)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid()
        msg.set_content(self._render("email/code.txt", context))
        msg.add_alternative(self._render("email/code.html", context), subtype="html")
        return msg

    def send(self, to: str, code: str, *, ttl: int, purpose: str) -> None:
        msg = self.message(to, code, ttl=ttl, purpose=purpose)
        try:
            smtp: smtplib.SMTP
            if self.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=TIMEOUT, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryFailed(
                _("We could not send the email just now. Try again later or use another way.")
            ) from exc


def email_subject(issuer_name: str, purpose: str) -> str:
    """The subject of a code email for ``purpose`` in the request's language."""
    if purpose == "login":
        return _("Your %(issuer)s sign-in code", issuer=issuer_name)
    if purpose == "verify":
        return _("Your %(issuer)s code", issuer=issuer_name)
    return _("Your %(issuer)s confirmation code", issuer=issuer_name)


def sms_text(issuer_name: str, code: str, *, ttl: int, purpose: str) -> str:
    """A text message for ``purpose`` (``login``, ``step_up`` or ``verify``), in the
    request's language."""
    values = {"issuer": issuer_name, "code": code, "minutes": max(1, ttl // 60)}
    if purpose == "login":
        return _(
            "Your %(issuer)s sign-in code is %(code)s. Valid %(minutes)s min, in the browser "
            "that asked. Whoever has it can sign in as you: never share it.",
            **values,
        )
    if purpose == "verify":
        return _(
            "Your %(issuer)s code is %(code)s. Enter it on your account page to confirm "
            "this number. Valid %(minutes)s min.",
            **values,
        )
    return _(
        "Your %(issuer)s confirmation code is %(code)s. Valid %(minutes)s min. "
        "Not you? Someone may know your password: change it.",
        **values,
    )


class WebhookSmsChannel:
    """An HTTP POST of ``{"to": …, "message": …}`` with a bearer token."""

    name = "sms"

    def __init__(self, *, url: str, token: str = "", issuer_name: str = "Belay") -> None:
        self.url = url
        self.token = token
        self.issuer_name = issuer_name

    def message(self, code: str, *, ttl: int, purpose: str) -> str:
        """The text of one message: one wording per purpose (sign-in, step-up,
        destination verification)."""
        return sms_text(self.issuer_name, code, ttl=ttl, purpose=purpose)

    def send(self, to: str, code: str, *, ttl: int, purpose: str) -> None:
        message = self.message(code, ttl=ttl, purpose=purpose)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        last: Exception | None = None
        for _attempt in range(WEBHOOK_ATTEMPTS):
            try:
                response = requests.post(
                    self.url,
                    json={"to": to, "message": message},
                    headers=headers,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                last = exc
                continue
            if 200 <= response.status_code < 300:
                return
            last = RuntimeError(f"SMS webhook answered {response.status_code}")
            if response.status_code < 500:
                break  # the gateway refused it: trying again will not help
        raise DeliveryFailed(
            _("We could not send the text message just now. Try again later or use another way.")
        ) from last


def channels_from_config(config: Mapping[str, Any]) -> dict[str, Channel]:
    """The configured channels by name (a channel missing here is disabled)."""
    channels: dict[str, Channel] = {}
    issuer_name = str(config.get("TOTP_ISSUER_NAME", "Belay"))
    if str(config.get("SMTP_HOST", "")).strip() and str(config.get("SMTP_SENDER", "")).strip():
        channels["email"] = EmailChannel(
            host=str(config["SMTP_HOST"]).strip(),
            port=int(config["SMTP_PORT"]),
            security=str(config["SMTP_SECURITY"]).lower(),
            sender=str(config["SMTP_SENDER"]),
            subject=str(config["SMTP_SUBJECT"]),
            username=str(config.get("SMTP_USERNAME", "")),
            password=str(config.get("SMTP_PASSWORD", "")),
            issuer_name=issuer_name,
        )
    if str(config.get("SMS_WEBHOOK_URL", "")).strip():
        channels["sms"] = WebhookSmsChannel(
            url=str(config["SMS_WEBHOOK_URL"]).strip(),
            token=str(config.get("SMS_WEBHOOK_TOKEN", "")),
            issuer_name=issuer_name,
        )
    return channels
