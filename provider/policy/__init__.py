"""Belay's pure acr policy engine: ladder + client policy + request -> decision.

Implements the decision core of RFC 9470 (OAuth 2.0 Step Up Authentication
Challenge Protocol) §4-§5 with OpenID Connect Core 1.0 §3.1.2.1 (``max_age``,
``prompt``, ``acr_values``) and §5.5.1.1 (essential ``acr``), and RFC 8176
``amr`` values. No I/O: frozen dataclasses in, a :data:`Decision` out, ``now``
passed in. See docs/acr.md.
"""

from provider.policy.client_policy import (
    POLICY_FIELDS,
    client_policy_from_assignments,
    client_policy_from_dict,
    client_policy_to_dict,
)
from provider.policy.engine.client_view import (
    accepts_event,
    client_auth_time,
    client_events,
    step_up_event,
)
from provider.policy.engine.decision import UNMET_AUTHENTICATION_REQUIREMENTS, decide, session_acr
from provider.policy.errors import (
    LadderError,
    PolicyError,
    PolicyValidationError,
    RequirementError,
)
from provider.policy.ladder.data import (
    ladder_from_data,
    ladder_to_data,
    lifetime_from_data,
    lifetime_to_data,
    normalize_aaguid,
)
from provider.policy.ladder.defaults import DEFAULT_LADDER_DATA, default_ladder, default_ladder_data
from provider.policy.ladder.ladder import Ladder
from provider.policy.ladder.levels import Level, counted_events
from provider.policy.ladder.rules import (
    Condition,
    DistinctCategories,
    DistinctMethods,
    EventCondition,
    ExcludeKnowledgeOnly,
    MinEvents,
    Rule,
)
from provider.policy.model import (
    CATEGORIES,
    KNOWLEDGE,
    METHODS,
    POSSESSION,
    USER_VERIFICATION,
    AcrEnforcement,
    AcrSource,
    ClientPolicy,
    Decision,
    EnrolledMethod,
    Event,
    Fail,
    Lifetime,
    Login,
    PasskeyUserVerification,
    Reason,
    Requirement,
    Satisfied,
    SessionState,
    StepUp,
    auth_time_of,
    categories,
    event_for,
    idle_gaps_after,
    record_activity,
    record_event,
    session_amr,
)
from provider.policy.requirement import MAX_AGE_LIMIT, PROMPT_VALUES, parse_requirement

__all__ = [
    "CATEGORIES",
    "DEFAULT_LADDER_DATA",
    "KNOWLEDGE",
    "MAX_AGE_LIMIT",
    "METHODS",
    "POLICY_FIELDS",
    "POSSESSION",
    "PROMPT_VALUES",
    "UNMET_AUTHENTICATION_REQUIREMENTS",
    "USER_VERIFICATION",
    "AcrEnforcement",
    "AcrSource",
    "ClientPolicy",
    "Condition",
    "Decision",
    "DistinctCategories",
    "DistinctMethods",
    "EnrolledMethod",
    "Event",
    "EventCondition",
    "ExcludeKnowledgeOnly",
    "Fail",
    "Ladder",
    "LadderError",
    "Level",
    "Lifetime",
    "Login",
    "MinEvents",
    "PasskeyUserVerification",
    "PolicyError",
    "PolicyValidationError",
    "Reason",
    "Requirement",
    "RequirementError",
    "Rule",
    "Satisfied",
    "SessionState",
    "StepUp",
    "accepts_event",
    "auth_time_of",
    "categories",
    "client_auth_time",
    "client_events",
    "client_policy_from_assignments",
    "client_policy_from_dict",
    "client_policy_to_dict",
    "counted_events",
    "decide",
    "default_ladder",
    "default_ladder_data",
    "event_for",
    "idle_gaps_after",
    "ladder_from_data",
    "ladder_to_data",
    "lifetime_from_data",
    "lifetime_to_data",
    "normalize_aaguid",
    "parse_requirement",
    "record_activity",
    "record_event",
    "session_acr",
    "session_amr",
    "step_up_event",
]
