"""The interactive pages of an authorization, one module per page on one
blueprint (``login``):

- :mod:`.pages`: the blueprint and what the pages share (the request's
  transaction, its client, the login page, signing in);
- :mod:`.password`: ``/login`` (password, or PIN for clients that allow it);
- :mod:`.codes`: ``/login/code`` and ``/login/code/verify`` (sign-in with a
  code by email or SMS);
- :mod:`.challenge`: ``/challenge`` (the step-up) and ``/challenge/send-code``;
- :mod:`.remember`: remembering this browser after a step-up;
- :mod:`.consent`: ``/consent``.
"""

from __future__ import annotations

from provider.web.login import challenge, codes, consent, password, remember
from provider.web.login.pages import bp

__all__ = ["bp", "challenge", "codes", "consent", "password", "remember"]
