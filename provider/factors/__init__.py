"""Authentication factors. Each checks a secret and yields an authentication event."""

__all__: list[str] = []
