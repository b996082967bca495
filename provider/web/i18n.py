"""Which language and time zone a page is shown in (docs/i18n.md).

Language, first match wins:

1. the ``ui_locales`` of the authorization request this page belongs to
   (OpenID Connect Core §3.1.2.1; stored with the transaction, so the login,
   challenge and consent pages of that sign-in all follow it) — on
   ``/authorize`` itself, the request's own parameter;
2. the browser's ``Accept-Language``;
3. ``DEFAULT_LOCALE`` (English unless configured).

An unsupported ``ui_locales`` value is ignored (the next rule decides).

Time zone: the signed-in user's ``zoneinfo`` (set on the account page), else
``DEFAULT_TIMEZONE``. Dates are formatted by :func:`format_datetime` (the
``datetime`` template filter).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, get_locale, get_timezone

from provider import i18n
from provider.errors import N_
from provider.flows import account as account_flow
from provider.web import session as web_session

#: The texts static/js/passkey.js shows, by their English words: each passkey box
#: carries them translated (``data-messages``), and the script looks its words up
#: there (tests/test_i18n.py checks the list against the script).
PASSKEY_MESSAGES: tuple[str, ...] = (
    N_("The passkey request was cancelled or timed out. Try again when you are ready."),
    N_("This passkey is already registered for your account."),
    N_("Passkeys are not allowed on this address."),
    N_("The passkey request was cancelled."),
    N_("Something went wrong with the passkey. Try again."),
    N_("The server refused the passkey."),
    N_("This browser does not support passkeys. Use another way to sign in."),
    N_("No passkey was chosen."),
    N_("Checking your passkey…"),
    N_("Waiting for your passkey…"),
)

__all__ = [
    "EVENT_WORDS",
    "PASSKEY_MESSAGES",
    "event_words",
    "format_datetime",
    "init_app",
    "note_ui_locales",
    "passkey_messages",
    "select_locale",
    "select_timezone",
]


def note_ui_locales(ui_locales: tuple[str, ...]) -> None:
    """The ``ui_locales`` of the transaction this request works on (read as the
    transaction is loaded, so the language costs no query of its own)."""
    g.belay_ui_locales = ui_locales


def _request_ui_locales() -> tuple[str, ...]:
    noted = g.get("belay_ui_locales")
    if noted is not None:
        return tuple(noted)
    if request.endpoint == "oidc.authorize":
        return tuple(str(request.values.get("ui_locales", "")).split())
    return ()


def select_locale() -> str:
    default = str(current_app.config["DEFAULT_LOCALE"])
    if not has_request_context():
        return default
    chosen = i18n.pick(_request_ui_locales())
    if chosen is not None:
        return chosen
    accepted = request.accept_languages.best_match(i18n.LANGUAGES)
    return accepted or default


def select_timezone() -> ZoneInfo:
    default = str(current_app.config["DEFAULT_TIMEZONE"])
    zone = None
    if has_request_context():
        signed_in = web_session.signed_in()
        zone = signed_in[1].zoneinfo if signed_in is not None else None
    try:
        return ZoneInfo(zone or default)
    except (ZoneInfoNotFoundError, ValueError):  # a zone this machine no longer knows
        return ZoneInfo(default)


def format_datetime(epoch: int | None) -> str:
    """Epoch seconds as a date and time in the request's language and time zone,
    with the zone's name: ``Dec 7, 2026, 5:53 PM CET`` / ``07.12.2026, 17:53 MEZ``."""
    if not epoch:
        return ""
    moment = datetime.fromtimestamp(epoch, UTC)
    locale = get_locale() or current_app.config["DEFAULT_LOCALE"]
    zone = get_timezone()
    day = dates.format_date(moment.astimezone(zone), "medium", locale=locale)
    time = dates.format_time(moment, "short", tzinfo=zone, locale=locale)
    name = dates.format_time(moment, "z", tzinfo=zone, locale=locale)
    if name[:1] in "+-":  # no abbreviation in this language: "GMT+01:00", not "+0100"
        name = dates.get_timezone_gmt(moment.astimezone(zone), "long", locale=locale)
    return f"{day}, {time} {name}"


#: What the account page and the admin console call the audit log's events and results.
EVENT_WORDS: dict[str, str] = {
    "login": N_("Sign-in"),
    "logout": N_("Sign-out"),
    "step_up": N_("Step-up"),
    "step_up_required": N_("Step-up asked for"),
    "authorize": N_("Authorization"),
    "consent": N_("Consent"),
    "confirm_access": N_("Access confirmed"),
    "factor_enrolled": N_("Sign-in method added"),
    "factor_removed": N_("Sign-in method removed"),
    "factor_locked": N_("Sign-in method locked"),
    "factors_reset": N_("Second factors reset"),
    "unlock": N_("Unlocked"),
    "password_changed": N_("Password changed"),
    "backup_codes_generated": N_("Backup codes made"),
    "session_revoked": N_("Session signed out"),
    "sessions_revoked": N_("Sessions signed out"),
    "device_remembered": N_("Browser remembered"),
    "device_replayed": N_("Remembered browser used"),
    "device_revoked": N_("Browser forgotten"),
    "passkey_renamed": N_("Passkey renamed"),
    "otp_sent": N_("Code sent"),
    "time_zone_changed": N_("Time zone changed"),
    "success": N_("success"),
    "failure": N_("failure"),
    "refused": N_("refused"),
    "granted": N_("granted"),
    "denied": N_("denied"),
    "cancelled": N_("cancelled"),
}


def event_words(name: str | None) -> str:
    """An audit event or result in the page's language (an unknown one: its words)."""
    if not name:
        return ""
    known = EVENT_WORDS.get(name)
    return i18n.translate(known) if known else name.replace("_", " ")


def passkey_messages() -> dict[str, str]:
    """The passkey script's texts in the page's language, by their English words
    (only those that differ: an English page carries none)."""
    translated = {text: i18n.translate(text) for text in PASSKEY_MESSAGES}
    return {text: words for text, words in translated.items() if words != text}


def init_app(app: Flask, translations: Path) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(translations)
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["DEFAULT_LOCALE"]
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["DEFAULT_TIMEZONE"]
    Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.add_template_filter(format_datetime, "datetime")
    # ``message|translate``: a text chosen in Python (an error, a flash) in the page's
    # language. A plain string, so autoescaping still applies — unlike ``_(variable)``,
    # which Jinja marks safe.
    app.add_template_filter(lambda text: i18n.translate(str(text)) if text else "", "translate")
    app.add_template_filter(event_words, "event_words")

    @app.context_processor
    def _language() -> dict[str, Any]:
        return {
            "page_language": str(get_locale() or app.config["DEFAULT_LOCALE"]),
            "passkey_messages": passkey_messages,
            "time_zone_choices": account_flow.time_zones,
        }

    @app.after_request
    def _vary(response: Any) -> Any:
        # Pages differ by Accept-Language: a shared cache must keep them apart.
        if response.mimetype == "text/html":
            response.vary.add("Accept-Language")
        return response
