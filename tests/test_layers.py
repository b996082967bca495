"""The layers below the web (docs/architecture.md) know nothing of HTTP.

import-linter (pyproject.toml, run by `make test`) checks which packages import
which, but it sees an external package as a whole: it can forbid werkzeug below
the web layer, not Flask's request-bound names while allowing `current_app`. This
test reads the imports themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROVIDER = Path(__file__).resolve().parents[1] / "provider"
BELOW_WEB = ("flows", "factors", "oidc", "storage", "policy")

# What a lower layer may take from Flask: the application (its configuration and
# extensions) and the application context, never the request, the response, the
# cookie session or page rendering.
ALLOWED_FROM_FLASK = {"current_app", "Flask", "g", "has_app_context"}


def _flask_names(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "flask":
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names if a.name == "flask")
    return found


def _modules() -> list[Path]:
    return sorted(p for layer in BELOW_WEB for p in (PROVIDER / layer).rglob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PROVIDER)))
def test_no_request_or_response_below_the_web_layer(path: Path) -> None:
    bad = [
        f"line {line}: flask.{name}" if name != "flask" else f"line {line}: import flask"
        for line, name in _flask_names(path)
        if name not in ALLOWED_FROM_FLASK
    ]
    assert not bad, f"{path.relative_to(PROVIDER.parent)} reaches into HTTP: {bad}"


def test_the_scan_sees_a_request_import(tmp_path: Path) -> None:
    """The check above can fail: it finds `from flask import request`."""
    sample = tmp_path / "sample.py"
    sample.write_text("from flask import current_app, request\nimport flask\n")
    assert _flask_names(sample) == [(1, "current_app"), (1, "request"), (2, "flask")]
