"""Findings pages and exports as the personas see them: scoping, filters, query counts, hostile names."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile

import pytest
from django.urls import reverse
from django.utils import timezone

from governance.findings.models import Finding, FindingStatus, ResourceType, Severity
from governance.findings.selectors import open_findings_per_principal
from governance.inventory.models import Principal
from tests.fixtures.personas import OTHER_ACCOUNT_ID, OWNED_ACCOUNT_IDS

pytestmark = pytest.mark.django_db
HOSTILE = '=HYPERLINK("http://evil.example","click")'


def _finding(
    account,
    *,
    name: str,
    rule: str = "user.direct_policy",
    severity=Severity.LOW,
    principal=None,
    status=FindingStatus.OPEN,
    n: int = 0,
) -> Finding:
    now = timezone.now()
    return Finding.objects.create(
        fingerprint=hashlib.md5(f"{rule}:{account.account_id}:{name}:{n}".encode(), usedforsecurity=False).hexdigest(),
        rule_id=rule,
        severity=severity,
        severity_rank={"critical": 4, "high": 3, "medium": 2, "low": 1}[severity],
        status=status,
        account=account,
        principal=principal,
        resource_type=ResourceType.PRINCIPAL if principal else ResourceType.ACCOUNT,
        resource_arn=f"arn:aws:iam::{account.account_id}:user/{name}",
        resource_name=name,
        message=f"+{name} holds policies",
        evidence={"policies": [{"policy": name}]},
        evidence_hash="x",
        first_seen=now,
        last_seen=now,
    )


@pytest.fixture
def findings(persona_inventory):
    owned = persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    other = persona_inventory.accounts[OTHER_ACCOUNT_ID]
    return {
        "owned": _finding(owned, name=HOSTILE, severity=Severity.HIGH),
        "other": _finding(other, name="not-the-managers", severity=Severity.CRITICAL),
        "role": _finding(
            other, name="payments-deployer", principal=persona_inventory.manager_role, rule="role.unused_90d"
        ),
    }


def test_an_auditor_sees_everything_and_a_manager_only_what_they_own(findings, persona_client):
    auditor = persona_client("auditor").get(reverse("findings:list")).content.decode()
    assert "not-the-managers" in auditor and "payments-deployer" in auditor
    manager = persona_client("manager")
    page = manager.get(reverse("findings:list")).content.decode()
    assert "not-the-managers" not in page and "payments-deployer" in page
    assert manager.get(reverse("findings:detail", args=[findings["other"].pk])).status_code == 404
    assert manager.get(reverse("findings:detail", args=[findings["role"].pk])).status_code == 200


def test_the_list_filters_and_ignores_values_that_name_nothing(findings, persona_client):
    client = persona_client("auditor")
    page = client.get(reverse("findings:list"), {"severity": "critical"}).content.decode()
    assert "not-the-managers" in page and "payments-deployer" not in page
    page = client.get(
        reverse("findings:list"), {"rule": "role.unused_90d", "account": OTHER_ACCOUNT_ID}
    ).content.decode()
    assert "payments-deployer" in page and "not-the-managers" not in page
    assert (
        client.get(reverse("findings:list"), {"severity": "<script>", "rule": "nope", "after": "!!"}).status_code == 200
    )


def test_page_queries_do_not_grow_with_rows(persona_inventory, persona_client, django_assert_max_num_queries):
    account = persona_inventory.accounts[OTHER_ACCOUNT_ID]
    for n in range(60):
        _finding(account, name=f"user-{n}", n=n)
    client = persona_client("auditor")
    client.get(reverse("findings:dashboard"))  # warm the session and the capability cache's queries
    for name in ("findings:dashboard", "findings:list", "findings:compliance"):
        with django_assert_max_num_queries(25):
            assert client.get(reverse(name)).status_code == 200
    with django_assert_max_num_queries(25):
        assert client.get(reverse("findings:framework", args=["cis-aws-3"])).status_code == 200
    finding = Finding.objects.first()
    with django_assert_max_num_queries(25):
        assert client.get(reverse("findings:detail", args=[finding.pk])).status_code == 200


def test_the_findings_panels_cost_two_queries_whatever_the_findings(persona_client, persona_inventory, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.inventory import panels

    account = persona_inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    role = persona_inventory.manager_role
    client = persona_client("auditor")
    pages = [reverse("inventory:account", args=[account.account_id]), reverse("inventory:principal", args=[role.pk])]
    client.get(pages[0])
    # Only the findings panels: other apps' panels pin their own queries.
    registered = {key: panel for key, panel in panels._PANELS.items() if key[1] == "findings"}
    for url in pages:
        monkeypatch.setattr(panels, "_PANELS", {})
        with CaptureQueriesContext(connection) as without:
            client.get(url)
        monkeypatch.setattr(panels, "_PANELS", registered)
        for n in range(30):
            _finding(account, name=f"user-{n}", principal=role, n=n)
        with CaptureQueriesContext(connection) as with_panels:
            assert "user-1" in client.get(url).content.decode()
        assert len(with_panels.captured_queries) - len(without.captured_queries) <= 2
        Finding.objects.all().delete()


def test_csv_export_is_spreadsheet_safe(findings, persona_client):
    response = persona_client("auditor").get(reverse("findings:export", args=["csv"]))
    assert response["Content-Disposition"].startswith("attachment;")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    hostile = next(row for row in rows if "HYPERLINK" in row[8])
    assert hostile[8] == "'" + HOSTILE and hostile[10].startswith("'+")
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_xlsx_export_writes_text_never_formulas(findings, persona_client):
    response = persona_client("auditor").get(reverse("findings:export", args=["xlsx"]))
    workbook = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook.read("xl/worksheets/sheet1.xml").decode()
    strings = workbook.read("xl/sharedStrings.xml").decode() if "xl/sharedStrings.xml" in workbook.namelist() else ""
    assert "<f>" not in sheet
    assert "HYPERLINK" in sheet + strings


def test_ocsf_export_is_detection_findings(findings, persona_client):
    response = persona_client("manager").get(reverse("findings:export", args=["ocsf"]), {"status": "all"})
    items = json.loads(b"".join(response.streaming_content))
    assert {item["finding_info"]["title"] for item in items}  # every item has a title
    assert {item["class_uid"] for item in items} == {2004}
    names = {item["resources"][0]["name"] for item in items}
    assert names == {HOSTILE, "payments-deployer"}  # scoped to the manager
    high = next(item for item in items if item["resources"][0]["name"] == HOSTILE)
    assert high["severity_id"] == 4 and high["status"] == "New"
    assert high["cloud"]["account"]["uid"] == OWNED_ACCOUNT_IDS[0]
    assert "cis-aws-3 1.15" in high["compliance"]["control"]


def test_an_unknown_export_format_is_404(persona_client, persona_inventory):
    assert persona_client("auditor").get(reverse("findings:export", args=["pdf"])).status_code == 404


def test_panels_show_findings_on_account_and_principal_pages(findings, persona_client, persona_inventory):
    client = persona_client("auditor")
    page = client.get(reverse("inventory:principal", args=[persona_inventory.manager_role.pk])).content.decode()
    assert "Findings" in page and "A role has not been used for 90 days" in page
    page = client.get(reverse("inventory:account", args=[OWNED_ACCOUNT_IDS[0]])).content.decode()
    assert "HYPERLINK" in page and "&quot;" in page  # escaped, not markup


def test_open_findings_per_principal_counts_open_findings_of_the_principals_asked_about(findings, persona_inventory):
    role = persona_inventory.manager_role
    everyone = Principal.objects.values("pk")
    assert dict(open_findings_per_principal(everyone)) == {role.pk: 1}
    assert dict(open_findings_per_principal(everyone.exclude(pk=role.pk))) == {}
    Finding.objects.filter(principal=role).update(status=FindingStatus.SUPPRESSED)
    assert dict(open_findings_per_principal([role.pk])) == {}


def test_the_portal_dashboard_has_a_findings_card_for_those_who_may_see_findings(findings, persona_client):
    assert "Open findings" in persona_client("auditor").get(reverse("dashboard")).content.decode()
    assert "Open findings" not in persona_client("outsider").get(reverse("dashboard")).content.decode()
