"""A campaign's evidence: summary.pdf inside the signed package, and the auditor's campaign pages."""

from __future__ import annotations

import zipfile

import pytest

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
