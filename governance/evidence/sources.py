"""What a package is evidence of: feature apps register a builder per subject type.

    # governance/reviews/apps.py, in ready():
    from governance.evidence import sources
    sources.register("campaign", "governance.reviews.evidence.campaign_source")

A builder takes the subject's id (as typed on the command line or in a URL) and returns a `Source`:
the subject's description for the manifest and the package's files (streams, queried only when
the zip reaches them). It raises `sources.NotFound` for an unknown id. `audit_files()` gives any
source the audit events of its objects with their chain hashes, plus the signed checkpoint that
covers the last of them (made on the spot when the newest one does not yet).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils.module_loading import import_string

from governance.audit import signing
from governance.audit.models import AuditCheckpoint, AuditEvent
from governance.audit.services import create_checkpoint
from governance.evidence.package import PackageFile, bytes_file, json_file, jsonl_chunks

_BUILDERS: dict[str, str] = {}


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class Source:
    subject_type: str  # "app_label.model", recorded with the package
    subject_id: str
    subject_repr: str
    subject: dict[str, Any]  # what manifest.json says the package is evidence of
    files: list[PackageFile] = field(default_factory=list)


def register(kind: str, builder: str) -> None:
    _BUILDERS[kind] = builder


def kinds() -> list[str]:
    return sorted(_BUILDERS)


def build(kind: str, subject_id: str) -> Source:
    if kind not in _BUILDERS:
        available = ", ".join(kinds()) or "none (the app that provides them is not installed)"
        raise NotFound(f"No evidence source for {kind!r}; available: {available}.")
    builder: Callable[[str], Source] = import_string(_BUILDERS[kind])
    return builder(subject_id)


_EVENT_COLUMNS = ("sequence", "created_at", "actor_name", "action", "object_type", "object_id", "object_repr",
                  "before", "after", "request_id", "prev_hash", "hash")  # fmt: skip


def audit_files(events: QuerySet[AuditEvent], *, prefix: str = "audit/") -> list[PackageFile]:
    """`events.jsonl` (sequence order, with prev_hash and hash) and the checkpoint covering the last one.

    `checkpoint.json` is the signed statement exactly as signed and `checkpoint.sig` its raw
    signature, so `openssl pkeyutl -verify -rawin` checks it like the manifest; `verify_audit_log
    --anchor SEQ:HASH` on the portal shows the chain still holds the events as exported.
    """
    last = events.order_by("-sequence").values_list("sequence", flat=True).first()
    checkpoint = None
    if last is not None:
        checkpoint = AuditCheckpoint.objects.covering(last).first() or create_checkpoint()

    def rows():
        for values in events.order_by("sequence").values_list(*_EVENT_COLUMNS).iterator(chunk_size=2000):
            yield dict(zip(_EVENT_COLUMNS, values, strict=True))

    files = [PackageFile(f"{prefix}events.jsonl", lambda: jsonl_chunks(rows()))]
    if checkpoint is not None:
        files += [
            bytes_file(f"{prefix}checkpoint.json", checkpoint.statement.encode("utf-8")),
            bytes_file(f"{prefix}checkpoint.sig", signing.unb64(checkpoint.signature)),
        ]
    else:
        files.append(json_file(f"{prefix}checkpoint.json", {"note": "no audit events, so no checkpoint"}))
    return files
