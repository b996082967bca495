"""Test keys and a token minting helper (joserfc), shared by the RS tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, Key, OKPKey, RSAKey

AUDIENCE = "https://api.example.test"

EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
OKP = OKPKey.generate_key("Ed25519", parameters={"kid": "ed-1"})
ROGUE = ECKey.generate_key("P-256", parameters={"kid": "rogue"})


def public_jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [k.as_dict(private=False) for k in keys]}


def claims(issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": issuer,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "jti": "jti-1",
        "client_id": "rp",
        "scope": "openid api:read",
        "auth_time": now - 10,
        "acr": "urn:belay:acr:1fa",
        "amr": ["pwd"],
    }
    for name, value in overrides.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def mint(
    issuer: str,
    *,
    key: Key = EC,
    alg: str = "ES256",
    header: dict[str, Any] | None = None,
    **claim_overrides: Any,
) -> str:
    """A signed token; header values of None remove that header parameter."""
    h: dict[str, Any] = {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    for name, value in (header or {}).items():
        if value is None:
            h.pop(name, None)
        else:
            h[name] = value
    return jwt.encode(
        h, claims(issuer, **claim_overrides), key, algorithms=[alg], default_type=None
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(issuer: str, alg: str = "none") -> str:
    """``alg: none`` built by hand: joserfc rightly refuses to make one."""
    header = b64(json.dumps({"alg": alg, "typ": "at+jwt", "kid": EC.kid}).encode())
    payload = b64(json.dumps(claims(issuer)).encode())
    return f"{header}.{payload}."


def hmac_with_public_key(issuer: str, secret: bytes, kid: str) -> str:
    """The classic key-confusion forgery: HS256 keyed with the OP's *public* key."""
    header = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    payload = b64(json.dumps(claims(issuer)).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}.{b64(hmac.new(secret, signing_input, hashlib.sha256).digest())}"
