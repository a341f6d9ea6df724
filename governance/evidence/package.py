"""Evidence packages: a zip streamed from a list of file streams, with a signed manifest.

    files = [PackageFile("items.csv", lambda: csv_chunks(header, rows)), ...]
    for chunk in stream_package(files, subject={...}, result=result):
        out.write(chunk)

The zip holds the files as given, then

- `SHA256SUMS`: one `<sha256>  <path>` line per file, what `sha256sum -c` reads;
- `manifest.json`: every file's path, SHA-256 and size (SHA256SUMS included), the package id, the
  subject (e.g. the campaign), the generator's name and version, the time, and the signing key's
  id and fingerprint;
- `manifest.sig`: the raw 64-byte Ed25519 signature of manifest.json's exact bytes, which
  `openssl pkeyutl -verify -pubin -inkey KEY.pem -rawin -in manifest.json -sigfile manifest.sig`
  checks.

Nothing is held in memory beyond one chunk of the file being written and zlib's window: each file
is hashed and compressed as its chunks arrive (deflate level 1: fast, and evidence is mostly text
that compresses well anyway), and the zip is written as a stream (data descriptors after each
entry, the central directory at the end), so the first bytes reach the client before the last row
is read. File streams are callables, so a file's rows are only queried when its turn comes.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from governance.audit import signing
from governance.audit.models import canonical_time

FORMAT = "governance-evidence/1"
GENERATOR = "iam-governance-portal"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMS = "SHA256SUMS"
RESERVED = frozenset({MANIFEST, SIGNATURE, SUMS})
COMPRESS_LEVEL = 1
FLUSH_BYTES = 256 * 1024
_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def generator_version() -> str:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


class PackageError(ValueError):
    """A package cannot be built from what was given (a bad or duplicate path); nothing usable was written."""


@dataclass(frozen=True)
class PackageFile:
    path: str
    chunks: Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int


@dataclass
class PackageResult:
    """Filled in while the package streams; complete once the stream is exhausted."""

    package_id: str = ""
    key_id: str = ""
    generated_at: datetime | None = None
    files: list[FileEntry] = field(default_factory=list)
    manifest_sha256: str = ""
    sha256: str = ""  # of the whole zip
    size: int = 0
    complete: bool = False


class _Sink:
    """The zip's file object: collects what zipfile writes until the generator hands it on."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        self.digest.update(data)
        self.size += len(data)
        return data


def _zip_info(path: str, when: datetime) -> zipfile.ZipInfo:
    local = when.astimezone(UTC)
    info = zipfile.ZipInfo(path, date_time=(local.year, local.month, local.day, local.hour, local.minute, local.second))
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = COMPRESS_LEVEL  # where Python 3.11's ZipFile.open(info, "w") reads the level
    info.external_attr = 0o644 << 16
    return info


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """manifest.json as written and signed: sorted keys, two-space indent, a final newline."""
    return (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, default=_json_default) + "\n").encode(
        "utf-8"
    )


def stream_package(
    files: Iterable[PackageFile],
    *,
    subject: dict[str, Any],
    result: PackageResult | None = None,
    package_id: str | None = None,
    generated_at: datetime | None = None,
) -> Iterator[bytes]:
    """The zip, chunk by chunk; `result` gets the hashes as they are known."""
    result = result if result is not None else PackageResult()
    key = signing.current_key()  # fail before the first byte when nothing can be signed
    result.package_id = package_id or str(uuid.uuid4())
    result.key_id = key.key_id
    result.generated_at = generated_at or timezone.now()
    when = result.generated_at
    sink = _Sink()
    seen: set[str] = set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for item in files:
            if not _PATH.match(item.path) or item.path in RESERVED or item.path in seen or ".." in item.path:
                raise PackageError(f"{item.path!r} cannot be a file of the package (a bad, reserved or repeated path).")
            seen.add(item.path)
            digest = hashlib.sha256()
            size = 0
            with archive.open(_zip_info(item.path, when), "w", force_zip64=True) as out:
                for chunk in item.chunks():
                    if not chunk:
                        continue
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                    if len(sink.buffer) >= FLUSH_BYTES:
                        yield sink.take()
            result.files.append(FileEntry(path=item.path, sha256=digest.hexdigest(), size=size))
            if sink.buffer:
                yield sink.take()

        sums = "".join(f"{entry.sha256}  {entry.path}\n" for entry in result.files).encode("utf-8")
        archive.writestr(_zip_info(SUMS, when), sums)
        result.files.append(FileEntry(path=SUMS, sha256=hashlib.sha256(sums).hexdigest(), size=len(sums)))

        public = key.public
        manifest = {
            "format": FORMAT,
            "package_id": result.package_id,
            "generated_at": canonical_time(when),
            "generator": {"name": GENERATOR, "version": generator_version()},
            "subject": subject,
            "key_id": key.key_id,
            "key_fingerprint_sha256": public.fingerprint,
            "files": [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in result.files],
        }
        data = manifest_bytes(manifest)
        result.manifest_sha256 = hashlib.sha256(data).hexdigest()
        archive.writestr(_zip_info(MANIFEST, when), data)
        archive.writestr(_zip_info(SIGNATURE, when), key.sign(data))
    yield sink.take()  # the central directory
    result.sha256 = sink.digest.hexdigest()
    result.size = sink.size
    result.complete = True


def jsonl_chunks(rows: Iterable[dict[str, Any]], *, chunk_bytes: int = FLUSH_BYTES) -> Iterator[bytes]:
    """One JSON object per line (UTF-8, keys in the order given), in chunks; values kept exactly."""
    import orjson

    parts: list[bytes] = []
    size = 0
    dumps, newline, default = orjson.dumps, orjson.OPT_APPEND_NEWLINE, _json_default
    for row in rows:
        line = dumps(row, default=default, option=newline)
        parts.append(line)
        size += len(line)
        if size >= chunk_bytes:
            yield b"".join(parts)
            parts.clear()
            size = 0
    if parts:
        yield b"".join(parts)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return canonical_time(value)
    return str(value)


def json_file(path: str, document: Any) -> PackageFile:
    data = (json.dumps(document, indent=2, sort_keys=True, default=_json_default, ensure_ascii=False) + "\n").encode()
    return PackageFile(path, lambda: [data])


def bytes_file(path: str, data: bytes) -> PackageFile:
    return PackageFile(path, lambda: [data])
