"""What a token may read follows its user's capabilities and scopes, as on the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from governance.audit.services import record
from governance.findings.models import Finding
from tests.fixtures.personas import OTHER_ACCOUNT_ID, OWNED_ACCOUNT_IDS

pytestmark = pytest.mark.django_db

# Every list endpoint and the capability it needs (None: any authenticated token).
ENDPOINTS = {
    "/api/v1/me/": None,
    "/api/v1/accounts/": "inventory.view",
    "/api/v1/principals/": "inventory.view",
    "/api/v1/findings/": "findings.view",
    "/api/v1/audit/events/": "audit.view",
    "/api/v1/sync-runs/": "inventory.view_all",
    "/api/v1/campaigns/": None,
    "/api/v1/evidence/packages/": "evidence.export",
    "/api/v1/scp/changes/": "scp.view",
    "/api/v1/jit/requests/": "jit.request",
    "/api/v1/jit/grants/": None,
}


@pytest.mark.parametrize("persona", ["manager", "auditor", "policy_admin", "requester", "outsider"])
def test_it_admits_each_persona_exactly_where_its_capabilities_do(personas, api, persona):
    from governance.authz.capabilities import capabilities

    client = api(persona)
    caps = capabilities(personas[persona])
    for path, needed in ENDPOINTS.items():
        status = client.get(path).status_code
        assert status == (200 if needed is None or caps.has(needed) else 403), (persona, path, status)


def test_it_scopes_accounts_to_what_a_manager_owns(api, django_assert_max_num_queries):
    client = api("manager")
    with django_assert_max_num_queries(12):
        body = client.get("/api/v1/accounts/").json()
    assert sorted(a["account_id"] for a in body["results"]) == sorted(OWNED_ACCOUNT_IDS)
    assert client.get(f"/api/v1/accounts/{OWNED_ACCOUNT_IDS[0]}/").status_code == 200
    assert client.get(f"/api/v1/accounts/{OTHER_ACCOUNT_ID}/").status_code == 404  # not 403
    assert api("auditor").get(f"/api/v1/accounts/{OTHER_ACCOUNT_ID}/").status_code == 200


def test_it_pages_with_a_cursor_and_filters_with_clear_errors(api):
    client = api("auditor")
    first = client.get("/api/v1/accounts/?page_size=2").json()
    assert len(first["results"]) == 2 and first["next"]
    second = client.get(first["next"]).json()
    assert not {a["account_id"] for a in first["results"]} & {a["account_id"] for a in second["results"]}
    bad = client.get("/api/v1/findings/?severity=catastrophic")
    assert bad.status_code == 400 and "severity" in bad.json()
    assert client.get("/api/v1/accounts/?cursor=not-a-cursor").status_code == 404


def test_it_lists_the_audit_trail_newest_first(personas, api):
    for n in range(3):
        record(actor=personas["auditor"], action="test.thing", object_type="x", object_id=str(n))
    events = api("auditor").get("/api/v1/audit/events/?action=test.thing").json()["results"]
    assert [e["object_id"] for e in events] == ["2", "1", "0"]
    assert all(len(e["hash"]) == 64 for e in events)


def test_the_audit_trail_since_a_time_reads_any_real_offset_and_refuses_others(personas, api):
    from urllib.parse import quote

    event = record(actor=personas["auditor"], action="test.since", object_type="x", object_id="1")
    client = api("auditor")
    at = event.created_at.astimezone(timezone.get_fixed_timezone(14 * 60))
    after = client.get("/api/v1/audit/events/?action=test.since&since=" + quote(at.isoformat()))
    assert [e["object_id"] for e in after.json()["results"]] == ["1"]
    later = (event.created_at + timedelta(seconds=1)).astimezone(timezone.get_fixed_timezone(-12 * 60))
    assert (
        client.get("/api/v1/audit/events/?action=test.since&since=" + quote(later.isoformat())).json()["results"] == []
    )
    # Python takes these; PostgreSQL would refuse the first, and the second leaves the calendar in UTC.
    for since in ("0234-05-16T21:28:13-21:29", "0001-01-01T00:00:00+05:00"):
        refused = client.get("/api/v1/audit/events/?since=" + quote(since))
        assert refused.status_code == 400 and "since" in refused.json(), since


def test_it_loses_what_aws_takes_away(personas, api, persona_inventory):
    """A token carries no rights of its own: remove the AWS assignment and the next request is refused."""
    from governance.inventory.models import AccountAssignment

    client = api("auditor")
    assert client.get("/api/v1/audit/events/").status_code == 200
    AccountAssignment.objects.filter(permission_set__name="GovernanceAuditor").update(removed_at=timezone.now())
    assert client.get("/api/v1/audit/events/").status_code == 403


def test_it_shows_findings_only_on_what_the_caller_may_see(api, persona_inventory):
    now = timezone.now()
    accounts = persona_inventory.accounts
    common = {"severity": "high", "status": "open", "resource_type": "account", "message": "m", "evidence": {},
              "first_seen": now, "last_seen": now}  # fmt: skip
    owned = next(a for a in accounts.values() if a.account_id == OWNED_ACCOUNT_IDS[0])
    other = next(a for a in accounts.values() if a.account_id == OTHER_ACCOUNT_ID)
    for account in (owned, other):
        Finding.objects.create(
            fingerprint=account.account_id, rule_id="root.mfa_missing", account=account,
            resource_arn=account.arn, resource_name=account.name, **common,
        )  # fmt: skip
    assert [f["account_id"] for f in api("manager").get("/api/v1/findings/").json()["results"]] == [
        OWNED_ACCOUNT_IDS[0]
    ]
    assert len(api("auditor").get("/api/v1/findings/").json()["results"]) == 2
    theirs = Finding.objects.get(account=other)
    assert api("manager").get(f"/api/v1/findings/{theirs.pk}/").status_code == 404


def test_it_serves_the_openapi_schema_without_a_token():
    response = Client().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["portalToken"]["scheme"] == "bearer"
    assert "/api/v1/findings/" in schema["paths"]
