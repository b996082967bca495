"""Every ``belay …`` command the documentation shows parses with the real CLI.

docs/passkeys.md once showed ``belay client policy rp passkey_user_verification=…``
without ``--set``, which the CLI refuses. Here each command in a fenced code
block of README.md and docs/*.md is parsed by the CLI's own argument parser
(click, no command is run): an unknown command or option, a missing argument
or an extra one fails the test. Commands quoted inline (`` `belay …` ``) are
often a mention (``belay client policy --set``), so for them a missing argument
is allowed — anything else is not. ``client policy … --set KEY=VALUE`` values
are also checked by the policy parser itself (pure, provider/policy).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from flask import Flask

from provider import policy

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDERS = ("…", "...")


@dataclass(frozen=True)
class Shown:
    where: str
    command: str
    inline: bool


def _code_block_commands(path: Path) -> Iterator[Shown]:
    in_block = False
    pending = ""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            pending = ""
            continue
        if not in_block:
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        match = re.search(r"(?:^|\|\s*|^\$\s+)(belay\s.*)$", line)
        if match:
            yield Shown(f"{path.name}:{number}", match.group(1), inline=False)


def _inline_commands(path: Path) -> Iterator[Shown]:
    text = path.read_text()
    # outside fenced blocks only
    text = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for match in re.finditer(r"`(belay\s[^`]*)`", text):
        number = text.count("\n", 0, match.start()) + 1
        yield Shown(f"{path.name}:{number}", " ".join(match.group(1).split()), inline=True)


SHOWN = [shown for path in DOCS for shown in (*_code_block_commands(path), *_inline_commands(path))]


def _words(command: str) -> list[str]:
    command = re.sub(r"\s#\s.*$", "", command)  # a trailing comment
    words = shlex.split(command)[1:]  # without "belay"
    # "[--secret-stdin]": an optional part, shown as such
    return [w[1:-1] if w.startswith("[") and w.endswith("]") else w for w in words]


class MissingCommand(click.UsageError):
    pass


def _root(app: Flask) -> click.Group:
    """``belay``: its commands plus Flask-Migrate's ``db`` (a Flask plugin)."""
    from flask_migrate.cli import db

    from provider.cli import COMMANDS

    return click.Group("belay", commands={**{c.name: c for c in COMMANDS}, "db": db})


def _parse(root: click.Group, words: list[str]) -> click.Command:
    """Parse ``words`` as the CLI would, down to the command; run nothing."""
    command: click.Command = root
    rest = list(words)
    while isinstance(command, click.Group):
        if not rest:
            raise MissingCommand(f"{command.name}: a subcommand is missing")
        name = rest.pop(0)
        sub = command.get_command(click.Context(command), name)
        if sub is None:
            raise click.UsageError(f"no such command {name!r}")
        command = sub
    context = command.make_context(command.name or "", rest, resilient_parsing=False)
    context.close()
    return command


def _variants(words: list[str]) -> list[list[str]]:
    """A placeholder word (``…``) stands for more of the same, or for a value."""
    if not any(w in PLACEHOLDERS for w in words):
        return [words]
    return [
        [w for w in words if w not in PLACEHOLDERS],
        ["x" if w in PLACEHOLDERS else w for w in words],
    ]


@pytest.fixture
def in_tmp(tmp_path: Path) -> Iterator[Path]:
    before = Path.cwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(before)


def test_the_docs_show_commands(app: Flask) -> None:
    assert len([s for s in SHOWN if not s.inline]) >= 15, SHOWN
    assert any("client policy" in s.command for s in SHOWN)


@pytest.mark.parametrize("shown", SHOWN, ids=[f"{s.where} {s.command[:50]}" for s in SHOWN])
def test_every_documented_command_parses(app: Flask, in_tmp: Path, shown: Shown) -> None:
    words = _words(shown.command)
    for word in words:  # files a command reads exist for the parser (click.Path(exists=True))
        if re.fullmatch(r"[\w.-]+\.(pem|crt|json|txt)", word):
            (in_tmp / word).write_text("")
    errors = []
    for variant in _variants(words):
        try:
            command = _parse(_root(app), variant)
        except (click.MissingParameter, MissingCommand) as exc:
            if shown.inline:
                return  # a mention of the command, not a full invocation
            errors.append(exc.format_message())
        except click.BadOptionUsage as exc:
            if shown.inline and variant and variant[-1].startswith("--"):
                return  # "`belay client policy --set`": the option, mentioned
            errors.append(exc.format_message())
        except click.ClickException as exc:
            errors.append(exc.format_message())
        else:
            if command.name == "policy":
                _check_policy_assignments(variant, shown)
            return
    pytest.fail(f"{shown.where}: `{shown.command}` does not parse: {errors}")


