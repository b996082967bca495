"""Administration use-cases shared by the console (/admin), the REST API
(/api/admin) and the ``belay`` CLI, one module per subject:

- :mod:`.errors`: :class:`~.errors.AdminError` (input to correct) and
  :class:`~.errors.NotFound`;
- :mod:`.access`: who may administer (the console's level, the API's token);
- :mod:`.client_fields`, :mod:`.clients`: client registrations;
- :mod:`.client_policy`: a client's acr policy; :mod:`.ladder`: the acr ladder;
- :mod:`.users`: users, their locks, factors and sessions;
- :mod:`.attestation`: passkey attestation roots and a user's passkeys;
- :mod:`.audit_log`: recording admin changes, filtering and exporting the log;
- :mod:`.simulator`: the policy simulator; :mod:`.dashboard`: the figures.

Every change to a client, a policy or the ladder is audited with who
(``actor``), when, and the values before and after (docs/design.md "Every security
event is in the audit log").
"""
