"""On PostgreSQL items.csv and items.jsonl are written by SQL (reviews/evidence_sql.py): the same bytes."""

from __future__ import annotations

import gc
import io
import json
import time
import zipfile
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection

from governance.audit.spreadsheet import csv_chunks
from governance.evidence import sources
from governance.evidence.models import EvidencePackage
from governance.evidence.package import DeflateAhead, Deflated, jsonl_chunks, stream_package
from governance.evidence.services import copy_package_to, generate_from_source
from governance.evidence.verify import verify_package
from governance.reviews import evidence, evidence_sql
from governance.reviews.models import ReviewItem
from tests.evidence.conftest import HOSTILE
from tests.reviews.conftest import campaign, review_inventory, template  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL path is PostgreSQL's"),
]

TEXTS = [*HOSTILE, "", "a,b", 'say "no"', "two\nlines", "cr\ronly", "ctl\x01\x1f\x7f", "emoji 😀 ö —",
         "sep\u2028", "back\\slash", "'quoted", "-", "＠at", " lead space", "del\x7f"]  # fmt: skip
TIMES = [
    None,
    datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 1, 10, 0, 0, 120, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
]  # none, trailing zeros and all six digits
CONTEXTS = [{}, {"z": 1.5e-7, "a": [1.0, 2, "ö\n"], "long key": {"k": None, "t": True}}, {"hints": ["s3", "iam"]}]


# Texts with no character JSON escapes: a row of only these has its text put in quotes as it is.
PLAIN = [t for t in TEXTS if not any(c in t for c in '"\\') and all(ord(c) >= 0x20 for c in t)]


# The e-mail of the person who decided, in both files as `decided_by` (users made by _deciders).
HOSTILE_EMAILS = ['"quoted"@evil.example', "back\\slash@evil.example", "ctl\x01\x1f@evil.example",
                  '=HYPERLINK("http://evil.example/")@x', "-1@x", "ö —😀@x", "two\nlines@x", ""]  # fmt: skip
PLAIN_EMAILS = ["sep\u2028@x", "del\x7f@x", "+tag@x", "maria.manager@example.com"]


