"""Every page in English and in German (docs/i18n.md): each page is fetched twice,
with ``Accept-Language: en`` and ``de``, and every text a person reads (text
nodes and the ``aria-label``, ``placeholder``, ``title`` and ``alt`` attributes)
that reads the same in both is an untranslated string — unless it is a name
the test created, a code, a technical value (``<code>``, ``<option>`` values
like ``client_secret_basic``) or a word German shares (``PIN``, ``Passkey``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from flask import Flask

from tests.conftest import Actions, csrf_from
from tests.test_admin_console import Admin, add_totp

#: Words and phrases German writes as English does.
SAME_IN_GERMAN = {
    "Belay",
    "PIN",
    "Passkey",
    "Passkeys",
    "Client",
    "Clients",
    "Client <code>%(id)s</code>",
    "Details",
    "Name",
    "Simulator",
    "Administrator",
    "Step-ups",
    "acr",
    "amr",
    "claims (JSON)",
    "·",
    "—",
}
#: Values the pages show as they are (protocol and configuration identifiers).
TECHNICAL = re.compile(
    r"^(urn:[\w:.-]+|[a-z0-9]+(_[a-z0-9]+)+|[a-z]+:[a-z:]+|jwt|opaque|strict|voluntary|required|"
    r"preferred|discouraged|password|totp|pin|passkey|backup_code|email_otp|sms_otp|"
    r"openid|profile|email|offline_access|ES256|RS256|EdDSA|step_up|satisfied|fail|"
    r"success|failure|prompt|login|logout|pwd|hwk|swk|user|mfa|otp|sms|face|fpt|max_age|"
    r"acr_values|since|until|[\w.+-]+@[\w.-]+|\+\d+|\d[\d\s.,:/-]*|[{\[].*|[\w/.-]+\.(md|py|json))$"
)


class _Texts(HTMLParser):
    """The texts of a page a person reads, outside ``<code>``, ``<script>``, ``<style>``."""

    SKIP = {"script", "style", "code", "textarea", "option", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.lang: str | None = None
        self._skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        for name in ("aria-label", "placeholder", "title", "alt"):
            if values.get(name):
                self.texts.append(str(values[name]))
        if tag in self.SKIP:
            self._skipping.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            text = " ".join(data.split())
            if text:
                self.texts.append(text)


def texts(html: str) -> tuple[str | None, list[str]]:
    parser = _Texts()
    parser.feed(html)
    return parser.lang, parser.texts


def untranslated(english: str, german: str, names: set[str]) -> list[str]:
    """Texts of the German page that are the English page's, and no name or code."""
    lang, german_texts = texts(german)
    assert lang == "de", german[:300]
    _, english_texts = texts(english)
    found = []
    for text in german_texts:
        if text not in english_texts or not re.search(r"[A-Za-z]{2}", text):
            continue
        bare = text.strip(" .,:;()·—-")
        bare = re.sub(r"\s*[\w/.-]+\.md\b", "", bare).strip(" .,:;()·—-")
        if bare in SAME_IN_GERMAN or text in SAME_IN_GERMAN or bare in names:
            continue
        if (
            not re.search(r"[A-Za-z]{2}", bare)
            or TECHNICAL.match(bare)
            or all(TECHNICAL.match(w) or w in names for w in bare.split())
        ):
            continue
        found.append(text)
    return found


class Pages:
    """Fetch a page in both languages and collect what stayed English."""

    def __init__(self, actions: Actions, names: set[str]) -> None:
        self.client = actions.client
        self.names = names
        self.problems: dict[str, list[str]] = {}
        self.seen: list[str] = []

    def both(self, path: str, *, verb: str = "GET", status: int | None = 200, **data):
        pages = {}
        form_path = data.pop("_form", path)
        for language in ("en", "de"):
            self.client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
            if verb == "GET":
                response = self.client.get(path)
            else:
                form = self.client.get(form_path)
                response = self.client.post(path, data={"csrf_token": csrf_from(form.text), **data})
            if status is not None:
                assert response.status_code == status, (path, language, response.text[:600])
            pages[language] = response.text
        self.client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
        left = untranslated(pages["en"], pages["de"], self.names)
        self.seen.append(f"{verb} {path}")
        if left:
            self.problems[f"{verb} {path}"] = left
        return pages["de"]


