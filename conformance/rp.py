"""The independent relying party: discovery, authorization requests, the token
request and token validation with idpyoidc/cryptojwt, and a requests-based
"browser" that fills in the OP's pages by the element ids of docs/design.md."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pyotp
import requests
from cryptojwt.jws.jws import factory as jws_factory
from cryptojwt.jwt import JWT
from cryptojwt.key_jar import KeyJar
from idpyoidc.message.oidc import (
    AccessTokenRequest,
    AccessTokenResponse,
    AuthorizationRequest,
    ProviderConfigurationResponse,
    RefreshAccessTokenRequest,
)

TIMEOUT = 15
SIGNING_ALGS = ["ES256", "RS256", "EdDSA", "PS256", "ES384"]


class Fail(Exception):
    """The module failed: the OP did something the spec forbids."""


class Warn(Exception):
    """Allowed by the spec but not what a careful OP does."""


class Skip(Exception):
    """The module cannot run with this configuration."""


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _redact(data: dict[str, Any]) -> dict[str, Any]:
    hidden = {"password", "client_secret", "code", "pin", "csrf_token"}
    out = {}
    for key, value in data.items():
        if key in hidden:
            out[key] = "…"
        elif isinstance(value, str) and len(value) > 60:
            out[key] = value[:24] + "…"
        else:
            out[key] = value
    return out


# -- pages --------------------------------------------------------------------------


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, Any]] = {}
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("id"):
            self._current = {"action": a.get("action", ""), "fields": {}}
            self.forms[a["id"]] = self._current
        elif tag == "input" and self._current is not None and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self._current["fields"][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(html: str) -> dict[str, dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


@dataclass
class User:
    username: str
    password: str
    totp_secret: str | None = None
    _last_step: int = -1

    def totp_code(self) -> str:
        """A TOTP code for a step the OP has not seen yet (it accepts each step once)."""
        assert self.totp_secret
        totp = pyotp.TOTP(self.totp_secret)
        while True:
            now_step = int(time.time()) // 30
            step = max(self._last_step + 1, now_step - 1)
            if step <= now_step + 1:
                self._last_step = step
                return totp.generate_otp(step)
            time.sleep((step - 1) * 30 - time.time() + 0.2)


@dataclass
class Outcome:
    """Where a browser journey ended: at the RP's redirect URI, or on an OP page."""

    callback: dict[str, str] | None
    location: str | None
    page: requests.Response | None
    pages: list[str] = field(default_factory=list)

    def require_callback(self) -> dict[str, str]:
        if self.callback is None:
            status = self.page.status_code if self.page is not None else "?"
            raise Fail(f"the OP never redirected to the client (stopped on a {status} page)")
        return self.callback


class Browser:
    """A user agent: a cookie jar and a person who fills in the OP's forms."""

    def __init__(self, ctx: Context, user: User | None = None) -> None:
        self.ctx = ctx
        self.session = requests.Session()
        self.user = user or ctx.user

    def visit(self, url: str, *, interact: bool = True, redirect_uri: str | None = None) -> Outcome:
        target = redirect_uri or self.ctx.redirect_uri
        target_base = target.split("?")[0]
        pages: list[str] = []
        response = self.session.get(url, allow_redirects=False, timeout=TIMEOUT)
        self.ctx.log(f"GET {url.split('?')[0]}?…  → {response.status_code}")
        for _ in range(20):
            if response.status_code in (301, 302, 303, 307):
                location = urljoin(response.url, response.headers["Location"])
                if location.split("?")[0] == target_base or not location.startswith(
                    self.ctx.origin
                ):
                    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
                    self.ctx.log(f"redirect to the client: {_redact(query)}")
                    return Outcome(query, location, None, pages)
                response = self.session.get(location, allow_redirects=False, timeout=TIMEOUT)
                continue
            forms = forms_of(response.text) if response.status_code == 200 else {}
            form_id = next(
                (f for f in ("login-form", "totp-form", "consent-form") if f in forms), None
            )
            if form_id is None or not interact:
                if form_id:
                    pages.append(form_id)
                self.ctx.log(f"stopped on a page: HTTP {response.status_code} {form_id or ''}")
                return Outcome(None, None, response, pages)
            pages.append(form_id)
            form = forms[form_id]
            data = dict(form["fields"])
            if form_id == "login-form":
                data.update(username=self.user.username, password=self.user.password)
            elif form_id == "totp-form":
                if not self.user.totp_secret:
                    raise Skip("the OP asks for a TOTP code and the config has no totp_secret")
                data["code"] = self.user.totp_code()
            else:
                data["decision"] = "allow"
            action = urljoin(response.url, form["action"] or response.url)
            self.ctx.log(f"page #{form_id}: POST {urlsplit(action).path}")
            response = self.session.post(action, data=data, allow_redirects=False, timeout=TIMEOUT)
        raise Fail("too many redirects or pages")


# -- the relying party ------------------------------------------------------------