def _deciders(texts) -> list:
    """Who decided each row, by its place (the odd rows are made of `texts`): on a plain row
    no one, someone with a hostile e-mail, or someone with a plain one; otherwise the hostile ones
    from both ends of the list, no one, the plain ones."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects
    hostile = [users.create(username=f"hostile{n}", email=email) for n, email in enumerate(HOSTILE_EMAILS)]
    plain = [users.create(username=f"plain{n}", email=email) for n, email in enumerate(PLAIN_EMAILS)]
    odd = [None, hostile[0], *plain] if texts is not TEXTS else [None, *hostile[::-1]]
    return [odd, [*hostile, None, *plain]]


def _make_hostile(campaign, texts=TEXTS):  # noqa: F811
    text_fields = [f.attname for f in ReviewItem._meta.concrete_fields if evidence_sql._kind(f) == "text"]
    items = list(campaign.items.order_by("id"))
    assert len(items) >= 5
    deciders = _deciders(texts)
    for n, item in enumerate(items):
        for k, name in enumerate(text_fields):
            value = (texts if n % 2 else TEXTS)[(n + k) % len(texts if n % 2 else TEXTS)]
            max_length = ReviewItem._meta.get_field(name).max_length
            setattr(item, name, value[:max_length] if max_length else value)
        item.decided_at = TIMES[n % len(TIMES)]
        item.verified_at = TIMES[(n + 1) % len(TIMES)]
        item.last_used = TIMES[(n + 2) % len(TIMES)]
        item.key_created = TIMES[(n + 3) % len(TIMES)]
        item.mfa_enabled = (None, True, False)[n % 3]
        item.decided_in_bulk = n % 2 == 0
        item.context = CONTEXTS[n % 3]
        choices = deciders[0] if n % 2 else deciders[1]
        item.decided_by = choices[(n // 2) % len(choices)]
    ReviewItem.objects.bulk_update(items, [*text_fields, "decided_at", "verified_at", "last_used", "key_created",
                                           "mfa_enabled", "decided_in_bulk", "context", "decided_by"])  # fmt: skip
    return len(items)


def test_items_jsonl_from_sql_is_byte_identical_to_the_python_path(campaign):  # noqa: F811
    count = _make_hostile(campaign)
    python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    settings = (
        "SELECT current_setting('enable_sort'), current_setting('max_parallel_workers_per_gather'),"
        " current_setting('jit')"
    )
    with connection.cursor() as cursor:  # a caller's own planner settings, not the defaults
        cursor.execute("SET max_parallel_workers_per_gather = 3")
        cursor.execute(settings)
        before = cursor.fetchone()
    sql = b"".join(evidence._items_jsonl(campaign))
    assert evidence_sql.jsonl_supported(ReviewItem)
    assert python.count(b"\n") == count
    deciders = {json.loads(line)["decided_by"] for line in python.splitlines()}
    assert {None, *HOSTILE_EMAILS} <= deciders  # quotes, backslash, control, formula, non-ASCII, empty
    assert sql == python
    with connection.cursor() as cursor:  # the planner settings the export changes are back for the caller
        cursor.execute(settings)
        assert cursor.fetchone() == before == ("on", "3", before[2])


def test_rows_whose_text_needs_no_escape_are_written_the_same_way(campaign):  # noqa: F811
    assert "\x7f" in "".join(PLAIN) and "😀" in "".join(PLAIN) and "\u2028" in "".join(PLAIN)
    count = _make_hostile(campaign, PLAIN)  # every other row plain, the others hostile
    python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    assert python.count(b"\n") == count
    lines = [json.loads(line) for line in python.splitlines()]
    odd = {line["decided_by"] for line in lines[1::2]}
    assert {None, *PLAIN_EMAILS[:3], HOSTILE_EMAILS[0]} <= odd  # a plain row whose decider needs escaping too
    assert b"".join(evidence._items_jsonl(campaign)) == python


def test_items_csv_from_sql_is_byte_identical_to_the_python_path(campaign):  # noqa: F811
    count = _make_hostile(campaign)
    python = b"".join(csv_chunks(evidence.CSV_HEADER, evidence._csv_rows(campaign)))
    assert evidence._csv_columns() is not None
    sql = b"".join(evidence._items_csv(campaign))
    assert python.count(b"'=HYPERLINK") >= 1 and python.count(b"\r\n") > count
    assert sql == python


def test_items_csv_names_each_revokes_remediation_the_same_way_from_sql(campaign):  # noqa: F811
    from governance.reviews.remediation import ACTIONS

    items = list(campaign.items.order_by("id"))
    combinations = [(kind, via) for kind in sorted(ACTIONS) for via in ("inline", "direct")]
    for n, item in enumerate(items):
        item.kind, item.via = combinations[n % len(combinations)]
        item.decision = {1: "", 3: "keep"}.get(n, "revoke")
    ReviewItem.objects.bulk_update(items, ["kind", "via", "decision"])
    python = b"".join(csv_chunks(evidence.CSV_HEADER, evidence._csv_rows(campaign)))
    assert b"iam:DeleteRolePolicy" in python and b"iam:DetachRolePolicy" in python
    assert b"by hand: change the role's trust policy" in python
    assert b"".join(evidence._items_csv(campaign)) == python
    python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    assert b'"remediation_action":"iam:DeleteRolePolicy"' in python and b'"remediation_action":""' in python
    assert b"".join(evidence._items_jsonl(campaign)) == python


def test_a_package_made_the_sql_way_verifies(campaign, tmp_path):  # noqa: F811
    _make_hostile(campaign)
    stored = generate_from_source(sources.build("campaign", str(campaign.pk)))
    path = tmp_path / "campaign.zip"
    copy_package_to(stored, path)
    report = verify_package(path)
    assert report.ok, report.findings


def test_a_hostile_campaign_name_is_written_by_sql_as_the_python_path_writes_it(campaign):  # noqa: F811
    _make_hostile(campaign)
    names = ['=cmd|"/c calc"!A1', "a, b", 'say "no"', "two\nlines", "ö —😀", "back\\slash", "ctl\x01\x1f",
             "100% it's {x}", "'; SELECT 1; --", "+1", "@sum", "\tTab", "sep\u2028"]  # fmt: skip
    for name in names:
        campaign.name = name
        campaign.save(update_fields=["name"])
        python = b"".join(csv_chunks(evidence.CSV_HEADER, evidence._csv_rows(campaign)))
        assert b"".join(evidence._items_csv(campaign)) == python, name
        python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
        assert {json.loads(line)["campaign_name"] for line in python.splitlines()} == {name}
        assert b"".join(evidence._items_jsonl(campaign)) == python, name


def test_a_campaign_without_items_exports_the_same_way(campaign):  # noqa: F811
    campaign.items.all().delete()
    assert b"".join(evidence._items_jsonl(campaign)) == b""
    python = b"".join(csv_chunks(evidence.CSV_HEADER, evidence._csv_rows(campaign)))
    assert b"".join(evidence._items_csv(campaign)) == python == b"".join(csv_chunks(evidence.CSV_HEADER, ()))


def test_chunk_by_chunk_the_lines_are_the_same_and_the_garbage_collector_is_left_as_it_was(campaign, monkeypatch):  # noqa: F811
    count = _make_hostile(campaign)
    python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    monkeypatch.setattr(evidence_sql, "CHUNK_BYTES", 1)  # a row a chunk: the binary header and trailer apart
    monkeypatch.setattr(evidence_sql, "LINES_PER_ROW", 2)  # two lines a row, the last one maybe alone
    chunks = list(evidence._items_jsonl(campaign))
    assert len(chunks) == (count + 1) // 2 and b"".join(chunks) == python
    assert gc.isenabled()
    gc.disable()
    try:
        assert b"".join(evidence._items_jsonl(campaign)) == python
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_download_stopped_midway_leaves_the_connection_as_it_was(campaign, monkeypatch):  # noqa: F811
    _make_hostile(campaign)
    monkeypatch.setattr(evidence_sql, "CHUNK_BYTES", 1)
    monkeypatch.setattr(evidence_sql, "LINES_PER_ROW", 1)
    for stream in (evidence._items_jsonl(campaign), evidence._items_csv(campaign)):
        next(stream)
        next(stream)
        stream.close()  # the client went away: the COPY is cancelled
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*), current_setting('enable_sort') FROM reviews_item")
            assert cursor.fetchone() == (campaign.items.count(), "on")


def _python_files(campaign):  # noqa: F811
    return (
        b"".join(jsonl_chunks(evidence._jsonl_rows(campaign))),
        b"".join(csv_chunks(evidence.CSV_HEADER, evidence._csv_rows(campaign))),
    )


def _zipped_items(files) -> tuple[bytes, bytes]:
    data = b"".join(stream_package(files, subject={}))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return archive.read("items.jsonl"), archive.read("items.csv")


def _backends(expected: int | None = None) -> int:
    """The backends of the test database; with `expected`, waiting a little for a closed one to go."""
    for _ in range(100):
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            (count,) = cursor.fetchone()
        if count == expected or expected is None:
            break
        time.sleep(0.05)
    return count


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_items_csv_is_read_by_a_second_backend_at_once_to_the_same_bytes(campaign):  # noqa: F811
    _make_hostile(campaign)
    python = _python_files(campaign)
    backends = _backends()
    files = evidence._item_files(campaign)
    stream = iter(files[0].chunks())
    first = next(stream)
    pair = files[0].chunks.__self__
    assert pair._ahead is not None  # the second COPY started with the first
    rest = b"".join(stream)
    second = files[1].chunks()
    assert isinstance(second, Deflated) and second.size == len(python[1])
    second.file.close()
    assert first + rest == python[0]
    assert _zipped_items(evidence._item_files(campaign)) == python
    assert _backends(backends) == backends  # the thread's connection is closed


@pytest.mark.django_db(transaction=True)
def test_the_file_read_ahead_shows_the_first_files_snapshot(campaign, monkeypatch):  # noqa: F811
    _make_hostile(campaign)
    python = _python_files(campaign)
    params = {k: v for k, v in connection.get_connection_params().items() if k not in ("context", "cursor_factory")}

    class ChangedMeanwhile(DeflateAhead):
        """A change committed after the first COPY's snapshot and before the second one starts."""

        def __init__(self, chunks):
            with psycopg.connect(**params, autocommit=True) as other:
                other.execute("UPDATE reviews_item SET justification = 'changed meanwhile' WHERE campaign_id = %s",
                              [campaign.pk])  # fmt: skip
            super().__init__(chunks)

    monkeypatch.setattr(evidence_sql, "DeflateAhead", ChangedMeanwhile)
    assert _zipped_items(evidence._item_files(campaign)) == python
    assert b"changed meanwhile" in _python_files(campaign)[1]  # the change was made, and is seen now


