"""Logs and metrics for operators: one JSON object per log line, a request id on
every request, and Prometheus metrics at ``/metrics`` (docs/operations.md).

Nothing secret is ever logged: a request line holds the path without its query
string (a query can carry codes), the client id, the status and the duration —
never a header value other than ``X-Request-Id``, never a form field other than
``client_id``. Security events are logged from the audit log's fields, which
never hold secrets either (provider/storage/audit.py).

Metrics: with ``PROMETHEUS_MULTIPROC_DIR`` set (``belay serve`` sets it to a
fresh directory for gunicorn's workers) every worker writes its samples there
and ``/metrics`` adds them up; without it each process reports its own.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Flask, Response, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

__all__ = [
    "JsonFormatter",
    "audit_event",
    "configure_logging",
    "factor_locked",
    "init_app",
    "locked_refusal",
]

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_LABEL = re.compile(r"^[A-Za-z0-9_:.-]{1,64}$")
#: Audit events that record a successful step-up (as the admin dashboard counts them).
STEP_UP_EVENTS = frozenset({"step_up", "step_up_api", "confirm_access", "admin_step_up"})

access_log = logging.getLogger("belay.access")
audit_log = logging.getLogger("belay.audit")

REQUESTS = Counter(
    "belay_http_requests",
    "HTTP requests by endpoint, method and status",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "belay_http_request_duration_seconds",
    "HTTP request latency by endpoint",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
STEP_UPS = Counter(
    "belay_step_ups",
    "Successful step-ups by target acr and method",
    ["acr", "method"],
)
FAILURES = Counter(
    "belay_auth_failures",
    "Failed logins and step-ups by event, method and reason",
    ["event", "method", "reason"],
)
LOCKOUTS = Counter(
    "belay_factor_lockouts",
    "Attempts that used a factor's last allowed try (the factor locks unless it succeeds)",
    ["factor"],
)
LOCKED_REFUSALS = Counter(
    "belay_factor_locked_refusals",
    "Attempts refused because the factor is locked",
    ["factor"],
)


def _label(value: str | None) -> str:
    """Bounded label values: short identifiers only, anything else is ``other``."""
    if not value:
        return "none"
    return value if _LABEL.match(value) else "other"


# -- hooks called by storage -----------------------------------------------------------


def audit_event(
    event: str,
    result: str,
    *,
    user_id: int | None,
    client_id: str | None,
    method: str | None,
    acr: str | None,
    reason: str | None,
) -> None:
    """Count and log one audit event (never raises: observing must not break a flow)."""
    try:
        if result == "success" and event in STEP_UP_EVENTS:
            STEP_UPS.labels(acr=_label(acr), method=_label(method)).inc()
        elif result == "failure":
            FAILURES.labels(event=_label(event), method=_label(method), reason=_label(reason)).inc()
        audit_log.info(
            "audit %s %s",
            event,
            result,
            extra={
                "belay": {
                    "event": event,
                    "result": result,
                    "user_id": user_id,
                    "client_id": client_id,
                    "method": method,
                    "acr": acr,
                    "reason": reason,
                }
            },
        )
    except Exception:  # pragma: no cover - defensive
        logging.getLogger(__name__).debug("audit metric failed", exc_info=True)


def factor_locked(factor: str) -> None:
    LOCKOUTS.labels(factor=_label(factor)).inc()


def locked_refusal(factor: str) -> None:
    LOCKED_REFUSALS.labels(factor=_label(factor)).inc()


# -- logging ---------------------------------------------------------------------------


class RequestContextFilter(logging.Filter):
    """Adds the current request id to every record logged during a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = g.get("request_id")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            data["request_id"] = request_id
        fields = getattr(record, "belay", None)
        if isinstance(fields, dict):
            data.update({k: v for k, v in fields.items() if v is not None})
        if record.exc_info and record.exc_info[0] is not None:
            data["exc_type"] = record.exc_info[0].__name__
            data["exc"] = self.formatException(record.exc_info)
        try:  # orjson: about 5x cheaper a line (issue 20); json for what it will not write
            return orjson.dumps(data, default=str).decode()
        except TypeError:
            return json.dumps(data, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} [rid={request_id}]" if request_id else line


_HANDLER_MARK = "_belay_handler"


def configure_logging(log_format: str, level: str = "info") -> None:
    """Send the ``belay`` and ``provider`` loggers to standard error (idempotent; standard
    output stays for the command line's own output), from ``level`` up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    for name in ("belay", "provider"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = False


# -- the request hooks and /metrics ----------------------------------------------------


def _client_id() -> str | None:
    value: str | None = request.args.get("client_id")
    if value is None and "form" in request.__dict__:
        # Only a form the view already parsed: logging never parses a body itself
        # (a body too large or malformed must stay the view's error, not ours).
        value = request.form.get("client_id")
    if value is None:
        # HTTP Basic client authentication: the user name is the client id (the
        # password, the client secret, is never read here).
        try:
            authorization = request.authorization
        except ValueError:  # non-ASCII base64: werkzeug raises, a log line must not
            authorization = None
        if authorization is not None:
            value = authorization.username
    if value and _CLIENT_ID.match(value):
        return value
    return None


def _endpoint() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def metrics_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


_LOOPBACK_ADDRESSES = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
_PROXY_HEADERS = ("X-Forwarded-For", "X-Real-Ip", "Forwarded")


def _from_loopback() -> bool:
    """A request from this host itself, not relayed by a proxy on it: with
    TRUSTED_PROXIES the address is the proxy's client; without it, a request
    that carries a proxy's forwarding header came from elsewhere."""
    if request.remote_addr not in _LOOPBACK_ADDRESSES and not (
        request.remote_addr or ""
    ).startswith("127."):
        return False
    return not any(header in request.headers for header in _PROXY_HEADERS)


def init_app(app: Flask) -> None:
    log_format = str(app.config["LOG_FORMAT"] or "text")
    if not app.testing:
        configure_logging(log_format, str(app.config.get("LOG_LEVEL") or "info"))

    @app.before_request
    def _start() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        duration = time.perf_counter() - started if started is not None else 0.0
        endpoint = _endpoint()
        if endpoint != "/metrics":
            REQUESTS.labels(
                endpoint=endpoint, method=request.method, status=str(response.status_code)
            ).inc()
            LATENCY.labels(endpoint=endpoint).observe(duration)
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "request_id": request_id,
                "belay": {
                    "method": request.method,
                    "path": request.path,
                    "endpoint": endpoint,
                    "status": response.status_code,
                    "duration_ms": round(duration * 1000, 2),
                    "client_id": _client_id(),
                    "ip": request.remote_addr,
                },
            },
        )
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        token = str(current_app.config["METRICS_TOKEN"] or "")
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return Response(
                    "metrics need the bearer token\n",
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                    mimetype="text/plain",
                )
        elif not _from_loopback():
            # Without a token only a scraper on this host may read them
            # (docs/security.md case 56; docs/operations.md).
            return Response(
                "metrics are served to this host only; set BELAY_METRICS_TOKEN\n",
                status=403,
                mimetype="text/plain",
            )
        body = generate_latest(metrics_registry())
        return Response(
            body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
        )
