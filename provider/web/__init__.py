"""HTTP in and out: blueprints, the server-side session interface, error pages.

The only package that touches ``flask.request`` and ``flask.session``.
"""
