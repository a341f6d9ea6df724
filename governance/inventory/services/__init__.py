"""Inventory state changes: ingest what the AWS readers returned, one scope at a time.

Each `ingest_*` turns reader dataclasses into rows (natural key digest, values, content hash) and
reconciles them scope by scope through `governance.inventory.ingest`: inserts, changed rows and
removals are written in bulk, an unchanged scope writes nothing. Sync runs are bookkeeping, not
admin actions, so no audit event is recorded per row.

Scopes: "org" (organization, OUs, accounts, SCPs and attachments), "aws" (AWS managed policies,
global, never marked removed), "sso" (Identity Center), "iam:<account>" (one account's IAM;
its inline policies live in "iam:<account>:inline").
"""

from governance.inventory.services.common import (
    AWS_SCOPE,
    ORG_SCOPE,
    PERMISSION_SET_FIELDS,
    SSO_SCOPE,
    IngestResult,
    PolicyIndex,
    ingest_aws_managed_policies,
)
from governance.inventory.services.iam import (
    iam_scope,
    ingest_account_iam,
    ingest_accounts_iam,
    inline_policy_arn,
    plan_accounts_iam,
    stored_access_key_ids,
    stored_iam_digests,
)
from governance.inventory.services.identity_center import ingest_identity_center, sso_group_arn, sso_user_arn
from governance.inventory.services.organization import ingest_accounts_tags, ingest_organization
from governance.inventory.services.write_behind import WriteBehind

__all__ = [
    "AWS_SCOPE",
    "ORG_SCOPE",
    "PERMISSION_SET_FIELDS",
    "SSO_SCOPE",
    "IngestResult",
    "PolicyIndex",
    "WriteBehind",
    "iam_scope",
    "ingest_account_iam",
    "ingest_accounts_iam",
    "ingest_accounts_tags",
    "ingest_aws_managed_policies",
    "ingest_identity_center",
    "ingest_organization",
    "inline_policy_arn",
    "plan_accounts_iam",
    "sso_group_arn",
    "sso_user_arn",
    "stored_access_key_ids",
    "stored_iam_digests",
]
