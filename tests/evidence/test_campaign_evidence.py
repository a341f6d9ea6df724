"""A campaign's evidence: summary.pdf inside the signed package, and the auditor's campaign pages."""

from __future__ import annotations

import io
import re
import shutil
import zipfile

import pytest
from django.test import Client

from governance.audit import signing
from governance.evidence import sources
from governance.evidence.services import copy_package_to, generate_from_source
from governance.evidence.verify import verify_package
from governance.reviews import services
from tests.evidence.conftest import rewrite
from tests.evidence.pdftext import pdf_contains
from tests.reviews.conftest import campaign, review_inventory, template  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _package(campaign, tmp_path):  # noqa: F811
    stored = generate_from_source(sources.build("campaign", str(campaign.pk)))
    path = tmp_path / "campaign.zip"
    copy_package_to(stored, path)
    return stored, path


def test_the_package_holds_a_summary_pdf_listed_hashed_and_signed_like_every_file(campaign, personas, tmp_path):  # noqa: F811
    maria = personas["manager"]
    items = list(campaign.items.filter(reviewer_email=maria.email).order_by("id"))
    services.decide_item(item_id=items[0].pk, decision="revoke", justification="unused", actor=maria)
    for item in items[1:]:
        services.decide_item(item_id=item.pk, decision="keep", justification="needed", actor=maria)
    services.sign_off(campaign=campaign, actor=maria, mfa_methods=["mfa"])
    campaign.name = "Q4 2026 — Prüfung (‘all accounts’)"
    campaign.save(update_fields=["name"])

    stored, path = _package(campaign, tmp_path)
    listed = {f["path"]: f for f in stored.files}
    assert "summary.pdf" in listed
    with zipfile.ZipFile(path) as archive:
        pdf = archive.read("summary.pdf")
        sums = archive.read("SHA256SUMS").decode()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert f"{listed['summary.pdf']['sha256']}  summary.pdf\n" in sums and listed["summary.pdf"]["size"] == len(pdf)
    assert pdf_contains(pdf, "Q4 2026 — Prüfung (‘all accounts’)")
    assert pdf_contains(pdf, maria.email)  # the sign-off, with the hash of what it covered
    signoff_hash = next(s for s in sources_signoffs(campaign) if s["reviewer_email"] == maria.email)["decisions_sha256"]
    assert pdf_contains(pdf, signoff_hash[:32])
    assert pdf_contains(pdf, "1 revoke not verified")  # an exception until a sync shows it gone

    report = verify_package(path)
    assert report.ok, report.findings
    assert "summary.pdf" in report.files_checked

    altered = rewrite(
        path, tmp_path / "altered.zip", replace={"summary.pdf": pdf.replace(b"%PDF-", b"%PDF-", 1) + b"\n"}
    )
    findings = verify_package(altered).findings
    assert [(f.kind, f.path) for f in findings] == [("changed", "summary.pdf")]


def sources_signoffs(campaign):  # noqa: F811
    import json

    source = sources.build("campaign", str(campaign.pk))
    return json.loads(b"".join(next(f for f in source.files if f.path == "signoffs.json").chunks()))


def test_an_unreconciled_population_is_stated_in_the_summary(campaign, tmp_path):  # noqa: F811
    manifest = dict(campaign.manifest)
    manifest["reconciled"] = False
    manifest["inventory_counts"] = {**manifest["inventory_counts"], "access_key": 99}
    campaign.manifest = manifest
    campaign.save(update_fields=["manifest"])
    _, path = _package(campaign, tmp_path)
    with zipfile.ZipFile(path) as archive:
        pdf = archive.read("summary.pdf")
    assert pdf_contains(pdf, "NO: the counts below differ")


# The auditor's campaign pages ------------------------------------------------------------------


def _more_campaigns(campaign, count):  # noqa: F811
    from governance.reviews.models import Campaign

    made = []
    for n in range(count):
        made.append(
            Campaign.objects.create(
                template=campaign.template, name=f"Extra campaign {n:02d}", period=f"extra-{n}",
                launched_at=campaign.launched_at, due_at=campaign.due_at, attestation=campaign.attestation,
                close_action=campaign.close_action, remediation_mode=campaign.remediation_mode,
            )
        )  # fmt: skip
    return made


