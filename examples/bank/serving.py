"""Serve one of the bank's apps with Werkzeug's threaded server (a demo, not production).

Quiet: no development-server banner and no line per request (``make run`` shows
the demo's logins, not a log). ``BANK_LOG_REQUESTS=1`` logs each request again.
"""

from __future__ import annotations

import logging
import os
import sys

from flask import Flask
from werkzeug.serving import make_server

__all__ = ["serve"]


def serve(app: Flask, host: str, port: int, *, name: str) -> None:
    """Listen on ``host:port`` until interrupted (errors still go to standard error)."""
    verbose = os.environ.get("BANK_LOG_REQUESTS", "").lower() in {"1", "true", "yes", "on"}
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format=f"[{name}] %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    server = make_server(host, port, app, threaded=True)
    print(f"{name} listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
