"""The demo bank: a web app (relying party) and its API (resource server).

Each runs as its own process and talks real HTTP to the OP:

- :mod:`examples.bank.api` — the API. ``GET /api/balance`` needs
  ``urn:belay:acr:1fa``; ``POST /api/transfers`` needs ``2fa`` or stronger
  within 120 s, answered with RFC 9470's ``401 insufficient_user_authentication``
  otherwise.
- :mod:`examples.bank.web` — the web app: "Sign in with Belay", the balance,
  a transfer form that steps up at the OP when the API asks, then resumes.
- :mod:`examples.bank.launch` — ``python -m examples.bank.launch`` starts the
  OP, the API and the web app together (what ``make run`` does).
- :mod:`examples.bank.totp` — prints the demo authenticator's current code.
"""
