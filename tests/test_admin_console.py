"""The admin console (issue 6): who gets in, step-up protection, CSRF, every
validation message, policy changes taking effect, and audited before/after."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from flask import Flask

from provider import clock, policy
from tests.conftest import Actions, answer_confirmation, csrf_from

TWO_FA = "urn:belay:acr:2fa"
ONE_FA = "urn:belay:acr:1fa"


class Admin:
    """An admin in the test browser, with an authenticator app."""

    def __init__(self, actions: Actions, secret: str) -> None:
        self.actions = actions
        self.client = actions.client
        self.secret = secret

    def step_up(self) -> None:
        page = self.client.get("/admin/")
        assert page.status_code == 403 and 'id="totp-form"' in page.text, page.text[:500]
        clock.set_offset(31)  # a fresh TOTP time step
        done = self.client.post(
            "/admin/confirm",
            data={
                "csrf_token": csrf_from(page.text),
                "method": "totp",
                "code": pyotp.TOTP(self.secret).at(clock.now()),
            },
        )
        assert done.status_code == 302, done.text[:500]
        assert self.client.get("/admin/").status_code == 200

    def get(self, path: str, status: int = 200):
        response = self.client.get(path)
        assert response.status_code == status, response.text[:800]
        return response

    def post(self, path: str, page, **data):
        return self.client.post(
            path, data={"csrf_token": csrf_from(page.text), **data}, follow_redirects=False
        )


def add_totp(app: Flask, user_id: int, username: str) -> str:
    with app.app_context():
        factor = app.extensions["belay_factors"].get("totp")
        uri = factor.add_confirmed(user_id, username, None).uri
    return parse_qs(urlsplit(uri).query)["secret"][0]


@pytest.fixture(autouse=True)
def _restore_ladder(app: Flask) -> Iterator[None]:
    yield
    with app.app_context():
        from provider.storage.ladder import save_ladder

        save_ladder(policy.default_ladder_data())


@pytest.fixture
def admin(app: Flask, actions: Actions) -> Admin:
    user_id = actions.create_user("root", is_admin=True)
    secret = add_totp(app, user_id, "root")
    assert actions.login("root").status_code == 302
    return Admin(actions, secret)


@pytest.fixture
def confirmed(admin: Admin) -> Admin:
    admin.step_up()
    return admin


def _audit(app: Flask, event: str) -> list:
    with app.app_context():
        from provider.storage import admin as store

        return store.audit_events(event=event)


# -- who gets in -------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client) -> None:
    response = client.get("/admin/clients")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_non_admin_is_refused(actions: Actions) -> None:
    actions.create_user()
    actions.login()
    for path in ("/admin/", "/admin/clients", "/admin/users", "/admin/audit", "/admin/ladder"):
        response = actions.client.get(path)
        assert response.status_code == 403
        assert "Administrators only" in response.text
        assert 'id="totp-form"' not in response.text
    page = actions.client.get("/account")
    refused = actions.client.post(
        "/admin/clients", data={"csrf_token": csrf_from(page.text), "client_id": "evil"}
    )
    assert refused.status_code == 403
    assert (
        actions.client.post("/admin/confirm", data={"csrf_token": csrf_from(page.text)}).status_code
        == 403
    )


def test_admin_below_the_level_must_step_up(app: Flask, admin: Admin) -> None:
    page = admin.client.get("/admin/clients")
    assert page.status_code == 403
    assert 'id="admin-step-up"' in page.text and 'id="totp-form"' in page.text
    assert TWO_FA in page.text
    # A POST below the level changes nothing.
    refused = admin.post(
        "/admin/clients", page, client_id="sneaky", redirect_uris="https://x.test/cb"
    )
    assert refused.status_code == 403 and "nothing was changed" in refused.text
    with app.app_context():
        from provider.storage import clients as client_store

        assert client_store.get_client("sneaky") is None
    # A wrong code is refused.
    wrong = admin.post("/admin/confirm", page, method="totp", code="000000")
    assert wrong.status_code == 401 and 'class="error"' in wrong.text
    admin.step_up()
    assert admin.get("/admin/clients").status_code == 200
    assert [e.result for e in _audit(app, "admin_step_up")] == ["success", "failure"]


def test_admin_without_a_second_factor_cannot_reach_the_console(actions: Actions) -> None:
    actions.create_user("root", is_admin=True)
    actions.login("root")
    page = actions.client.get("/admin/")
    assert page.status_code == 403
    assert "None of your sign-in methods reaches" in page.text


def test_the_console_asks_again_after_admin_max_age(confirmed: Admin) -> None:
    clock.set_offset(31 + 15 * 60 + 1)
    page = confirmed.client.get("/admin/users")
    assert page.status_code == 403 and 'id="totp-form"' in page.text


@pytest.mark.settings(ADMIN_ACR=ONE_FA, ADMIN_MAX_AGE=60)
def test_admin_level_is_configurable(actions: Actions) -> None:
    actions.create_user("root", is_admin=True)
    actions.login("root")
    assert actions.client.get("/admin/").status_code == 200
    clock.set_offset(61)
    page = actions.client.get("/admin/")
    assert page.status_code == 403 and 'id="password-form"' in page.text


# -- CSRF --------------------------------------------------------------------------


def test_every_console_post_needs_csrf(app: Flask, confirmed: Admin) -> None:
    confirmed.actions.create_client("rp")
    user_id = confirmed.actions.create_user("bob")
    posts = [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.") and "POST" in (rule.methods or set())
    ]
    assert len(posts) >= 12
    for rule in posts:
        args = {"client_id": "rp", "user_id": user_id}
        path = rule.build({k: v for k, v in args.items() if k in rule.arguments})[1]
        response = confirmed.client.post(path, data={"client_id": "new", "username": "x"})
        assert response.status_code == 403, (path, response.status_code)
        assert "form expired" in response.text, path
    with app.app_context():
        from provider.storage import clients as client_store

        assert client_store.get_client("rp") is not None
        assert client_store.get_client("new") is None


# -- clients -----------------------------------------------------------------------


def test_the_client_page_shows_its_resources_and_an_edit_keeps_them(
    app: Flask, confirmed: Admin
) -> None:
    api = "https://api.example.test/"
    confirmed.actions.create_client("shop", metadata={"resources": [api]})
    page = confirmed.get("/admin/clients/shop")
    listed = page.text.split('id="client-resources"')[1].split("</ul>")[0]
    assert f"<code>{api}</code>" in listed
    edited = confirmed.post(
        "/admin/clients/shop/edit",
        page,
        name="Shop 2",
        redirect_uris=confirmed.actions.REDIRECT,
        client_type="confidential",
        access_token_format="jwt",
        grant_types=["authorization_code"],
    )
    assert edited.status_code == 302, edited.text[:800]
    with app.app_context():
        from provider.storage import clients as client_store

        assert client_store.get_client("shop").registration_metadata == {"resources": [api]}
    confirmed.actions.create_client("plain")
    assert "may not name a <code>resource</code>" in confirmed.get("/admin/clients/plain").text


def test_create_edit_rotate_and_delete_a_client(app: Flask, confirmed: Admin) -> None:
    page = confirmed.get("/admin/clients")
    created = confirmed.post(
        "/admin/clients",
        page,
        client_id="shop",
        name="Shop",
        redirect_uris="https://shop.test/cb\nhttps://shop.test/cb2",
        post_logout_redirect_uris="https://shop.test/bye",
        client_type="confidential",
        access_token_format="jwt",
    )
    assert created.status_code == 200, created.text[:500]
    secret = re.search(r'id="client-secret">([^<]+)<', created.text).group(1)
    token = confirmed.actions.token({"grant_type": "client_credentials"}, auth=("shop", secret))
    assert token.status_code == 200
    assert "client-secret" not in confirmed.get("/admin/clients/shop").text  # shown once

    page = confirmed.get("/admin/clients/shop")
    edited = confirmed.post(
        "/admin/clients/shop/edit",
        page,
        name="Shop 2",
        redirect_uris="https://shop.test/new",
        post_logout_redirect_uris="",
        client_type="confidential",
        token_endpoint_auth_method="client_secret_post",
        access_token_format="opaque",
        first_party="on",
        grant_types=["authorization_code", "client_credentials"],
        id_token_signed_response_alg="RS256",
    )
    assert edited.status_code == 302, edited.text[:800]
    with app.app_context():
        from provider.storage import clients as client_store

        client = client_store.get_client("shop")
        assert client.redirect_uris == ["https://shop.test/new"]
        assert client.token_endpoint_auth_method == "client_secret_post"
        assert client.access_token_format == "opaque" and client.first_party
        assert client.id_token_signed_response_alg == "RS256"
        assert client.post_logout_redirect_uris == []
    (entry,) = _audit(app, "client_updated")
    assert entry.client_id == "shop" and entry.details["by"] == "admin:root"
    assert entry.details["before"]["redirect_uris"] == [
        "https://shop.test/cb",
        "https://shop.test/cb2",
    ]
    assert entry.details["after"]["redirect_uris"] == ["https://shop.test/new"]
    assert entry.details["before"]["access_token_format"] == "jwt"
    assert entry.details["after"]["access_token_format"] == "opaque"

    page = confirmed.get("/admin/clients/shop")
    rotated = confirmed.post("/admin/clients/shop/secret", page)
    new_secret = re.search(r'id="client-secret">([^<]+)<', rotated.text).group(1)
    assert new_secret != secret
    old = confirmed.actions.client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": "shop", "client_secret": secret},
    )
    assert old.status_code == 401
    new = confirmed.actions.client.post(
        "/token",
        data={"grant_type": "client_credentials", "client_id": "shop", "client_secret": new_secret},
    )
    assert new.status_code == 200
    assert _audit(app, "client_secret_rotated")[0].details["by"] == "admin:root"

    asked = confirmed.post("/admin/clients/shop/delete", page)
    assert asked.status_code == 200 and 'id="confirm-action-form"' in asked.text
    confirmed.get("/admin/clients/shop")  # asking deleted nothing
    deleted = answer_confirmation(confirmed.client, asked)
    assert deleted.status_code == 302
    confirmed.get("/admin/clients/shop", 404)
    assert answer_confirmation(confirmed.client, asked).status_code == 404  # a replay
    (entry,) = _audit(app, "client_deleted")
    assert entry.details["before"]["client_id"] == "shop" and entry.details["after"] is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"client_id": ""}, "client", "a client_id is 1-200 characters"),
        ({"redirect_uris": "http://evil.test/cb"}, "redirect_uris", "must use https"),
        (
            {"redirect_uris": "https://a.test/cb#frag"},
            "redirect_uris",
            "must not contain a fragment",
        ),
        ({"post_logout_redirect_uris": "javascript:alert(1)"}, "post_logout_redirect_uris", ""),
        ({"client_type": "robot"}, "client_type", "must be public or confidential"),
        ({"token_endpoint_auth_method": "magic"}, "token_endpoint_auth_method", "must be one of"),
        ({"access_token_format": "xml"}, "access_token_format", "must be jwt or opaque"),
        ({"client_type": "public", "is_admin": "on"}, "is_admin", "only a confidential client"),
        ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg", "must be null"),
        (
            {"client_type": "public", "token_endpoint_auth_method": "client_secret_basic"},
            "client",
            "does not fit",
        ),
    ],
)
def test_client_form_validation(confirmed: Admin, fields, field, message) -> None:
    page = confirmed.get("/admin/clients")
    data = {"client_id": "c1", "redirect_uris": "https://c1.test/cb", "client_type": "confidential"}
    data.update(fields)
    response = confirmed.post("/admin/clients", page, **data)
    assert response.status_code == 400, response.text[:500]
    assert f"<strong>{field}</strong>: " in response.text
    assert message in response.text.replace("&#39;", "'")


def test_client_edit_validation_shows_the_message_next_to_the_field(confirmed: Admin) -> None:
    confirmed.actions.create_client("rp")
    page = confirmed.get("/admin/clients/rp")
    response = confirmed.post(
        "/admin/clients/rp/edit",
        page,
        redirect_uris="http://not-local.test/cb",
        client_type="confidential",
        grant_types=["authorization_code"],
    )
    assert response.status_code == 400
    assert 'id="err-redirect_uris"' in response.text and "must use https" in response.text
    public = confirmed.post(
        "/admin/clients/rp/edit",
        page,
        redirect_uris="https://rp.example.test/callback",
        client_type="public",
        grant_types=["client_credentials"],
    )
    assert public.status_code == 400 and 'id="err-grant_types"' in public.text
    admin_public = confirmed.post(
        "/admin/clients/rp/edit",
        page,
        redirect_uris="https://rp.example.test/callback",
        client_type="public",
        is_admin="on",
        grant_types=["authorization_code"],
    )
    assert admin_public.status_code == 400 and 'id="err-is_admin"' in admin_public.text


def test_a_refused_form_keeps_what_was_typed(confirmed: Admin) -> None:
    """The form comes back with the field's message and every other value as sent."""
    confirmed.actions.create_client("rp")
    page = confirmed.get("/admin/clients/rp")
    edited = confirmed.post(
        "/admin/clients/rp/edit",
        page,
        name="Renamed RP",
        redirect_uris="http://not-local.test/cb",
        post_logout_redirect_uris="https://rp.example.test/bye",
        client_type="confidential",
        access_token_format="opaque",
        first_party="on",
        grant_types=["authorization_code", "refresh_token"],
    )
    assert edited.status_code == 400
    assert 'id="err-redirect_uris"' in edited.text and 'id="err-name"' not in edited.text
    form = edited.text.split('id="client-edit-form"')[1].split("</form>")[0]
    assert 'value="Renamed RP"' in form
    assert ">http://not-local.test/cb</textarea>" in form
    assert ">https://rp.example.test/bye</textarea>" in form
    assert '<option value="opaque" selected>' in form
    assert re.search(r'name="first_party"\s+checked', form)
    assert re.search(r'value="refresh_token"\s+checked', form)
    # Nothing was saved.
    assert 'value="Renamed RP"' not in confirmed.get("/admin/clients/rp").text

    users = confirmed.get("/admin/users")
    refused = confirmed.post(
        "/admin/users", users, username="a b", email="zed@example.test", name="Zed Zedson"
    )
    assert refused.status_code == 400 and 'id="err-username"' in refused.text
    assert 'value="zed@example.test"' in refused.text and 'value="Zed Zedson"' in refused.text
    assert 'id="err-email"' not in refused.text


