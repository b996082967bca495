"""The authorization endpoint: a request validated once, then a pipeline of steps.

- :mod:`.request`: :func:`validate` turns the raw parameters into an
  :class:`AuthorizeRequest` (on ``/authorize`` only);
- :mod:`.transactions`: the request stored while the user acts, and :func:`load`,
  the one way back to it;
- :mod:`.pipeline`: :func:`evaluate` / :func:`resume`, the named steps;
- :mod:`.decision`: the policy engine's call (shared with the admin simulator);
- :mod:`.issue`: the code; :mod:`.outcomes`: what a step answers.
"""

from provider.flows.authorize.decision import decide_request
from provider.flows.authorize.outcomes import (
    ErrorPage,
    Outcome,
    Redirect,
    ShowConsent,
    ShowLogin,
    ShowStepUp,
    error_redirect,
)
from provider.flows.authorize.pipeline import evaluate, resume
from provider.flows.authorize.request import (
    MAX_PARAMETERS,
    MAX_TOTAL_LENGTH,
    OTHER_PARAMETER_LIMIT,
    PARAMETER_LIMITS,
    AuthorizeRequest,
    client_policy,
    validate,
)
from provider.flows.authorize.transactions import (
    AppLink,
    Loaded,
    allow_consent,
    app_of,
    cancel_login,
    cancel_step_up,
    deny_consent,
    expect,
    load,
)

__all__ = [
    "MAX_PARAMETERS",
    "MAX_TOTAL_LENGTH",
    "OTHER_PARAMETER_LIMIT",
    "PARAMETER_LIMITS",
    "AppLink",
    "AuthorizeRequest",
    "ErrorPage",
    "Loaded",
    "Outcome",
    "Redirect",
    "ShowConsent",
    "ShowLogin",
    "ShowStepUp",
    "allow_consent",
    "app_of",
    "cancel_login",
    "cancel_step_up",
    "client_policy",
    "decide_request",
    "deny_consent",
    "error_redirect",
    "evaluate",
    "expect",
    "load",
    "resume",
    "validate",
]
