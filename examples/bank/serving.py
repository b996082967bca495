"""Serve one of the bank's apps with Werkzeug's threaded server (a demo, not production)."""

from __future__ import annotations

import logging
import sys

from flask import Flask
from werkzeug.serving import run_simple

__all__ = ["serve"]


def serve(app: Flask, host: str, port: int, *, name: str) -> None:
    """Listen on ``host:port`` until interrupted; request lines go to the log at INFO."""
    logging.basicConfig(level=logging.INFO, format=f"[{name}] %(message)s", stream=sys.stderr)
    print(f"{name} listening on http://{host}:{port}", flush=True)
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)
