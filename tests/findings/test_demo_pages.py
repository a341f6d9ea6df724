"""The findings pages over the synced demo organization: a framework's pass or fail per account, a
finding's evidence and history, and the list's filters and keyset pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from governance.findings import services
from governance.findings.models import Finding, FindingStatus
from governance.inventory.models import Account
from tests.fixtures.personas import fresh_mfa_session, make_persona_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def evaluated(synced_demo):
    """An auditor's client (rights from the demo's Identity Center) once the rules have run."""
    services.evaluate()
    client = Client()
    client.force_login(make_persona_user("auditor"), backend="allauth.account.auth_backends.AuthenticationBackend")
    fresh_mfa_session(client, subject="auditor")
    return client


def test_a_framework_page_says_pass_or_fail_per_control_per_account(evaluated, synced_demo):
    response = evaluated.get(reverse("findings:framework", args=["cis-aws-3"]))
    cells = {
        item["row"].control.id: {account.name: (status, count) for account, status, count, _review in item["cells"]}
        for item in response.context["table"]
    }
    # 1.5 root MFA: legacy-billing's root has none, payments-prod's has one.
    assert cells["1.5"]["legacy-billing"] == ("fail", 1)
    assert cells["1.5"]["payments-prod"] == ("pass", 0)
    assert {status for status, _ in cells["1.1"].values()} == {"not_evaluated"}
    page = response.content.decode()
    legacy = Account.objects.get(name="legacy-billing").account_id
    assert f'<a class="badge bad" href="/findings/list/?account={legacy}">fail (1)</a>' in page
    assert '<span class="badge good">pass</span>' in page and "not evaluated by the portal" in page
    assert evaluated.get(reverse("findings:framework", args=["no-such"])).status_code == 404


def test_a_finding_page_shows_its_evidence_highlighted_and_its_history(evaluated):
    finding = Finding.objects.get(rule_id="role.trust_any_principal", resource_name="LegacyCrossAccess")
    page = evaluated.get(reverse("findings:detail", args=[finding.pk])).content.decode()
    evidence = page.split('<pre class="inv-json findings-json">', 1)[1].split("</pre>", 1)[0]
    assert '<span class="tok-nt">"Principal"</span>' in evidence  # a key, highlighted
    assert '"*"' in evidence and '\n<span class="tok-w">    </span>' in evidence  # indented, nested
    history = page.split('<ol class="findings-history">', 1)[1].split("</ol>", 1)[0]
    assert "Opened" in history
    assert "aws iam update-assume-role-policy" in page  # the remediation's CLI


def test_the_list_filters_by_ou_and_status_and_pages_by_key(evaluated, synced_demo):
    total = Finding.objects.filter(status=FindingStatus.OPEN).count()
    assert total > 50  # more than one page
    seen, after, pages = [], "", 0
    while True:
        response = evaluated.get(reverse("findings:list"), {"after": after} if after else {})
        page = response.context["page"]
        seen += [finding.pk for finding in page]
        pages += 1
        if not page.has_next:
            break
        after = page.next_cursor
    assert len(seen) == len(set(seen)) == total and pages == -(-total // 50)

    legacy = Account.objects.select_related("parent").get(name="legacy-billing")
    ou = legacy.parent
    under = Finding.objects.filter(status=FindingStatus.OPEN, account__parent__path__startswith=ou.path)
    shown = evaluated.get(reverse("findings:list"), {"ou": ou.ou_id}).context["page"]
    assert 0 < under.count() < total
    assert len(shown) == min(50, under.count()) and {f.pk for f in shown} <= set(under.values_list("pk", flat=True))
    nothing = evaluated.get(reverse("findings:list"), {"ou": "ou-nope-12345678"})
    assert nothing.status_code == 200 and not nothing.context["page"]

    finding = Finding.objects.filter(status=FindingStatus.OPEN).first()
    Finding.objects.filter(pk=finding.pk).update(status=FindingStatus.RESOLVED)
    resolved = evaluated.get(reverse("findings:list"), {"status": "resolved"}).context["page"]
    assert [f.pk for f in resolved] == [finding.pk]