@dataclass
class Tokens:
    raw: dict[str, Any]
    id_token: dict[str, Any] | None
    access_token: str
    refresh_token: str | None


class Context:
    """Everything a module needs: the OP's metadata and keys, the client, the user."""

    def __init__(self, issuer: str, config: dict[str, Any]) -> None:
        self.issuer = (
            issuer.rstrip("/") if issuer.endswith("/") and issuer.count("/") == 3 else issuer
        )
        self.config = config
        client = config["client"]
        self.client_id: str = client["client_id"]
        self.client_secret: str = client.get("client_secret", "")
        self.redirect_uri: str = client["redirect_uri"]
        self.redirect_uri_with_query: str | None = client.get("redirect_uri_with_query")
        u = config["user"]
        self.user = User(u["username"], u["password"], u.get("totp_secret") or None)
        step = config.get("step_up", {})
        self.step_up_acr: str = step.get("acr", "urn:belay:acr:2fa")
        self.unreachable_acr: str = step.get("unreachable_acr", "urn:belay:acr:phrh")
        self.step_up_max_age: int = int(step.get("max_age", 300))
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(issuer))
        self._metadata: ProviderConfigurationResponse | None = None
        self._keyjar: KeyJar | None = None
        self.evidence: list[str] = []

    def log(self, line: str) -> None:
        self.evidence.append(line)

    # -- discovery ------------------------------------------------------------
    def fetch_metadata(self) -> tuple[requests.Response, ProviderConfigurationResponse]:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = requests.get(url, timeout=TIMEOUT)
        self.log(f"GET {url} → {response.status_code}")
        if response.status_code != 200:
            raise Fail(f"discovery answered HTTP {response.status_code}")
        metadata = ProviderConfigurationResponse().from_json(response.text)
        return response, metadata

    @property
    def metadata(self) -> ProviderConfigurationResponse:
        if self._metadata is None:
            _, metadata = self.fetch_metadata()
            metadata.verify(allow_http=True)
            self._metadata = metadata
        return self._metadata

    def fetch_jwks(self) -> dict[str, Any]:
        response = requests.get(self.metadata["jwks_uri"], timeout=TIMEOUT)
        self.log(f"GET {self.metadata['jwks_uri']} → {response.status_code}")
        if response.status_code != 200:
            raise Fail(f"jwks_uri answered HTTP {response.status_code}")
        return dict(response.json())

    @property
    def keyjar(self) -> KeyJar:
        if self._keyjar is None:
            keyjar = KeyJar()
            keyjar.import_jwks(self.fetch_jwks(), self.metadata["issuer"])
            self._keyjar = keyjar
        return self._keyjar

    # -- authorization ----------------------------------------------------------
    def authorization_url(
        self, *, omit: tuple[str, ...] = (), pkce: bool = True, **params: Any
    ) -> tuple[str, dict[str, Any]]:
        """Build an authorization request with idpyoidc; returns (url, request state)."""
        verifier, challenge = pkce_pair()
        state = {
            "state": "st-" + secrets.token_urlsafe(8),
            "nonce": "n-" + secrets.token_urlsafe(8),
            "code_verifier": verifier,
            "redirect_uri": params.get("redirect_uri", self.redirect_uri),
        }
        args: dict[str, Any] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile",
            "state": state["state"],
            "nonce": state["nonce"],
        }
        if pkce:
            args.update(code_challenge=challenge, code_challenge_method="S256")
        args.update({k: v for k, v in params.items() if v is not None})
        for key in omit:
            args.pop(key, None)
        if "scope" in args and "openid" not in str(args["scope"]).split():
            args.pop("nonce", None)
            state["nonce"] = None
        if isinstance(args.get("claims"), dict):
            args["claims"] = json.dumps(args["claims"])
        endpoint = self.metadata["authorization_endpoint"]
        if omit:
            # Negative tests send what the library refuses to build: encode by hand.
            url = endpoint + ("&" if "?" in endpoint else "?") + urlencode(args)
        else:
            url = AuthorizationRequest(**args).request(endpoint)
        self.log(f"authorization request: {_redact({k: v for k, v in args.items()})}")
        return url, state

    def check_callback(self, callback: dict[str, str], state: dict[str, Any]) -> str:
        """A successful authorization response: state matches; returns the code."""
        if "error" in callback:
            raise Fail(
                f"authorization failed: {callback['error']} {callback.get('error_description', '')}"
            )
        if callback.get("state") != state["state"]:
            raise Fail("the authorization response's state is not the one sent")
        if "code" not in callback:
            raise Fail("the authorization response has no code")
        return callback["code"]

    # -- token endpoint ------------------------------------------------------------
    def token_request(self, data: dict[str, Any]) -> requests.Response:
        response = requests.post(
            self.metadata["token_endpoint"],
            data=data,
            auth=(self.client_id, self.client_secret),
            timeout=TIMEOUT,
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        shown = {k: body[k] for k in ("error", "error_description", "token_type") if k in body}
        shown.update(
            {k: "present" for k in ("id_token", "access_token", "refresh_token") if k in body}
        )
        self.log(f"POST /token {_redact(data)} → {response.status_code} {shown}")
        return response

    def exchange(
        self, code: str, state: dict[str, Any], *, code_verifier: str | bool | None = True
    ) -> requests.Response:
        message = AccessTokenRequest(
            grant_type="authorization_code", code=code, redirect_uri=state["redirect_uri"]
        )
        if code_verifier is True:
            message["code_verifier"] = state["code_verifier"]
        elif isinstance(code_verifier, str):
            message["code_verifier"] = code_verifier
        return self.token_request(message.to_dict())

    def refresh(self, refresh_token: str) -> requests.Response:
        message = RefreshAccessTokenRequest(grant_type="refresh_token", refresh_token=refresh_token)
        return self.token_request(message.to_dict())

    def tokens(self, response: requests.Response, nonce: str | None = None) -> Tokens:
        """Validate a token response with idpyoidc (ID token signature, iss, aud, exp,
        nonce, at_hash)."""
        if response.status_code != 200:
            raise Fail(
                f"token endpoint answered HTTP {response.status_code}: {response.text[:200]}"
            )
        message = AccessTokenResponse().from_json(response.text)
        kwargs: dict[str, Any] = {
            "keyjar": self.keyjar,
            "iss": self.metadata["issuer"],
            "client_id": self.client_id,
            "skew": 60,
            "check_hash": True,
        }
        if nonce:
            kwargs["nonce"] = nonce
        try:
            ok = message.verify(**kwargs)
        except Exception as exc:  # the library's verification errors are many classes
            raise Fail(f"token response does not verify: {type(exc).__name__}: {exc}") from exc
        if not ok:
            raise Fail("token response does not verify")
        id_token = None
        if "__verified_id_token" in message:
            id_token = message["__verified_id_token"].to_dict()
            for key in ("__verified_id_token",):
                message.pop(key, None)
            if nonce and id_token.get("nonce") != nonce:
                raise Fail("the ID token's nonce is not the one sent")
            self.log(
                "ID token verified: "
                + json.dumps(
                    {k: id_token.get(k) for k in ("sub", "acr", "amr", "auth_time", "sid")}
                )
            )
        raw = response.json()
        return Tokens(raw, id_token, raw["access_token"], raw.get("refresh_token"))

    def code_flow(
        self, browser: Browser, *, interact: bool = True, **params: Any
    ) -> tuple[Tokens, Outcome]:
        url, state = self.authorization_url(**params)
        outcome = browser.visit(url, interact=interact)
        code = self.check_callback(outcome.require_callback(), state)
        tokens = self.tokens(self.exchange(code, state), state["nonce"])
        return tokens, outcome

    # -- access tokens ------------------------------------------------------------
    def verify_access_token(self, token: str) -> dict[str, Any]:
        """Verify a JWT access token (RFC 9068) against the OP's JWKS with cryptojwt."""
        jws = jws_factory(token)
        if not jws:
            raise Fail(
                "the access token is not a JWT (configure a JWT client or use introspection)"
            )
        typ = jws.jwt.headers.get("typ", "")
        if typ.lower() not in ("at+jwt", "application/at+jwt"):
            raise Fail(f"the access token's typ is {typ!r}, not at+jwt (RFC 9068 §2.1)")
        try:
            claims = dict(JWT(key_jar=self.keyjar, allowed_sign_algs=SIGNING_ALGS).unpack(token))
        except Exception as exc:
            raise Fail(f"the access token does not verify: {type(exc).__name__}: {exc}") from exc
        if claims.get("iss") != self.metadata["issuer"]:
            raise Fail(f"access token iss {claims.get('iss')!r} is not the issuer")
        if int(claims.get("exp", 0)) < time.time() - 60:
            raise Fail("access token expired")
        self.log(
            "access token verified: "
            + json.dumps({k: claims.get(k) for k in ("sub", "acr", "amr", "auth_time", "scope")})
        )
        return claims

    def introspect(self, token: str) -> dict[str, Any]:
        endpoint = self.metadata.get("introspection_endpoint")
        if not endpoint:
            raise Skip("the OP publishes no introspection_endpoint")
        response = requests.post(
            endpoint,
            data={"token": token},
            auth=(self.client_id, self.client_secret),
            timeout=TIMEOUT,
        )
        self.log(f"POST {urlsplit(endpoint).path} → {response.status_code}")
        if response.status_code != 200:
            raise Fail(f"introspection answered HTTP {response.status_code}")
        body = dict(response.json())
        self.log(
            "introspection: "
            + json.dumps({k: body.get(k) for k in ("active", "acr", "amr", "auth_time")})
        )
        return body

    def userinfo(self, access_token: str) -> requests.Response:
        endpoint = self.metadata["userinfo_endpoint"]
        response = requests.get(
            endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT
        )
        self.log(f"GET {urlsplit(endpoint).path} → {response.status_code}")
        return response