def test_an_unknown_user_or_client_is_a_404_page(confirmed: Admin) -> None:
    for path in ("/admin/users/999999", "/admin/users/2147483648", "/admin/clients/nobody"):
        missing = confirmed.get(path, 404)
        assert missing.mimetype == "text/html" and "not_found" in missing.text
    page = confirmed.get("/admin/users")
    for action in ("unlock", "reset-factors", "revoke-sessions"):
        assert confirmed.post(f"/admin/users/999999/{action}", page).status_code == 404
    for action in ("edit", "secret", "delete", "policy"):
        assert confirmed.post(f"/admin/clients/nobody/{action}", page).status_code == 404


# -- the policy editor -------------------------------------------------------------


_VALID_POLICY = {
    "minimum_acr": "",
    "default_acr_values": "",
    "default_max_age": "",
    "acr_enforcement": "strict",
    "passkey_user_verification": "required",
    "allowed_aaguids": "",
    "min_pin_length": "",
    "level_lifetimes": "",
}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("minimum_acr", "urn:nope", "must be null or one of the ladder"),
        ("default_acr_values", "urn:belay:acr:2fa urn:nope", "unknown acr value"),
        ("default_acr_values", f"{TWO_FA} {TWO_FA}", "more than once"),
        ("default_max_age", "soon", "must be a whole number"),
        ("acr_enforcement", "sometimes", "must be one of strict, voluntary"),
        ("passkey_user_verification", "maybe", "must be one of required"),
        ("allowed_aaguids", "not-a-uuid", "is not an AAGUID"),
        ("min_pin_length", "99", "must be null or an integer from 4 to 64"),
        ("level_lifetimes", "{bad json", "is not valid JSON"),
        ("level_lifetimes", '{"urn:nope": {"idle_seconds": 1}}', "unknown acr value"),
        ("step_up_methods", "carrier-pigeon", "unknown method"),
    ],
)
def test_policy_validation_messages_sit_next_to_the_field(
    app: Flask, confirmed: Admin, field: str, value: str, message: str
) -> None:
    confirmed.actions.create_client("rp")
    page = confirmed.get("/admin/clients/rp")
    data = {**_VALID_POLICY, field: value}
    response = confirmed.post("/admin/clients/rp/policy", page, **data)
    assert response.status_code == 400, response.text[:500]
    match = re.search(rf'id="err-{field}">([^<]+)<', response.text)
    assert match, response.text[-3000:]
    assert message in match.group(1).replace("&#39;", "'")
    assert _audit(app, "client_policy_changed") == []


