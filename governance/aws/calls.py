"""Counts AWS API calls through botocore's event hooks, for call-economy tests and sync stats.

A `CallLog` opened with `counting()` sees every call made while it is open, from any thread;
one opened with `counting(this_thread_only=True)` sees only calls made on its own thread, which
is how a sync attributes calls to the account a worker thread is busy with.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_global_logs: list[CallLog] = []
_local = threading.local()
# Called with every call's botocore `before-call` and `after-call` event, and every attempt's
# `response-received` (the event's name first, then its keyword arguments): the test suite's recorder
# of what the portal calls, and the metrics (calls, throttled attempts).
_observers: list[Callable[..., None]] = []


class CallLog:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def count(self, service: str, operation: str | None = None) -> int:
        if operation is not None:
            return self.calls[f"{service}.{operation}"]
        return sum(n for key, n in self.calls.items() if key.split(".", 1)[0] == service)

    def _add_call(self, key: str) -> None:
        with self._lock:
            self.calls[key] += 1

    def _add_attempt(self) -> None:
        with self._lock:
            self.attempts += 1


def _logs() -> list[CallLog]:
    with _lock:
        logs = list(_global_logs)
    return logs + list(getattr(_local, "logs", ()))


def _on_call(model: Any, **kwargs: Any) -> None:
    key = f"{model.service_model.service_name}.{model.name}"
    for log in _logs():
        log._add_call(key)
    for observer in list(_observers):
        observer("before-call", model=model, **kwargs)


def _after_call(**kwargs: Any) -> None:
    for observer in list(_observers):
        observer("after-call", **kwargs)


def _response_received(**kwargs: Any) -> None:
    for observer in list(_observers):
        observer("response-received", **kwargs)


def _on_send(**kwargs: Any) -> None:
    for log in _logs():
        log._add_attempt()


def instrument(session: Any) -> None:
    """Attach the counters to a boto3 Session; clients created from it inherit the hooks."""
    events = session._session.get_component("event_emitter")
    events.register("before-call", _on_call, unique_id="governance-call-counter")
    events.register("before-send", _on_send, unique_id="governance-attempt-counter")
    events.register("after-call", _after_call, unique_id="governance-call-observer")
    events.register("response-received", _response_received, unique_id="governance-response-observer")


def observe(observer: Callable[..., None]) -> Callable[[], None]:
    """Have `observer(event_name, **botocore_kwargs)` see every call; returns the function that stops it."""
    _observers.append(observer)
    return lambda: _observers.remove(observer)


@contextmanager
def counting(*, this_thread_only: bool = False) -> Iterator[CallLog]:
    log = CallLog()
    if this_thread_only:
        stack = getattr(_local, "logs", None)
        if stack is None:
            stack = _local.logs = []
        stack.append(log)
    else:
        with _lock:
            _global_logs.append(log)
    try:
        yield log
    finally:
        if this_thread_only:
            _local.logs.remove(log)
        else:
            with _lock:
                _global_logs.remove(log)
