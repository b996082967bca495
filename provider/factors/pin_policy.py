"""The PIN policy: which PINs may be set (pure; no I/O).

NIST SP 800-63B-4 §3.1.1.2 asks verifiers to refuse values that are "commonly
used, expected, or compromised"; for a short numeric secret that means the
patterns people actually choose. A PIN is refused, with the reason in the
message, when it

1. has anything but the ASCII digits 0-9 (other scripts' digits such as
   ``"١٢٣٤٥٦"`` look alike but are different characters on another keyboard);
2. is shorter than ``min_length`` or longer than ``max_length``;
3. is one digit repeated (``111111``);
4. is a run, counting up or down by one, wrapping past 9 and 0 included
   (``123456``, ``987654``, ``890123``, ``321098``);
5. counts up or down in any other equal step, wrapping (``135791``, ``246802``,
   ``147036``);
6. repeats a shorter group of digits (``121212``, ``123123``, ``19841984``);
7. reads the same backwards (``123321``, ``110011``);
8. has fewer than three different digits (``100100`` is already 6., ``110000``);
9. has 8 digits and is a calendar date in 1900-2099 as DDMMYYYY, MMDDYYYY or
   YYYYMMDD (``25061984``): a birthday is the first guess of anyone who knows
   the user. Six-digit dates (DDMMYY …) are *not* refused: they are about 11 %
   of all six-digit PINs, so refusing them would turn away many random
   choices; the lock after 10 failures bounds a targeted guess, and a client
   that needs more can require longer PINs;
10. is in :data:`COMMON_PINS`, the most common PINs in published analyses of
    leaked PIN sets (keypad patterns and the like that the rules above miss).

Every message says why, so people can choose better.
"""

from __future__ import annotations

import datetime
import itertools

from provider.errors import N_
from provider.i18n import _, translate

__all__ = ["COMMON_PINS", "PinRejected", "check_pin"]

_DIGITS = frozenset("0123456789")

#: Commonly chosen PINs (four to nine digits). Many are also caught by a rule;
#: keeping them here documents the list and guards against a rule's regression.
# fmt: off
COMMON_PINS: frozenset[str] = frozenset(
    {
        # four digits (used only where PIN_MIN_LENGTH is lowered to 4)
        "1234", "1111", "0000", "1212", "7777", "1004", "2000", "4444", "2222",
        "6969", "9999", "3333", "5555", "6666", "1122", "1313", "8888", "4321",
        "2001", "1010", "2580", "0852", "1998", "1999", "2468", "1357",
        # six digits
        "123456", "111111", "121212", "123123", "112233", "696969", "000000",
        "159753", "147258", "789456", "520520", "131313", "654321", "666666",
        "101010", "202020", "777777", "888888", "999999", "555555", "222222",
        "333333", "444444", "123321", "987654", "246810", "135790", "142536",
        "102030", "100200", "121314", "123654", "147852", "258456", "369258",
        "741852", "852963", "963852", "159357", "357159", "110110", "112211",
        "100100", "200200", "101101", "123000", "000123", "131415", "232323",
        "242424", "252525", "753159", "951357", "357951", "147369", "963741",
        "258147", "369147", "741963", "123789", "789123", "789321", "321654",
        "654987", "987321", "456123", "456789", "112358", "314159", "271828",
        "420420", "121121", "010101", "100000", "200000", "110000", "111000",
        "000111", "001122", "223344", "332211", "102938", "192837",
        "147963", "159951", "753951", "258258", "852852", "098765", "135246",
        "246135", "124578", "987456", "321456", "654123", "159487", "357753",
        # seven to nine digits
        "1234567", "7654321", "1111111", "12345678", "87654321", "11223344",
        "12344321", "11111111", "123456789", "987654321", "147258369",
        "963852741", "789456123", "159753159", "741852963", "123654789",
    }
)
# fmt: on


class PinRejected(ValueError):
    """A PIN that may not be set; ``message`` says why, for people."""

    def __init__(self, message: str) -> None:
        message = translate(message)  # a marked constant (N_): the request's language
        super().__init__(message)
        self.message = message


def _equal_steps(pin: str) -> int | None:
    """The step (1-9, mod 10) when each digit is the previous one plus it, else None."""
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    if len(steps) == 1:
        (step,) = steps
        return step or None
    return None


def _repeats_a_group(pin: str) -> bool:
    n = len(pin)
    return any(n % size == 0 and pin == pin[:size] * (n // size) for size in range(1, n // 2 + 1))


def _is_date(pin: str) -> bool:
    if len(pin) != 8:
        return False
    for year, month, day in (
        (pin[4:], pin[2:4], pin[:2]),  # DDMMYYYY
        (pin[4:], pin[:2], pin[2:4]),  # MMDDYYYY
        (pin[:4], pin[4:6], pin[6:]),  # YYYYMMDD
    ):
        if not 1900 <= int(year) <= 2099:
            continue
        try:
            datetime.date(int(year), int(month), int(day))
        except ValueError:
            continue
        return True
    return False


def check_pin(pin: str, *, min_length: int, max_length: int) -> None:
    """Raise :class:`PinRejected` unless ``pin`` may be set (see the module docstring)."""
    if not isinstance(pin, str) or not pin or not set(pin) <= _DIGITS:
        raise PinRejected(N_("A PIN can only contain the digits 0 to 9."))
    if len(pin) < min_length:
        raise PinRejected(_("A PIN needs at least %(num)d digits.", num=min_length))
    if len(pin) > max_length:
        raise PinRejected(_("A PIN can have at most %(num)d digits.", num=max_length))
    if len(set(pin)) == 1:
        raise PinRejected(N_("A PIN can't be one digit repeated, like 111111."))
    step = _equal_steps(pin)
    if step in (1, 9):
        raise PinRejected(N_("A PIN can't be a run of digits like 123456 or 987654."))
    if step is not None:
        raise PinRejected(N_("A PIN can't count up or down in equal steps, like 135791."))
    if _repeats_a_group(pin):
        raise PinRejected(
            N_("A PIN can't repeat a shorter group of digits, like 121212 or 123123.")
        )
    if pin == pin[::-1]:
        raise PinRejected(N_("A PIN can't read the same backwards as forwards, like 123321."))
    if len(set(pin)) < 3:
        raise PinRejected(N_("A PIN needs at least three different digits."))
    if _is_date(pin):
        raise PinRejected(N_("A PIN can't be a date, like 25061984: dates are easy to guess."))
    if pin in COMMON_PINS:
        raise PinRejected(N_("That is one of the most common PINs, so it is easy to guess."))
