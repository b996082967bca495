"""The bank's accounts: in memory, one per token subject (fine for a demo).

Amounts are whole cents internally and decimal strings ("12.50") on the wire.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "MAX_TRANSFER_CENTS",
    "OPENING_BALANCE_CENTS",
    "Ledger",
    "TransferRefused",
    "format_cents",
    "parse_amount",
    "parse_recipient",
]

OPENING_BALANCE_CENTS = 1_250_00
MAX_TRANSFER_CENTS = 10_000_00
_AMOUNT = re.compile(r"[0-9]{1,7}(\.[0-9]{1,2})?")
# An IBAN-ish or a name: letters, digits, spaces and a little punctuation.
_RECIPIENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .'\-]{0,63}")


class TransferRefused(ValueError):
    """A transfer that cannot be made; ``error`` is a short code for the API's answer."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def parse_amount(value: object) -> int:
    """A positive amount of at most :data:`MAX_TRANSFER_CENTS`, in cents.

    Accepts a decimal string with up to two decimals ("25", "25.5", "25.50")
    or a JSON number; anything else raises :class:`TransferRefused`.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TransferRefused("invalid_amount", "amount must be a decimal string such as 25.00")
    text = value.strip() if isinstance(value, str) else repr(value)
    if not _AMOUNT.fullmatch(text):
        raise TransferRefused("invalid_amount", "amount must be a positive number with 2 decimals")
    try:
        cents = int(Decimal(text) * 100)
    except InvalidOperation as exc:  # pragma: no cover - the pattern already holds
        raise TransferRefused("invalid_amount", "amount is not a number") from exc
    if cents <= 0:
        raise TransferRefused("invalid_amount", "amount must be more than 0")
    if cents > MAX_TRANSFER_CENTS:
        raise TransferRefused(
            "invalid_amount", f"amount may not exceed {format_cents(MAX_TRANSFER_CENTS)}"
        )
    return cents


def parse_recipient(value: object) -> str:
    """The payee: 1-64 letters, digits, spaces, ``.``, ``'`` or ``-``."""
    if not isinstance(value, str) or not _RECIPIENT.fullmatch(value.strip()):
        raise TransferRefused(
            "invalid_recipient", "to must be 1-64 letters, digits, spaces, '.', \"'\" or '-'"
        )
    return value.strip()


def format_cents(cents: int) -> str:
    """``125000`` → ``"1250.00"``."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


@dataclass
class Account:
    balance: int = OPENING_BALANCE_CENTS
    transfers: list[dict[str, Any]] = field(default_factory=list)


class Ledger:
    """Accounts keyed by the token's ``sub``; opened with a balance on first use."""

    def __init__(self, opening_balance: int = OPENING_BALANCE_CENTS) -> None:
        self._opening = opening_balance
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def _account(self, owner: str) -> Account:
        return self._accounts.setdefault(owner, Account(balance=self._opening))

    def statement(self, owner: str) -> dict[str, Any]:
        """The balance and the latest transfers (newest first)."""
        with self._lock:
            account = self._account(owner)
            return {
                "owner": owner,
                "currency": "EUR",
                "balance": format_cents(account.balance),
                "transfers": list(reversed(account.transfers[-10:])),
            }

    def transfer(
        self, owner: str, to: str, cents: int, *, confirmed: dict[str, Any]
    ) -> dict[str, Any]:
        """Move ``cents`` out of ``owner``'s account; refused when funds are short.

        ``confirmed`` (acr, amr, auth_time of the token) is kept with the
        transfer, as a bank would keep how the payment was authorised.
        """
        with self._lock:
            account = self._account(owner)
            if cents > account.balance:
                raise TransferRefused("insufficient_funds", "the balance is too low", status=422)
            account.balance -= cents
            record = {
                "id": "tr_" + secrets.token_hex(6),
                "to": to,
                "amount": format_cents(cents),
                "created_at": int(time.time()),
                "confirmed": confirmed,
            }
            account.transfers.append(record)
            return {**record, "balance": format_cents(account.balance)}