def _check_policy_assignments(words: list[str], shown: Shown) -> None:
    assignments = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--set"]
    concrete = [
        a
        for a in assignments
        if "=" in a and a.split("=", 1)[0].islower() and not any(p in a for p in PLACEHOLDERS)
    ]
    try:
        policy.client_policy_from_assignments(concrete, policy.default_ladder())
    except policy.PolicyValidationError as exc:
        pytest.fail(f"{shown.where}: `{shown.command}`: {exc}")


def test_the_passkeys_doc_sets_the_uv_policy_with_set(app: Flask, in_tmp: Path) -> None:
    """The defect: without ``--set`` the command fails; as documented now it parses."""
    with pytest.raises(click.UsageError):
        _parse(_root(app), ["client", "policy", "rp", "passkey_user_verification=discouraged"])
    shown = [s for s in SHOWN if "passkey_user_verification" in s.command]
    assert shown, "docs/passkeys.md no longer shows the UV policy command"
    for item in shown:
        _parse(_root(app), _words(item.command))


# -- commands other than ``belay``: ``python -m …`` and ``make …`` -------------------

#: the repository's own packages (run with the virtualenv's interpreter)
OWN_PACKAGES = ("provider", "examples", "bench", "conformance")
PYTHON_M = re.compile(r"((?:\.venv/bin/)?python3?) -m ([A-Za-z_][\w.]*)((?:[ \t]+[^\s`|;&#]+)*)")
MAKE_TARGET = re.compile(r"(?:^|`|\n\s*)make ([a-z][\w.-]*)")
RUN_DOCS = [*DOCS, ROOT / "bench" / "README.md"]


def _python_commands() -> list[tuple[str, str, str, str]]:
    found = []
    for path in RUN_DOCS:
        for match in PYTHON_M.finditer(path.read_text()):
            number = path.read_text().count("\n", 0, match.start()) + 1
            found.append((f"{path.name}:{number}", *match.groups()))
    return found


PYTHON_COMMANDS = _python_commands()


def test_the_docs_show_python_commands() -> None:
    shown = {module for _, _, module, _ in PYTHON_COMMANDS}
    assert {"examples.bank.totp", "examples.bank.launch", "conformance", "bench.run"} <= shown


@pytest.mark.parametrize(
    ("where", "python", "module", "args"), PYTHON_COMMANDS, ids=[c[0] for c in PYTHON_COMMANDS]
)
def test_every_python_command_runs_as_written(
    where: str, python: str, module: str, args: str
) -> None:
    """A module of this repository is run with ``.venv/bin/python`` (what ``make run``
    installs into; a fresh machine may have no ``python``, or one without Belay's
    dependencies), and the module exists."""
    import importlib.util

    if module.split(".")[0] in OWN_PACKAGES:
        assert python == ".venv/bin/python", f"{where}: write `.venv/bin/python -m {module}`"
    assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"


@pytest.mark.parametrize("who", ["", " admin"])
def test_the_totp_command_prints_the_current_code(tmp_path: Path, who: str) -> None:
    """``.venv/bin/python -m examples.bank.totp [admin]``, run as the docs write it."""
    import json
    import subprocess
    import sys
    import time

    import pyotp

    keys = {f"{name}_totp_secret": pyotp.random_base32() for name in ("alice", "admin")}
    (tmp_path / "demo-credentials.json").write_text(json.dumps(keys))
    before = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "examples.bank.totp", *who.split()],
        env={**os.environ, "BELAY_INSTANCE_PATH": str(tmp_path)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    user = who.strip() or "alice"
    totp = pyotp.TOTP(keys[f"{user}_totp_secret"])
    assert done.stdout.split()[0] in {totp.at(before), totp.at(time.time())}
    assert f"{user}'s code" in done.stdout


def test_every_make_target_in_the_docs_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w.-]*):", makefile, re.M))
    shown = {
        (path.name, target)
        for path in DOCS
        for target in MAKE_TARGET.findall(path.read_text())
        if target not in {"a", "you", "sure", "it", "the"}
    }
    assert {t for _, t in shown} >= {"run", "test", "lock"}
    assert [f"{name}: make {t}" for name, t in sorted(shown) if t not in targets] == []
