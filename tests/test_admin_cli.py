"""CLI parity with the admin console and API (docs/admin.md)."""

from __future__ import annotations

import json

from flask import Flask

from tests.conftest import Actions


def test_client_commands(runner, app: Flask, actions: Actions) -> None:
    actions.create_client("rp")
    assert "rp\tconfidential" in runner.invoke(args=["client", "list"]).output
    shown = json.loads(runner.invoke(args=["client", "show", "rp"]).output)
    assert shown["client_id"] == "rp" and shown["is_admin"] is False
    updated = runner.invoke(
        args=[
            "client",
            "update",
            "rp",
            "--admin",
            "--token-format",
            "opaque",
            "--redirect-uri",
            "https://rp.test/new",
        ]
    )
    assert updated.exit_code == 0, updated.output
    shown = json.loads(runner.invoke(args=["client", "show", "rp"]).output)
    assert shown["is_admin"] is True and "belay:admin" in shown["scope"].split()
    assert shown["redirect_uris"] == ["https://rp.test/new"]
    bad = runner.invoke(args=["client", "update", "rp", "--redirect-uri", "http://evil.test/"])
    assert bad.exit_code != 0 and "redirect_uris" in bad.output
    rotated = runner.invoke(args=["client", "rotate-secret", "rp"])
    assert "client_secret:" in rotated.output
    assert runner.invoke(args=["client", "delete", "rp", "--yes"]).exit_code == 0
    assert runner.invoke(args=["client", "show", "rp"]).exit_code != 0


def test_user_audit_simulate_stats_commands(runner, app: Flask, actions: Actions) -> None:
    actions.create_user("alice", email="alice@example.test")
    actions.create_client("rp", client_policy={"minimum_acr": "urn:belay:acr:2fa"})
    assert "alice@example.test" in runner.invoke(args=["user", "list", "-q", "ali"]).output
    shown = json.loads(runner.invoke(args=["user", "show", "alice"]).output)
    assert {f["method"] for f in shown["factors"]} >= {"password", "pin", "totp"}
    assert "Removed: nothing" in runner.invoke(args=["user", "reset-factors", "alice"]).output
    assert "Revoked 0" in runner.invoke(args=["user", "revoke-sessions", "alice"]).output
    events = runner.invoke(args=["user", "events", "alice"]).output.splitlines()
    assert {json.loads(line)["event"] for line in events} >= {"factors_reset", "sessions_revoked"}
    audit = runner.invoke(args=["audit", "--event", "client_created", "--csv"]).output
    assert audit.startswith("id,at,time,event") and "client_created" in audit
    assert runner.invoke(args=["audit", "--since", "never"]).exit_code != 0
    decision = json.loads(
        runner.invoke(
            args=[
                "simulate",
                "rp",
                "--enrolled",
                "password",
                "--enrolled",
                "totp",
                "--event",
                "password:10",
            ]
        ).output
    )
    assert decision["outcome"] == "step_up" and decision["methods"] == ["totp"]
    stats = json.loads(runner.invoke(args=["stats"]).output)
    assert len(stats["days"]) == 7


def test_client_show_lists_the_clients_resources(runner, app: Flask, actions: Actions) -> None:
    api = "https://api.example.test/"
    actions.create_client("rp", metadata={"resources": [api]})
    assert json.loads(runner.invoke(args=["client", "show", "rp"]).output)["resources"] == [api]
    cleared = runner.invoke(
        args=["client", "update", "rp", "--metadata", json.dumps({"resources": None})]
    )
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(runner.invoke(args=["client", "show", "rp"]).output)["resources"] == []


# -- one use-case per admin action: the CLI goes through the console's and the API's ----


def _rows(app: Flask, event: str, client_id: str) -> list:
    from provider.storage import admin as store

    with app.app_context():
        return store.audit_events(event=event, client_id=client_id)


def test_client_create_checks_the_fields_like_the_console_and_the_api(runner, app: Flask) -> None:
    """``client create`` is :func:`flows.admin.clients.create_client`: a field the
    API refuses is refused here too, named, with exit status 1 and no client."""
    from provider.storage import clients as client_store

    redirect = ["--redirect-uri", Actions.REDIRECT]
    for args, field in (
        (["--name", "x" * 201], "name"),  # the API's limit, once not checked by the CLI
        (["--metadata", json.dumps({"resources": ["relative"]})], "resources"),
        (["--metadata", json.dumps({"name": "smuggled"})], "metadata"),
        (["--metadata", "[]"], "metadata"),
        (["--policy", json.dumps({"minimum_acr": "urn:nope"})], "policy.minimum_acr"),
        (["--policy", "[]"], "policy"),
        (["--jwks", "[1]"], "jwks"),
    ):
        result = runner.invoke(args=["client", "create", "web", *redirect, *args])
        assert result.exit_code == 1, (args, result.output)
        assert "invalid input" in result.output and f"{field}:" in result.output, result.output
        assert "Traceback" not in result.output
    with app.app_context():
        assert client_store.get_client("web") is None
    assert runner.invoke(args=["client", "create", "web", *redirect]).exit_code == 0
    again = runner.invoke(args=["client", "create", "web", *redirect])
    assert again.exit_code == 1 and "already exists" in again.output
    (created,) = _rows(app, "client_created", "web")
    assert created.details["by"] == "cli"


