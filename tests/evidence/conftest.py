from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from governance.audit.spreadsheet import csv_chunks
from governance.evidence.package import PackageFile, json_file, jsonl_chunks

HOSTILE = [
    '=HYPERLINK("http://evil.example/","click")',
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd",
    "\tTabbed",
    "\rReturn",
    "＝full-width",
    "plain-role",
    "evil\u202egnp.exe",
]


def sample_files(rows: int = 20) -> list[PackageFile]:
    header = ["id", "principal_name", "justification", "count"]
    data = [[n, HOSTILE[n % len(HOSTILE)], f"kept — ticket {n}", n] for n in range(rows)]
    return [
        PackageFile("items.csv", lambda: csv_chunks(header, data)),
        PackageFile("items.jsonl", lambda: jsonl_chunks(dict(zip(header, row, strict=True)) for row in data)),
        json_file("population.json", {"accounts": 3, "principals": rows}),
        PackageFile("audit/events.jsonl", lambda: jsonl_chunks([{"sequence": 1, "hash": "0" * 64}])),
    ]


def rewrite(source: Path, target: Path, *, replace: dict[str, bytes | None] | None = None,
            add: dict[str, bytes] | None = None) -> Path:  # fmt: skip
    """A copy of the zip with files replaced (None removes one) or added, as a tamperer would make it."""
    replace = replace or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    new.writestr(info.filename, replace[info.filename])
                continue
            new.writestr(info.filename, old.read(info.filename))
        for name, data in (add or {}).items():
            new.writestr(name, data)
    return target


@pytest.fixture
def package(db, tmp_path):
    """A generated, stored package and a copy of its bytes at tmp_path/package.zip."""
    from governance.evidence.services import copy_package_to, generate_package

    stored = generate_package(
        subject_type="tests.sample", subject_id="7", subject_repr="Sample campaign",
        subject={"type": "sample", "id": 7}, files=sample_files(), actor=None,
    )  # fmt: skip
    path = tmp_path / "package.zip"
    copy_package_to(stored, path)
    return stored, path
