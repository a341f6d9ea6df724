"""Production logs are JSON lines; each request's line carries its request id."""

from __future__ import annotations

import io
import json
import logging

import pytest

from portal.logconfig import formatter

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines(settings):
    settings.ACCESS_LOG = True
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect()
    handler.setFormatter(formatter(json=True))
    logger = logging.getLogger("governance.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)


def test_it_logs_each_request_as_json_with_its_request_id(client, json_lines):
    response = client.get("/health/?token=not-logged", HTTP_X_REQUEST_ID="probe-1234abcd")
    [line] = [json.loads(line) for line in json_lines]
    assert response["X-Request-ID"] == "probe-1234abcd"
    assert {k: line[k] for k in ("event", "request_id", "method", "path", "view", "status", "level")} == {
        "event": "request",
        "request_id": "probe-1234abcd",
        "method": "GET",
        "path": "/health/",
        "view": "ops:health",
        "status": 200,
        "level": "info",
    }
    assert "token" not in json.dumps(line)
    assert line["duration_ms"] >= 0 and line["timestamp"].endswith("Z")


def test_it_binds_the_task_id_to_a_tasks_log_lines():
    import structlog

    from governance.ops import task_logging

    task_logging.bind_task(task={"id": "abc123", "name": "sync-nightly"})
    try:
        assert structlog.contextvars.get_contextvars() == {"task_id": "abc123", "task_name": "sync-nightly"}
    finally:
        task_logging.unbind_task(task={})
    assert structlog.contextvars.get_contextvars() == {}


def test_console_logs_carry_a_plain_stack_trace_without_the_frames_locals():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(json=False))
    log = logging.getLogger("tests.console")
    log.addHandler(handler)
    try:
        try:
            api_token = "tok-never-in-logs"  # noqa: F841 (a local the traceback must not print)
            raise ZeroDivisionError("division by zero")
        except ZeroDivisionError:
            log.exception("boom")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "ZeroDivisionError: division by zero" in text
    assert "tok-never-in-logs" not in text
