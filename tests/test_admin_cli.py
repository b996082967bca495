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
