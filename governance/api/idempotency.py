"""`Idempotency-Key` on API writes: a retried request acts once and gets the first answer again.

A key is scoped to its token. Reusing a key for another request (another path or body) is a 422,
never a silent replay of something else. Without the header a write still runs through services
that refuse or absorb double submits themselves (review versions, one approval per approver).

A retry after a failure (the database went away, the worker died) either replays the answer of a
write that committed or runs the write afresh if it did not: the key's row is written in the same
transaction as the write and its answer, so they commit or vanish together. Requests with the same
key take turns on a PostgreSQL advisory lock, so a duplicate that arrives while the first still
runs waits for it (up to `LOCK_WAIT_SECONDS`, then a 409 "still running") and replays its answer.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import OperationalError, connection, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.models import IdempotentWrite

logger = logging.getLogger(__name__)
HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
LOCK_WAIT_SECONDS = 30.0
_LOCK_NOT_AVAILABLE = "55P03"


def _fingerprint(request: Request) -> str:
    return hashlib.sha256(request.body or b"").hexdigest()


def lock_id(token_id: int, key: str) -> int:
    """The advisory lock a token's key is held under (a signed 64-bit number)."""
    digest = hashlib.sha256(f"api.idempotency:{token_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _Busy(Exception):
    """Another request with this key held it for longer than LOCK_WAIT_SECONDS."""


@contextmanager
def _turn(lock: int, *, session: bool) -> Iterator[None]:
    """Wait for this key's turn: a transaction lock (released at commit or rollback) or, for a write
    that commits in steps, a session lock (released here, or by PostgreSQL when the connection dies)."""
    if connection.vendor != "postgresql":  # SQLite runs one writer at a time anyway
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        (prior,) = cursor.fetchone()
        cursor.execute("SELECT set_config('lock_timeout', %s, %s)", [f"{int(LOCK_WAIT_SECONDS * 1000)}ms", not session])
        try:
            with transaction.atomic():  # a savepoint: a timed-out wait leaves the transaction usable
                cursor.execute("SELECT pg_advisory_lock(%s)" if session else "SELECT pg_advisory_xact_lock(%s)", [lock])
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            raise _Busy from exc
        finally:
            cursor.execute("SELECT set_config('lock_timeout', %s, %s)", [prior, not session])
    if not session:
        yield
        return
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [lock])
        except Exception:  # the connection is gone, and with it the lock
            connection.close()


def once(request: Request, write: Callable[[], Response], *, in_one_transaction: bool = True) -> Response:
    """Run `write` (which returns the API's answer) at most once per token and key.

    By default the key's row, the write and its stored answer share one transaction. A write that
    must commit a step before calling AWS (a change's apply: "applying", then the AWS call, then
    the result) passes `in_one_transaction=False`: its key is claimed in a committed row while the
    request holds the key's session lock; a claim whose request is gone (the lock is free again) is
    taken over by the retry, and the service's own status check keeps the change from applying twice.
    A refused write (4xx) keeps no key, so the client may retry after fixing its input.
    """
    key = request.headers.get(HEADER, "")
    if not key:
        return write()
    if not _KEY.match(key):
        return Response({"detail": f"{HEADER} is 1 to 64 letters, digits or . _ : -"}, status=400)
    fingerprint = _fingerprint(request)
    lock = lock_id(request.auth.pk, key)
    try:
        if in_one_transaction:
            with transaction.atomic(), _turn(lock, session=False):
                return _run(request, key, fingerprint, write, committed_in_steps=False)
        with _turn(lock, session=True):
            return _run(request, key, fingerprint, write, committed_in_steps=True)
    except _Busy:
        return Response({"detail": f"A request with this {HEADER} is still running; retry shortly."}, status=409)


def _run(
    request: Request, key: str, fingerprint: str, write: Callable[[], Response], *, committed_in_steps: bool
) -> Response:
    """With the key's lock held: replay a stored answer, or claim the key and run the write."""
    row = IdempotentWrite.objects.filter(token=request.auth, key=key).first()
    if row is not None and (row.method, row.path, row.body_sha256) != (request.method, request.path, fingerprint):
        return Response({"detail": f"This {HEADER} was used for another request."}, status=422)
    if row is not None and row.status_code:
        response = Response(row.response, status=row.status_code)
        response["Idempotent-Replayed"] = "true"
        return response
    if row is None:
        row = IdempotentWrite.objects.create(
            token=request.auth, key=key, method=request.method, path=request.path, body_sha256=fingerprint
        )
    # else: a claim whose request is gone (we hold its lock); its write did not finish, run it afresh.
    try:
        response = write()
    except BaseException:
        if committed_in_steps:  # in one transaction the rollback takes the row with it
            _give_back(row)
        raise
    if response.status_code >= 400:
        if committed_in_steps:
            _give_back(row)
        else:
            row.delete()
        return response
    row.status_code = response.status_code
    row.response = response.data
    row.save(update_fields=["status_code", "response"])
    return response


def _give_back(row: IdempotentWrite) -> None:
    try:
        row.delete()
    except Exception:  # the database is gone: the retry takes the claim over (its lock is free then)
        logger.warning("could not give back an Idempotency-Key claim", exc_info=True)
