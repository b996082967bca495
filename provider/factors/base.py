"""The one small interface every authentication factor implements.

Views and flows never branch on the factor type: they ask the registry for the
factors a user has, show each one's form (named by ``form_id``), and call
``verify`` with the submitted fields. Replay protection and lockout are part of
the contract (docs/design.md convention 9): implementations count failures and consume
single-use values with atomic database updates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from provider.errors import N_, BelayError
from provider.i18n import translate
from provider.policy import EnrolledMethod
from provider.policy.model import CATALOGUE

__all__ = [
    "Busy",
    "CatalogueFacts",
    "Factor",
    "FactorError",
    "FactorStatus",
    "InvalidCode",
    "Locked",
    "Malformed",
    "NotEnrolled",
    "NotRemovable",
    "Replayed",
    "Verified",
]


@dataclass(frozen=True)
class Verified:
    """A successful check: the authentication event to add to the session."""

    method: str
    amr: tuple[str, ...]
    credential_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class FactorError(BelayError):
    """A failed check. ``code`` is stable (API error), ``message`` is for people
    (the :class:`BelayError` ``error`` and ``description``)."""

    code = "invalid_code"
    status_code = 400

    def __init__(self, message: str) -> None:
        # Marked constants (N_) are shown in the request's language (docs/i18n.md).
        message = translate(message)
        super().__init__(message, error=self.code)
        self.message = message


class InvalidCode(FactorError):
    """Wrong PIN or code (counted as a failure)."""

    code = "invalid_code"


class Malformed(FactorError):
    """Not even shaped like a PIN or code (not counted, never checked)."""

    code = "invalid_code"


class Replayed(FactorError):
    """A single-use value that was already used (a TOTP time step, a backup code)."""

    code = "invalid_code"


class NotEnrolled(FactorError):
    code = "not_enrolled"


class NotRemovable(FactorError):
    """A factor that cannot be removed this way (the password: change it instead)."""

    code = "not_removable"


class Locked(FactorError):
    """Too many failures: ``retry_after`` seconds to wait, or None when locked
    until reset (by an admin or a stronger login)."""

    code = "locked"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Busy(FactorError):
    """Too many password or PIN checks at once on this server: nothing was
    checked and nothing counted; try again in ``retry_after`` seconds."""

    code = "temporarily_unavailable"
    status_code = 503
    retry_after = 1

    def __init__(
        self, message: str = N_("Too many sign-in checks at once. Try again in a moment.")
    ) -> None:
        super().__init__(message)


class FactorStatus(Protocol):
    """A factor's failure state for one user (what pages and locks show)."""

    @property
    def locked(self) -> bool:
        """Locked: refused unchecked until an unlock (or a lock window's end)."""
        ...

    @property
    def retry_after(self) -> int:
        """Seconds before the next attempt is allowed (0: now, or locked for good)."""
        ...

    @property
    def failures(self) -> int: ...

    @property
    def tries_left(self) -> int:
        """Wrong tries left before a lock (0 when locked or never counted)."""
        ...


@runtime_checkable
class Factor(Protocol):
    """A way to prove who you are, e.g. a PIN or a TOTP app."""

    #: method name used by the policy engine and the pages ("pin", "totp", …)
    method: str
    #: RFC 8176 values this factor's events carry (from the policy's catalogue)
    amr: tuple[str, ...]
    #: the factor category it proves (from the policy's catalogue)
    category: str
    #: id of the challenge-page form that submits it (docs/design.md page contract)
    form_id: str
    #: the form fields ``verify`` reads
    fields: tuple[str, ...]
    #: what people call it
    label: str
    #: its failure counters (provider.storage.throttle): what an unlock clears
    counters: tuple[str, ...]
    #: whether :meth:`remove` removes it as a whole (the password: never; passkeys: one by one)
    removable: bool

    def enrolled(self, user_id: int) -> list[EnrolledMethod]:
        """What the user can use now (empty when not enrolled)."""
        ...

    def status(self, user_id: int) -> FactorStatus:
        """The user's failure state for this factor."""
        ...

    def verify(self, user_id: int, submitted: Mapping[str, str]) -> Verified:
        """Check the submission; raise a :class:`FactorError` on failure."""
        ...

    def remove(self, user_id: int) -> None:
        """Delete the factor (the caller has confirmed access)."""
        ...


class CatalogueFacts:
    """A factor class's ``method``, ``amr`` and ``category``, read from the
    policy's method catalogue (provider.policy.model.CATALOGUE): name the
    method once, ``class PinFactor(CatalogueFacts, method="pin")``."""

    method: str
    amr: tuple[str, ...]
    category: str

    def __init_subclass__(cls, *, method: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        facts = CATALOGUE[method]
        cls.method = facts.method
        cls.amr = facts.amr
        cls.category = facts.category