def test_policy_change_takes_effect_on_the_next_authorize(app: Flask, confirmed: Admin) -> None:
    actions = confirmed.actions
    actions.create_client("rp")
    actions.create_user("alice")
    alice = Actions(app, app.test_client())
    alice.login("alice")
    first = alice.code_flow("rp")
    assert "code" in first

    page = confirmed.get("/admin/clients/rp")
    saved = confirmed.post(
        "/admin/clients/rp/policy",
        page,
        **{**_VALID_POLICY, "minimum_acr": TWO_FA, "default_max_age": "600"},
        require_auth_time="on",
        step_up_methods=["totp", "passkey"],
    )
    assert saved.status_code == 302, saved.text[:800]
    page = confirmed.get("/admin/clients/rp")
    assert 'value="600"' in page.text

    refused = alice.follow(
        alice.authorize("rp", code_challenge="x" * 43, code_challenge_method="S256")
    )
    assert refused.status_code == 302
    assert "error=unmet_authentication_requirements" in refused.headers["Location"]

    (entry,) = _audit(app, "client_policy_changed")
    assert entry.client_id == "rp" and entry.details["by"] == "admin:root"
    assert entry.details["before"] == {
        "minimum_acr": None,
        "default_max_age": None,
        "require_auth_time": False,
        "step_up_methods": [],
    }
    assert entry.details["after"] == {
        "minimum_acr": TWO_FA,
        "default_max_age": 600,
        "require_auth_time": True,
        "step_up_methods": ["totp", "passkey"],
    }


