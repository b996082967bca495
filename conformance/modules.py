"""The test modules. Each is named after the OpenID Foundation conformance
module it mirrors (``oidcc-…``), or after the RFC it checks, and states the
spec section. A module raises Fail / Warn / Skip, or returns for PASS."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from conformance import www_authenticate
from conformance.rp import TIMEOUT, Browser, Context, Fail, Skip, Warn, pkce_pair
from conformance.rs import ResourceServer


@dataclass(frozen=True)
class Module:
    name: str
    description: str
    spec: str
    run: Callable[[Context], Any]


MODULES: list[Module] = []


def module(name: str, description: str, spec: str) -> Callable[[Callable[[Context], Any]], Any]:
    def register(fn: Callable[[Context], Any]) -> Callable[[Context], Any]:
        MODULES.append(Module(name, description, spec, fn))
        return fn

    return register


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Fail(message)


def login(ctx: Context) -> tuple[Browser, Any]:
    """A browser with a fresh password login, and its first tokens."""
    browser = Browser(ctx)
    tokens, _ = ctx.code_flow(browser)
    expect(tokens.id_token is not None, "no ID token for scope openid")
    return browser, tokens


def expect_error_page(ctx: Context, outcome: Any, what: str) -> None:
    """OIDC Core §3.1.2.6: with a bad redirect_uri or client the OP must not redirect."""
    if outcome.callback is not None:
        raise Fail(
            f"{what}: the OP redirected to {outcome.location.split('?')[0]} with "
            f"{sorted(outcome.callback)} instead of showing an error page"
        )
    status = outcome.page.status_code
    ctx.log(f"error page shown: HTTP {status}")
    if status == 200 and outcome.pages:
        raise Fail(f"{what}: the OP went on with the login ({outcome.pages[0]})")
    if status < 400:
        raise Warn(f"{what}: an error page was shown with HTTP {status}, not 4xx")


# -- discovery ------------------------------------------------------------------


@module(
    "oidcc-discovery-endpoint-verification",
    "Provider metadata parses and verifies with idpyoidc; issuer, endpoints and step-up fields",
    "OpenID Connect Discovery 1.0 §3, §4.3; RFC 8414 §3; RFC 9207 §3",
)
def discovery(ctx: Context) -> None:
    response, metadata = ctx.fetch_metadata()
    try:
        metadata.verify(allow_http=ctx.issuer.startswith("http://"))
    except Exception as exc:
        raise Fail(f"metadata does not verify: {type(exc).__name__}: {exc}") from exc
    expect(
        metadata["issuer"] == ctx.issuer,
        f"issuer {metadata['issuer']!r} is not the URL it was fetched from ({ctx.issuer!r})",
    )
    expect("code" in metadata["response_types_supported"], "response_type code not supported")
    for key in ("acr_values_supported", "claims_supported"):
        expect(key in metadata, f"{key} missing")
    for claim in ("acr", "amr", "auth_time"):
        expect(claim in metadata["claims_supported"], f"claims_supported lacks {claim}")
    expect(
        metadata.get("claims_parameter_supported") is True, "claims_parameter_supported is not true"
    )
    expect(
        metadata.get("authorization_response_iss_parameter_supported") is True,
        "authorization_response_iss_parameter_supported is not true (RFC 9207 §3)",
    )
    expect(
        "S256" in metadata.get("code_challenge_methods_supported", []), "S256 PKCE not advertised"
    )
    oauth = requests.get(
        ctx.issuer.rstrip("/") + "/.well-known/oauth-authorization-server", timeout=TIMEOUT
    )
    ctx.log(f"GET /.well-known/oauth-authorization-server → {oauth.status_code}")
    if oauth.status_code == 200:
        expect(oauth.json().get("issuer") == ctx.issuer, "RFC 8414 metadata has another issuer")
    ctx.log(f"issuer={metadata['issuer']} acr_values_supported={metadata['acr_values_supported']}")
    if "application/json" not in response.headers.get("Content-Type", ""):
        raise Warn("metadata is not served as application/json")


@module(
    "oidcc-jwks-verification",
    "jwks_uri serves public signing keys only, each with a unique kid, usable by cryptojwt",
    "OpenID Connect Discovery 1.0 §3 (jwks_uri); RFC 7517 §4, §5",
)
def jwks(ctx: Context) -> None:
    keys = ctx.fetch_jwks().get("keys")
    expect(isinstance(keys, list) and keys, "the JWKS has no keys")
    kids = [k.get("kid") for k in keys]
    ctx.log(f"keys: {[(k.get('kty'), k.get('alg'), k.get('kid')) for k in keys]}")
    for key in keys:
        private = {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
        expect(not private, f"key {key.get('kid')} publishes private members {sorted(private)}")
        expect(key.get("use", "sig") == "sig", f"key {key.get('kid')} has use={key.get('use')}")
    expect(all(kids) and len(set(kids)) == len(kids), "keys need unique kid values")
    expect(
        ctx.keyjar.get_verify_key(issuer_id=ctx.metadata["issuer"]) != [],
        "cryptojwt found no usable verification key",
    )


# -- the basic code flow -----------------------------------------------------------------


@module(
    "oidcc-server",
    "Code flow + PKCE; ID token verified by idpyoidc (signature, iss, aud, exp, nonce, at_hash); "
    "userinfo sub",
    "OpenID Connect Core 1.0 §3.1, §3.1.3.7, §5.3",
)
def server(ctx: Context) -> None:
    _, tokens = login(ctx)
    claims = tokens.id_token
    for claim in ("sub", "auth_time", "acr", "amr"):
        expect(claim in claims, f"ID token lacks {claim}")
    expect(tokens.raw.get("token_type", "").lower() == "bearer", "token_type is not Bearer")
    info = ctx.userinfo(tokens.access_token)
    expect(info.status_code == 200, f"userinfo answered HTTP {info.status_code}")
    expect(info.json().get("sub") == claims["sub"], "userinfo sub differs from the ID token's")


@module(
    "oidcc-response-type-missing",
    "An authorization request without response_type gets an error, never a code",
    "OpenID Connect Core 1.0 §3.1.2.1, §3.1.2.6; RFC 6749 §4.1.2.1",
)
def response_type_missing(ctx: Context) -> None:
    url, state = ctx.authorization_url(omit=("response_type",))
    outcome = Browser(ctx).visit(url, interact=True)
    if outcome.callback is None:
        status = outcome.page.status_code
        expect(
            status >= 400 and not outcome.pages,
            f"no error: the OP showed a page (HTTP {status}) {outcome.pages}",
        )
        ctx.log(f"error page shown: HTTP {status}")
        return
    cb = outcome.callback
    expect("code" not in cb, "the OP issued a code without response_type")
    expect(
        cb.get("error") in ("invalid_request", "unsupported_response_type"),
        f"error is {cb.get('error')!r}, expected invalid_request",
    )
    expect(cb.get("state") == state["state"], "the error response lost the state")


@module(
    "oidcc-ensure-registered-redirect-uri",
    "An unregistered redirect_uri is refused on an error page, never redirected to",
    "OpenID Connect Core 1.0 §3.1.2.1, §3.1.2.6; RFC 6749 §3.1.2.4",
)
def unregistered_redirect(ctx: Context) -> None:
    evil = ctx.redirect_uri.split("?")[0].rstrip("/") + "-not-registered"
    url, _ = ctx.authorization_url(redirect_uri=evil)
    expect_error_page(ctx, Browser(ctx).visit(url, redirect_uri=evil), "unregistered redirect_uri")


@module(
    "oidcc-ensure-redirect-uri-in-authorization-request",
    "An authorization request without redirect_uri is refused (OIDC makes it required)",
    "OpenID Connect Core 1.0 §3.1.2.1",
)
def redirect_uri_missing(ctx: Context) -> None:
    url, _ = ctx.authorization_url(omit=("redirect_uri",))
    expect_error_page(ctx, Browser(ctx).visit(url), "no redirect_uri")


@module(
    "oidcc-redirect-uri-query-mismatch",
    "A redirect_uri whose query differs from the registered one is refused (exact match)",
    "OpenID Connect Core 1.0 §3.1.2.1; RFC 6749 §3.1.2.3",
)
def redirect_uri_query_mismatch(ctx: Context) -> None:
    registered = ctx.redirect_uri_with_query
    if not registered:
        raise Skip("the config names no client.redirect_uri_with_query")
    mismatch = registered + "&dummy3=extra"
    url, _ = ctx.authorization_url(redirect_uri=mismatch)
    expect_error_page(ctx, Browser(ctx).visit(url, redirect_uri=mismatch), "query mismatch")


@module(
    "oidcc-codereuse",
    "A code is single-use: the second redemption gets invalid_grant "
    "(tokens from it should be revoked)",
    "OpenID Connect Core 1.0 §3.1.3.2; RFC 6749 §4.1.2, §10.5",
)
def codereuse(ctx: Context) -> None:
    url, state = ctx.authorization_url()
    code = ctx.check_callback(Browser(ctx).visit(url).require_callback(), state)
    first = ctx.tokens(ctx.exchange(code, state), state["nonce"])
    second = ctx.exchange(code, state)
    expect(second.status_code == 400, f"second use of the code answered HTTP {second.status_code}")
    error = second.json().get("error")
    expect(error == "invalid_grant", f"second use of the code: {error!r}, expected invalid_grant")
    if ctx.userinfo(first.access_token).status_code == 200:
        raise Warn(
            "the access token from the reused code still works at userinfo "
            "(RFC 6749 §4.1.2 SHOULD revoke)"
        )


# -- max_age and prompt --------------------------------------------------------------------


@module(
    "oidcc-max-age-1",
    "max_age=1 after a login 2 s ago forces a new authentication; auth_time is fresh",
    "OpenID Connect Core 1.0 §3.1.2.1 (max_age), §2 (auth_time)",
)
def max_age_1(ctx: Context) -> None:
    browser, first = login(ctx)
    time.sleep(2.1)
    started = int(time.time())
    tokens, outcome = ctx.code_flow(browser, max_age="1")
    expect(bool(outcome.pages), "max_age=1 was not met and yet the OP asked nothing of the user")
    auth_time = tokens.id_token.get("auth_time")
    expect(isinstance(auth_time, int), "ID token lacks auth_time although max_age was sent")
    expect(
        auth_time >= started and auth_time > first.id_token["auth_time"],
        f"auth_time {auth_time} is not after the new authentication ({started})",
    )


@module(
    "oidcc-max-age-10000",
    "max_age=10000 within a recent session needs no new login; auth_time is unchanged",
    "OpenID Connect Core 1.0 §3.1.2.1 (max_age), §2 (auth_time)",
)
def max_age_10000(ctx: Context) -> None:
    browser, first = login(ctx)
    tokens, outcome = ctx.code_flow(browser, max_age="10000")
    expect(
        not outcome.pages, f"the OP asked the user again ({outcome.pages}) although max_age was met"
    )
    expect(
        tokens.id_token.get("auth_time") == first.id_token["auth_time"],
        "auth_time changed although no new authentication happened",
    )
    expect(tokens.id_token["sub"] == first.id_token["sub"], "sub changed")


@module(
    "oidcc-prompt-login",
    "prompt=login shows the login page again to a signed-in user; auth_time is fresh",
    "OpenID Connect Core 1.0 §3.1.2.1 (prompt=login)",
)
def prompt_login(ctx: Context) -> None:
    browser, first = login(ctx)
    time.sleep(1.1)
    tokens, outcome = ctx.code_flow(browser, prompt="login")
    expect(
        "login-form" in outcome.pages, f"prompt=login did not show #login-form ({outcome.pages})"
    )
    expect(tokens.id_token["auth_time"] > first.id_token["auth_time"], "auth_time is not fresh")
    expect(tokens.id_token["sub"] == first.id_token["sub"], "sub changed")


@module(
    "oidcc-prompt-none-logged-in",
    "prompt=none with a session returns a code without any page; same sub",
    "OpenID Connect Core 1.0 §3.1.2.1 (prompt=none)",
)
def prompt_none_logged_in(ctx: Context) -> None:
    browser, first = login(ctx)
    tokens, outcome = ctx.code_flow(browser, interact=False, prompt="none")
    expect(not outcome.pages, "prompt=none showed a page")
    expect(tokens.id_token["sub"] == first.id_token["sub"], "sub changed")


@module(
    "oidcc-prompt-none-not-logged-in",
    "prompt=none without a session redirects with login_required (or another interaction error)",
    "OpenID Connect Core 1.0 §3.1.2.1, §3.1.2.6",
)
def prompt_none_not_logged_in(ctx: Context) -> None:
    url, state = ctx.authorization_url(prompt="none")
    outcome = Browser(ctx).visit(url, interact=False)
    expect(
        outcome.callback is not None,
        f"prompt=none did not redirect to the client (stopped on {outcome.pages or 'a page'})",
    )
    cb = outcome.callback
    allowed = {
        "login_required",
        "interaction_required",
        "consent_required",
        "account_selection_required",
    }
    expect("code" not in cb, "prompt=none without a session returned a code")
    expect(cb.get("error") in allowed, f"error is {cb.get('error')!r}, expected login_required")
    expect(cb.get("state") == state["state"], "the error response lost the state")


@module(
    "oidcc-id-token-hint",
    "prompt=none with the previous ID token as id_token_hint returns the same user",
    "OpenID Connect Core 1.0 §3.1.2.1 (id_token_hint)",
)
def id_token_hint(ctx: Context) -> None:
    browser, first = login(ctx)
    tokens, _outcome = ctx.code_flow(
        browser, interact=False, prompt="none", id_token_hint=first.raw["id_token"]
    )
    expect(tokens.id_token["sub"] == first.id_token["sub"], "sub differs from the hint's")


# -- acr and claims -------------------------------------------------------------------------


@module(
    "oidcc-ensure-request-with-acr-values-succeeds",
    "acr_values from acr_values_supported succeed; the ID token's acr is one of them",
    "OpenID Connect Core 1.0 §3.1.2.1 (acr_values), §2 (acr)",
)
def acr_values_succeed(ctx: Context) -> None:
    supported = ctx.metadata.get("acr_values_supported") or []
    if not supported:
        raise Skip("the OP advertises no acr_values_supported")
    requested = [supported[0]]
    tokens, _ = ctx.code_flow(Browser(ctx), acr_values=" ".join(requested))
    acr = tokens.id_token.get("acr")
    if acr is None:
        raise Warn("the ID token has no acr although acr_values was sent")
    expect(acr in requested, f"acr {acr!r} is not one of the requested {requested}")


@module(
    "oidcc-claims-essential",
    "claims parameter: essential acr in the ID token is honoured; essential name in userinfo",
    "OpenID Connect Core 1.0 §5.5, §5.5.1.1",
)
def claims_essential(ctx: Context) -> None:
    supported = ctx.metadata.get("acr_values_supported") or []
    if not supported:
        raise Skip("the OP advertises no acr_values_supported")
    claims = {
        "id_token": {"acr": {"essential": True, "values": [supported[0]]}},
        "userinfo": {"name": {"essential": True}},
    }
    tokens, _ = ctx.code_flow(Browser(ctx), claims=claims)
    acr = tokens.id_token.get("acr")
    expect(acr == supported[0], f"essential acr {supported[0]!r} asked, ID token has {acr!r}")
    info = ctx.userinfo(tokens.access_token)
    expect(info.status_code == 200, f"userinfo answered HTTP {info.status_code}")
    if "name" not in info.json():
        raise Warn("userinfo has no name although it was essential (the user may have none)")


@module(
    "oidcc-refresh-token",
    "A refresh token gives new tokens for the same user and auth_time; a rotated one is refused",
    "OpenID Connect Core 1.0 §12, §12.2; RFC 6749 §6; RFC 9700 §4.14.2",
)
def refresh_token(ctx: Context) -> None:
    _, first = login(ctx)
    if not first.refresh_token:
        raise Skip("the OP issued no refresh token to this client")
    again = ctx.tokens(ctx.refresh(first.refresh_token))
    expect(again.access_token != first.access_token, "the refreshed access token is the old one")
    if again.id_token is not None:
        for claim in ("sub", "iss", "auth_time"):
            expect(
                again.id_token.get(claim) == first.id_token.get(claim),
                f"refreshed ID token {claim} {again.id_token.get(claim)!r} "
                f"!= {first.id_token.get(claim)!r}",
            )
        expect(
            again.id_token.get("aud") == first.id_token.get("aud"), "refreshed ID token aud changed"
        )
    if again.refresh_token and again.refresh_token != first.refresh_token:
        reuse = ctx.refresh(first.refresh_token)
        if reuse.status_code == 200:
            raise Warn("the rotated refresh token still works (RFC 9700 §4.14.2)")


# -- PKCE (RFC 7636) ----------------------------------------------------------------------------


def _code(ctx: Context, **params: Any) -> tuple[str, dict[str, Any]]:
    url, state = ctx.authorization_url(**params)
    outcome = Browser(ctx).visit(url)
    return ctx.check_callback(outcome.require_callback(), state), state


@module(
    "ensure-pkce-code-verifier-required",
    "A code issued with a code_challenge is not redeemed without code_verifier",
    "RFC 7636 §4.5, §4.6",
)
def pkce_verifier_required(ctx: Context) -> None:
    code, state = _code(ctx)
    response = ctx.exchange(code, state, code_verifier=None)
    expect(response.status_code == 400, f"token without code_verifier: HTTP {response.status_code}")
    expect(
        response.json().get("error") in ("invalid_grant", "invalid_request"),
        f"error {response.json().get('error')!r}",
    )


@module(
    "incorrect-pkce-code-verifier-rejected",
    "A wrong code_verifier gets invalid_grant",
    "RFC 7636 §4.6",
)
def pkce_incorrect(ctx: Context) -> None:
    code, state = _code(ctx)
    wrong, _ = pkce_pair()
    response = ctx.exchange(code, state, code_verifier=wrong)
    expect(response.status_code == 400, f"wrong code_verifier: HTTP {response.status_code}")
    expect(
        response.json().get("error") == "invalid_grant",
        f"error {response.json().get('error')!r}, expected invalid_grant",
    )


@module(
    "plain-pkce-rejected",
    "code_challenge_method=plain is refused (only S256 is advertised)",
    "RFC 7636 §4.2, §7.2; RFC 9700 §2.1.1",
)
def pkce_plain(ctx: Context) -> None:
    verifier, _ = pkce_pair()
    url, state = ctx.authorization_url(code_challenge=verifier, code_challenge_method="plain")
    outcome = Browser(ctx).visit(url)
    if outcome.callback is None:
        expect(
            outcome.page.status_code >= 400 and not outcome.pages,
            "plain PKCE neither refused nor redirected",
        )
        return
    if "error" in outcome.callback:
        ctx.log(f"refused: {outcome.callback['error']}")
        return
    response = ctx.exchange(outcome.callback["code"], state, code_verifier=verifier)
    expect(response.status_code != 200, "a plain PKCE challenge was accepted end to end")


# -- RFC 9207 -----------------------------------------------------------------------------


@module(
    "rfc9207-iss-in-authorization-response",
    "Authorization responses, success and error, carry iss equal to the issuer",
    "RFC 9207 §2, §2.4",
)
def iss_parameter(ctx: Context) -> None:
    url, state = ctx.authorization_url()
    cb = Browser(ctx).visit(url).require_callback()
    ctx.check_callback(cb, state)
    expect(cb.get("iss") == ctx.metadata["issuer"], f"success response iss={cb.get('iss')!r}")
    url, state = ctx.authorization_url(prompt="none")
    cb = Browser(ctx).visit(url, interact=False).require_callback()
    expect("error" in cb, "prompt=none without a session did not give an error")
    expect(cb.get("iss") == ctx.metadata["issuer"], f"error response iss={cb.get('iss')!r}")


# -- RFC 9470 ------------------------------------------------------------------------------


def _need_totp(ctx: Context) -> None:
    if not ctx.user.totp_secret:
        raise Skip("the config gives no totp_secret for the test user: step-up cannot be driven")


def _step_up_tokens(ctx: Context, browser: Browser, **params: Any) -> Any:
    tokens, outcome = ctx.code_flow(
        browser, acr_values=ctx.step_up_acr, max_age=str(ctx.step_up_max_age), **params
    )
    expect("totp-form" in outcome.pages, f"no step-up challenge was shown ({outcome.pages})")
    return tokens


@module(
    "rfc9470-step-up-loop",
    "RS challenge → new authorization with acr_values and max_age → higher acr, "
    "fresh auth_time, same session",
    "RFC 9470 §3, §4, §5",
)
def step_up_loop(ctx: Context) -> None:
    _need_totp(ctx)
    browser, first = login(ctx)
    with ResourceServer(ctx, ctx.step_up_acr, ctx.step_up_max_age) as rs:
        denied = requests.get(
            rs.url, headers={"Authorization": f"Bearer {first.access_token}"}, timeout=TIMEOUT
        )
        header = denied.headers.get("WWW-Authenticate", "")
        ctx.log(f"GET RS → {denied.status_code} WWW-Authenticate: {header}")
        expect(denied.status_code == 401, "the RS accepted a 1fa token (setup problem)")
        requirement = www_authenticate.step_up_requirement(header)
        expect(requirement is not None, "no insufficient_user_authentication challenge")
        acr_values, max_age = requirement
        time.sleep(1.1)
        started = int(time.time())
        tokens, outcome = ctx.code_flow(
            browser, acr_values=" ".join(acr_values), max_age=str(max_age)
        )
        expect("totp-form" in outcome.pages, f"no step-up challenge was shown ({outcome.pages})")
        expect("login-form" not in outcome.pages, "step-up asked for a full login again")
        id_token = tokens.id_token
        expect(
            id_token.get("acr") in acr_values,
            f"ID token acr {id_token.get('acr')!r} not in {acr_values}",
        )
        expect(id_token.get("auth_time", 0) >= started, "auth_time is not the step-up's time")
        expect(id_token["sub"] == first.id_token["sub"], "step-up changed the user")
        if first.id_token.get("sid") and id_token.get("sid") != first.id_token.get("sid"):
            raise Fail("step-up created a new session (sid changed)")
        granted = requests.get(
            rs.url, headers={"Authorization": f"Bearer {tokens.access_token}"}, timeout=TIMEOUT
        )
        ctx.log(f"GET RS with the new token → {granted.status_code}")
        expect(
            granted.status_code == 200,
            f"the RS still refuses: {granted.headers.get('WWW-Authenticate')}",
        )


@module(
    "rfc9470-unmet-authentication-requirements",
    "An acr the user cannot reach gets unmet_authentication_requirements, never a silent downgrade",
    "RFC 9470 §5; OpenID Connect Unmet Authentication Requirements 1.0 §2",
)
def unmet(ctx: Context) -> None:
    url, state = ctx.authorization_url(acr_values=ctx.unreachable_acr)
    outcome = Browser(ctx).visit(url)
    if outcome.callback is None:
        raise Fail(f"the OP stopped on a page ({outcome.pages}) instead of answering the client")
    cb = outcome.callback
    if "code" in cb:
        tokens = ctx.tokens(ctx.exchange(cb["code"], state), state["nonce"])
        raise Fail(
            f"unreachable acr {ctx.unreachable_acr} was answered with a code "
            f"(acr {tokens.id_token.get('acr')!r})"
        )
    expect(
        cb.get("error") == "unmet_authentication_requirements",
        f"error {cb.get('error')!r}, expected unmet_authentication_requirements",
    )
    expect(cb.get("state") == state["state"], "the error lost the state")


@module(
    "rfc9470-access-token-claims",
    "The JWT access token and introspection carry the ID token's acr, amr and auth_time",
    "RFC 9470 §6.1, §6.2; RFC 9068 §2.2.1; RFC 7662 §2.2",
)
def access_token_claims(ctx: Context) -> None:
    _, tokens = login(ctx)
    id_token = tokens.id_token
    if tokens.access_token.count(".") == 2:
        at = ctx.verify_access_token(tokens.access_token)
        for claim in ("acr", "auth_time"):
            expect(claim in at, f"the access token lacks {claim}")
            expect(
                at[claim] == id_token.get(claim),
                f"access token {claim} {at[claim]!r} != ID token's {id_token.get(claim)!r}",
            )
    body = ctx.introspect(tokens.access_token)
    expect(body.get("active") is True, "introspection says the new token is inactive")
    for claim in ("acr", "auth_time"):
        expect(
            body.get(claim) == id_token.get(claim),
            f"introspection {claim} {body.get(claim)!r} != ID token's {id_token.get(claim)!r}",
        )


@module(
    "rfc9470-refresh-preserves-acr",
    "After a step-up, refreshed tokens keep the grant's acr and auth_time "
    "(only a new authorization raises them)",
    "RFC 9470 §6.1; OpenID Connect Core 1.0 §12.2",
)
def refresh_preserves(ctx: Context) -> None:
    _need_totp(ctx)
    browser, _ = login(ctx)
    stepped = _step_up_tokens(ctx, browser)
    if not stepped.refresh_token:
        raise Skip("no refresh token was issued")
    time.sleep(1.1)
    again = ctx.tokens(ctx.refresh(stepped.refresh_token))
    want = {c: stepped.id_token.get(c) for c in ("acr", "auth_time")}
    if again.id_token is not None:
        got = {c: again.id_token.get(c) for c in ("acr", "auth_time")}
        expect(got == want, f"refreshed ID token has {got}, the grant had {want}")
    if again.access_token.count(".") == 2:
        at = ctx.verify_access_token(again.access_token)
        got = {c: at.get(c) for c in ("acr", "auth_time")}
        expect(got == want, f"refreshed access token has {got}, the grant had {want}")
    body = ctx.introspect(again.access_token)
    got = {c: body.get(c) for c in ("acr", "auth_time")}
    expect(got == want, f"introspection of the refreshed token has {got}, the grant had {want}")


@module(
    "rfc9470-oauth-only-step-up",
    "acr_values and max_age without the openid scope: no ID token; "
    "the access token carries acr and auth_time",
    "RFC 9470 §4, §6.1",
)
def oauth_only(ctx: Context) -> None:
    _need_totp(ctx)
    browser, _first = login(ctx)
    time.sleep(1.1)
    started = int(time.time())
    url, state = ctx.authorization_url(
        scope="profile", acr_values=ctx.step_up_acr, max_age=str(ctx.step_up_max_age)
    )
    outcome = browser.visit(url)
    expect("totp-form" in outcome.pages, f"no step-up challenge was shown ({outcome.pages})")
    code = ctx.check_callback(outcome.require_callback(), state)
    tokens = ctx.tokens(ctx.exchange(code, state))
    expect(tokens.id_token is None, "an ID token was issued without the openid scope")
    if tokens.access_token.count(".") == 2:
        claims = ctx.verify_access_token(tokens.access_token)
    else:
        claims = ctx.introspect(tokens.access_token)
    expect(
        claims.get("acr") == ctx.step_up_acr,
        f"access token acr {claims.get('acr')!r}, expected {ctx.step_up_acr}",
    )
    expect(
        isinstance(claims.get("auth_time"), int) and claims["auth_time"] >= started,
        f"access token auth_time {claims.get('auth_time')!r} is not the step-up's ({started})",
    )
