"""docs/design.md convention 14: the kits stand alone.

Each kit is imported in a fresh interpreter, which must not load SQLAlchemy,
Flask-SQLAlchemy, the provider app, or (for the core modules) Flask.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ["sqlalchemy", "flask_sqlalchemy", "provider.app", "provider.policy", "flask"]


def loaded_after(statement: str) -> list[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return list(json.loads(result.stdout))


@pytest.mark.parametrize("kit", ["provider.resource_server", "provider.relying_party"])
def test_kit_imports_alone(kit: str) -> None:
    modules = loaded_after(f"import {kit}")
    assert kit in modules
    for name in FORBIDDEN:
        assert name not in modules, f"{kit} loaded {name}"
    others = [
        m
        for m in modules
        if m.startswith("provider.") and not m.startswith(kit) and m != "provider"
    ]
    assert others == []


@pytest.mark.parametrize(
    "adapter", ["provider.resource_server.flask_adapter", "provider.relying_party.flask_adapter"]
)
def test_flask_adapters_load_flask_but_not_the_provider(adapter: str) -> None:
    modules = loaded_after(f"import {adapter}")
    assert "flask" in modules
    for name in ("sqlalchemy", "flask_sqlalchemy", "provider.app"):
        assert name not in modules


def test_wsgi_middleware_does_not_load_flask() -> None:
    modules = loaded_after("import provider.resource_server.wsgi")
    assert "flask" not in modules and "sqlalchemy" not in modules
