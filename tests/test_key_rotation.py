"""Signing-key rotation under load (docs/security.md case 43): no request fails
during the switch, and every token signed before it keeps validating."""

from __future__ import annotations

import base64
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import Actions, LiveServer, free_port, server_env


def _kid(token: str) -> str:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"]


def test_rotation_under_load(actions: Actions, runner) -> None:
    secret = actions.create_client("service")
    port = free_port()
    server = LiveServer(port, server_env(port, BELAY_KEY_CACHE_TTL="0.2")).start()
    try:
        jwks_before = {
            k["kid"] for k in requests.get(f"{server.url}/jwks.json", timeout=5).json()["keys"]
        }
        stop = threading.Event()
        results: list[tuple[int, str]] = []

        def hammer() -> None:
            with requests.Session() as http:
                while not stop.is_set():
                    r = http.post(
                        f"{server.url}/token",
                        data={"grant_type": "client_credentials"},
                        auth=("service", secret),
                        timeout=10,
                    )
                    results.append((r.status_code, r.json().get("access_token", r.text)))

        with ThreadPoolExecutor(4) as pool:
            for _ in range(4):
                pool.submit(hammer)
            time.sleep(0.5)
            rotated = runner.invoke(args=["keys", "rotate", "--publish-delay", "1"])
            assert rotated.exit_code == 0, rotated.output
            time.sleep(0.3)  # the server's key cache TTL; still within the publish delay
            jwks_after_rotate = {
                k["kid"] for k in requests.get(f"{server.url}/jwks.json", timeout=5).json()["keys"]
            }
            time.sleep(2.5)
            stop.set()

        assert results and all(status == 200 for status, _ in results), {s for s, _ in results}
        new_kids = jwks_after_rotate - jwks_before
        assert len(new_kids) == 3  # one per algorithm, published at once
        kids_used = [_kid(token) for _, token in results]
        assert kids_used[0] in jwks_before
        assert kids_used[-1] in new_kids  # the switch happened under load
        keys = KeySet.import_key_set(requests.get(f"{server.url}/jwks.json", timeout=5).json())
        for _, token in results:
            jwt.decode(token, keys, algorithms=["ES256"])  # old and new keys both validate
    finally:
        server.stop()