# -- the ladder --------------------------------------------------------------------


def test_ladder_view_edit_and_validation(app: Flask, confirmed: Admin) -> None:
    page = confirmed.get("/admin/ladder")
    assert 'id="ladder-table"' in page.text and TWO_FA in page.text
    bad = confirmed.post("/admin/ladder", page, ladder="{not json")
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    invalid = confirmed.post("/admin/ladder", page, ladder='{"version": 1, "levels": []}')
    assert invalid.status_code == 400 and 'id="ladder-errors"' in invalid.text
    data = policy.default_ladder_data()
    data["levels"][0]["description"] = "Changed by the console"
    import json

    saved = confirmed.post("/admin/ladder", page, ladder=json.dumps(data))
    assert saved.status_code == 302
    assert "Changed by the console" in confirmed.get("/admin/ladder").text
    (entry,) = _audit(app, "ladder_changed")
    assert entry.details["by"] == "admin:root"
    assert entry.details["before"]["levels"][0]["description"] != "Changed by the console"
    assert entry.details["after"]["levels"][0]["description"] == "Changed by the console"


# -- users -------------------------------------------------------------------------


def test_users_search_create_unlock_reset_revoke(app: Flask, confirmed: Admin) -> None:
    actions = confirmed.actions
    bob_id = actions.create_user("bob", email="bob@example.test")
    add_totp(app, bob_id, "bob")
    bob = Actions(app, app.test_client())
    bob.login("bob")
    page = confirmed.get("/admin/users?q=bob")
    assert (
        "bob@example.test" in page.text
        and "root" not in page.text.split('id="users-table"')[1].split("</table>")[0]
    )

    created = confirmed.post("/admin/users", page, username="carol", password="long enough pw")
    assert created.status_code == 302
    bad = confirmed.post("/admin/users", page, username="carol", password="short")
    assert bad.status_code == 400
    assert 'id="err-username"' in bad.text and 'id="err-password"' in bad.text
    spaces = confirmed.post("/admin/users", page, username="a b", email="nope")
    assert 'id="err-username"' in spaces.text and 'id="err-email"' in spaces.text

    with app.app_context():
        from provider.extensions import db
        from provider.storage.models import FactorCounter

        db.session.add(FactorCounter(user_id=bob_id, factor="totp", failures=10, locked=True))
        db.session.commit()
    detail = confirmed.get(f"/admin/users/{bob_id}")
    assert 'id="locked-totp"' in detail.text
    unlocked = confirmed.post(f"/admin/users/{bob_id}/unlock", detail, factor="totp")
    assert unlocked.status_code == 302
    assert 'id="locked-totp"' not in confirmed.get(f"/admin/users/{bob_id}").text
    bad_factor = confirmed.post(f"/admin/users/{bob_id}/unlock", detail, factor="retina")
    assert bad_factor.status_code == 400

    asked = confirmed.post(f"/admin/users/{bob_id}/reset-factors", detail)
    assert asked.status_code == 200 and "Reset bob" in asked.text
    with app.app_context():  # asking changed nothing
        assert len(app.extensions["belay_factors"].enrolled(bob_id)) > 1
    reset = answer_confirmation(confirmed.client, asked)
    assert reset.status_code == 302
    replayed = answer_confirmation(confirmed.client, asked)
    assert replayed.status_code == 200 and 'id="confirm-action-form"' in replayed.text
    assert len(_audit(app, "factors_reset")) == 1
    with app.app_context():
        enrolled = app.extensions["belay_factors"].enrolled(bob_id)
        assert [m.method for m in enrolled] == ["password"]

    assert bob.client.get("/account").status_code == 200
    asked = confirmed.post(f"/admin/users/{bob_id}/revoke-sessions", detail)
    assert asked.status_code == 200 and bob.client.get("/account").status_code == 200
    revoked = answer_confirmation(confirmed.client, asked)
    assert revoked.status_code == 302
    assert bob.client.get("/account").status_code == 302  # signed out

    events = confirmed.get(f"/admin/users/{bob_id}").text
    for event in ("unlock", "factors_reset", "sessions_revoked"):
        assert f"<td>{event}</td>" in events
    confirmed.get("/admin/users/999999", 404)