def test_client_create_with_a_chosen_secret_a_jwks_and_resources(runner, app: Flask) -> None:
    from provider.crypto import sha256_hex
    from provider.storage import clients as client_store

    api = "https://api.example.test/"
    chosen = runner.invoke(
        args=[
            "client",
            "create",
            "shop",
            "--redirect-uri",
            Actions.REDIRECT,
            "--secret-stdin",
            "--name",
            "  The   Shop ",
            "--metadata",
            json.dumps({"resources": [api, api]}),
        ],
        input="my-own-secret-value\n",
    )
    assert chosen.exit_code == 0, chosen.output
    assert "client_secret" not in chosen.output
    jwks = {
        "keys": [
            {
                "kty": "EC",
                "crv": "P-256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }
        ]
    }
    keyed = runner.invoke(
        args=[
            "client",
            "create",
            "gw",
            "--redirect-uri",
            Actions.REDIRECT,
            "--jwks",
            json.dumps(jwks),
        ]
    )
    assert keyed.exit_code == 0, keyed.output
    assert "client_secret" not in keyed.output
    with app.app_context():
        shop = client_store.get_client("shop")
        assert shop.client_secret_hash == sha256_hex("my-own-secret-value")
        assert shop.name == "The Shop"  # the API's normalisation
        assert shop.registration_metadata == {"resources": [api]}
        gw = client_store.get_client("gw")
        assert gw.token_endpoint_auth_method == "private_key_jwt" and gw.jwks == jwks


def test_client_update_metadata_is_one_audited_change_like_the_api(
    runner, app: Flask, actions: Actions
) -> None:
    """``--metadata`` goes through ``update_client`` with the other fields: one
    ``client_updated`` row with the changed fields before and after (the API's
    shape), not a second row listing the keys."""
    api = "https://api.example.test/"
    actions.create_client("rp")
    updated = runner.invoke(
        args=[
            "client",
            "update",
            "rp",
            "--name",
            "RP 2",
            "--metadata",
            json.dumps({"resources": [api]}),
        ]
    )
    assert updated.exit_code == 0, updated.output
    (row,) = _rows(app, "client_updated", "rp")
    assert row.details == {
        "by": "cli",
        "before": {"name": "rp", "resources": []},
        "after": {"name": "RP 2", "resources": [api]},
    }
    cleared = runner.invoke(
        args=["client", "update", "rp", "--metadata", json.dumps({"resources": None})]
    )
    assert cleared.exit_code == 0, cleared.output
    latest = _rows(app, "client_updated", "rp")[0]
    assert latest.details["before"] == {"resources": [api]}
    assert latest.details["after"] == {"resources": []}


def test_client_update_refuses_bad_metadata_and_unknown_clients(
    runner, app: Flask, actions: Actions
) -> None:
    actions.create_client("rp")
    for metadata, field in (
        (json.dumps({"name": "smuggled"}), "metadata"),
        (json.dumps({"resources": "https://api.example.test/"}), "resources"),
        ("[]", "metadata"),
    ):
        result = runner.invoke(args=["client", "update", "rp", "--metadata", metadata])
        assert result.exit_code == 1, (metadata, result.output)
        assert f"{field}:" in result.output and "Traceback" not in result.output
    bad = runner.invoke(args=["client", "update", "rp", "--metadata", "not json"])
    assert bad.exit_code == 1 and "not valid JSON" in bad.output
    assert _rows(app, "client_updated", "rp") == []
    shown = json.loads(runner.invoke(args=["client", "show", "rp"]).output)
    assert shown["name"] == "rp" and shown["resources"] == []
    for args in (["--metadata", json.dumps({"resources": []})], ["--name", "x"], []):
        missing = runner.invoke(args=["client", "update", "nobody", *args])
        assert missing.exit_code == 1 and "no client 'nobody'" in missing.output, missing.output


def test_user_unlock_takes_every_factor_the_api_takes(runner, actions: Actions) -> None:
    from provider.flows.admin.users import UNLOCKABLE_FACTORS

    actions.create_user("dave")
    for factor in UNLOCKABLE_FACTORS:
        result = runner.invoke(args=["user", "unlock", "dave", "--factor", factor])
        assert result.exit_code == 0, (factor, result.output)
    refused = runner.invoke(args=["user", "unlock", "dave", "--factor", "retina"])
    assert refused.exit_code == 1 and "--factor must be one of" in refused.output
    assert "email_otp" in refused.output and "sms_otp" in refused.output


def test_simulate_refuses_a_bad_event_age_like_the_console(runner, actions: Actions) -> None:
    actions.create_client("rp")
    bad = runner.invoke(args=["simulate", "rp", "--event", "password:soon"])
    assert bad.exit_code == 1 and "seconds_ago" in bad.output, bad.output
    assert runner.invoke(args=["simulate", "nobody"]).exit_code == 1
    ok = runner.invoke(args=["simulate", "rp", "--event", "password", "--event", "totp:5"])
    assert ok.exit_code == 0, ok.output


def test_user_events_checks_the_limit_like_the_audit_filter(runner, actions: Actions) -> None:
    actions.create_user("alice")
    assert runner.invoke(args=["user", "revoke-sessions", "alice"]).exit_code == 0
    one = runner.invoke(args=["user", "events", "alice", "--limit", "1"])
    assert one.exit_code == 0 and len(one.output.splitlines()) == 1, one.output
    for limit in ("0", "-1", "10001"):
        refused = runner.invoke(args=["user", "events", "alice", "--limit", limit])
        assert refused.exit_code == 1 and "limit: must be a number" in refused.output, limit
    assert runner.invoke(args=["user", "events", "nobody"]).exit_code == 1
