"""Two languages (docs/i18n.md): which one a page is shown in, the catalogues,
dates in the user's time zone, emails and text messages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

GERMAN_FOOTER = "Geschützt durch Belay"
ENGLISH_FOOTER = "Protected by Belay"


def _tx(response) -> str:
    return parse_qs(urlsplit(response.request.url).query)["tx"][0]


def test_discovery_advertises_the_languages(client):
    data = client.get("/.well-known/openid-configuration").get_json()
    assert data["ui_locales_supported"] == ["en", "de"]


def test_ui_locales_picks_german_for_the_whole_sign_in(actions, client):
    actions.create_client()
    page = actions.follow(actions.authorize(ui_locales="de-DE en"))
    assert 'id="login-form"' in page.text
    assert GERMAN_FOOTER in page.text
    assert '<html lang="de">' in page.text
    # The language is the transaction's: a later page of it follows, whatever the browser says.
    again = client.get(f"/login?tx={_tx(page)}", headers={"Accept-Language": "en"})
    assert GERMAN_FOOTER in again.text


def test_ui_locales_wins_over_accept_language(actions, client):
    actions.create_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = actions.follow(actions.authorize(ui_locales="en"))
    assert 'id="login-form"' in page.text
    assert ENGLISH_FOOTER in page.text


def test_accept_language_picks_german(client):
    page = client.get("/login", headers={"Accept-Language": "de-AT,de;q=0.9,en;q=0.5"})
    assert GERMAN_FOOTER in page.text
    assert "Accept-Language" in page.headers.get("Vary", "")
    assert ENGLISH_FOOTER in client.get("/login", headers={"Accept-Language": "fr"}).text


@pytest.mark.parametrize("ui_locales", ["fr", "x-klingon", "", "zz-ZZ fr-CA", "-", "de" * 100])
def test_unsupported_ui_locales_falls_back(actions, client, ui_locales):
    actions.create_client()
    plain = actions.follow(actions.authorize(ui_locales=ui_locales))
    assert ENGLISH_FOOTER in plain.text  # the default
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = actions.follow(actions.authorize(ui_locales=ui_locales))
    assert GERMAN_FOOTER in page.text  # Accept-Language decides


def test_a_configured_default_language(app, client):
    app.config["DEFAULT_LOCALE"] = "de"
    assert GERMAN_FOOTER in client.get("/login").text
    assert ENGLISH_FOOTER in client.get("/login", headers={"Accept-Language": "en-GB"}).text


def test_ui_locales_is_stored_with_the_request():
    from provider.flows.authorize.request import AuthorizeRequest

    stored = AuthorizeRequest.from_json({**_minimal_json(), "ui_locales": ["de", "en"]})
    assert stored.ui_locales == ("de", "en")
    assert AuthorizeRequest.from_json(stored.to_json()) == stored
    # a transaction stored before the field existed: no preference
    assert AuthorizeRequest.from_json(_minimal_json()).ui_locales == ()


def _minimal_json() -> dict:
    return {
        "v": 1,
        "client_id": "rp",
        "redirect_uri": "https://rp.example.test/callback",
        "scopes": ["openid"],
        "requirement": {
            "acr_values": [],
            "acr_source": "none",
            "unknown_acr_values": [],
            "essential_acr": False,
            "essential_acr_values": [],
            "unknown_essential_acr_values": [],
            "max_age": None,
            "prompt": [],
        },
    }


def test_a_stored_ui_locales_of_another_shape_is_unreadable():
    from provider.flows.authorize.request import AuthorizeRequest, UnreadableRequest

    with pytest.raises(UnreadableRequest):
        AuthorizeRequest.from_json({**_minimal_json(), "ui_locales": "de"})
    with pytest.raises(UnreadableRequest):
        AuthorizeRequest.from_json({**_minimal_json(), "ui_locales": [1]})


# -- the catalogues ------------------------------------------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
PO = ROOT / "translations" / "de" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def _extracted() -> set[str]:
    """Every text for people in the sources, as `make translations` extracts it."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {"_": None, "N_": None, "ngettext_": (1, 2), "ngettext": (1, 2), "gettext": None}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalogue():
    from babel.messages.pofile import read_po

    with open(PO, "rb") as fh:
        return read_po(fh, locale="de")


def test_every_text_for_people_has_a_german_translation():
    catalogue = _catalogue()
    translated = {
        (m.id if isinstance(m.id, str) else m.id[0])
        for m in catalogue
        if m.id and not m.fuzzy and (all(m.string) if isinstance(m.string, tuple) else m.string)
    }
    missing = sorted(_extracted() - translated)
    assert not missing, f"run `make translations` and translate: {missing}"


def test_translations_keep_their_placeholders():
    import re

    placeholder = re.compile(r"%\(\w+\)[sd]")
    for message in _catalogue():
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(set(placeholder.findall(ids[-1])))
        for text in strings:
            assert sorted(set(placeholder.findall(text))) == wanted, message.id