# -- audit log ---------------------------------------------------------------------


def test_audit_filters_and_csv(app: Flask, confirmed: Admin) -> None:
    actions = confirmed.actions
    actions.create_client("rp")
    actions.create_user("alice")
    Actions(app, app.test_client()).login("alice", "wrong password")
    page = confirmed.get("/admin/audit?event=login&result=failure")
    rows = page.text.split('id="audit-table"')[1]
    assert "<td>login</td>" in rows and "<td>failure</td>" in rows
    assert "<td>success</td>" not in rows
    assert "<td>client_created</td>" in confirmed.get("/admin/audit?client_id=rp").text
    assert "No events." in confirmed.get("/admin/audit?user=alice&event=client_created").text
    today = clock.now()
    assert "No events." in confirmed.get(f"/admin/audit?until={today - 86400 * 2}").text
    bad = confirmed.get("/admin/audit?since=yesterday&limit=0", 400)
    assert 'id="err-since"' in bad.text and "<strong>limit</strong>" in bad.text

    export = confirmed.get("/admin/audit.csv?event=login")
    assert export.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(export.text)))
    assert table and all(row["event"] == "login" for row in table)
    assert {"time", "username", "details"} <= set(table[0])


def test_audit_csv_neutralises_formulas(app: Flask, confirmed: Admin) -> None:
    with app.app_context():
        from provider.storage import audit

        audit.record("note", "success", reason='=HYPERLINK("http://x")')
    text = confirmed.get("/admin/audit.csv?event=note").text
    assert "'=HYPERLINK" in text


