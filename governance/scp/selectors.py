"""Reads for the organization-policy pages: the tree with each node's SCPs and RCPs, an account's chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from governance.authz.capabilities import get_object_for_user_or_404, visible_accounts
from governance.inventory import selectors as inventory
from governance.inventory.models import Account, Policy, PolicyKind
from governance.inventory.models.org import ORG_POLICY_KINDS
from governance.scp.effective import Chain, chain_for


def org_tree(user: Any) -> Any:
    """The inventory's tree (root → OUs → accounts with their attachments, a few queries), each
    attachment marked SCP or RCP, and the organization's policy counts by kind."""
    tree = inventory.org_tree(user)
    counts = {kind: 0 for kind in ORG_POLICY_KINDS}
    for kind in Policy.objects.present().filter(kind__in=ORG_POLICY_KINDS).values_list("kind", flat=True):
        counts[kind] += 1
    tree.policy_counts = {"scp": counts[PolicyKind.SCP], "rcp": counts[PolicyKind.RCP]}
    return tree


def account_for_user(user: Any, account_id: str) -> Account:
    return get_object_for_user_or_404(user, visible_accounts(user).select_related("parent"), account_id=account_id)


def account_chain(user: Any, account_id: str) -> Chain:
    return chain_for(account_for_user(user, account_id))


def org_policies(*, kind: str | None = None) -> list[Policy]:
    """Every present SCP and RCP, by kind then name (an organization has at most a few thousand)."""
    policies = Policy.objects.present().filter(kind__in=ORG_POLICY_KINDS)
    if kind:
        policies = policies.filter(kind=kind)
    return list(policies.order_by("kind", "name", "id"))


def approved_versions() -> dict[str, Any]:
    """The last version the portal approved of each organization policy (by AWS policy id)."""
    from governance.scp.models import PolicyRevision

    latest: dict[str, Any] = {}
    for revision in PolicyRevision.objects.select_related("change").order_by("id"):
        latest[revision.aws_policy_id] = revision
    return latest


def visible_changes(user: Any) -> Any:
    """Change requests: every policy admin and auditor sees all of them; nobody else any."""
    from governance.authz.capabilities import Capability, capabilities
    from governance.scp.models import ChangeRequest

    if capabilities(user).has(Capability.SCP_VIEW):
        return ChangeRequest.objects.all()
    return ChangeRequest.objects.none()


def pretty(document: Any) -> str:
    import json

    return json.dumps(document, indent=2, sort_keys=False) if document is not None else ""


