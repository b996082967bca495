"""The admin console (``/admin``): clients, per-client acr policy, the policy
simulator, the ladder, users, the audit log and a dashboard, one module per
subject on one blueprint (``admin``):

- :mod:`.gate`: the blueprint, who gets in, the admin's step-up;
- :mod:`.dashboard` (with :mod:`.charts`), :mod:`.clients` (registrations and
  their acr policy), :mod:`.ladder` (the ladder and the simulator),
  :mod:`.users`, :mod:`.audit`.

Only users with the admin role get in, and only with a session that reached
``ADMIN_ACR`` within ``ADMIN_MAX_AGE`` seconds (default: 2fa within 15
minutes) — decided by the same policy engine call as /authorize
(:func:`provider.flows.account.check_level`); below that, the console shows a
step-up in the admin's own session. Every POST carries a CSRF token (Flask-WTF)
and is checked again on the server. Every refusal is a
:class:`provider.errors.BelayError`: a form shown again with its marks, or the
one mapping's page (provider/web/errors.py).
"""

from __future__ import annotations

from provider.web.admin import audit, clients, dashboard, ladder, users
from provider.web.admin.gate import access_check, bp

__all__ = ["access_check", "audit", "bp", "clients", "dashboard", "ladder", "users"]
