"""The ``belay`` command line, run as a user would (``flask --app`` style runner)."""

from __future__ import annotations

import pytest
from flask import Flask

from provider.flows.admin import users
from provider.storage import clients as client_store
from provider.storage import users as user_store


def test_user_create_reads_password_from_stdin(runner, app: Flask) -> None:
    result = runner.invoke(
        args=["user", "create", "bob", "--password-stdin", "--admin"], input="s3cret-password\n"
    )
    assert result.exit_code == 0, result.output
    assert "s3cret-password" not in result.output
    with app.app_context():
        user = user_store.user_by_name("bob")
        assert user is not None and user.is_admin
        assert user.password_hash.startswith("$argon2id$")


def test_user_create_refuses_duplicates_and_short_passwords(runner) -> None:
    assert (
        runner.invoke(
            args=["user", "create", "bob", "--password-stdin"], input="long-enough-pw\n"
        ).exit_code
        == 0
    )
    again = runner.invoke(
        args=["user", "create", "bob", "--password-stdin"], input="long-enough-pw\n"
    )
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(args=["user", "create", "carol", "--password-stdin"], input="short\n")
    assert short.exit_code != 0 and "at least 8" in short.output


def test_client_create_prints_generated_secret_once(runner, app: Flask) -> None:
    result = runner.invoke(
        args=["client", "create", "web", "--redirect-uri", "https://app.example.test/cb"]
    )
    assert result.exit_code == 0, result.output
    assert "client_secret:" in result.output
    with app.app_context():
        client = client_store.get_client("web")
        assert client is not None and client.token_endpoint_auth_method == "client_secret_basic"
        secret = result.output.split("client_secret:")[1].split()[0]
        assert secret not in (client.client_secret_hash or "")


def test_client_create_refuses_bad_redirect_uris(runner) -> None:
    for uri in (
        "http://app.example.test/cb",
        "https://app.example.test/cb#frag",
        "https://u@app.example.test/cb",
    ):
        result = runner.invoke(args=["client", "create", "web", "--redirect-uri", uri])
        assert result.exit_code != 0, uri


def test_public_client_with_secret_stdin_is_refused(runner) -> None:
    result = runner.invoke(
        args=[
            "client",
            "create",
            "spa",
            "--public",
            "--auth-method",
            "client_secret_basic",
            "--redirect-uri",
            "https://spa.example.test/cb",
        ],
    )
    assert result.exit_code != 0


