"""The acr ladder: ordered levels, each an acr value with a rule and a lifetime.

Implements docs/design.md "The ladder"; see docs/acr.md for the rule language.
The public names are exported by :mod:`provider.policy`. The modules:

- :mod:`~provider.policy.ladder.rules`: the rule language (conditions, rules);
- :mod:`~provider.policy.ladder.levels`: one level, and whether events satisfy
  it at ``now`` (events counted for a client, lifetimes, idle revival);
- :mod:`~provider.policy.ladder.level_check`: :class:`LevelCheck`, the fast path
  of a decision (one level, with and without each possible step-up);
- :mod:`~provider.policy.ladder.ladder`: :class:`Ladder`, the ordered levels;
- :mod:`~provider.policy.ladder.data`: the JSON-compatible data form;
- :mod:`~provider.policy.ladder.defaults`: the default ladder.
"""
