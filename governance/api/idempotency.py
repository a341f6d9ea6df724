"""`Idempotency-Key` on API writes: a retried request acts once and gets the first answer again.

A key is scoped to its token. Reusing a key for another request (another path or body) is a 422,
never a silent replay of something else. Without the header a write still runs through services
that refuse or absorb double submits themselves (review versions, one approval per approver).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response

from governance.api.models import IdempotentWrite

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _fingerprint(request: Request) -> str:
    return hashlib.sha256(request.body or b"").hexdigest()


def once(request: Request, write: Callable[[], Response]) -> Response:
    """Run `write` (which returns the API's answer) at most once per token and key.

    The key is claimed in its own short transaction before the write runs, and the write runs
    outside it, as the page's would: a service that commits a step before calling AWS (an SCP's
    "applying") still does, and no AWS change waits on a transaction that could roll its audit
    back. A retry while the first is still running is told so (409); a refused or failed write
    gives its key back, so the client may retry after fixing its input.
    """
    key = request.headers.get(HEADER, "")
    if not key:
        return write()
    if not _KEY.match(key):
        return Response({"detail": f"{HEADER} is 1 to 64 letters, digits or . _ : -"}, status=400)
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            row = IdempotentWrite.objects.create(
                token=request.auth, key=key, method=request.method, path=request.path, body_sha256=fingerprint
            )
    except IntegrityError:
        return _replay(request, key, fingerprint)
    try:
        response = write()
    except BaseException:
        row.delete()
        raise
    if response.status_code >= 400:
        row.delete()
        return response
    row.status_code = response.status_code
    row.response = response.data
    row.save(update_fields=["status_code", "response"])
    return response


def _replay(request: Request, key: str, fingerprint: str) -> Response:
    row = IdempotentWrite.objects.filter(token=request.auth, key=key).first()
    if row is None:  # the first attempt was refused meanwhile and gave its key back
        return Response({"detail": f"The first request with this {HEADER} was refused; send it again."}, status=409)
    if (row.method, row.path, row.body_sha256) != (request.method, request.path, fingerprint):
        return Response({"detail": f"This {HEADER} was used for another request."}, status=422)
    if not row.status_code:
        return Response({"detail": f"A request with this {HEADER} is still running; retry shortly."}, status=409)
    response = Response(row.response, status=row.status_code)
    response["Idempotent-Replayed"] = "true"
    return response