def test_keys_rotate_publishes_before_signing(runner, app: Flask) -> None:
    with app.app_context():
        before = {k["kid"] for k in app.extensions["belay_keys"].jwks()["keys"]}
    result = runner.invoke(args=["keys", "rotate", "--publish-delay", "600"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        ring = app.extensions["belay_keys"]
        ring.invalidate()
        after = {k["kid"] for k in ring.jwks()["keys"]}
        assert before < after and len(after) == 2 * len(before)
        kid, _ = ring.signing_key("ES256")
        assert kid in before  # the new key only signs after the publish delay


def test_demo_is_idempotent_and_prints_logins(runner) -> None:
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "alice /" in first.output and "admin /" in first.output
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0
    assert (
        first.output.split("alice /")[1].split()[0] == second.output.split("alice /")[1].split()[0]
    )


def test_demo_enrols_factors_through_the_kernel_once(runner, app: Flask) -> None:
    """The demo's PIN, authenticators, email addresses and phone numbers are admin
    enrolments like any other: one audit row each, by "demo", and none again when
    the demo runs twice."""
    from provider.storage.models import AuditEvent, User

    assert runner.invoke(args=["demo"]).exit_code == 0
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        rows = AuditEvent.query.filter_by(event="factor_enrolled").all()
        names = {user.id: user.username for user in User.query.all()}
        assert sorted((names[row.user_id], row.method, row.details.get("by")) for row in rows) == [
            ("admin", "email_otp", "demo"),
            ("admin", "sms_otp", "demo"),
            ("admin", "totp", "demo"),
            ("alice", "email_otp", "demo"),
            ("alice", "pin", "demo"),
            ("alice", "sms_otp", "demo"),
            ("alice", "totp", "demo"),
        ]


def test_demo_admin_has_an_authenticator_printed_like_alices(
    runner, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admin console asks for 2fa: the demo admin gets a TOTP key, printed, and
    ``python -m examples.bank.totp admin`` prints its current code."""
    import json
    from pathlib import Path

    import pyotp

    from examples.bank import totp as totp_command

    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    creds = json.loads((Path(app.instance_path) / "demo-credentials.json").read_text())
    assert f"admin's authenticator key: {creds['admin_totp_secret']}" in result.output
    assert f"alice's authenticator key: {creds['alice_totp_secret']}" in result.output
    assert creds["admin_totp_secret"] != creds["alice_totp_secret"]
    assert "/admin" in result.output and "/dev/outbox" in result.output
    with app.app_context():
        admin = users.user_named("admin")
        factor = app.extensions["belay_factors"].get("totp")
        assert admin is not None and admin.is_admin and factor.status(admin.id).enrolled
        code = pyotp.TOTP(creds["admin_totp_secret"]).now()
        assert factor.verify(admin.id, {"code": code}).method == "totp"

    monkeypatch.setenv("BELAY_INSTANCE_PATH", app.instance_path)
    printed: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
    assert totp_command.main(["admin"]) == 0
    assert printed[-1].startswith(pyotp.TOTP(creds["admin_totp_secret"]).now())
    assert "admin's code" in printed[-1]
    assert totp_command.main([]) == 0 and "alice's code" in printed[-1]
    assert totp_command.main(["mallory"]) == 2


def test_demo_users_have_a_verified_email_and_phone(runner, app: Flask) -> None:
    """So codes by email and SMS can be tried (with BELAY_DEV_OUTBOX, /dev/outbox)."""
    from provider.cli.demo import DESTINATIONS

    assert runner.invoke(args=["demo"]).exit_code == 0
    factors = app.extensions["belay_factors"]
    with app.app_context():
        for username, (email, phone) in DESTINATIONS.items():
            user = users.user_named(username)
            assert user is not None
            assert factors.code_factor("email").destination(user.id) == email
            assert factors.code_factor("sms").destination(user.id) == phone


def test_demo_quiet_prints_one_line(runner) -> None:
    """``make run`` seeds quietly: the logins come last, from examples/bank/launch.py."""
    result = runner.invoke(args=["demo", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        result.output.strip()
    ] and result.output.startswith("Demo users and clients ready")
    assert "alice /" not in result.output


def test_user_unlock(runner, actions) -> None:
    actions.create_user("dave")
    result = runner.invoke(args=["user", "unlock", "dave"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["user", "unlock", "nobody"]).exit_code != 0


def test_client_policy_set_and_show(runner, app: Flask) -> None:
    runner.invoke(
        args=["client", "create", "bank", "--redirect-uri", "https://bank.example.test/cb"]
    )
    result = runner.invoke(
        args=[
            "client",
            "policy",
            "bank",
            "--set",
            "minimum_acr=urn:belay:acr:2fa",
            "--set",
            "default_max_age=120",
            "--set",
            "step_up_methods=totp,pin",
        ]
    )
    assert result.exit_code == 0, result.output
    assert '"minimum_acr": "urn:belay:acr:2fa"' in result.output
    with app.app_context():
        policy = client_store.get_client("bank").policy
        assert policy["default_max_age"] == 120
        assert policy["step_up_methods"] == ["totp", "pin"]
        from provider.extensions import db
        from provider.storage.models import AuditEvent

        row = db.session.scalar(
            db.select(AuditEvent).where(AuditEvent.event == "client_policy_changed")
        )
        # The console's and the API's shape (provider/flows/admin/client_policy.py):
        # the fields that changed, before and after.
        assert row.details["by"] == "cli"
        assert row.details["before"] == {
            "minimum_acr": None,
            "default_max_age": None,
            "step_up_methods": [],
        }
        assert row.details["after"] == {
            "minimum_acr": "urn:belay:acr:2fa",
            "default_max_age": 120,
            "step_up_methods": ["totp", "pin"],
        }


def test_client_policy_refuses_bad_values(runner) -> None:
    runner.invoke(
        args=["client", "create", "bank", "--redirect-uri", "https://bank.example.test/cb"]
    )
    for assignment in (
        "minimum_acr=urn:nope",
        "default_max_age=-5",
        "acr_enforcement=maybe",
        "colour=blue",
    ):
        result = runner.invoke(args=["client", "policy", "bank", "--set", assignment])
        assert result.exit_code != 0, assignment
        assert "invalid policy" in result.output


def test_ladder_show_and_set(runner, app: Flask, tmp_path) -> None:
    import json

    shown = runner.invoke(args=["ladder", "show"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    data["levels"][1]["lifetime"] = {"idle_seconds": 600, "absolute_seconds": 3600}
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps(data))
    result = runner.invoke(args=["ladder", "set", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(runner.invoke(args=["ladder", "show"]).output)["levels"][1]["lifetime"][
            "idle_seconds"
        ]
        == 600
    )
    data["levels"][1]["level"] = 1  # not increasing: refused with a clear message
    path.write_text(json.dumps(data))
    bad = runner.invoke(args=["ladder", "set", str(path)])
    assert bad.exit_code != 0 and "level" in bad.output
    # restore for other tests
    from provider.policy import default_ladder_data
    from provider.storage.ladder import save_ladder

    with app.app_context():
        save_ladder(default_ladder_data())


def test_flask_finds_the_same_commands_as_belay(tmp_path) -> None:
    """``flask --app provider.cli …`` (README.md) offers every ``belay`` command:
    provider.app does not import the CLI, so the CLI's own factory adds them."""
    import subprocess
    import sys

    from provider.cli import COMMANDS
    from tests.conftest import free_port, server_env

    env = server_env(free_port(), BELAY_INSTANCE_PATH=str(tmp_path))
    listed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "provider.cli", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    commands = {
        line.split()[0] for line in listed.split("Commands:")[1].splitlines() if line.strip()
    }
    assert {command.name for command in COMMANDS} <= commands, listed


def test_demo_gives_an_older_demo_bank_its_resource_as_an_admin_change(runner, app: Flask) -> None:
    """An older demo's ``demo-bank`` without resources gets the bank API through
    the admin use-case (``update_client``): one ``client_updated`` row, before and after."""
    from provider.cli.demo import BANK_API_URL
    from provider.flows.admin import clients
    from provider.storage import admin as store

    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        clients.update_client("demo-bank", {"resources": []}, actor="test")
        assert [r.details["by"] for r in store.audit_events(event="client_created")] == [
            "belay demo",
            "belay demo",
        ]
    assert runner.invoke(args=["demo"]).exit_code == 0
    with app.app_context():
        assert clients.client_to_dict(clients.get_client("demo-bank"))["resources"] == [
            BANK_API_URL
        ]
        latest = store.audit_events(event="client_updated", client_id="demo-bank")[0]
        assert latest.details == {
            "by": "belay demo",
            "before": {"resources": []},
            "after": {"resources": [BANK_API_URL]},
        }
