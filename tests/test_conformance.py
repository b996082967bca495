"""The conformance suite (conformance/) against a live Belay, and against
deliberately broken variants of it: each module must FAIL at least once, so no
module is a check that cannot fail.

Belay runs behind a small HTTP proxy in this file (its issuer is the proxy's
URL). The proxy is transparent for the passing run; for each broken variant it
tampers with requests or responses the way a faulty OP would (ignores max_age,
drops ``iss``, re-signs tokens with changed claims under a key it adds to the
JWKS, replays token responses...). One variant is a server configuration
instead: a client with ``acr_enforcement=voluntary``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyotp
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from conformance.modules import MODULES
from conformance.runner import main, run_modules
from tests.conftest import (
    Actions,
    LiveServer,
    _empty_tables,
    base_config,
    free_port,
    server_env,
)

pytestmark = pytest.mark.slow

CALLBACK = "http://127.0.0.1:9/callback"
WITH_QUERY = CALLBACK + "?dummy1=lorem&dummy2=ipsum"
FIXED_VERIFIER = "f" * 50


# -- the tampering proxy --------------------------------------------------------------


@dataclass
class Tamper:
    """Hooks of a broken server. Each may mutate what it is given."""

    authorize: Callable[[dict[str, str], dict[str, str]], None] | None = None
    token: Callable[[dict[str, str]], None] | None = None
    # (grant_type, id_token claims | None, access token claims | None) -> None
    claims: Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None] | None = None
    publish_tamper_key: bool = True
    metadata: Callable[[dict[str, Any]], None] | None = None
    jwks: Callable[[dict[str, Any]], None] | None = None
    strip_iss: bool = False
    replay_codes: bool = False
    seen: dict[str, tuple[int, bytes]] = field(default_factory=dict)


def _claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def _header_of(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


class Proxy:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.backend = ""
        self.tamper = Tamper()
        self.key = ECKey.generate_key("P-256", parameters={"kid": "tamper-key"})
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            def do_POST(self) -> None:
                proxy.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def resign(self, token: str, claims: dict[str, Any]) -> str:
        header = {"alg": "ES256", "kid": "tamper-key", "typ": _header_of(token).get("typ", "JWT")}
        return jwt.encode(header, claims, self.key)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        t = self.tamper
        parts = urlsplit(h.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        headers = {
            k: v for k, v in h.headers.items() if k.lower() not in ("content-length", "host")
        }
        form = dict(parse_qsl(body.decode(), keep_blank_values=True)) if body else {}
        if parts.path == "/authorize" and t.authorize:
            t.authorize(query, headers)
        if parts.path == "/token":
            if t.token:
                t.token(form)
            body = urlencode(form).encode()
            if t.replay_codes and form.get("code") in t.seen:
                return self.reply(h, *t.seen[form["code"]], {"Content-Type": "application/json"})
        url = urlunsplit(("http", urlsplit(self.backend).netloc, parts.path, urlencode(query), ""))
        upstream = requests.request(
            h.command, url, data=body or None, headers=headers, allow_redirects=False, timeout=20
        )
        content = upstream.content
        out = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower()
            not in (
                "content-length",
                "transfer-encoding",
                "connection",
                "content-encoding",
                "set-cookie",
            )
        }
        cookies = upstream.raw.headers.getlist("Set-Cookie")
        if parts.path == "/.well-known/openid-configuration" and t.metadata:
            doc = upstream.json()
            t.metadata(doc)
            content = json.dumps(doc).encode()
        if parts.path == "/jwks.json":
            doc = upstream.json()
            if t.claims and t.publish_tamper_key:
                doc["keys"].append(self.key.as_dict(private=False))
            if t.jwks:
                t.jwks(doc)
            content = json.dumps(doc).encode()
        if parts.path == "/token" and upstream.status_code == 200:
            if t.claims:
                content = self.tamper_tokens(form.get("grant_type", ""), upstream.json())
            if t.replay_codes and "code" in form:
                t.seen[form["code"]] = (200, content)
        location = out.get("Location", "")
        if t.strip_iss and location.startswith(CALLBACK):
            loc = urlsplit(location)
            q = [(k, v) for k, v in parse_qsl(loc.query) if k != "iss"]
            out["Location"] = urlunsplit(loc._replace(query=urlencode(q)))
        self.reply(h, upstream.status_code, content, out, cookies)

    def tamper_tokens(self, grant: str, doc: dict[str, Any]) -> bytes:
        assert self.tamper.claims
        at = _claims_of(doc["access_token"]) if doc["access_token"].count(".") == 2 else None
        idt = _claims_of(doc["id_token"]) if "id_token" in doc else None
        before = json.dumps(at, sort_keys=True)
        self.tamper.claims(grant, idt, at)
        if at is not None and json.dumps(at, sort_keys=True) != before:
            doc["access_token"] = self.resign(doc["access_token"], at)
        if idt is not None:
            digest = hashlib.sha256(doc["access_token"].encode()).digest()
            idt["at_hash"] = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
            doc["id_token"] = self.resign(doc["id_token"], idt)
        return json.dumps(doc).encode()

    def reply(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        content: bytes,
        headers: dict[str, str],
        cookies: list[str] | None = None,
    ) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        for cookie in cookies or []:
            h.send_header("Set-Cookie", cookie)
        h.send_header("Content-Length", str(len(content)))
        h.end_headers()
        h.wfile.write(content)


# -- Belay behind the proxy ----------------------------------------------------------------


class Deployment:
    def __init__(self, app: Any, proxy: Proxy) -> None:
        self.app = app
        self.proxy = proxy
        self.actions = Actions(app, app.test_client())
        self.secrets = {
            cid: self.actions.create_client(
                cid, redirect_uris=[CALLBACK, WITH_QUERY], secret=secrets.token_urlsafe(24), **kw
            )
            for cid, kw in {
                "conf-rp": {},
                "conf-voluntary": {"client_policy": {"acr_enforcement": "voluntary"}},
            }.items()
        }

    def config(self, client: str = "conf-rp") -> dict[str, Any]:
        """A fresh user (password + TOTP), so every run has unused TOTP steps."""
        from provider.factors.totp import TotpFactor

        name = "conf-" + secrets.token_hex(4)
        password, secret = secrets.token_urlsafe(12), pyotp.random_base32(32)
        user_id = self.actions.create_user(name, password, name="Conformance User")
        with self.app.app_context():
            factor = self.app.extensions["belay_factors"].get("totp")
            assert isinstance(factor, TotpFactor)
            factor.add_confirmed(user_id, name, secret)
        return {
            "user": {"username": name, "password": password, "totp_secret": secret},
            "client": {
                "client_id": client,
                "client_secret": self.secrets[client],
                "redirect_uri": CALLBACK,
                "redirect_uri_with_query": WITH_QUERY,
            },
        }


@pytest.fixture(scope="module")
def deployment(database: str) -> Iterator[Deployment]:
    from provider.app import create_app
    from provider.oidc.keys import ensure_keys
    from provider.storage import ladder

    app = create_app(base_config())
    _empty_tables(app)
    with app.app_context():
        ladder.invalidate()
        ensure_keys(app.extensions["belay_data_key"])
    proxy = Proxy(free_port())
    backend_port = free_port()
    server = LiveServer(backend_port, server_env(backend_port, BELAY_ISSUER=proxy.url)).start()
    proxy.backend = server.url
    try:
        yield Deployment(app, proxy)
    finally:
        server.stop()
        proxy.server.shutdown()
        proxy.server.server_close()


def verdicts(
    dep: Deployment, config: dict[str, Any], only: list[str] | None = None
) -> dict[str, Any]:
    return {r.module: r for r in run_modules(dep.proxy.url, config, only)}


def test_the_suite_passes_against_belay(deployment: Deployment, tmp_path: Any) -> None:
    deployment.proxy.tamper = Tamper()
    results = verdicts(deployment, deployment.config())
    assert set(results) == {m.name for m in MODULES}
    bad = {name: (r.result, r.reason) for name, r in results.items() if r.result != "PASS"}
    assert not bad, bad


def test_the_command_line_reports_and_sets_the_exit_status(
    deployment: Deployment, tmp_path: Any
) -> None:
    deployment.proxy.tamper = Tamper()
    config = tmp_path / "conformance.json"
    config.write_text(json.dumps(deployment.config()))
    argv = [
        "--issuer",
        deployment.proxy.url,
        "--config",
        str(config),
        "--report-dir",
        str(tmp_path),
    ]
    assert (
        main(
            [*argv, "--module", "oidcc-server", "--module", "rfc9207-iss-in-authorization-response"]
        )
        == 0
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert [r["result"] for r in report["results"]] == ["PASS", "PASS"]
    assert "oidcc-server" in (tmp_path / "report.md").read_text()
    deployment.proxy.tamper = Tamper(strip_iss=True)
    assert main([*argv, "--module", "rfc9207-iss-in-authorization-response"]) == 1


# -- the broken variants -------------------------------------------------------------------


def _set(**values: str | None) -> Callable[[dict[str, str], dict[str, str]], None]:
    def hook(query: dict[str, str], headers: dict[str, str]) -> None:
        for key, value in values.items():
            if value is None:
                query.pop(key, None)
            elif key in query or key in ("response_type", "redirect_uri"):
                query[key] = value

    return hook


def _fix_redirect(query: dict[str, str], headers: dict[str, str]) -> None:
    if query.get("redirect_uri") not in (CALLBACK,):
        query["redirect_uri"] = CALLBACK


def _prompt_none_to_login(query: dict[str, str], headers: dict[str, str]) -> None:
    if query.get("prompt") == "none":
        query["prompt"] = "login"


def _reauth_on_max_age(query: dict[str, str], headers: dict[str, str]) -> None:
    if "max_age" in query:
        query["prompt"] = "login"


def _forget_session_on_hint(query: dict[str, str], headers: dict[str, str]) -> None:
    if "id_token_hint" in query:
        headers.pop("Cookie", None)


def _pkce_authorize(query: dict[str, str], headers: dict[str, str]) -> None:
    if "code_challenge" in query:
        digest = hashlib.sha256(FIXED_VERIFIER.encode()).digest()
        query["code_challenge"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        query["code_challenge_method"] = "S256"


def _pkce_token(form: dict[str, str]) -> None:
    if form.get("grant_type") == "authorization_code":
        form["code_verifier"] = FIXED_VERIFIER


def _claims(
    fn: Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None],
) -> Callable[[str, dict[str, Any] | None, dict[str, Any] | None], None]:
    return fn


def _bogus_acr(grant: str, idt: dict[str, Any] | None, at: dict[str, Any] | None) -> None:
    if idt is not None:
        idt["acr"] = "urn:belay:acr:bogus"


def _refresh_moves_auth_time(
    grant: str, idt: dict[str, Any] | None, at: dict[str, Any] | None
) -> None:
    if grant == "refresh_token" and idt is not None:
        idt["auth_time"] -= 100


def _at_without_auth_time(
    grant: str, idt: dict[str, Any] | None, at: dict[str, Any] | None
) -> None:
    if at is not None:
        at.pop("auth_time", None)


def _refresh_downgrades(grant: str, idt: dict[str, Any] | None, at: dict[str, Any] | None) -> None:
    if grant == "refresh_token":
        for claims in (idt, at):
            if claims is not None:
                claims["acr"] = "urn:belay:acr:1fa"


def _unchanged(grant: str, idt: dict[str, Any] | None, at: dict[str, Any] | None) -> None:
    pass


def _leak_private(doc: dict[str, Any]) -> None:
    doc["keys"][0]["d"] = base64.urlsafe_b64encode(b"x" * 32).rstrip(b"=").decode()


def _wrong_issuer(doc: dict[str, Any]) -> None:
    doc["issuer"] = doc["issuer"] + "/other"


PKCE_IGNORED = Tamper(authorize=_pkce_authorize, token=_pkce_token)
IGNORES_STEP_UP = Tamper(authorize=_set(acr_values=None, max_age=None))

#: module -> (how the server is broken, the tamper, the client to use)
BROKEN: dict[str, tuple[str, Tamper, str]] = {
    "oidcc-discovery-endpoint-verification": (
        "issuer differs from the URL",
        Tamper(metadata=_wrong_issuer),
        "conf-rp",
    ),
    "oidcc-jwks-verification": (
        "JWKS leaks a private key member",
        Tamper(jwks=_leak_private),
        "conf-rp",
    ),
    "oidcc-server": (
        "ID token signed with a key not in the JWKS",
        Tamper(claims=_unchanged, publish_tamper_key=False),
        "conf-rp",
    ),
    "oidcc-response-type-missing": (
        "defaults response_type to code",
        Tamper(authorize=_set(response_type="code")),
        "conf-rp",
    ),
    "oidcc-ensure-registered-redirect-uri": (
        "accepts any redirect_uri",
        Tamper(authorize=_fix_redirect),
        "conf-rp",
    ),
    "oidcc-ensure-redirect-uri-in-authorization-request": (
        "defaults redirect_uri",
        Tamper(authorize=_fix_redirect),
        "conf-rp",
    ),
    "oidcc-redirect-uri-query-mismatch": (
        "ignores the redirect_uri query",
        Tamper(authorize=_fix_redirect),
        "conf-rp",
    ),
    "oidcc-codereuse": ("answers a reused code again", Tamper(replay_codes=True), "conf-rp"),
    "oidcc-max-age-1": ("ignores max_age", Tamper(authorize=_set(max_age=None)), "conf-rp"),
    "oidcc-max-age-10000": (
        "re-authenticates on any max_age",
        Tamper(authorize=_reauth_on_max_age),
        "conf-rp",
    ),
    "oidcc-prompt-login": ("ignores prompt=login", Tamper(authorize=_set(prompt=None)), "conf-rp"),
    "oidcc-prompt-none-logged-in": (
        "shows a page on prompt=none",
        Tamper(authorize=_prompt_none_to_login),
        "conf-rp",
    ),
    "oidcc-prompt-none-not-logged-in": (
        "ignores prompt=none",
        Tamper(authorize=_set(prompt=None)),
        "conf-rp",
    ),
    "oidcc-id-token-hint": (
        "loses the session with id_token_hint",
        Tamper(authorize=_forget_session_on_hint),
        "conf-rp",
    ),
    "oidcc-ensure-request-with-acr-values-succeeds": (
        "emits an acr not requested",
        Tamper(claims=_bogus_acr),
        "conf-rp",
    ),
    "oidcc-claims-essential": ("ignores the essential acr", Tamper(claims=_bogus_acr), "conf-rp"),
    "oidcc-refresh-token": (
        "refresh changes auth_time",
        Tamper(claims=_refresh_moves_auth_time),
        "conf-rp",
    ),
    "ensure-pkce-code-verifier-required": ("ignores PKCE", PKCE_IGNORED, "conf-rp"),
    "incorrect-pkce-code-verifier-rejected": ("ignores PKCE", PKCE_IGNORED, "conf-rp"),
    "plain-pkce-rejected": ("accepts plain PKCE", PKCE_IGNORED, "conf-rp"),
    "rfc9207-iss-in-authorization-response": (
        "drops iss from the redirect",
        Tamper(strip_iss=True),
        "conf-rp",
    ),
    "rfc9470-step-up-loop": ("ignores acr_values and max_age", IGNORES_STEP_UP, "conf-rp"),
    "rfc9470-unmet-authentication-requirements": (
        "client policy acr_enforcement=voluntary",
        Tamper(),
        "conf-voluntary",
    ),
    "rfc9470-access-token-claims": (
        "access token without auth_time",
        Tamper(claims=_at_without_auth_time),
        "conf-rp",
    ),
    "rfc9470-refresh-preserves-acr": (
        "refresh lowers acr",
        Tamper(claims=_refresh_downgrades),
        "conf-rp",
    ),
    "rfc9470-oauth-only-step-up": ("ignores acr_values and max_age", IGNORES_STEP_UP, "conf-rp"),
}


def test_every_module_has_a_broken_variant() -> None:
    assert set(BROKEN) == {m.name for m in MODULES}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_module_fails_against_a_broken_server(deployment: Deployment, name: str) -> None:
    _, tamper, client = BROKEN[name]
    tamper.seen.clear()
    deployment.proxy.tamper = tamper
    try:
        result = verdicts(deployment, deployment.config(client), [name])[name]
    finally:
        deployment.proxy.tamper = Tamper()
    assert result.result == "FAIL", (result.result, result.reason, result.evidence)
