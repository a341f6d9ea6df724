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

Nothing is held in memory beyond one chunk of the file being written and deflate's window: each
file is hashed and compressed as its chunks arrive, and the zip is written as a stream
(zipstream.py: deflate level 1 through ISA-L where installed, a data descriptor after each entry,
the central directory at the end), so the first bytes reach the client before the last row is
read. File streams are callables, so a file's rows are only queried when its turn comes. (A worker
thread deflating one chunk while the next is read was measured: no faster, the COPY's PostgreSQL
side being the slower one, and 0.6 CPU seconds more over a million items.)

A file stream may instead be `Deflated`: a file read, hashed and deflated ahead of its turn on a
thread (`DeflateAhead`, into an unnamed temporary file), which goes into the zip as it is. The
campaign evidence reads items.csv that way while items.jsonl streams (reviews/evidence_sql.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
import tomllib
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.db import connections
from django.utils import timezone

from governance.audit import signing
from governance.audit.models import canonical_time
from governance.evidence import zipstream
from governance.evidence.zipstream import ZipStream

FORMAT = "governance-evidence/1"
GENERATOR = "iam-governance-portal"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
SUMS = "SHA256SUMS"
RESERVED = frozenset({MANIFEST, SIGNATURE, SUMS})
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
    chunks: Callable[[], Iterable[bytes] | Deflated]


@dataclass(frozen=True)
class Deflated:
    """A file's bytes deflated as ZipStream deflates an entry, in `file` (read from the start, then
    closed), with the size, CRC-32 and SHA-256 of the bytes they inflate to."""

    file: IO[bytes]
    size: int
    crc32: int
    sha256: str


class DeflateAhead:
    """`chunks()` read, hashed and deflated on a thread of its own into an unnamed temporary file
    (removed by the system when closed, and never seen in a directory), for `result()` to hand on.

    hashlib, ISA-L and the socket reads release the GIL on big buffers, so the work spreads over
    the cores. The thread's own database connections are closed when it ends. `cancel()` stops it
    after the chunk in hand (closing the stream, so a COPY is cancelled) and drops the file.
    """

    def __init__(self, chunks: Callable[[], Iterable[bytes]]) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by result's reader or cancel)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._figures: tuple[int, int, str] | None = None
        self._thread = threading.Thread(target=self._run, args=(chunks,), name="evidence-deflate-ahead", daemon=True)
        self._thread.start()

    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self, chunks: Callable[[], Iterable[bytes]]) -> None:
        try:
            compressor, digest, crc, size = zipstream.compressor(), hashlib.sha256(), 0, 0
            stream = iter(chunks())
            try:
                for chunk in stream:
                    if self._stop.is_set():
                        return
                    digest.update(chunk)
                    crc = zipstream.crc32(chunk, crc)
                    size += len(chunk)
                    self._file.write(compressor.compress(chunk))
            finally:
                if hasattr(stream, "close"):
                    stream.close()
            self._file.write(compressor.flush())
            self._figures = (size, crc, digest.hexdigest())
        except BaseException as exc:  # raised by result(), in the thread that asks
            self._error = exc
        finally:
            connections.close_all()

    def result(self) -> Deflated:
        self._thread.join()
        if self._error is not None or self._figures is None:
            self._file.close()
            raise self._error or RuntimeError("The file deflated ahead was cancelled.")
        self._file.seek(0)
        size, crc, sha256 = self._figures
        return Deflated(file=self._file, size=size, crc32=crc, sha256=sha256)

    def cancel(self) -> None:
        self._stop.set()
        self._thread.join()
        self._file.close()


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


class _Output:
    """What the generator hands on, gathered to FLUSH_BYTES, with the whole zip's SHA-256 and size."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.pending = 0
        self.digest = hashlib.sha256()
        self.size = 0

    def add(self, data: bytes) -> bool:
        """True when a chunk is ready to take."""
        if data:
            self.parts.append(data)
            self.pending += len(data)
        return self.pending >= FLUSH_BYTES

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        self.pending = 0
        self.digest.update(data)
        self.size += len(data)
        return data


def _whole(archive: ZipStream, path: str, data: bytes) -> bytes:
    return archive.start(path) + archive.write(data) + archive.end()


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
    archive = ZipStream(when)
    output = _Output()
    seen: set[str] = set()
    for item in files:
        if not _PATH.match(item.path) or item.path in RESERVED or item.path in seen or ".." in item.path:
            raise PackageError(f"{item.path!r} cannot be a file of the package (a bad, reserved or repeated path).")
        seen.add(item.path)
        output.add(archive.start(item.path))
        stream = item.chunks()
        if isinstance(stream, Deflated):
            with stream.file:
                while block := stream.file.read(FLUSH_BYTES):
                    if output.add(archive.write_deflated(block)):
                        yield output.take()
            output.add(archive.end(crc=stream.crc32, size=stream.size))
            result.files.append(FileEntry(path=item.path, sha256=stream.sha256, size=stream.size))
            yield output.take()
            continue
        digest = hashlib.sha256()
        size = 0
        for chunk in stream:
            if not chunk:
                continue
            digest.update(chunk)
            size += len(chunk)
            if output.add(archive.write(chunk)):
                yield output.take()
        output.add(archive.end())
        result.files.append(FileEntry(path=item.path, sha256=digest.hexdigest(), size=size))
        yield output.take()

    sums = "".join(f"{entry.sha256}  {entry.path}\n" for entry in result.files).encode("utf-8")
    output.add(_whole(archive, SUMS, sums))
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
    output.add(_whole(archive, MANIFEST, data))
    output.add(_whole(archive, SIGNATURE, key.sign(data)))
    output.add(archive.close())
    yield output.take()  # the last entries and the central directory
    result.sha256 = output.digest.hexdigest()
    result.size = output.size
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
