"""Two languages: English and German (docs/i18n.md).

The words people read — pages, emails, text messages, error descriptions shown
on a page — are English msgids looked up in the catalogues under
``translations/`` (shipped in the wheel as ``provider/_translations``) in the
language Flask-Babel chose for the request (provider/web/i18n.py: the
authorization request's ``ui_locales``, then ``Accept-Language``, then
``DEFAULT_LOCALE``). Outside a request, and for protocol errors (OAuth error
codes and descriptions in JSON and redirects), the text stays English.

- :func:`_` translates now (in a request: its language; else English);
- :func:`translate` looks up a constant marked with ``N_``
  (provider/errors.py; e.g. an error class's default description) where it is
  shown;
- :func:`pick` chooses a supported language from a list of BCP 47 tags.

A utility module at the bottom of the layers: it imports nothing from Belay.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from flask_babel import get_locale, get_translations, gettext, ngettext

__all__ = ["LANGUAGES", "_", "language", "ngettext_", "pick", "translate", "translate_plural"]

#: The languages Belay speaks, the first the fallback (``ui_locales_supported``).
LANGUAGES: Final = ("en", "de")


def _(text: str, **params: Any) -> str:
    """``text`` in the request's language, ``%(name)s`` filled from ``params``."""
    return str(gettext(text, **params))


def ngettext_(singular: str, plural: str, num: int, **params: Any) -> str:
    """The singular or plural of a text in the request's language (``%(num)d``)."""
    return str(ngettext(singular, plural, num, **params))


def translate(text: str) -> str:
    """A marked constant (``N_``) in the request's language; any other text as is."""
    return str(gettext(text)) if text else text


def translate_plural(singular: str, plural: str, num: int) -> str:
    """The singular or plural form, unformatted (Jinja's ``ngettext`` formats it)."""
    return str(get_translations().ungettext(singular, plural, num))


def language() -> str:
    """The request's language (``en`` outside a request)."""
    return str(get_locale() or LANGUAGES[0])


def pick(tags: Iterable[str]) -> str | None:
    """The first supported language of ``tags`` (``de-DE`` counts as ``de``), or None."""
    for tag in tags:
        primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
        if primary in LANGUAGES:
            return primary
    return None
