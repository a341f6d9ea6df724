from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from governance.audit.services import create_checkpoint, record

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail(personas):
    alice = personas["policy_admin"]
    events = []
    for n in range(1, 8):
        events.append(
            record(
                actor=alice if n % 2 else None,
                action="review.decide" if n <= 4 else "scp.change.approve",
                object_type="reviews.reviewitem",
                object_id=str(100 + n),
                object_repr=f'=HYPERLINK("http://evil") item {n}' if n == 3 else f"item {n}",
                before={"decision": None},
                after={"decision": "revoke", "justification": "-1 no longer needed" if n == 3 else "ok"},
            )
        )
    return events


def test_an_auditor_reads_the_trail_newest_first(persona_client, trail, django_assert_max_num_queries):
    client = persona_client("auditor")
    with django_assert_max_num_queries(14):
        response = client.get("/audit/")
    assert response.status_code == 200
    body = response.content.decode().split("<tbody>")[1]
    assert body.index("scp.change.approve") < body.index("review.decide")
    assert "No signed checkpoint yet." in response.content.decode()


def test_the_query_count_does_not_grow_with_the_rows(persona_client, trail, django_assert_max_num_queries):
    client = persona_client("auditor")
    for n in range(60):
        record(actor=None, action="test.more", after={"n": n})
    with django_assert_max_num_queries(14):
        assert client.get("/audit/").status_code == 200


@pytest.mark.parametrize(
    ("query", "numbers"),
    [
        ("actor=system", [6, 4, 2]),
        ("action=review.decide", [4, 3, 2, 1]),
        ("action=scp.", [7, 6, 5]),
        ("object=reviews.reviewitem:103", [3]),
        ("object=103", [3]),
        ("object=reviews.reviewitem", [7, 6, 5, 4, 3, 2, 1]),
    ],
)
def test_it_filters(persona_client, trail, query, numbers):
    response = persona_client("auditor").get(f"/audit/?{query}")
    ours = {e.sequence for e in trail}
    found = [e.sequence for e in response.context["page"] if e.sequence in ours]
    assert found == [trail[n - 1].sequence for n in numbers]
    if query == "actor=system":
        assert {e.actor_name for e in response.context["page"]} == {"system"}


def test_it_filters_by_time_range(persona_client, trail):
    today = timezone.now().date()
    client = persona_client("auditor")
    assert len(client.get(f"/audit/?since={today}&until={today}").context["page"]) >= 7
    assert len(client.get(f"/audit/?until={today - timedelta(days=1)}").context["page"]) == 0
    bad = client.get("/audit/?since=yesterday")
    assert bad.status_code == 400 and "is not a date" in bad.content.decode()


def test_it_pages_by_keyset(persona_client, trail, settings):
    from governance.audit import views

    views.PER_PAGE, old = 3, views.PER_PAGE
    try:
        client = persona_client("auditor")
        first = client.get("/audit/").context["page"]
        second = client.get(f"/audit/?after={first.next_cursor}").context["page"]
        back = client.get(f"/audit/?before={second.prev_cursor}").context["page"]
        newest = [e.sequence for e in reversed(trail)]
        assert [e.sequence for e in first] == newest[:3]
        assert [e.sequence for e in second] == newest[3:6]
        assert [e.sequence for e in back] == newest[:3]
        assert [e.sequence for e in client.get("/audit/?after=garbage").context["page"]] == newest[:3]
        assert client.get("/audit/?after=garbage%00").status_code == 400  # the NUL guard answers first
    finally:
        views.PER_PAGE = old


def test_an_event_shows_its_before_and_after_and_hashes(persona_client, trail):
    create_checkpoint()
    response = persona_client("auditor").get(f"/audit/{trail[2].sequence}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "&quot;decision&quot;: null" in body and "&quot;justification&quot;: &quot;-1 no longer needed&quot;" in body
    assert trail[2].hash in body and trail[2].prev_hash in body
    assert "covered by a signed checkpoint" in body
    assert "&lt;" not in body.split("<h1>")[1].split("</h1>")[0]


def test_an_unknown_event_is_404(persona_client):
    client = persona_client("auditor")
    assert client.get("/audit/999999/").status_code == 404
    assert client.get(f"/audit/{2**70}/").status_code == 404


def test_the_csv_is_spreadsheet_safe(persona_client, trail):
    response = persona_client("auditor").get("/audit/export.csv?action=review.decide")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert rows[0][:4] == ["sequence", "created_at", "actor", "action"]
    assert [r[0] for r in rows[1:]] == [str(e.sequence) for e in reversed(trail[:4])]
    hostile = next(r for r in rows if r[0] == str(trail[2].sequence))
    assert hostile[6].startswith("'=HYPERLINK")
    assert '"justification": "-1 no longer needed"' in hostile[9]


@pytest.mark.parametrize("persona", ["manager", "requester", "outsider"])
def test_people_without_audit_view_are_refused(persona_client, trail, persona):
    client = persona_client(persona)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert client.get(f"/audit/{trail[0].sequence}/").status_code == 403


def test_the_page_changes_nothing(persona_client, trail):
    client = persona_client("auditor")
    assert client.post("/audit/").status_code == 405
    assert client.post("/audit/export.csv").status_code == 405
