"""OpenID Connect / OAuth 2.0 protocol glue on top of Authlib."""