# -- simulator and dashboard -------------------------------------------------------


def test_simulator_shows_the_engines_decision(confirmed: Admin) -> None:
    confirmed.actions.create_client("rp", client_policy={"minimum_acr": TWO_FA})
    page = confirmed.get("/admin/simulator")
    step_up = confirmed.post(
        "/admin/simulator",
        page,
        client_id="rp",
        enrolled=["password", "totp", "pin"],
        event=["password"],
        ago_password="30",
    )
    assert step_up.status_code == 200
    assert 'id="sim-outcome">step_up<' in step_up.text
    assert re.search(r'id="sim-methods">totp<', step_up.text)
    done = confirmed.post(
        "/admin/simulator",
        page,
        client_id="rp",
        enrolled=["password", "totp"],
        event=["password", "totp"],
        acr_values=TWO_FA,
    )
    assert 'id="sim-outcome">satisfied<' in done.text and f'id="sim-acr">{TWO_FA}<' in done.text
    unmet = confirmed.post(
        "/admin/simulator", page, client_id="rp", enrolled=["password"], event=["password"]
    )
    assert (
        'id="sim-outcome">fail<' in unmet.text and "unmet_authentication_requirements" in unmet.text
    )
    bad = confirmed.post("/admin/simulator", page, client_id="rp", max_age="-1")
    assert bad.status_code == 200 and "invalid_request" in bad.text
    missing = confirmed.post("/admin/simulator", page, client_id="nope")
    assert missing.status_code == 400 and "no such client" in missing.text


