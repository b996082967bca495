"""The few HTTP calls the kit makes to the OP, behind a small Protocol.

The default client uses ``requests``, imported only when the first call is
made, so importing the kit needs nothing but the standard library and
``joserfc``. Pass your own :class:`HttpClient` to reuse a session, add proxies
or test without a network.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from provider.resource_server.errors import ProviderUnavailable

__all__ = ["HttpClient", "RequestsHttpClient", "basic_auth_header"]

#: Discovery documents, key sets and introspection answers are small.
MAX_RESPONSE_BYTES = 1 << 20


class HttpClient(Protocol):
    """GET or POST and return the decoded JSON object, or raise :class:`ProviderUnavailable`."""

    def get_json(self, url: str) -> dict[str, Any]: ...

    def post_form(
        self, url: str, *, data: Mapping[str, str], headers: Mapping[str, str]
    ) -> dict[str, Any]: ...


def basic_auth_header(client_id: str, client_secret: str) -> str:
    """``client_secret_basic`` credentials.

    Written by hand because RFC 6749 §2.3.1 says the client id and secret are
    "encoded using the application/x-www-form-urlencoded encoding algorithm"
    *before* Basic encoding, which ``requests``' ``auth=(id, secret)`` skips.
    """
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


class RequestsHttpClient:
    """:class:`HttpClient` on ``requests`` with a timeout and a size limit."""

    def __init__(self, *, timeout: float = 5.0, session: Any = None) -> None:
        self.timeout = timeout
        self._session = session

    def _requests_session(self) -> Any:
        if self._session is None:
            import requests  # lazily: the kit imports without it

            self._session = requests.Session()
        return self._session

    def get_json(self, url: str) -> dict[str, Any]:
        return self._call("GET", url, data=None, headers={"Accept": "application/json"})

    def post_form(
        self, url: str, *, data: Mapping[str, str], headers: Mapping[str, str]
    ) -> dict[str, Any]:
        return self._call(
            "POST", url, data=dict(data), headers={"Accept": "application/json", **headers}
        )

    def _call(
        self, method: str, url: str, *, data: dict[str, str] | None, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        session = self._requests_session()
        try:
            response = session.request(
                method,
                url,
                data=data,
                headers=dict(headers),
                timeout=self.timeout,
                allow_redirects=False,
            )
            body = response.content
        except Exception as exc:  # requests' errors, without importing requests here
            raise ProviderUnavailable(f"{method} {url} failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"{method} {url} answered HTTP {response.status_code}")
        if len(body) > MAX_RESPONSE_BYTES:
            raise ProviderUnavailable(
                f"{method} {url} answered more than {MAX_RESPONSE_BYTES} bytes"
            )
        try:
            value = response.json()
        except ValueError as exc:
            raise ProviderUnavailable(f"{method} {url} did not answer JSON") from exc
        if not isinstance(value, dict):
            raise ProviderUnavailable(f"{method} {url} did not answer a JSON object")
        return value
