"""``python -m examples.bank.totp [alice|admin]``: print a demo authenticator's code.

Reads the user's TOTP key (alice's unless ``admin`` is named) from
``instance/demo-credentials.json`` (written by ``belay demo``), so the demo and
its admin console can be tried without an authenticator app.
"""

from __future__ import annotations

import sys
import time

import pyotp

from examples.bank.settings import demo_credentials

__all__ = ["main"]


USERS = ("alice", "admin")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    user = args[0] if args else "alice"
    if len(args) > 1 or user not in USERS:
        print(f"usage: python -m examples.bank.totp [{'|'.join(USERS)}]", file=sys.stderr)
        return 2
    secret = demo_credentials().get(f"{user}_totp_secret")
    if not isinstance(secret, str):
        print("No demo authenticator key: run `belay demo` first.", file=sys.stderr)
        return 1
    totp = pyotp.TOTP(secret)
    left = totp.interval - int(time.time()) % totp.interval
    print(f"{totp.now()}  ({user}'s code, valid for {left} more seconds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
