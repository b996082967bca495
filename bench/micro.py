"""In-process rates: the resource-server kit, raw ES256 verification, ``policy.decide()``.

All single-threaded (one core); each rate is the best of three rounds.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any


def rate(fn: Callable[[], Any], seconds: float = 2.0, rounds: int = 3) -> float:
    """Calls per second of ``fn``: the best of ``rounds`` rounds of ``seconds / rounds``
    each (after a short warm-up), so that another process taking the core for a
    moment does not count against it."""
    for _ in range(50):
        fn()
    best = 0.0
    for _ in range(rounds):
        calls, batch = 0, 200
        start = time.perf_counter()
        while True:
            for _ in range(batch):
                fn()
            calls += batch
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / rounds:
                break
        best = max(best, calls / elapsed)
    return best


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def rs_kit_rates(
    issuer: str, jwks_uri: str, audience: str, access_token: str, seconds: float = 2.0
) -> dict[str, float]:
    """Validations/s of the kit's TokenValidator next to a bare ES256 verify of the same token."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from joserfc.jwk import KeySet

    from provider.resource_server import JwksCache, Requirement, ResourceServer, TokenValidator

    validator = TokenValidator(
        jwks=JwksCache(jwks_uri=jwks_uri), expected_issuer=issuer, expected_audience=audience
    )
    validator.validate(access_token)
    rs = ResourceServer(validator=validator)
    header_value = f"Bearer {access_token}"
    requirement = Requirement()

    header, payload, signature = access_token.split(".")
    kid = json.loads(_b64(header))["kid"]
    import requests

    keys = KeySet.import_key_set(requests.get(jwks_uri, timeout=10).json())
    key = keys.get_by_kid(kid)
    public = key.public_key
    assert isinstance(public, ec.EllipticCurvePublicKey)
    raw = _b64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signing_input = f"{header}.{payload}".encode()
    algorithm = ec.ECDSA(hashes.SHA256())

    return {
        "raw": rate(lambda: public.verify(der, signing_input, algorithm), seconds),
        "validate": rate(lambda: validator.validate(access_token), seconds),
        "check": rate(lambda: rs.check(header_value, requirement), seconds),
    }


def decide_rates(seconds: float = 2.0) -> dict[str, float]:
    """decide() per second for three typical requests (inputs parsed once, as per request)."""
    from provider.policy import (
        ClientPolicy,
        EnrolledMethod,
        SessionState,
        decide,
        default_ladder,
        event_for,
        parse_requirement,
    )

    ladder = default_ladder()
    now = 1_700_000_000
    policy = ClientPolicy()
    enrolled = (
        EnrolledMethod("password"),
        EnrolledMethod("pin", pin_length=6),
        EnrolledMethod("totp"),
        EnrolledMethod("backup_code"),
    )
    password = event_for("password", now - 600)
    totp = event_for("totp", now - 300)
    one = SessionState(user_id="u1", events=(password,), created_at=now - 600, last_active_at=now)
    two = SessionState(
        user_id="u1", events=(password, totp), created_at=now - 600, last_active_at=now
    )
    essential_2fa = json.dumps(
        {"id_token": {"acr": {"essential": True, "values": ["urn:belay:acr:2fa"]}}}
    )

    def requirement(params: dict[str, str]) -> Any:
        return parse_requirement(params, policy, ladder, transaction_started_at=now - 1)

    plain = requirement({})
    step = requirement({"claims": essential_2fa})
    fresh = requirement({"claims": essential_2fa, "max_age": "0"})
    return {
        "live session, no acr asked (satisfied)": rate(
            lambda: decide(plain, policy, ladder, one, enrolled, now), seconds
        ),
        "1fa session, essential 2fa (step-up)": rate(
            lambda: decide(step, policy, ladder, one, enrolled, now), seconds
        ),
        "2fa session, essential 2fa, max_age=0 (fresh step-up)": rate(
            lambda: decide(fresh, policy, ladder, two, enrolled, now), seconds
        ),
        "parse_requirement (essential 2fa)": rate(
            lambda: requirement({"claims": essential_2fa}), seconds
        ),
    }
