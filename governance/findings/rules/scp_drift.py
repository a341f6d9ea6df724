"""`scp.drift`: an SCP or RCP in AWS differs from the version the portal last approved.

Registered by the scp app (governance/scp/apps.py) since it reads that app's approved versions
through its selector. A policy is compared only once a sync has read AWS after the approval, so
the gap between applying a change and the next sync is not mistaken for drift. The evidence holds
the statement-level diff; the policy's page offers to adopt AWS's version or revert to the approved
one, each through a change request.
"""

from __future__ import annotations

from collections.abc import Iterator

from governance.findings.models import ResourceType, Severity
from governance.findings.rules import Hit, Remediation, rule
from governance.inventory.models import Policy, SyncRun, SyncStatus
from governance.inventory.models.org import ORG_POLICY_KINDS
from governance.policy import PolicyError, diff_policies, parse_policy

GUIDE = "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps.html"


def _diff(approved, current) -> list[dict]:
    try:
        diff = diff_policies(parse_policy(approved), parse_policy(current))
    except PolicyError as exc:
        return [{"kind": "unreadable", "detail": str(exc)}]
    return [
        {"kind": change.kind, "sid": change.sid, "before": change.before, "after": change.after}
        for change in (*diff.removed, *diff.added, *diff.changed)
    ]


@rule(
    id="scp.drift",
    title="An organization policy in AWS differs from its approved version",
    severity=Severity.HIGH,
    rationale="SCPs and RCPs are changed here under four-eyes approval; a change made directly in AWS skipped "
    "the review, the impact analysis and the audit trail, and may lock out or open up accounts.",
    remediation=Remediation(
        console="Guardrails > the policy: review the diff, then propose to adopt AWS's version or to revert to the "
        "approved one (either needs a second policy admin's approval).",
        cli="aws organizations describe-policy --policy-id p-...  (compare with the approved version in the portal)",
    ),
    references=(GUIDE,),
    per_account=False,
)
def scp_drift(ctx) -> Iterator[Hit]:
    from governance.scp.selectors import approved_versions

    approved = approved_versions()
    if not approved:
        return
    synced_since = SyncRun.objects.filter(status__in=[SyncStatus.SUCCEEDED, SyncStatus.PARTIAL])
    policies = {
        p.aws_policy_id: p
        for p in Policy.objects.filter(kind__in=ORG_POLICY_KINDS, aws_policy_id__in=list(approved)).order_by("id")
    }
    for aws_id, revision in sorted(approved.items()):
        if not synced_since.filter(started_at__gt=revision.created_at).exists():
            continue
        policy = policies.get(aws_id)
        present = policy is not None and policy.removed_at is None
        if revision.deleted and not present:
            continue
        if present and not revision.deleted and policy.document_hash == revision.document_hash:
            continue
        if policy is None:
            continue
        what = (
            "was deleted in AWS" if not present else "was changed in AWS" if not revision.deleted else "is back in AWS"
        )
        yield Hit(
            resource_type=ResourceType.POLICY,
            resource_arn=policy.arn,
            resource_name=policy.name,
            message=f"The {policy.kind.upper()} {policy.name} {what} outside the portal since change request "
            f"#{revision.change_id} was applied.",
            evidence={
                "approved_change": revision.change_id,
                "approved_revision": revision.pk,
                "approved_hash": revision.document_hash,
                "aws_hash": policy.document_hash if present else "",
                "diff": _diff(revision.document, policy.document) if present and revision.document else [],
            },
            policy_id=policy.pk,
        )
