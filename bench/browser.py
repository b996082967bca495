"""A lean simulated browser: one keep-alive HTTP/1.1 connection (a raw socket) and cookies.

The load driver's own CPU counts against the machine it shares with the servers,
so the hot path avoids ``requests`` (session, adapter, cookie jar and ``urllib3``
layers) and even ``http.client``, whose header parsing through ``email.parser``
alone costs about 0.1 ms per response on this machine: a request is one
``sendall`` and the answer is split by hand (status line, headers, a
``Content-Length`` or chunked body). What is kept of a browser: cookies with
their path and expiry (oidc-provider scopes its interaction cookies by path and
deletes cookies by expiring them), ``Secure`` cookies not sent over plain HTTP,
redirects followed only when asked, and a reconnect when the server has closed
an idle keep-alive connection (gunicorn closes them after 2 s).
"""

from __future__ import annotations

import email.utils
import functools
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urljoin, urlsplit

REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: what ``quote_plus`` leaves as it is
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def form_encode(fields: dict[str, str]) -> str:
    """``urllib.parse.urlencode(fields)``, the same string, at a fraction of the cost:
    most values here (tokens, codes, ids) need no quoting at all."""
    return "&".join(
        f"{quote_plus(name)}={value if _UNRESERVED.fullmatch(value) else quote_plus(value)}"
        for name, value in fields.items()
    )


class Disconnected(ConnectionError):
    """The server closed the connection before answering."""


#: errors of a request on a reused keep-alive connection that the server had already
#: closed: the request is sent again once, on a new connection
_STALE = (Disconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value of a repeated header
    body: bytes
    url: str  # the URL that gave this answer (after any redirects followed)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Cookie:
    value: str
    secure: bool


@functools.lru_cache(maxsize=16)
def _expires_at(date: str) -> float:
    """The time an ``Expires`` date names (remembered: a server sets the same date on
    every answer within a second)."""
    return email.utils.parsedate_to_datetime(date).timestamp()


def _path_matches(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 section 5.1.4."""
    if request_path == cookie_path:
        return True
    if not request_path.startswith(cookie_path):
        return False
    return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"


class Browser:
    """One browser (or one relying party's back channel) talking to one origin."""

    def __init__(self, origin: str, timeout: float = 120.0, source: str | None = None) -> None:
        """``source``: the local address to connect from (any of 127.0.0.0/8 on Linux),
        so that the server sees this browser at its own client address."""
        parts = urlsplit(origin)
        assert parts.scheme == "http" and parts.hostname, origin
        self.origin = f"http://{parts.netloc}"
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        self.source = (source, 0) if source else None
        self.host_line = f"Host: {parts.netloc}"
        self.sock: socket.socket | None = None
        self.buffer = b""  # bytes read past the last answer
        self.cookies: dict[tuple[str, str], Cookie] = {}  # (name, path) -> cookie

    # -- connection ---------------------------------------------------------------------

    def close(self) -> None:
        """Drop the connection (the cookies stay); the next request opens a new one."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buffer = b""

    def connect(self) -> None:
        if self.sock is None:
            self.sock = socket.create_connection(
                (self.host, self.port), self.timeout, source_address=self.source
            )
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""

    # -- requests -----------------------------------------------------------------------

    def get(self, url: str, *, follow: bool = False) -> Response:
        response = self.request("GET", url)
        for _ in range(10):
            if not follow or response.status not in REDIRECTS:
                return response
            response = self.request("GET", urljoin(response.url, response.headers["location"]))
        raise AssertionError(f"too many redirects from {url}")

    def post(
        self, url: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> Response:
        body = form_encode(form).encode()
        extra = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
        return self.request("POST", url, body, extra)

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if url.startswith(self.origin):
            target = url[len(self.origin) :] or "/"
        else:
            assert url.startswith("/"), f"{url} is not on {self.origin}"
            target = url
        path = target.split("?", 1)[0]
        lines = [f"{method} {target} HTTP/1.1", self.host_line]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        cookie = self._cookie_header(path)
        if cookie:
            lines.append(f"Cookie: {cookie}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        reused = self.sock is not None
        try:
            status, fields, data = self._exchange(message)
        except _STALE:
            self.close()
            if not reused:
                raise
            status, fields, data = self._exchange(message)
        headers_out: dict[str, str] = {}
        for name, value in fields:
            if name == "set-cookie":
                self._store(value, path)
            else:
                headers_out[name] = value
        if headers_out.get("connection", "").lower() == "close":
            self.close()
        return Response(status, headers_out, data, self.origin + target)

    def _exchange(self, message: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request, read one answer: (status, [(lower-cased name, value)], body)."""
        self.connect()
        assert self.sock is not None
        self.sock.sendall(message)
        end = self._fill_until(b"\r\n\r\n", first=True)
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        self.buffer = self.buffer[end + 4 :]
        status = int(head[0].split(" ", 2)[1])
        fields: list[tuple[str, str]] = []
        length: int | None = None
        chunked = False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            fields.append((name, value))
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = value.lower() == "chunked"
        if chunked:
            return status, fields, self._read_chunked()
        if length is None:
            if status in (204, 304):
                return status, fields, b""
            raise AssertionError("an answer without Content-Length nor chunks")
        self._fill_to(length)
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, fields, data

    def _recv(self, first: bool = False) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            if first and not self.buffer:
                raise Disconnected("closed before answering")
            raise ConnectionError("the server closed the connection mid-answer")
        self.buffer += chunk

    def _fill_until(self, marker: bytes, *, first: bool = False) -> int:
        while (at := self.buffer.find(marker)) < 0:
            self._recv(first)
        return at

    def _fill_to(self, size: int) -> None:
        while len(self.buffer) < size:
            self._recv()

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            end = self._fill_until(b"\r\n")
            size = int(self.buffer[:end].split(b";", 1)[0], 16)
            self.buffer = self.buffer[end + 2 :]
            if size == 0:
                while (end := self._fill_until(b"\r\n")) > 0:  # trailers, then a blank line
                    self.buffer = self.buffer[end + 2 :]
                self.buffer = self.buffer[2:]
                return b"".join(parts)
            self._fill_to(size + 2)
            parts.append(self.buffer[:size])
            self.buffer = self.buffer[size + 2 :]

    # -- cookies ------------------------------------------------------------------------

    def _cookie_header(self, path: str) -> str:
        if not self.cookies:
            return ""
        matching = [
            (len(cookie_path), name, cookie.value)
            for (name, cookie_path), cookie in self.cookies.items()
            if not cookie.secure and _path_matches(path, cookie_path)
        ]
        matching.sort(key=lambda item: -item[0])  # longer paths first (RFC 6265 5.4)
        return "; ".join(f"{name}={value}" for _, name, value in matching)

    def _store(self, header: str, request_path: str) -> None:
        first, *attributes = header.split(";")
        name, _, value = first.strip().partition("=")
        default_path = request_path.rsplit("/", 1)[0] or "/"
        path, secure, expired, max_age = default_path, False, False, False
        for attribute in attributes:
            key, _, arg = attribute.strip().partition("=")
            key = key.lower()
            if key == "path" and arg.startswith("/"):
                path = arg
            elif key == "secure":
                secure = True
            elif key == "max-age":  # wins over Expires
                expired, max_age = int(arg) <= 0, True
            elif key == "expires" and not max_age:
                expired = _expires_at(arg) <= time.time()
        if expired:
            self.cookies.pop((name, path), None)
        else:
            self.cookies[(name, path)] = Cookie(value, secure)