def test_dashboard_draws_svg_charts(app: Flask, confirmed: Admin) -> None:
    with app.app_context():
        from provider.storage import audit

        audit.record("step_up", "success", method="totp", acr=TWO_FA)
        audit.record("step_up", "failure", method="pin", reason="locked")
    page = confirmed.get("/admin/")
    for chart in ("chart-acr", "chart-method", "chart-failures"):
        assert f'<svg id="{chart}"' in page.text
    assert TWO_FA in page.text and "<polyline" in page.text
    assert "<script" not in page.text.split('id="main"')[1]


def test_the_policy_form_sends_every_policy_field() -> None:
    """The console's policy editor posts every field the flows take (a field added
    to the policy and not to the form could not be changed from the console)."""
    from provider.policy import POLICY_FIELDS
    from provider.web.admin import clients as admin_clients

    sent = [*admin_clients.POLICY_TEXT_FIELDS, *admin_clients.POLICY_CHECKBOXES, "step_up_methods"]
    assert sorted(sent) == sorted(POLICY_FIELDS)


def test_a_bad_audit_export_filter_is_an_error_page(confirmed: Admin) -> None:
    refused = confirmed.get("/admin/audit.csv?since=never", 400)
    assert refused.mimetype == "text/html" and "since: " in refused.text
