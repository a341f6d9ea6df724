"""Ingest of the organization: root, OU tree, accounts, SCPs and RCPs, attachments and account tags."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from governance.aws.readers.types import (
    OrgSnapshot,
)
from governance.inventory import ingest
from governance.inventory.ingest import Outcome, digest
from governance.inventory.models import (
    Account,
    Organization,
    OrganizationalUnit,
    PolicyKind,
    ScpAttachment,
    ScpTargetType,
)
from governance.inventory.services.common import (
    ACCOUNT_FIELDS,
    ORG_SCOPE,
    ORGANIZATION_FIELDS,
    OU_FIELDS,
    SCP_ATTACHMENT_FIELDS,
    IngestResult,
    _link,
    _owner,
    _policy_row,
    _reconcile_policies,
    _row,
)


def ingest_organization(*, snapshot: OrgSnapshot, now: datetime) -> IngestResult:
    """The organization, its OU tree, accounts, SCPs and SCP attachments (scope "org")."""
    out = Outcome()
    with transaction.atomic():
        org = snapshot.org
        values = (org.org_id, org.arn, org.feature_set, org.management_account_id, org.management_account_email)
        result, outcome = ingest.reconcile(
            Organization,
            scope=ORG_SCOPE,
            fields=ORGANIZATION_FIELDS,
            rows=[_row(digest("org", org.org_id), values)],
            now=now,
        )
        out.add(outcome)
        org_pk = result.ids[digest("org", org.org_id)]

        # Parents before children: rows are planned level by level so a child's parent id is known.
        by_parent: dict[str | None, list] = defaultdict(list)
        for unit in snapshot.units:
            by_parent[unit.parent_id].append(unit)
        unit_ids: dict[str, int] = {}
        paths: dict[str, str] = {}
        stored = ingest.existing(OrganizationalUnit, ORG_SCOPE)
        level = [None]
        depth = 0
        all_keys: set[str] = set()
        while level:
            rows = []
            next_level = []
            for parent_id in level:
                for unit in by_parent.get(parent_id, ()):
                    path = f"{paths[parent_id]}{unit.ou_id}/" if parent_id else f"{unit.ou_id}/"
                    paths[unit.ou_id] = path
                    parent_pk = unit_ids[parent_id] if parent_id else None
                    values = (org_pk, unit.ou_id, unit.arn, unit.name, unit.is_root, parent_pk, path, depth)
                    rows.append(_row(digest("ou", unit.ou_id), values))
                    next_level.append(unit.ou_id)
            if rows:
                result = ingest.plan(
                    OrganizationalUnit, scopes=ORG_SCOPE, rows=rows, remove_missing=False, stored=stored
                )
                out.add(ingest.apply(result, fields=OU_FIELDS, now=now))
                all_keys.update(r.key for r in rows)
                ou_ids = {r.key: r.values[1] for r in rows}
                for unit_key, unit_pk in result.ids.items():
                    unit_ids[ou_ids[unit_key]] = unit_pk
            level = next_level
            depth += 1
        gone = [pk for key, (pk, _h, removed, _s) in stored.items() if not removed and key not in all_keys]
        if gone:
            out.removed += OrganizationalUnit.objects.filter(pk__in=gone).update(removed_at=now, last_seen=now)

        account_rows = [
            _row(
                digest("account", a.account_id),
                (
                    org_pk,
                    a.account_id,
                    a.arn,
                    a.name,
                    a.email,
                    a.status,
                    a.joined_method,
                    a.joined_at,
                    unit_ids.get(a.parent_id),
                    a.account_id == org.management_account_id,
                ),
            )
            for a in snapshot.accounts
        ]
        accounts, outcome = ingest.reconcile(
            Account, scope=ORG_SCOPE, fields=ACCOUNT_FIELDS, rows=account_rows, now=now
        )
        out.add(outcome)
        account_ids = {a.account_id: accounts.ids[digest("account", a.account_id)] for a in snapshot.accounts}

        org_policies = [(PolicyKind.SCP, s) for s in snapshot.scps] + [(PolicyKind.RCP, r) for r in snapshot.rcps]
        scp_rows = [
            _policy_row(
                kind=kind,
                arn=s.arn,
                name=s.name,
                description=s.description,
                document=s.document,
                organization_id=org_pk,
                aws_policy_id=s.policy_id,
            )
            for kind, s in org_policies
        ]
        scps, outcome = _reconcile_policies(scope=ORG_SCOPE, rows=scp_rows, now=now)
        out.add(outcome)
        attachment_rows = []
        for _kind, scp in org_policies:
            policy_pk = scps.ids[digest("policy", scp.arn)]
            for target in scp.targets:
                is_account = target.target_type == ScpTargetType.ACCOUNT
                values = (
                    policy_pk,
                    target.target_type,
                    target.target_id,
                    None if is_account else unit_ids.get(target.target_id),
                    account_ids.get(target.target_id) if is_account else None,
                )
                attachment_rows.append(_link(digest("scp-attachment", scp.arn, target.target_id), values))
        _, outcome = ingest.reconcile(
            ScpAttachment, scope=ORG_SCOPE, fields=SCP_ATTACHMENT_FIELDS, rows=attachment_rows, now=now
        )
        out.add(outcome)
    counts = {
        "accounts": len(snapshot.accounts),
        "organizational_units": len(snapshot.units),
        "scps": len(snapshot.scps),
        "rcps": len(snapshot.rcps),
        "scp_attachments": len(attachment_rows),
    }
    return IngestResult(outcome=out, counts=counts)


def ingest_accounts_tags(*, items: Sequence[tuple[int, dict[str, str]]], now: datetime) -> dict[int, int]:
    """Store accounts' tags and owners where they differ from what is stored; account pk -> changes.

    Tags are read per account (see governance.aws.readers.organizations), after the org
    structure, so they are compared directly rather than through the account's content hash:
    one SELECT for all of `items`, and an UPDATE only for an account whose tags changed.
    """
    stored = {
        pk: (tags, owner)
        for pk, tags, owner in Account.objects.filter(pk__in=[pk for pk, _ in items]).values_list("pk", "tags", "owner")
    }
    changes = {}
    for pk, tags in items:
        owner = _owner(tags)
        if pk not in stored or stored[pk] == (tags, owner):
            changes[pk] = 0
        else:
            changes[pk] = Account.objects.filter(pk=pk).update(tags=tags, owner=owner, last_seen=now)
    return changes
