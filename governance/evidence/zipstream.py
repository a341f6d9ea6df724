"""A zip written forward only, entry by entry, as bytes to hand on: what an evidence package streams.

    archive = ZipStream(when)
    out = archive.start("items.csv")        # the local header
    out += archive.write(chunk)              # deflated as it comes, any number of times
    out += archive.end()                     # the rest of the deflate stream and a data descriptor
    out = archive.close()                    # the central directory

An entry deflated elsewhere (by `compressor()`, e.g. on another thread) goes in as it is:
`start(path)`, `write_deflated(data)` any number of times, `end(crc=..., size=...)`.

Deflate through ISA-L (`isal`: the same format, about three times zlib's speed at level 1) when it
is installed, zlib otherwise; any unzip reads either. The layout is the one zipfile writes with
`force_zip64=True` and a data descriptor after each entry (the sizes are known only at the end),
the zip64 end records when the central directory needs them. Names are ASCII (the package's
paths are), files are 0644 from a Unix system.

zipfile itself takes its compressor from zlib and cannot be given another without patching its
globals, hence this writer.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

try:
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover (the pinned requirements carry isal)
    _deflate = zlib

DEFLATE = _deflate.__name__  # "isal.isal_zlib" or "zlib", for the benchmark and the tests
LEVEL = 1  # fast; evidence is mostly text, which compresses well anyway

_LIMIT = 0xFFFFFFFF
_VERSION = 45  # zip64
_UNIX = 3
_DESCRIPTOR_FLAG = 0x08
_DEFLATED = 8
_ATTRIBUTES = 0o100644 << 16


def compressor():
    """What an entry is deflated with: raw deflate at LEVEL, ISA-L's where installed."""
    return _deflate.compressobj(LEVEL, _deflate.DEFLATED, -15)


def crc32(data: bytes, value: int = 0) -> int:
    return _deflate.crc32(data, value)


@dataclass
class _Entry:
    name: bytes
    offset: int
    crc: int = 0
    size: int = 0
    compressed: int = 0


class ZipStream:
    def __init__(self, when: datetime) -> None:
        local = when.astimezone(UTC)
        self._time = local.hour << 11 | local.minute << 5 | local.second // 2
        self._date = (local.year - 1980) << 9 | local.month << 5 | local.day
        self._module = _deflate  # read here, so a test can swap it
        self._entries: list[_Entry] = []
        self._open: _Entry | None = None
        self._compressor = None
        self._offset = 0
        self._closed = False

    def start(self, path: str) -> bytes:
        """The local header of a new entry (the previous one must have ended)."""
        if self._open is not None or self._closed:
            raise ValueError("An entry is still open, or the zip is closed.")
        name = path.encode("ascii")
        self._open = _Entry(name=name, offset=self._offset)
        self._compressor = self._module.compressobj(LEVEL, self._module.DEFLATED, -15)
        extra = struct.pack("<HHQQ", 1, 16, 0, 0)  # zip64: the sizes follow in the descriptor
        header = struct.pack(
            "<4s2B4HL2L2H", b"PK\003\004", _VERSION, 0, _DESCRIPTOR_FLAG, _DEFLATED, self._time, self._date,
            0, _LIMIT, _LIMIT, len(name), len(extra),
        )  # fmt: skip
        return self._emit(header + name + extra)

    def write(self, data: bytes) -> bytes:
        entry = self._open
        entry.crc = self._module.crc32(data, entry.crc)
        entry.size += len(data)
        out = self._compressor.compress(data)
        entry.compressed += len(out)
        return self._emit(out)

    def write_deflated(self, data: bytes) -> bytes:
        """Bytes of the entry's deflate stream made elsewhere; `end` then takes its CRC and size."""
        self._open.compressed += len(data)
        self._compressor = None
        return self._emit(data)

    def end(self, *, crc: int | None = None, size: int | None = None) -> bytes:
        """The end of the entry's deflate stream and its data descriptor; `crc` and `size` of what an
        entry written by write_deflated inflates to."""
        entry = self._open
        if (crc is None) != (self._compressor is not None) or (crc is None) != (size is None):
            raise ValueError("crc and size are given for an entry written by write_deflated, and only for it.")
        out = b""
        if crc is None:
            out = self._compressor.flush()
        else:
            entry.crc, entry.size = crc, size
        entry.compressed += len(out)
        self._entries.append(entry)
        self._open = self._compressor = None
        return self._emit(out + struct.pack("<4sLQQ", b"PK\007\010", entry.crc, entry.compressed, entry.size))

    def close(self) -> bytes:
        """The central directory, with the zip64 end records where a count or an offset needs them."""
        if self._open is not None:
            raise ValueError("An entry is still open.")
        self._closed = True
        start = self._offset
        records = [self._central(entry) for entry in self._entries]
        directory = b"".join(records)
        count, size = len(self._entries), len(directory)
        tail = b""
        if count > 0xFFFF or size > _LIMIT or start > _LIMIT:
            end64 = start + size
            tail = struct.pack("<4sQ2H2L4Q", b"PK\006\006", 44, _VERSION, _VERSION, 0, 0, count, count, size, start)
            tail += struct.pack("<4sLQL", b"PK\006\007", 0, end64, 1)
            count, size, start = min(count, 0xFFFF), min(size, _LIMIT), min(start, _LIMIT)
        tail += struct.pack("<4s4H2LH", b"PK\005\006", 0, 0, count, count, size, start, 0)
        return self._emit(directory + tail)

    def _central(self, entry: _Entry) -> bytes:
        # zip64 extra only for what does not fit, in the order the format gives.
        big = [value for value in (entry.size, entry.compressed, entry.offset) if value > _LIMIT]
        extra = struct.pack(f"<HH{len(big)}Q", 1, 8 * len(big), *big) if big else b""
        size, compressed, offset = (min(v, _LIMIT) for v in (entry.size, entry.compressed, entry.offset))
        record = struct.pack(
            "<4s4B4HL2L5H2L", b"PK\001\002", _VERSION, _UNIX, _VERSION, 0, _DESCRIPTOR_FLAG, _DEFLATED,
            self._time, self._date, entry.crc, compressed, size, len(entry.name), len(extra), 0, 0, 0,
            _ATTRIBUTES, offset,
        )  # fmt: skip
        return record + entry.name + extra

    def _emit(self, data: bytes) -> bytes:
        self._offset += len(data)
        return data
