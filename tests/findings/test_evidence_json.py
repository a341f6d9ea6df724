"""Evidence goes to the database as orjson's JSON text, falling back to json.dumps where orjson refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from governance.findings.services import evidence_json


@pytest.mark.parametrize(
    "evidence",
    [
        {},
        {"policy": "app-policy-0", "statements": [{"Action": ["s3:*"], "Resource": ("*",)}], "n": 3, "x": None},
        {"detail": '[{"action": "s3:GetObject"}]', "path": "C:\\temp\t\n", "text": "é \u2028 \U0001f512"},
        {1: "an integer key, as json.dumps writes it", "f": 1.5, "big": 2**70, "neg": -(2**63)},
    ],
)
def test_evidence_json_holds_what_json_dumps_holds(evidence):
    assert json.loads(evidence_json(evidence)) == json.loads(json.dumps(evidence))


def test_evidence_json_refuses_what_json_dumps_refuses():
    with pytest.raises(TypeError):
        evidence_json({"at": datetime.now(UTC)})
