"""``python -m examples.bank.totp``: print the demo authenticator's current code.

Reads alice's TOTP key from ``instance/demo-credentials.json`` (written by
``belay demo``), so the demo can be tried without an authenticator app.
"""

from __future__ import annotations

import sys
import time

import pyotp

from examples.bank.settings import demo_credentials

__all__ = ["main"]


def main() -> int:
    secret = demo_credentials().get("alice_totp_secret")
    if not isinstance(secret, str):
        print("No demo authenticator key: run `belay demo` first.", file=sys.stderr)
        return 1
    totp = pyotp.TOTP(secret)
    left = totp.interval - int(time.time()) % totp.interval
    print(f"{totp.now()}  (alice's code, valid for {left} more seconds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
