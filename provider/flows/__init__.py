"""Use-cases: the authorize transaction, login, step-up and token issue.

Flows call the pure policy engine and the storage layer; they know nothing of
HTTP beyond the parameters they are given.
"""
