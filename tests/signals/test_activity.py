"""The activity feed from CloudTrail: attributed, flagged when made outside the portal, incremental."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from governance.signals.models import ActionLastUsed, ActivityEvent, Source, SourceState, SourceStatus
from governance.signals.selectors import action_usage, changes_to
from governance.signals.services import refresh_activity
from tests.fixtures.personas import GOVERNANCE_ACCOUNT_ID
from tests.signals.conftest import NOW, T1, iam_principal

pytestmark = pytest.mark.django_db

SOURCES = ("iam.amazonaws.com", "organizations.amazonaws.com", "sts.amazonaws.com", "sso.amazonaws.com",
           "identitystore.amazonaws.com")  # fmt: skip
WRITER = {
    "type": "AssumedRole",
    "arn": f"arn:aws:sts::{GOVERNANCE_ACCOUNT_ID}:assumed-role/GovernancePortalWriterRole/alice",
    "accountId": GOVERNANCE_ACCOUNT_ID,
    "sessionContext": {
        "sessionIssuer": {
            "type": "Role",
            "arn": f"arn:aws:iam::{GOVERNANCE_ACCOUNT_ID}:role/GovernancePortalWriterRole",
        },
        "sourceIdentity": "alice",
    },
}


def _event(event_id, name, when, identity, source="iam.amazonaws.com", read_only=False, **record):
    body = {"userIdentity": identity, "eventSource": source, "eventName": name, "sourceIPAddress": "198.51.100.4",
            "userAgent": "console.amazonaws.com", "recipientAccountId": GOVERNANCE_ACCOUNT_ID, **record}  # fmt: skip
    return {
        "EventId": event_id,
        "EventName": name,
        "ReadOnly": "true" if read_only else "false",
        "EventTime": when,
        "EventSource": source,
        "CloudTrailEvent": json.dumps(body),
    }


def _lookups(s, pages: dict[str, list], start):
    for source in SOURCES:
        s.add_response(
            "lookup_events",
            {"Events": pages.get(source, [])},
            {"LookupAttributes": [{"AttributeKey": "EventSource", "AttributeValue": source}], "StartTime": start,
             "MaxResults": 50},
        )  # fmt: skip


@pytest.fixture
def bob(persona_inventory):
    return iam_principal("iam_user", "bob")


def test_it_attributes_each_change_and_flags_those_made_outside_the_portal(stub, persona_inventory, bob):
    bob_identity = {"type": "IAMUser", "arn": bob.arn, "accountId": GOVERNANCE_ACCOUNT_ID, "userName": "bob"}
    events = {
        "iam.amazonaws.com": [
            _event("e-1", "AttachRolePolicy", T1, WRITER, requestParameters={"roleName": "app"}),
            _event("e-2", "PutUserPolicy", T1 - timedelta(hours=1), bob_identity,
                   requestParameters={"userName": "eve"}),
            _event("e-3", "ListUsers", T1 - timedelta(hours=2), bob_identity, read_only=True),
            _event("e-4", "DeleteRole", T1 - timedelta(hours=3), bob_identity, errorCode="AccessDenied",
                   requestParameters={"roleName": "app"}),
        ],
        "organizations.amazonaws.com": [
            _event("e-5", "UpdatePolicy", T1 - timedelta(hours=4), bob_identity, source="organizations.amazonaws.com",
                   requestParameters={"policyId": "p-guard"}),
        ],
    }  # fmt: skip
    with stub("cloudtrail") as s:
        _lookups(s, events, NOW - timedelta(days=7))
        summary = refresh_activity(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    assert (summary.state, summary.items, summary.api_calls) == ("ok", 5, 5)
    rows = {e.event_id: e for e in ActivityEvent.objects.all()}
    assert rows["e-1"].via_writer and not rows["e-1"].out_of_band and rows["e-1"].author == "alice"
    assert rows["e-2"].out_of_band and rows["e-2"].actor == bob and rows["e-2"].target == "eve"
    assert not rows["e-3"].out_of_band  # a read changes nothing
    assert not rows["e-4"].out_of_band and rows["e-4"].error_code == "AccessDenied"  # AWS refused it
    assert rows["e-5"].out_of_band and rows["e-5"].action == "organizations:UpdatePolicy"
    # SCP drift is attributed to its author.
    (drift,) = changes_to("p-guard")
    assert drift.author == "bob" and drift.source_ip == "198.51.100.4"
    # The last use of actions, for impact analysis (a refused call is not a use).
    used = {(u.principal_arn, u.action) for u in action_usage(account_ids=[GOVERNANCE_ACCOUNT_ID])}
    assert (bob.arn, "iam:ListUsers") in used and (bob.arn, "iam:DeleteRole") not in used
    assert [u.action for u in action_usage(actions=["organizations:*"])] == ["organizations:UpdatePolicy"]
    status = SourceStatus.objects.get(source=Source.CLOUDTRAIL, scope=GOVERNANCE_ACCOUNT_ID)
    assert status.cursor == T1 and status.state == SourceState.OK


def test_the_next_read_starts_at_the_newest_event_held_and_skips_what_it_has(stub, persona_inventory, bob):
    first = _event("e-1", "CreateRole", T1, WRITER)
    with stub("cloudtrail") as s:
        _lookups(s, {"iam.amazonaws.com": [first]}, NOW - timedelta(days=7))
        refresh_activity(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    later = _event("e-2", "DeleteRole", T1 + timedelta(minutes=5), WRITER)
    with stub("cloudtrail") as s:
        _lookups(s, {"iam.amazonaws.com": [later, first]}, T1)  # StartTime is inclusive: e-1 comes again
        summary = refresh_activity(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW + timedelta(minutes=15))
    assert summary.items == 1 and ActivityEvent.objects.count() == 2
    assert SourceStatus.objects.get(source=Source.CLOUDTRAIL, scope=GOVERNANCE_ACCOUNT_ID).cursor == later["EventTime"]
    assert ActionLastUsed.objects.get(action="iam:DeleteRole").last_used_at == later["EventTime"]


def test_a_denied_lookup_is_recorded_for_the_account(stub, persona_inventory):
    with stub("cloudtrail") as s:
        s.add_client_error("lookup_events", service_error_code="AccessDeniedException", http_status_code=400)
        summary = refresh_activity(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    assert summary.errors and summary.state == SourceState.ERROR
    assert SourceStatus.objects.get(source=Source.CLOUDTRAIL, scope=GOVERNANCE_ACCOUNT_ID).state == SourceState.DENIED


def test_a_busy_account_is_read_up_to_its_page_limit_and_says_so(stub, settings, persona_inventory):
    settings.SIGNALS_ACTIVITY_MAX_PAGES = 1
    with stub("cloudtrail") as s:
        s.add_response("lookup_events", {"Events": [_event("e-1", "CreateRole", T1, WRITER)], "NextToken": "more"})
        for _ in SOURCES[1:]:
            s.add_response("lookup_events", {"Events": []})
        refresh_activity(account_ids=[GOVERNANCE_ACCOUNT_ID], now=NOW)
    status = SourceStatus.objects.get(source=Source.CLOUDTRAIL, scope=GOVERNANCE_ACCOUNT_ID)
    assert "iam.amazonaws.com" in status.message and "not read" in status.message


def test_against_the_emulator_the_feed_says_cloudtrail_is_not_available(aws, settings, persona_inventory):
    summary = refresh_activity(now=NOW)
    assert summary.state == SourceState.NOT_AVAILABLE
    assert SourceStatus.objects.get(source=Source.CLOUDTRAIL, scope="").state == SourceState.NOT_AVAILABLE
    assert refresh_activity(now=NOW).skipped == "not available from this endpoint"
