"""Write planned IAM batches on a background thread while the caller plans the next one.

Planning a batch (`plan_accounts_iam`) is Python work on the caller's thread; writing it is
mostly the database's work (COPY, index upkeep, reference checks, commit). Handing the write to
one writer thread with its own connection lets the two overlap, which is most of a large first
sync's ingest time. Batches touch disjoint scopes (one per account), so planning batch k+1 while
batch k is written reads nothing batch k changes.

Only on PostgreSQL and only when the caller is not inside a transaction: a second connection
cannot see a caller's uncommitted rows, and SQLite has a single writer. Otherwise each batch is
written on the caller's thread as it is submitted, with the same results and errors.

At most `depth` batches wait for the writer, so planning cannot run ahead of memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

from django.db import connection

from governance.inventory.services.common import IngestResult
from governance.inventory.services.iam import IamBatch

T = TypeVar("T")


class WriteBehind:
    def __init__(self, *, depth: int = 1, background: bool | None = None) -> None:
        if background is None:
            background = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.background = background
        self.depth = depth
        self._pending: deque[Future] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") if background else None

    def submit(self, batch: IamBatch) -> Future[dict[str, IngestResult]]:
        """Queue `batch` for writing; its future gives `batch.results` or the write's error."""
        if self._pool is None:
            future: Future[dict[str, IngestResult]] = Future()
            try:
                batch.write()
            except Exception as exc:  # delivered through the future, as from the writer thread
                future.set_exception(exc)
            else:
                future.set_result(batch.results)
            return future
        while len(self._pending) > self.depth:
            self._pending.popleft().exception()  # wait for the oldest; its owner reads the outcome
        future = self._pool.submit(_write, batch)
        self._pending.append(future)
        return future

    def drain(self) -> None:
        """Wait until every submitted batch is written (or has failed)."""
        while self._pending:
            self._pending.popleft().exception()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` where batches are written (the writer thread, with its connection) and return its result."""
        return self._pool.submit(fn).result() if self._pool is not None else fn()

    def close(self) -> None:
        if self._pool is not None:
            self.drain()
            self._pool.submit(_close_connection).result()
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _write(batch: IamBatch) -> dict[str, IngestResult]:
    batch.write()
    return batch.results


def _close_connection() -> None:
    connection.close()  # looked up here, on the writer thread: its own connection, not the caller's
