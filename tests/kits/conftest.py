"""Fixtures for the kit tests: a tiny local HTTP server standing in for the OP
(discovery, JWKS, introspection), and keys made with joserfc."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest


class FakeOP:
    """Serves JSON documents by path and counts the requests to each path."""

    def __init__(self) -> None:
        self.documents: dict[str, Any] = {}
        self.post_handlers: dict[str, Callable[[dict[str, str], dict[str, str]], Any]] = {}
        self.hits: dict[str, int] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        op = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                op.hits[self.path] = op.hits.get(self.path, 0) + 1
                if self.path not in op.documents:
                    self._send(404, {"error": "not found"})
                else:
                    self._send(200, op.documents[self.path])

            def do_POST(self) -> None:
                op.hits[self.path] = op.hits.get(self.path, 0) + 1
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                handler = op.post_handlers.get(self.path)
                if handler is None:
                    self._send(404, {"error": "not found"})
                else:
                    self._send(200, handler(form, dict(self.headers.items())))

        return Handler

    def discovery(self, issuer: str | None = None, **extra: Any) -> dict[str, Any]:
        doc = {
            "issuer": issuer or self.url,
            "jwks_uri": f"{self.url}/jwks.json",
            "introspection_endpoint": f"{self.url}/introspect",
            **extra,
        }
        self.documents["/.well-known/openid-configuration"] = doc
        return doc


@pytest.fixture
def fake_op() -> Iterator[FakeOP]:
    op = FakeOP()
    op.thread.start()
    yield op
    op.server.shutdown()
    op.server.server_close()
