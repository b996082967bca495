"""The acr decision engine: a request, a client's policy, the ladder and a session in,
a :data:`~provider.policy.model.Decision` out. Pure: no I/O, ``now`` is a parameter.

The public names are exported by :mod:`provider.policy`. The modules:

- :mod:`~provider.policy.engine.decision`: :func:`decide` and :func:`session_acr`
  (the order of the checks, ``prompt``, ``max_age``, strict/voluntary);
- :mod:`~provider.policy.engine.client_view`: the session as one client counts it
  (remembered events, accepted methods, ``auth_time``, step-up events);
- :mod:`~provider.policy.engine.goals`: the goals a request aims at, in preference
  order, and the client's floor;
- :mod:`~provider.policy.engine.context`: one decision's memoised view (is a goal
  met, which step-ups reach it);
- :mod:`~provider.policy.engine.planning`: plans of several step-ups
  (docs/security.md case 49).
"""
