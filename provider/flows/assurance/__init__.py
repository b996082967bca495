"""The assurance kernel: the one owner of authentication events and of the
factor lifecycle (docs/security.md, section H).

- :mod:`provider.flows.assurance.events` records an event (method, category,
  time and *origin*: performed now, replayed from a remembered browser, or an
  enrolment proof) and reads the events a given client may count;
- :mod:`provider.flows.assurance.lifecycle` enrols, removes, resets, locks and
  unlocks factors, each with its audit row.

The web views, the admin console, the admin API and the CLI all call these;
nothing else writes an event or changes a factor.
"""