def test_inside_a_transaction_the_two_files_are_read_one_after_the_other(campaign):  # noqa: F811
    _make_hostile(campaign)
    files = evidence._item_files(campaign)
    assert _zipped_items(files) == _python_files(campaign)
    assert files[0].chunks.__self__._ahead is None


@pytest.mark.django_db(transaction=True)
def test_a_download_stopped_midway_stops_the_file_read_ahead(campaign, monkeypatch):  # noqa: F811
    _make_hostile(campaign)
    monkeypatch.setattr(evidence_sql, "CHUNK_BYTES", 1)
    monkeypatch.setattr(evidence_sql, "LINES_PER_ROW", 1)
    backends = _backends()
    files = evidence._item_files(campaign)
    stream = files[0].chunks()
    next(stream)
    next(stream)
    ahead = stream.gi_frame.f_locals["self"]._ahead
    stream.close()
    assert not ahead.running()
    assert ahead._file.closed
    assert _backends(backends) == backends
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_sort'), current_setting('transaction_isolation')")
        assert cursor.fetchone() == ("on", "read committed")


@pytest.mark.django_db(transaction=True)
def test_a_failure_of_the_file_read_ahead_is_raised_and_nothing_is_stored(campaign, monkeypatch, evidence_dir):  # noqa: F811
    broken = evidence_sql.Copy("SELECT 1 / 0", [], "FORMAT csv", evidence_sql._csv_rows)
    monkeypatch.setattr(evidence, "_csv_copy", lambda campaign, using: broken)
    before = set(evidence_dir.iterdir())
    with pytest.raises(Exception, match="division by zero"):
        generate_from_source(sources.build("campaign", str(campaign.pk)))
    assert set(evidence_dir.iterdir()) == before
    assert not EvidencePackage.objects.exists()


