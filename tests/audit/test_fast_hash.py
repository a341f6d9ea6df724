"""The canonical JSON written without `compute_hash`: by record_many (`_fast_hash`) and by verify on
PostgreSQL (`reading._quick_text`, confirmed against the stored hash, else `_exact_hash`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from hashlib import sha256

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.audit.models import compute_hash
from governance.audit.reading import _exact_hash, _quick_text
from governance.audit.services import _canonical_json, _fast_hash

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


def any_event(test):
    """Every hashed field varied: before/after any JSON, the six text fields any text, the actor's key or none."""
    return settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)(
        given(
            before=json_values,
            after=json_values,
            names=st.lists(text, min_size=6, max_size=6),
            actor_pk=st.none() | st.integers(1, 2**40),
        )(test)
    )


CREATED = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
CREATED_TEXT = "2026-03-04T05:06:07.000890Z"


def _values(before, after, names, actor_pk) -> dict:
    return {
        "sequence": 42,
        "created_at": CREATED,
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


def _as_read(values: dict) -> tuple[dict, str | None, str | None]:
    """What verify's row loop builds from a row: the fields, before/after as the jsonb text."""
    before = None if values["before"] is None else json.dumps(values["before"])
    after = None if values["after"] is None else json.dumps(values["after"])
    fields = {**values, "created_at": CREATED_TEXT, "before": None, "after": None}
    return fields, before, after


def _quick_hash(values: dict) -> str | None:
    fields, before, after = _as_read(values)
    text = _quick_text(fields, before, after)
    return None if text is None else sha256(text).hexdigest()


@any_event
def test_fast_hash_equals_compute_hash(before, after, names, actor_pk):
    values = _values(before, after, names, actor_pk)
    expected = compute_hash(values)
    before_text = None if before is None else _canonical_json(before)
    after_text = None if after is None else _canonical_json(after)
    assert _fast_hash(42, CREATED_TEXT, actor_pk, *names[:5], before_text, after_text, names[5], "0" * 64) == expected
    fields, before_read, after_read = _as_read(values)
    assert _exact_hash(fields, before_read, after_read) == expected


@any_event
def test_the_quick_text_is_a_json_encoding_of_the_values(before, after, names, actor_pk):
    # Whatever it writes parses back to the row's values (so a match with the stored hash proves
    # them); the hash may differ from compute_hash only where a float is written another way.
    values = _values(before, after, names, actor_pk)
    fields, before_read, after_read = _as_read(values)
    quick = _quick_text(dict(fields), before_read, after_read)
    fields["before"], fields["after"] = before, after
    if quick is None:
        return
    assert quick.isascii()
    # orjson reads an integer beyond 64 bits as a float; written as one (1.8e+19), it can never be
    # taken for the canonical text, which writes integral numbers as integers.
    assert json.loads(quick) == orjson.loads(json.dumps(fields))
    if quick != json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode():
        assert _has_float_or_del(fields)


def _has_float_or_del(value) -> bool:
    if isinstance(value, dict):
        return any(_has_float_or_del(k) or _has_float_or_del(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_float_or_del(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**64
    return isinstance(value, float) or (isinstance(value, str) and "\x7f" in value)


@pytest.mark.parametrize(
    "document",
    [
        {"name": "Zugriff nötig — ✓", "latin": "café ÿ", "rtl": "evil\u202egnp.exe"},
        {"b": [1, 2, {"z": None, "a": True}], "a": "plain"},
        {"tab": 'a\tb\nc"d', "ctl": "\x01\x1f", "quote": 'say "x"'},
        {"latin": "Größe é ÿ", "bmp": "— ✓ € \u0100 \uffff"},  # backslashreplace's \x and \u forms
    ],
)
def test_the_quick_hash_matches_for_ordinary_documents(document):
    values = _values({"was": "ö"}, document, ["ä", "review.decide", "t", "1", "café", "r"], 7)
    assert _quick_hash(values) == compute_hash(values)


def test_an_ascii_event_with_backslashes_is_hashed_as_orjson_writes_it():
    values = _values({"path": "C:\\x\\y"}, {"tab": 'a\tb\nc"d\\e', "ctl": "\x01\x1f"}, list("abc\\ef"), 3)
    assert _quick_hash(values) == compute_hash(values)


@pytest.mark.parametrize(
    "document",
    [
        {"emoji": "😀 ö"},  # beyond the BMP: json.dumps writes a surrogate pair
        {"path": "C:\\x\\y ö"},  # an escaped backslash before an x, with non-ASCII text
        {"path": "C:\\Größe", "x": "\\x41 ö"},
    ],
)
def test_the_quick_text_declines_what_it_cannot_escape_safely(document):
    values = _values(None, document, ["a", "b", "c", "d", "e", "f"], None)
    assert _quick_hash(values) is None
    fields, before, after = _as_read(values)
    assert _exact_hash(fields, before, after) == compute_hash(values)


def test_an_integer_beyond_64_bits_never_matches_the_quick_way():
    values = _values(None, {"n": 2**64 + 1}, ["a", "b", "c", "d", "e", "f"], None)
    assert _quick_hash(values) != compute_hash(values)
    tampered = _values(None, {"n": 2**64 + 2}, ["a", "b", "c", "d", "e", "f"], None)
    assert _quick_hash(tampered) != compute_hash(values)
    fields, before, after = _as_read(values)
    assert _exact_hash(fields, before, after) == compute_hash(values)


def test_the_quick_text_may_differ_where_orjson_writes_numbers_its_own_way():
    values = _values(None, [1.0, 1e-07], ["a", "b", "c", "d", "e", "f"], None)
    assert _quick_hash(values) != compute_hash(values)  # verify then hashes the exact way
    fields, before, after = _as_read(values)
    assert _exact_hash(fields, before, after) == compute_hash(values)
