"""The package's own zip writer: a standard zip whichever deflate made it (ISA-L or zlib), read by unzip and zipfile."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from governance.evidence import zipstream
from governance.evidence.package import PackageFile, PackageResult, stream_package
from governance.evidence.verify import verify_package
from governance.evidence.zipstream import ZipStream

WHEN = datetime(2026, 12, 3, 7, 30, 41, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
DEFLATES = [pytest.param(zlib, id="zlib")]
try:
    from isal import isal_zlib

    DEFLATES.insert(0, pytest.param(isal_zlib, id="isal"))
except ImportError:  # pragma: no cover
    pass


def _text_chunks(count: int, size: int = 100_000):
    """Text that compresses like evidence does, with some noise that does not, in chunks of `size`."""
    for n in range(count):
        noise = hashlib.sha256(str(n).encode()).hexdigest()
        line = f'{{"id":{n},"principal_name":"deploy-{n}","noise":"{noise}"}}\n'.encode()
        yield (line * (size // len(line) + 1))[:size]


def _files() -> list[PackageFile]:
    return [
        PackageFile("items.jsonl", lambda: _text_chunks(40)),  # 4 MB in 40 chunks
        PackageFile("empty.csv", lambda: []),
        PackageFile("tiny/one.txt", lambda: [b"a", b"", b"bc"]),
    ]


@pytest.fixture(params=DEFLATES)
def deflate(request, monkeypatch):
    """The package deflated by the given module, as when isal is installed or when it is not."""
    monkeypatch.setattr(zipstream, "_deflate", request.param)
    return request.param


def test_a_package_is_a_zip_that_zipfile_and_unzip_read_and_that_verifies(deflate, db, tmp_path):
    result = PackageResult()
    path = tmp_path / "package.zip"
    with path.open("wb") as out:
        for chunk in stream_package(_files(), subject={"type": "sample"}, result=result, generated_at=WHEN):
            out.write(chunk)
    data = path.read_bytes()
    assert result.complete and result.size == len(data) and result.sha256 == hashlib.sha256(data).hexdigest()
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None  # every CRC-32 checks
        assert archive.namelist() == ["items.jsonl", "empty.csv", "tiny/one.txt", "SHA256SUMS", "manifest.json",
                                      "manifest.sig"]  # fmt: skip
        assert len(archive.read("items.jsonl")) == 4_000_000
        assert archive.read("empty.csv") == b"" and archive.read("tiny/one.txt") == b"abc"
        info = archive.getinfo("items.jsonl")
        assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size < info.file_size // 2
        assert info.date_time == (2026, 12, 3, 7, 30, 40)  # DOS time: even seconds
        assert info.external_attr >> 16 == 0o100644
    listed = {entry.path: entry for entry in result.files}
    assert listed["items.jsonl"].size == 4_000_000
    report = verify_package(path)
    assert report.ok, report.findings
    if shutil.which("unzip"):
        tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "No errors detected" in tested.stdout


def test_both_deflates_make_the_same_files(db, tmp_path, monkeypatch):
    """The compressed bytes differ between ISA-L and zlib; what they inflate to does not."""
    contents = []
    for module in [p.values[0] for p in DEFLATES]:
        monkeypatch.setattr(zipstream, "_deflate", module)
        path = tmp_path / f"{module.__name__}.zip"
        path.write_bytes(b"".join(stream_package(_files(), subject={}, package_id="p", generated_at=WHEN)))
        with zipfile.ZipFile(path) as archive:
            contents.append({name: archive.read(name) for name in archive.namelist() if name != "manifest.sig"})
    assert all(content == contents[0] for content in contents)


def test_without_isal_it_deflates_with_zlib():
    code = "import sys; sys.modules['isal'] = None\nfrom governance.evidence import zipstream\nprint(zipstream.DEFLATE)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "zlib"


def test_more_entries_than_a_plain_zip_counts_get_the_zip64_end_records(deflate, tmp_path):
    archive = ZipStream(WHEN)
    parts = []
    for n in range(70_000):
        parts += [archive.start(f"e{n}"), archive.write(b"x"), archive.end()]
    parts.append(archive.close())
    data = b"".join(parts)
    assert b"PK\x06\x06" in data[-200:]
    path = tmp_path / "many.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as opened:
        assert len(opened.infolist()) == 70_000 and opened.read("e69999") == b"x"


def test_an_entry_must_end_before_the_next_starts_or_the_zip_closes():
    archive = ZipStream(WHEN)
    archive.start("a")
    with pytest.raises(ValueError, match="still open"):
        archive.start("b")
    with pytest.raises(ValueError, match="still open"):
        archive.close()


def test_an_entry_deflated_elsewhere_goes_in_as_it_is(deflate, tmp_path):
    data = b"".join(_text_chunks(5))
    compressor = zipstream.compressor()
    deflated = compressor.compress(data) + compressor.flush()
    archive = ZipStream(WHEN)
    out = archive.start("ahead.csv") + archive.write_deflated(deflated[:1000]) + archive.write_deflated(deflated[1000:])
    out += archive.end(crc=zipstream.crc32(data), size=len(data))
    out += archive.start("after.txt") + archive.write(b"next") + archive.end() + archive.close()
    path = tmp_path / "ahead.zip"
    path.write_bytes(out)
    with zipfile.ZipFile(path) as read:
        assert read.testzip() is None
        assert read.read("ahead.csv") == data and read.read("after.txt") == b"next"
        assert read.getinfo("ahead.csv").compress_size == len(deflated)


def test_a_crc_and_size_go_only_with_an_entry_deflated_elsewhere():
    archive = ZipStream(WHEN)
    archive.start("a.txt")
    archive.write(b"a")
    with pytest.raises(ValueError, match="write_deflated"):
        archive.end(crc=0, size=1)
    archive = ZipStream(WHEN)
    archive.start("b.txt")
    archive.write_deflated(b"\x03\x00")
    with pytest.raises(ValueError, match="write_deflated"):
        archive.end()
