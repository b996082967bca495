"""A tiny resource server for the step-up loop: it demands an acr and a
max_age, validates access tokens itself (cryptojwt against the OP's JWKS, or
introspection for opaque tokens) and answers RFC 9470 challenges."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from conformance.rp import Context, Fail


def _quote(value: str) -> str:
    value = value.encode("ascii", "replace").decode()
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ResourceServer:
    def __init__(self, ctx: Context, acr: str, max_age: int) -> None:
        self.ctx, self.acr, self.max_age = ctx, acr, max_age
        rs = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                status, headers, body = rs.handle(self.headers.get("Authorization", ""))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/balance"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ResourceServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def claims(self, token: str) -> dict[str, Any]:
        if token.count(".") == 2:
            return self.ctx.verify_access_token(token)
        body = self.ctx.introspect(token)
        if not body.get("active"):
            raise Fail("inactive token")
        return body

    def handle(self, authorization: str) -> tuple[int, dict[str, str], bytes]:
        if not authorization.lower().startswith("bearer "):
            return 401, {"WWW-Authenticate": "Bearer"}, b"{}"
        try:
            claims = self.claims(authorization[7:].strip())
        except Fail as exc:
            return (
                401,
                {
                    "WWW-Authenticate": 'Bearer error="invalid_token", '
                    + f"error_description={_quote(str(exc))}"
                },
                b"{}",
            )
        auth_time = claims.get("auth_time")
        fresh = isinstance(auth_time, int) and time.time() - auth_time <= self.max_age
        if claims.get("acr") != self.acr or not fresh:
            challenge = (
                'Bearer error="insufficient_user_authentication", '
                f"error_description={_quote('A stronger or more recent sign-in is required')}, "
                f"acr_values={_quote(self.acr)}, max_age={_quote(str(self.max_age))}"
            )
            return (
                401,
                {"WWW-Authenticate": challenge},
                b'{"error":"insufficient_user_authentication"}',
            )
        return 200, {}, b'{"balance": 42}'