def test_the_compiled_catalogue_matches_the_po_file():
    """The .mo the app loads is committed: it must be `pybabel compile` of the .po."""
    from babel.support import Translations

    with open(MO, "rb") as fh:
        compiled = Translations(fh)
    catalogue = _catalogue()
    for message in catalogue:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            for n, text in enumerate(message.string):
                assert compiled.ungettext(message.id[0], message.id[1], 1 if n == 0 else 2) == text
        else:
            assert compiled.gettext(message.id) == message.string, message.id
    assert len(compiled._catalog) - 1 == sum(  # the header is one entry
        len(m.string) if isinstance(m.id, tuple) else 1 for m in catalogue if m.id and not m.fuzzy
    ), "run `make translations`"


# -- text built in Python: errors, emails, text messages -------------------------


def _german(app):
    return app.test_request_context("/", headers={"Accept-Language": "de"})


def test_factor_errors_are_in_the_request_language(app):
    from provider.factors.pin_policy import PinRejected, check_pin

    with _german(app), pytest.raises(PinRejected) as refused:
        check_pin("12", min_length=6, max_length=12)
    assert refused.value.message == "Eine PIN braucht mindestens 6 Ziffern."
    with _german(app), pytest.raises(PinRejected) as refused:
        check_pin("111111", min_length=6, max_length=12)
    assert "wiederholten Ziffer" in refused.value.message
    with app.test_request_context("/"), pytest.raises(PinRejected) as refused:
        check_pin("111111", min_length=6, max_length=12)
    assert refused.value.message == "A PIN can't be one digit repeated, like 111111."
    # outside any request (the CLI): English
    with pytest.raises(PinRejected) as refused:
        check_pin("111111", min_length=6, max_length=12)
    assert refused.value.message == "A PIN can't be one digit repeated, like 111111."


def test_a_wait_says_one_second_or_n_seconds(app):
    from provider.factors.attempts import wait_words

    with app.test_request_context("/"):
        assert [wait_words(1), wait_words(5)] == ["1 second", "5 seconds"]
    with _german(app):
        assert [wait_words(1), wait_words(5)] == ["1 Sekunde", "5 Sekunden"]


def test_the_sms_text_is_in_the_request_language(app):
    from provider.factors.delivery import sms_text

    with _german(app):
        text = sms_text("Bank", "123456", ttl=300, purpose="login")
    assert text.startswith("Ihr Bank-Anmeldecode ist 123456. Gültig 5 Min.")
    with app.test_request_context("/"):
        assert sms_text("Bank", "123456", ttl=300, purpose="step_up").startswith(
            "Your Bank confirmation code is 123456."
        )


@pytest.mark.parametrize("purpose", ["login", "step_up", "verify"])
def test_the_code_email_follows_the_sign_in_request_language(app, purpose):
    from provider.factors.delivery import EmailChannel
    from provider.web.i18n import note_ui_locales

    channel = EmailChannel(host="h", port=25, security="none", sender="a@b.test", subject="")
    # a page of a sign-in whose request said ui_locales=de, in an English browser
    with app.test_request_context("/login", headers={"Accept-Language": "en"}):
        note_ui_locales(("de",))
        message = channel.message("u@example.com", "654321", ttl=60, purpose=purpose)
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "654321" in text and "654321" in html
    assert message["Subject"].startswith("Ihr Belay-")
    assert "1 Minute gültig" in text  # one minute: the singular
    assert '<html lang="de">' in html
    for english in ("Your", "valid for", "If you did not ask"):
        assert english not in text and english not in html
    with app.test_request_context("/login"):
        english = channel.message("u@example.com", "654321", ttl=600, purpose=purpose)
    assert "valid for 10 minutes" in english.get_body(preferencelist=("plain",)).get_content()
    assert english["Subject"].startswith("Your Belay ")


def test_a_configured_subject_is_sent_as_is(app):
    from provider.factors.delivery import EmailChannel

    channel = EmailChannel(
        host="h", port=25, security="none", sender="a@b.test", subject="Ihr Code"
    )
    with app.test_request_context("/"):
        assert channel.message("u@x.test", "1", ttl=60, purpose="login")["Subject"] == "Ihr Code"


def test_an_email_body_escapes_what_it_is_given(app):
    from provider.factors.delivery import EmailChannel

    channel = EmailChannel(
        host="h", port=25, security="none", sender="a@b.test", subject="", issuer_name="<b>X"
    )
    with _german(app):
        html = channel.message("u@x.test", "1", ttl=60, purpose="login").get_body(
            preferencelist=("html",)
        )
    assert "<b>X" not in html.get_content() and "&lt;b&gt;X" in html.get_content()


# -- dates in the user's language and time zone ---------------------------------

WINTER = 1796659200  # 2026-12-07 16:00:00 UTC
SUMMER = 1783425600  # 2026-07-07 12:00:00 UTC


