"""Authentication factors. Each checks a secret and yields an authentication event.

One small interface (:mod:`provider.factors.base`), one registry
(:mod:`provider.factors.registry`); the factors are password, PIN, TOTP and
backup codes.
"""

__all__: list[str] = []
