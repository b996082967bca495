"""Belay: an OpenID Provider for RFC 9470 step-up authentication.

Importing this package pulls in nothing else, so that the resource-server and
relying-party kits (``provider.resource_server``, ``provider.relying_party``)
can be used without the provider's dependencies.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
