"""Seed a Belay database for the bench in one process (far faster than one CLI call each).

    BELAY_DATABASE_URL=... python -m bench.seed < spec.json > out.json

spec: {"client_id", "client_secret", "redirect_uri", "password", "pin",
       "users": [names], "totp_users": [names], "pin_users": [names],
       "locked_pin_users": [names]}
Every user gets the password (one argon2id hash, shared); ``totp_users`` get an
authenticator (their base32 secrets are printed), ``pin_users`` also a PIN, and
``locked_pin_users`` (among them) a PIN locked by PIN_MAX_FAILURES counted failures.
Run after ``belay init``.
"""

from __future__ import annotations

import json
import sys

from provider import clock
from provider.app import create_app


def main() -> None:
    spec = json.load(sys.stdin)
    app = create_app()
    with app.app_context():
        from provider import storage
        from provider.factors.attempts import limits_from_config
        from provider.factors.totp import TotpFactor
        from provider.flows.clients import register_client
        from provider.storage import factors as factor_store
        from provider.storage import throttle
        from provider.storage.models import User

        hasher = app.extensions["belay_hasher"]
        password_hash = hasher.hash(spec["password"])
        pin_hash = hasher.hash(spec["pin"])
        totp = app.extensions["belay_factors"].get("totp")
        assert isinstance(totp, TotpFactor)
        totp_users, pin_users = set(spec["totp_users"]), set(spec["pin_users"])
        locked_users = set(spec.get("locked_pin_users", []))
        limits = limits_from_config(app.config, "PIN")
        secrets: dict[str, str] = {}
        for name in spec["users"]:
            user = User(username=name, password_hash=password_hash, created_at=clock.now())
            storage.save(user)
            if name in totp_users or name in pin_users:
                uri = totp.add_confirmed(user.id, name, None).uri
                secrets[name] = uri.split("secret=", 1)[1].split("&", 1)[0]
            if name in pin_users:
                factor_store.save_pin(
                    user.id,
                    pin_hash=pin_hash,
                    length=len(spec["pin"]),
                    now=clock.now(),
                    reset_counters=("pin",),
                )
            if name in locked_users:
                while throttle.reserve(user.id, "pin", limits) is None:
                    pass
        register_client(
            spec["client_id"],
            redirect_uris=[spec["redirect_uri"]],
            public=False,
            secret=spec["client_secret"],
            name="bench",
            auth_method="client_secret_basic",
            first_party=True,
            token_format="jwt",
            post_logout_redirect_uris=[],
            grant_types=None,
            client_policy=None,
            jwks=None,
            id_token_alg="ES256",
        )
    json.dump({"totp": secrets}, sys.stdout)


if __name__ == "__main__":
    main()