def test_the_auditor_sees_each_campaign_with_its_packages_and_downloads_the_newest(
    campaign,  # noqa: F811
    persona_client,
    tmp_path,
    django_assert_max_num_queries,
):
    stored, path = _package(campaign, tmp_path)
    client = persona_client("auditor")
    with django_assert_max_num_queries(14):
        body = client.get("/evidence/campaigns/").content.decode()
    assert campaign.name in body and f"/evidence/campaigns/{campaign.pk}/" in body
    assert f"/evidence/packages/{stored.pk}/download/" in body
    assert client.get("/evidence/").content.decode().count(f"/evidence/campaigns/{campaign.pk}/") == 1

    response = client.get(f"/evidence/packages/{stored.pk}/download/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == path.read_bytes()


def test_the_campaign_page_shows_its_packages_sign_offs_and_totals(
    campaign,  # noqa: F811
    personas,
    persona_client,
    tmp_path,
    django_assert_max_num_queries,
):
    maria = personas["manager"]
    for item in campaign.items.filter(reviewer_email=maria.email):
        services.decide_item(item_id=item.pk, decision="keep", justification="needed", actor=maria)
    services.sign_off(campaign=campaign, actor=maria, mfa_methods=["totp"])
    first, _ = _package(campaign, tmp_path)
    second = generate_from_source(sources.build("campaign", str(campaign.pk)))
    client = persona_client("auditor")
    with django_assert_max_num_queries(20):
        response = client.get(f"/evidence/campaigns/{campaign.pk}/")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index(second.sha256) < body.index(first.sha256)  # newest first
    assert first.manifest_sha256 in body and f"/evidence/packages/{first.pk}/download/" in body
    assert "maria.<wbr>manager@<wbr>example.<wbr>com" in body and "totp" in body  # wraps after . and @ on a phone
    assert f"/reviews/{campaign.pk}/report/" in body


def test_an_open_campaign_without_a_package_says_so(campaign, persona_client):  # noqa: F811
    body = persona_client("auditor").get(f"/evidence/campaigns/{campaign.pk}/").content.decode()
    assert "No evidence package of this campaign yet: one is made when the campaign closes." in body
    assert "No reviewer has signed off." in body


def test_campaigns_are_paged_newest_first_by_id(campaign, persona_client):  # noqa: F811
    from governance.evidence.selectors import CAMPAIGNS_PER_PAGE

    extra = _more_campaigns(campaign, CAMPAIGNS_PER_PAGE)  # one page and one more campaign
    client = persona_client("auditor")
    first = client.get("/evidence/campaigns/").content.decode()
    assert extra[-1].name in first and campaign.name not in first
    next_after = extra[0].pk
    assert f'href="?after={next_after}"' in first
    second = client.get(f"/evidence/campaigns/?after={next_after}").content.decode()
    assert campaign.name in second and extra[0].name not in second and "Older campaigns" not in second
    assert (
        "No campaign to show past this point."
        in client.get(f"/evidence/campaigns/?after={campaign.pk}").content.decode()
    )
    assert extra[-1].name in client.get("/evidence/campaigns/?after=nonsense").content.decode()  # from the newest


def test_with_no_campaign_the_pages_say_so(persona_client):
    client = persona_client("auditor")
    assert "No campaign to show." in client.get("/evidence/campaigns/").content.decode()
    assert "No access review campaign to show." in client.get("/evidence/").content.decode()
    assert client.get("/evidence/campaigns/999999/").status_code == 404


def test_a_reviewer_without_evidence_export_is_refused(campaign, persona_client, tmp_path):  # noqa: F811
    stored, _ = _package(campaign, tmp_path)
    manager = persona_client("manager")  # reviews in this campaign, may not take evidence
    assert manager.get("/evidence/campaigns/").status_code == 403
    assert manager.get(f"/evidence/campaigns/{campaign.pk}/").status_code == 403
    assert manager.get(f"/evidence/packages/{stored.pk}/download/").status_code == 403


def test_evidence_of_a_campaign_the_user_may_not_open_is_404_and_unlisted(
    campaign,  # noqa: F811
    personas,
    persona_client,
    tmp_path,
    monkeypatch,
):
    from governance.authz.roles import ROLE_CAPABILITIES, Capability, Role

    stored, _ = _package(campaign, tmp_path)
    # An auditor whose role gives evidence export but not the audit view that lets one oversee campaigns.
    monkeypatch.setitem(ROLE_CAPABILITIES, Role.AUDITOR, frozenset({Capability.EVIDENCE_EXPORT}))
    client = persona_client("auditor")
    assert client.get(f"/evidence/campaigns/{campaign.pk}/").status_code == 404
    assert client.get(f"/evidence/packages/{stored.pk}/download/").status_code == 404
    assert campaign.name not in client.get("/evidence/campaigns/").content.decode()
    index = client.get("/evidence/").content.decode()
    assert stored.sha256 not in index and "No access review campaign to show." in index
    # The API answers alike.
    from governance.api.services import create_token

    auditor = personas["auditor"]
    _, token = create_token(user=auditor, name="script", days=1, with_mfa=True, actor=auditor)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    listed = api.get("/api/v1/evidence/packages/")
    assert listed.status_code == 200 and stored.sha256 not in listed.content.decode()
    assert api.get(f"/api/v1/evidence/packages/{stored.pk}/").status_code == 404


@pytest.mark.skipif(not all(shutil.which(t) for t in ("bash", "openssl", "sha256sum", "unzip")), reason="tools")
def test_the_auditor_downloads_a_closed_campaigns_package_and_verifies_it_both_ways(
    campaign,  # noqa: F811
    personas,
    persona_client,
    tmp_path,
):
    from django.core.management import call_command

    from governance.evidence import tasks
    from tests.evidence.test_standard_tools import _run

    services.close_campaign(campaign=campaign, actor=personas["campaign_admin"], reason="quarter over")
    tasks.generate("campaign", str(campaign.pk))  # what the queued task runs once the close commits
    auditor = persona_client("auditor")
    page = auditor.get(f"/evidence/campaigns/{campaign.pk}/").content.decode()
    (download,) = re.findall(r'href="(/evidence/packages/[0-9a-f-]+/download/)"', page)
    work = tmp_path / "auditor"
    work.mkdir()
    (work / "package.zip").write_bytes(b"".join(auditor.get(download).streaming_content))
    key_id = signing.current_key().key_id
    (work / "portal-key.pem").write_bytes(Client().get(f"/evidence/keys/{key_id}.pem").content)  # no login

    out = io.StringIO()
    call_command("verify_evidence", str(work / "package.zip"), "--public-key", str(work / "portal-key.pem"), stdout=out)
    assert "verified" in out.getvalue() and "summary.pdf" in out.getvalue() and "items.csv" in out.getvalue()
    result = _run(work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary.pdf: OK" in result.stdout and "Signature Verified Successfully" in result.stdout
