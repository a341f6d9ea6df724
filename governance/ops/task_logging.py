"""Task log lines carry the task's id and name, as request log lines carry the request id."""

from __future__ import annotations

from typing import Any

import structlog


def bind_task(sender: Any = None, func: Any = None, task: dict | None = None, **kwargs: Any) -> None:
    task = task or {}
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task.get("id", ""), task_name=task.get("name", ""))


def unbind_task(sender: Any = None, task: dict | None = None, **kwargs: Any) -> None:
    structlog.contextvars.unbind_contextvars("task_id", "task_name")
