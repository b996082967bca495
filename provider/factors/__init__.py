"""Authentication factors. Each checks a secret and yields an authentication event.

One small interface (:mod:`provider.factors.base`), one registry
(:mod:`provider.factors.registry`); the factors are password, passkeys, TOTP,
PIN, codes by email or SMS and backup codes. Each reads its method, ``amr``
and category from the policy's method catalogue
(:data:`provider.policy.model.CATALOGUE`).
"""

__all__: list[str] = []