def side_by_side(before: str, after: str) -> list[tuple[str, str, str, str]]:
    """Rows of (left line, its class, right line, its class) for a side-by-side diff of two texts."""
    from difflib import SequenceMatcher

    left, right = before.splitlines(), after.splitlines()
    rows: list[tuple[str, str, str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if op == "equal":
            rows.extend((left[i], "", right[j], "") for i, j in zip(range(i1, i2), range(j1, j2), strict=True))
            continue
        olds, news = left[i1:i2], right[j1:j2]
        for k in range(max(len(olds), len(news))):
            old = olds[k] if k < len(olds) else ""
            new = news[k] if k < len(news) else ""
            rows.append((old, "diff-del" if k < len(olds) else "", new, "diff-add" if k < len(news) else ""))
    return rows


def statement_changes(before: Any, after: Any) -> list[dict[str, Any]]:
    """The statement-level diff (added, removed, changed statements), or one 'unreadable' entry."""
    from governance.policy import PolicyError, diff_policies, parse_policy

    if before is None or after is None:
        return []
    try:
        diff = diff_policies(parse_policy(before), parse_policy(after))
    except PolicyError as exc:
        return [{"kind": "unreadable", "sid": None, "elements": [str(exc)]}]
    return [
        {"kind": c.kind, "sid": c.sid, "elements": list(c.changed_elements)}
        for c in (*diff.removed, *diff.added, *diff.changed)
    ]


@dataclass
class VersionRow:
    label: str
    source: str
    when: Any
    document: Any
    document_hash: str
    change_id: int | None = None
    obj: Any = None
    diff: list = field(default_factory=list)


def policy_versions(policy: Policy) -> list[VersionRow]:
    """Synced versions (the inventory's) and approved ones (applied change requests), newest first, each
    with its statement diff against the one before it."""
    from governance.inventory.models import PolicyVersion
    from governance.scp.models import PolicyRevision

    rows = [
        VersionRow(f"v{v.version} (synced)", "sync", v.first_seen, v.document, v.document_hash, obj=v)
        for v in PolicyVersion.objects.filter(policy=policy).order_by("version")
    ]
    rows += [
        VersionRow(f"approved in #{r.change_id}", r.get_source_display(), r.created_at, r.document, r.document_hash,
                   r.change_id, r)
        for r in PolicyRevision.objects.filter(aws_policy_id=policy.aws_policy_id).order_by("id")
    ]  # fmt: skip
    rows.sort(key=lambda row: row.when)
    previous = None
    for row in rows:
        if previous is not None and previous.document_hash != row.document_hash:
            row.diff = statement_changes(previous.document, row.document)
        previous = row
    return list(reversed(rows))


def policy_for_user(user: Any, scp_id: int) -> Policy:
    from governance.authz.capabilities import get_object_for_user_or_404

    return get_object_for_user_or_404(
        user, Policy.objects.filter(kind__in=ORG_POLICY_KINDS).select_related("organization"), pk=scp_id
    )


def policy_attachments(policy: Policy) -> list[Any]:
    from governance.inventory.models import ScpAttachment

    return list(
        ScpAttachment.objects.present().filter(policy=policy).select_related("unit", "account").order_by("target_id")
    )


def drift_of(user: Any, policy: Policy) -> Any:
    """The open scp.drift finding of the policy the user may see, if any (through the findings scope)."""
    from governance.authz.capabilities import scoped

    return scoped(user, "findings.finding").filter(rule_id="scp.drift", policy=policy, status="open").first()


def drift_authors(policy: Policy, drift: Any) -> list:
    """Who last changed the drifted policy in AWS, newest first (CloudTrail, as the signals app read
    it), each marked through the portal's writer role or not; [] without a drift."""
    from governance.signals.selectors import changes_to

    if drift is None or not policy.aws_policy_id:
        return []
    return changes_to(policy.aws_policy_id, limit=5)


def change_for_user(user: Any, change_id: int) -> Any:
    from governance.authz.capabilities import get_object_for_user_or_404
    from governance.scp.models import ChangeRequest

    return get_object_for_user_or_404(
        user, ChangeRequest.objects.select_related("policy", "author", "approved_by", "applied_by"), pk=change_id
    )


def change_page(*, status: str = "", after: int | None = None, size: int = 50) -> tuple[list[Any], int | None]:
    """Change requests newest first, keyset-paged by id."""
    from governance.scp.models import ChangeRequest

    changes = ChangeRequest.objects.select_related("author", "policy").order_by("-id")
    if status == "open":
        changes = changes.open()
    elif status:
        changes = changes.filter(status=status)
    if after:
        changes = changes.filter(id__lt=after)
    rows = list(changes[: size + 1])
    return rows[:size], rows[size - 1].pk if len(rows) > size else None


def version_for(policy: Policy, label: str) -> Any:
    """A synced version (`v3`) or an approved revision (`r12`) of the policy, or None."""
    from governance.inventory.models import PolicyVersion
    from governance.scp.models import PolicyRevision

    number = label[1:]
    if not number.isdigit():
        return None
    if label.startswith("v"):
        return PolicyVersion.objects.filter(policy=policy, version=int(number)).first()
    if label.startswith("r"):
        return PolicyRevision.objects.filter(aws_policy_id=policy.aws_policy_id, pk=int(number)).first()
    return None


def change_history(change: Any) -> list[Any]:
    """The audit events of a change request, oldest first."""
    from governance.audit.models import AuditEvent

    return list(
        AuditEvent.objects.filter(object_type="scp.changerequest", object_id=str(change.pk)).order_by("id")[:100]
    )