@pytest.fixture
def pages(app: Flask, actions: Actions) -> Iterator[Pages]:
    yield Pages(actions, {"root", "alice", "rp", "Demo RP", "Belay"})


def test_the_consent_logout_and_admin_pages_are_german(app, actions, pages):
    from provider import clock

    actions.create_client("rp", name="Demo RP", first_party=False)
    user_id = actions.create_user("root", is_admin=True)
    secret = add_totp(app, user_id, "root")
    assert actions.login("root").status_code == 302
    admin = Admin(actions, secret)
    pages.both("/admin/", status=403)  # the console's own "Confirm it's you"
    admin.step_up()
    try:
        for path in (
            "/admin/",
            "/admin/users",
            f"/admin/users/{user_id}",
            "/admin/clients",
            "/admin/clients/rp",
            "/admin/simulator",
            "/admin/ladder",
            "/admin/audit",
        ):
            pages.both(path)
        pages.both(
            "/admin/simulator",
            verb="POST",
            client_id="rp",
            enrolled=["password", "totp"],
            event=["password"],
            ago_password="30",
        )
        pages.both("/admin/audit?since=yesterday", status=None)
        # a confirmation page (templates/confirm_action.html)
        pages.both("/admin/clients/rp/delete", verb="POST", _form="/admin/clients/rp")
        consent = actions.follow(actions.authorize("rp"))
        assert 'id="consent-form"' in consent.text, consent.text[:500]
        pages.both(consent.request.path + "?" + consent.request.query_string.decode())
        pages.both("/logout")
    finally:
        clock.set_offset(0)
    actions.client.post(
        "/logout", data={"csrf_token": csrf_from(actions.client.get("/logout").text)}
    )
    assert not pages.problems, "\n".join(f"{k}: {v}" for k, v in pages.problems.items())


def test_the_sign_in_account_and_error_pages_are_german(app, actions, pages):
    from provider import clock
    from tests.test_account_and_step_up import confirm_with_totp, enrol_pin, enrol_totp

    actions.create_client(
        "rp",
        name="Demo RP",
        client_policy={"pin_login": True, "passwordless_login": True},
    )
    actions.create_user("alice")
    try:
        pages.both("/login")
        page = actions.follow(actions.authorize("rp"))
        login_path = page.request.path + "?" + page.request.query_string.decode()
        pages.both(login_path)
        pages.both(login_path, verb="POST", status=None, username="alice", password="wrong")
        assert actions.login().status_code == 302
        pages.both("/account")
        enrol_pin(actions)
        secret = enrol_totp(actions)
        confirm_with_totp(actions, secret)
        pages.both("/account")
        # the challenge page with every form: a fresh confirmation at 2fa
        clock.set_offset(62)
        challenge = actions.follow(
            actions.authorize("rp", acr_values="urn:belay:acr:2fa", max_age="0")
        )
        assert "/challenge" in challenge.request.path, challenge.text[:500]
        challenge_path = challenge.request.path + "?" + challenge.request.query_string.decode()
        pages.both(challenge_path)
        tx = challenge_path.split("tx=")[1]
        pages.both(challenge_path, verb="POST", status=None, tx=tx, method="pin", pin="000000")
        # error pages
        pages.both("/login?tx=gone", status=None)
        pages.both("/authorize?client_id=nobody&redirect_uri=x", status=400)
        pages.both("/no-such-page", status=404)
        pages.both("/logout")
        actions.client.post(
            "/logout", data={"csrf_token": csrf_from(actions.client.get("/logout").text)}
        )
    finally:
        clock.set_offset(0)
    assert not pages.problems, "\n".join(f"{k}: {v}" for k, v in pages.problems.items())
