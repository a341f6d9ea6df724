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


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _fingerprint(request: Request) -> str:
    return hashlib.sha256(request.body or b"").hexdigest()


def once(request: Request, write: Callable[[], Response]) -> Response:
    """Run `write` (which returns the API's answer) at most once per token and key."""
    key = request.headers.get(HEADER, "")
    if not key:
        return write()
    if not _KEY.match(key):
        return Response({"detail": f"{HEADER} is 1 to 64 letters, digits or . _ : -"}, status=400)
    fingerprint = _fingerprint(request)
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    row = IdempotentWrite.objects.create(
                        token=request.auth, key=key, method=request.method, path=request.path, body_sha256=fingerprint
                    )
            except IntegrityError:
                row = None
            if row is None:
                return _replay(request, key, fingerprint)
            response = write()
            if response.status_code >= 400:
                raise _Refused(response)
            row.status_code = response.status_code
            row.response = response.data
            row.save(update_fields=["status_code", "response"])
    except _Refused as refused:
        return refused.response
    return response


def _replay(request: Request, key: str, fingerprint: str) -> Response:
    row = IdempotentWrite.objects.get(token=request.auth, key=key)
    if (row.method, row.path, row.body_sha256) != (request.method, request.path, fingerprint):
        return Response({"detail": f"This {HEADER} was used for another request."}, status=422)
    response = Response(row.response, status=row.status_code)
    response["Idempotent-Replayed"] = "true"
    return response
