"""Request ids, JSON log lines and /metrics (in process; the live servers are in
tests/test_multi_instance.py)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from flask.testing import FlaskClient

from provider.observability import JsonFormatter
from tests.conftest import Actions


def test_a_request_id_is_made_when_absent_and_kept_when_sane(client: FlaskClient) -> None:
    made = client.get("/healthz").headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/healthz", headers={"X-Request-Id": "lb-42.a"}).headers["X-Request-Id"] == (
        "lb-42.a"
    )
    forged = client.get("/healthz", headers={"X-Request-Id": "x y<" + "z" * 100})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-Id"])


def test_metrics_are_prometheus_text(client: FlaskClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'belay_http_requests_total{endpoint="/healthz",method="GET",status="200"}' in (
        response.text
    )


@pytest.mark.settings(METRICS_TOKEN="scrape-me")
def test_metrics_can_ask_for_a_bearer_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert right.status_code == 200


def test_log_lines_of_a_flow_are_json_without_secrets(
    actions: Actions, caplog: pytest.LogCaptureFixture
) -> None:
    actions.create_user("alice", "correct horse battery")
    secret = actions.create_client("rp")
    assert secret
    with caplog.at_level(logging.INFO, logger="belay"):
        callback = actions.code_flow("rp")
        tokens = actions.exchange(callback, "rp", secret).get_json()
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert lines
    parsed = [json.loads(line) for line in lines]
    assert any(p.get("path") == "/token" and p.get("client_id") == "rp" for p in parsed)
    assert any(p.get("event") == "login" and p.get("result") == "success" for p in parsed)
    text = "\n".join(lines)
    for value in (
        "correct horse battery",
        secret,
        callback["code"],
        callback["code_verifier"],
        tokens["access_token"],
        tokens["id_token"],
    ):
        assert value not in text


def test_the_json_formatter_keeps_the_exception_type() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("provider.x", logging.ERROR, __file__, 1, "failed", (), None)
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "error" and line["exc_type"] == "ValueError"