def test_dates_are_in_the_default_time_zone_and_language(app):
    from provider.web.i18n import format_datetime

    with app.test_request_context("/"):
        assert format_datetime(WINTER) == "Dec 7, 2026, 4:00\u202fPM UTC"
        assert format_datetime(None) == ""
    with _german(app):
        assert format_datetime(WINTER) == "07.12.2026, 16:00 UTC"
    app.config["DEFAULT_TIMEZONE"] = "Europe/Berlin"
    with _german(app):
        assert format_datetime(WINTER) == "07.12.2026, 17:00 MEZ"
        assert format_datetime(SUMMER) == "07.07.2026, 14:00 MESZ"
    with app.test_request_context("/"):
        assert format_datetime(WINTER) == "Dec 7, 2026, 5:00\u202fPM GMT+01:00"


def test_dates_are_in_the_signed_in_users_time_zone(app, actions, client):
    from provider.flows import account
    from provider.storage.models import User

    user_id = actions.create_user()
    actions.login()
    with app.app_context():
        from provider.extensions import db

        user = db.session.get(User, user_id)
        account.set_time_zone(user, "America/New_York", ip=None)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = client.get("/account")
    assert page.status_code == 200
    assert " GMT-05:00" in page.text


def test_a_time_zone_is_an_iana_name(app):
    from provider.flows import account
    from provider.storage.models import User

    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        user = User(username="z", created_at=0)
        for bad in ("Mars/Olympus", "../etc/passwd", "/etc/localtime", "x" * 100, "Europe/\x00"):
            with pytest.raises(account.InvalidTimeZone) as refused:
                account.set_time_zone(user, bad, ip=None)
            assert refused.value.field_errors() == {
                "zoneinfo": "Wählen Sie eine Zeitzone aus der Liste."
            }
        assert user.zoneinfo is None
    assert "Europe/Berlin" in account.time_zones() and "UTC" in account.time_zones()


def test_the_passkey_script_has_its_texts_translated(app):
    """Every sentence static/js/passkey.js may show is in PASSKEY_MESSAGES, which each
    passkey box carries translated (``data-messages``)."""
    import re

    from provider.web.i18n import PASSKEY_MESSAGES, passkey_messages

    script = (ROOT / "static" / "js" / "passkey.js").read_text()
    sentences = set(re.findall(r'"([A-Z][^"]* [^"]*[.…])"', script))
    assert sentences, "no sentence found in passkey.js"
    assert sentences <= set(PASSKEY_MESSAGES), sentences - set(PASSKEY_MESSAGES)
    with _german(app):
        german = passkey_messages()
    assert german["No passkey was chosen."] == "Es wurde kein Passkey ausgewählt."


def test_the_account_page_sets_the_time_zone(app, actions, client):
    from tests.conftest import csrf_from

    user_id = actions.create_user()
    anonymous = csrf_from(client.get("/login").text)
    signed_out = client.post(
        "/account/time-zone", data={"csrf_token": anonymous, "zoneinfo": "Europe/Berlin"}
    )
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    assert actions.login().status_code == 302
    token = csrf_from(client.get("/account").text)
    assert client.post("/account/time-zone", data={"zoneinfo": "Europe/Berlin"}).status_code == 403
    done = client.post(
        "/account/time-zone", data={"csrf_token": token, "zoneinfo": "Europe/Berlin"}
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/account#time-zone")
    refused = client.post(
        "/account/time-zone",
        data={"csrf_token": token, "zoneinfo": "Europe/Berlin" + " " * 60 + "x"},
        headers={"Accept-Language": "de"},
    )
    assert refused.status_code == 302
    with app.app_context():
        from provider.extensions import db
        from provider.storage.models import AuditEvent, User

        assert db.session.get(User, user_id).zoneinfo == "Europe/Berlin"
        events = [e.event for e in db.session.query(AuditEvent).filter_by(user_id=user_id)]
    assert events.count("time_zone_changed") == 1
    # empty: back to the deployment's default
    client.post("/account/time-zone", data={"csrf_token": token, "zoneinfo": ""})
    with app.app_context():
        assert db.session.get(User, user_id).zoneinfo is None
    assert client.get("/account/time-zone").status_code == 302


def test_ui_locales_gives_a_german_challenge_page(actions, client):
    from tests.test_account_and_step_up import enrol_totp

    actions.create_client()
    actions.create_user()
    assert actions.login().status_code == 302
    enrol_totp(actions)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US"
    page = actions.follow(actions.authorize(ui_locales="de", acr_values="urn:belay:acr:2fa"))
    assert "/challenge" in page.request.path, page.text[:300]
    assert '<html lang="de">' in page.text
    assert "Bestätigen Sie, dass Sie es sind" in page.text
    assert "Mit der Authenticator-App bestätigen" in page.text
    assert "Confirm it" not in page.text
