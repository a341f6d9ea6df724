"""verify's fast row hashing (PostgreSQL) writes exactly the canonical JSON `compute_hash` writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.audit.models import compute_hash
from governance.audit.verify import _fast_hash, _json_text, _json_text_quick

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


def _row(values: dict) -> tuple:
    as_text = {k: None if values[k] is None else json.dumps(values[k]) for k in ("before", "after")}
    created = values["created_at"].astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return (values["sequence"], created, values["actor_pk"], values["actor_name"], values["action"],
            values["object_type"], values["object_id"], values["object_repr"], as_text["before"], as_text["after"],
            values["request_id"], values["prev_hash"])  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    before=json_values,
    after=json_values,
    names=st.lists(text, min_size=6, max_size=6),
    actor_pk=st.none() | st.integers(1, 2**40),
)
def test_fast_hash_equals_compute_hash(before, after, names, actor_pk):
    values = {
        "sequence": 42,
        "created_at": datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC),
        "actor_pk": actor_pk,
        "actor_name": names[0],
        "action": names[1],
        "object_type": names[2],
        "object_id": names[3],
        "object_repr": names[4],
        "before": before,
        "after": after,
        "request_id": names[5],
        "prev_hash": "0" * 64,
    }
    expected = compute_hash(values)
    assert _fast_hash(*_row(values)) == expected
    quick = _fast_hash(*_row(values), as_json=_json_text_quick)
    # The quick path may differ (and then verify falls back to the exact one), but never for plain text.
    if quick != expected:
        assert _json_text_quick(_row(values)[9]) != _json_text(_row(values)[9]) or _json_text_quick(
            _row(values)[8]
        ) != _json_text(_row(values)[8])


@pytest.mark.parametrize(
    "document",
    [
        {"name": "Zugriff nötig — ✓", "emoji": "😀", "rtl": "evil\u202egnp.exe"},
        {"b": [1, 2, {"z": None, "a": True}], "a": "plain"},
        {"tab": 'a\tb\nc"d\\e', "ctl": "\x01\x1f"},
        {"latin": "Größe é ÿ", "bmp": "— ✓ € \u0100 \uffff"},  # backslashreplace's \x and \u forms
        {"path": "C:\\Größe", "x": "\\x41 ö"},  # a backslash already there: escaped the careful way
    ],
)
def test_the_quick_json_matches_for_ordinary_documents(document):
    as_text = json.dumps(document)
    assert _json_text_quick(as_text) == _json_text(as_text)


def test_the_quick_json_may_differ_where_orjson_writes_numbers_its_own_way():
    assert _json_text("[1.0, 1e-07]") == "[1,1e-07]"
    assert _json_text_quick("[1.0, 1e-07]") != _json_text("[1.0, 1e-07]")  # verify then hashes the exact way
