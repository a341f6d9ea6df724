"""Exports of a findings list: CSV, XLSX (XlsxWriter) and OCSF JSON, streamed, spreadsheet-safe.

AWS names can start with "=", "+", "-" or "@" (a role named "=HYPERLINK(...)" is legal), which a
spreadsheet would run as a formula. CSV cells that start so are prefixed with "'" (OWASP's advice);
XLSX cells are written as strings with formula and URL conversion off, so nothing is evaluated.
OCSF is the Detection Finding class (2004) of the Open Cybersecurity Schema Framework, the shape
AWS Security Hub and Prowler exchange findings in.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Iterator
from typing import Any

from governance.findings import compliance
from governance.findings import rules as registry
from governance.findings.models import Finding, FindingStatus, Severity

COLUMNS = (
    ("id", "Finding"),
    ("rule_id", "Rule"),
    ("title", "Title"),
    ("severity", "Severity"),
    ("status", "Status"),
    ("account_id", "Account id"),
    ("account_name", "Account"),
    ("resource_type", "Resource type"),
    ("resource_name", "Resource"),
    ("resource_arn", "ARN"),
    ("message", "Finding text"),
    ("first_seen", "First seen (UTC)"),
    ("last_seen", "Last seen (UTC)"),
    ("resolved_at", "Resolved (UTC)"),
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
BATCH = 2000
OCSF_VERSION = "1.3.0"
OCSF_SEVERITY = {Severity.LOW: 2, Severity.MEDIUM: 3, Severity.HIGH: 4, Severity.CRITICAL: 5}
OCSF_STATUS = {
    FindingStatus.OPEN: (1, "New"),
    FindingStatus.SUPPRESSED: (3, "Suppressed"),
    FindingStatus.RESOLVED: (4, "Resolved"),
}


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _rows(queryset) -> Iterator[dict[str, Any]]:
    for finding in queryset.select_related("account").defer("evidence").iterator(chunk_size=BATCH):
        rule = registry.get(finding.rule_id)
        yield {
            "id": finding.pk,
            "rule_id": finding.rule_id,
            "title": rule.title if rule else finding.rule_id,
            "severity": finding.severity,
            "status": finding.status,
            "account_id": finding.account.account_id if finding.account else "",
            "account_name": finding.account.name if finding.account else "",
            "resource_type": finding.resource_type,
            "resource_name": finding.resource_name,
            "resource_arn": finding.resource_arn,
            "message": finding.message,
            "first_seen": _time(finding.first_seen),
            "last_seen": _time(finding.last_seen),
            "resolved_at": _time(finding.resolved_at),
        }


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_stream(queryset) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield "\ufeff"  # so spreadsheet programs read UTF-8
    yield writer.writerow([label for _key, label in COLUMNS])
    for row in _rows(queryset):
        yield writer.writerow([safe_cell(row[key]) for key, _label in COLUMNS])


def xlsx_file(queryset) -> tempfile.SpooledTemporaryFile:
    """The workbook in a temporary file (spooled: in memory while small), positioned at the start."""
    import xlsxwriter

    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - the response closes it
    workbook = xlsxwriter.Workbook(
        out,
        {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    sheet = workbook.add_worksheet("Findings")
    header = workbook.add_format({"bold": True})
    for col, (_key, label) in enumerate(COLUMNS):
        sheet.write_string(0, col, label, header)
    sheet.freeze_panes(1, 0)
    for line, row in enumerate(_rows(queryset), start=1):
        for col, (key, _label) in enumerate(COLUMNS):
            value = row[key]
            if key == "id":
                sheet.write_number(line, col, value)
            else:
                sheet.write_string(line, col, safe_cell(value))
    workbook.close()
    out.seek(0)
    return out


def ocsf(finding: Finding) -> dict[str, Any]:
    """One finding as an OCSF Detection Finding."""
    rule = registry.get(finding.rule_id)
    status_id, status = OCSF_STATUS[finding.status]
    account = finding.account
    controls = compliance.controls_for_rule(finding.rule_id)
    result: dict[str, Any] = {
        "activity_id": 1,
        "activity_name": "Create",
        "category_uid": 2,
        "category_name": "Findings",
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200401,
        "type_name": "Detection Finding: Create",
        "severity_id": OCSF_SEVERITY[finding.severity],
        "severity": finding.get_severity_display(),
        "status_id": status_id,
        "status": status,
        "status_detail": finding.message,
        "message": finding.message,
        "time": int(finding.last_seen.timestamp() * 1000),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "IAM governance portal", "vendor_name": "IAM governance portal", "uid": "findings"},
            "event_code": finding.rule_id,
            "uid": finding.fingerprint,
        },
        "finding_info": {
            "uid": finding.fingerprint,
            "title": rule.title if rule else finding.rule_id,
            "desc": rule.rationale if rule else "",
            "types": [finding.rule_id],
            "first_seen_time": int(finding.first_seen.timestamp() * 1000),
            "last_seen_time": int(finding.last_seen.timestamp() * 1000),
        },
        "cloud": {"provider": "AWS", "account": {"uid": account.account_id, "name": account.name} if account else {}},
        "resources": [
            {"uid": finding.resource_arn, "name": finding.resource_name, "type": finding.get_resource_type_display()}
        ],
        "evidences": [{"data": finding.evidence}],
        "unmapped": {"portal_finding_id": finding.pk},
    }
    if rule is not None:
        result["remediation"] = {
            "desc": f"{rule.remediation.console} CLI: {rule.remediation.cli}",
            "references": list(rule.references),
        }
    if controls:
        result["compliance"] = {
            "requirements": sorted({fw.name for fw, _c in controls}),
            "control": ", ".join(f"{fw.slug} {c.id}" for fw, c in controls),
            "status": "Fail" if finding.status == FindingStatus.OPEN else "Pass",
        }
    return result


def ocsf_stream(queryset) -> Iterator[str]:
    yield "["
    first = True
    for finding in queryset.select_related("account").iterator(chunk_size=BATCH):
        yield ("" if first else ",\n") + json.dumps(ocsf(finding), ensure_ascii=False, default=str)
        first = False
    yield "]\n"
