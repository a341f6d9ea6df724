"""The page helpers without HTTP: keyset cursors and policy pretty-printing."""

from __future__ import annotations

import pytest

from governance.inventory.pagination import decode_cursor, encode_cursor
from governance.inventory.selectors import pretty_json


def test_it_round_trips_a_cursor():
    assert decode_cursor(encode_cursor(["iam_role", "<b>name</b> \u202e", 42]), 3) == [
        "iam_role",
        "<b>name</b> \u202e",
        42,
    ]


@pytest.mark.parametrize(
    "cursor",
    ["", None, "%%%", "bm90IGpzb24", encode_cursor([1]), encode_cursor([[1], 2]), encode_cursor([True, 1]), "A" * 5000],
)
def test_it_treats_a_malformed_cursor_as_absent(cursor):
    assert decode_cursor(cursor, 2) is None


def test_it_prints_policy_keys_in_aws_order_whatever_order_the_database_kept():
    stored = {
        "Statement": [{"Resource": "*", "Condition": {}, "Action": "s3:*", "Effect": "Deny", "Sid": "x"}],
        "Version": "2012-10-17",
    }
    text = pretty_json(stored)
    assert text.index('"Version"') < text.index('"Statement"')
    positions = [text.index(f'"{k}"') for k in ("Sid", "Effect", "Action", "Resource", "Condition")]
    assert positions == sorted(positions)


def test_it_prints_non_dict_documents_and_strings_as_they_are():
    assert pretty_json(None) == ""
    assert pretty_json("not json {") == "not json {"
    assert pretty_json('{"Statement": {"Effect": "Allow", "Sid": "s"}}').index("Sid") < pretty_json(
        '{"Statement": {"Effect": "Allow", "Sid": "s"}}'
    ).index("Effect")
    assert pretty_json(["a", "\u00e9"]) == '[\n  "a",\n  "\u00e9"\n]'


def test_it_reveals_direction_overrides_and_invisible_characters():
    from governance.inventory.templatetags.inventory import reveal

    assert reveal("evil\u202egnp.exe") == "evil\u27e6U+202E\u27e7gnp.exe"
    assert reveal("a\u200bb\u2066c\u2069") == "a\u27e6U+200B\u27e7b\u27e6U+2066\u27e7c\u27e6U+2069\u27e7"
    assert reveal("Zoë 数据 مرحبا") == "Zoë 数据 مرحبا"  # ordinary text, any script, is left alone