def _close(open_campaign, personas, monkeypatch=None):
    from governance.reviews import services

    if monkeypatch is not None:  # closed without heads, as a campaign closed before they existed
        monkeypatch.setattr(evidence, "write_heads", lambda campaign: 0)
    services.close_campaign(campaign=open_campaign, actor=personas["campaign_admin"], reason="quarter over")
    open_campaign.refresh_from_db()


def test_a_closed_campaigns_lines_are_its_stored_heads_then_what_can_still_change(campaign, personas):  # noqa: F811
    from governance.reviews.models import ItemHead

    count = _make_hostile(campaign)
    _close(campaign, personas)
    heads = dict(ItemHead.objects.filter(campaign=campaign).values_list("item_id", "head"))
    assert len(heads) == count
    python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    assert b"".join(evidence._items_jsonl(campaign)) == python
    live = evidence._jsonl_live()
    assert live[:2] == ["decided_by_id", "decided_by"] and live[-1] == "verified_at"
    for line in python.splitlines():
        row = json.loads(line)
        assert list(row)[-len(live) :] == live  # what can still change comes last
        head = heads[row["id"]]
        if "\x01" not in head:  # a JSON field is rewritten as orjson writes it when read
            assert line.startswith(head.encode())

    # After the close: remediation runs (with a hostile error) and a decider changes e-mail.
    item = campaign.items.exclude(decided_by=None).order_by("id").first()
    ReviewItem.objects.filter(pk=item.pk).update(
        remediation_status="failed", remediation_error='AccessDenied: "iam:DetachRolePolicy"\n\\',
        remediation_attempts=3, verified_at=datetime(2026, 12, 2, 9, 30, 0, 5, tzinfo=UTC),
    )  # fmt: skip
    item.decided_by.email = "renamed\x1f@example.com"
    item.decided_by.save(update_fields=["email"])
    python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    changed = next(json.loads(line) for line in python.splitlines() if json.loads(line)["id"] == item.pk)
    assert changed["remediation_error"].startswith("AccessDenied") and changed["decided_by"].startswith("renamed")
    assert b"".join(evidence._items_jsonl(campaign)) == python


def test_a_closed_campaign_with_heads_for_some_items_only_writes_the_others_whole(campaign, personas, monkeypatch):  # noqa: F811
    from governance.reviews.models import ItemHead

    _make_hostile(campaign)
    _close(campaign, personas, monkeypatch)
    assert not ItemHead.objects.filter(campaign=campaign).exists()
    python = b"".join(jsonl_chunks(evidence._jsonl_rows(campaign)))
    assert b"".join(evidence._items_jsonl(campaign)) == python  # no heads at all
    ids = list(campaign.items.order_by("id").values_list("id", flat=True))
    half = ids[len(ids) // 2]
    select = evidence_sql.head_select(
        ReviewItem, "default", "i.campaign_id = %s AND i.id < %s", **evidence._line_parts(campaign, "default")
    )
    stored = evidence_sql.store(
        "default", f"INSERT INTO reviews_item_head (item_id, head, campaign_id) SELECT h.*, %s FROM ({select}) AS h",  # noqa: S608
        [campaign.pk, campaign.pk, half],
    )  # fmt: skip
    assert stored == ids.index(half)
    assert b"".join(evidence._items_jsonl(campaign)) == python
    # The heads are read as stored: one that says something else shows.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reviews_item_head (item_id, head, campaign_id) VALUES (%s, %s, %s)",
            [ids[-1], '{"stored":true', campaign.pk],
        )
    last = b"".join(evidence._items_jsonl(campaign)).splitlines()[-1]
    assert last.startswith(b'{"stored":true,"decided_by_id":') and json.loads(last)["stored"] is True


def test_closing_again_writes_no_second_head(campaign, personas):  # noqa: F811
    from governance.reviews.models import ItemHead

    _close(campaign, personas)
    count = ItemHead.objects.filter(campaign=campaign).count()
    assert count == campaign.items.count() and evidence.write_heads(campaign) == 0
    assert ItemHead.objects.filter(campaign=campaign).count() == count
