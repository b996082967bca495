"""The lock files agree with pyproject.toml, so a stale lock fails ``make test``.

``make run`` and ``make test`` install requirements/run.txt and
requirements/test.txt (every package pinned with its hashes, ``pip install
--require-hashes``) and then the project with ``--no-deps``: a dependency named in
pyproject.toml but missing from a lock would simply not be installed. ``make lock``
refreshes both files.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _pins(path: Path) -> dict[str, str]:
    """``{name: version}`` of a lock file; each pin must carry at least one hash."""
    pins: dict[str, str] = {}
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if not match:
            continue
        following = lines[number + 1] if number + 1 < len(lines) else ""
        assert "--hash=sha256:" in line + following, f"{path.name}: {line} has no hash"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    names = list(project["dependencies"])
    for extra in extras:
        names += project["optional-dependencies"][extra]
    build = PYPROJECT["build-system"]["requires"]
    build_in = [
        line.strip()
        for line in (ROOT / "requirements" / "build.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [Requirement(text) for text in [*names, *build, *build_in]]


def _disagreements(lock: Path, requirements: list[Requirement]) -> list[str]:
    pins = _pins(lock)
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not pinned in {lock.name}")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement}: {lock.name} pins {pins[name]}")
    return problems


@pytest.mark.parametrize(
    ("lock", "extras"), [("run.txt", ("postgres",)), ("test.txt", ("postgres", "test"))]
)
def test_every_requirement_is_pinned_in_the_lock(lock: str, extras: tuple[str, ...]) -> None:
    problems = _disagreements(ROOT / "requirements" / lock, _requirements(*extras))
    assert not problems, f"run `make lock` (README, Quick start): {problems}"


def test_run_and_test_pin_the_same_versions() -> None:
    """``make test`` tests what ``make run`` runs (test.txt is compiled with run.txt
    as constraints)."""
    run, test = _pins(ROOT / "requirements" / "run.txt"), _pins(ROOT / "requirements" / "test.txt")
    assert {n: (v, test.get(n)) for n, v in run.items() if test.get(n) != v} == {}


def test_the_check_finds_a_stale_lock(tmp_path: Path) -> None:
    """A dependency added to pyproject.toml but not locked, or a pin outside the
    range pyproject.toml allows, is reported."""
    lock = tmp_path / "run.txt"
    lock.write_text("flask==2.0.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    problems = _disagreements(lock, [Requirement("Flask>=3.1,<4"), Requirement("orjson>=3")])
    assert problems == [
        "Flask<4,>=3.1: run.txt pins 2.0.0",
        "orjson>=3 is not pinned in run.txt",
    ]


def test_a_pin_without_a_hash_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "run.txt"
    lock.write_text("flask==3.1.3\n")
    with pytest.raises(AssertionError, match="has no hash"):
        _pins(lock)


def test_the_build_backend_is_locked_at_the_version_pyproject_asks() -> None:
    """Installed with --no-build-isolation, the project is built by the locked
    setuptools: it must be one that reads ``project.license`` as an SPDX string."""
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    setuptools = _pins(ROOT / "requirements" / "run.txt")["setuptools"]
    assert int(setuptools.split(".")[0]) >= 77
