"""Belay's protocol conformance suite.

Runs against any issuer URL and prints a verdict per test module, the way the
OpenID Foundation's certification suite checks an OpenID Provider. It drives
the protocol with a third-party relying-party library (idpyoidc, cryptojwt) and
never imports the provider's own code (see docs/conformance.md).
"""
