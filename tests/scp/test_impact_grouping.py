"""The grouped impact analysis (one verdict per chain group, policy set and boundary; policies that cannot
touch the actions skipped in SQL) gives the answer a plain per-principal evaluation gives, and reports the
principals it cannot decide instead of counting them as keeping their access."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from governance.authz.models import User
from governance.aws.demo import personas as demo
from governance.inventory.models import Account, Entitlement, Policy, PolicyKind, Principal, PrincipalKind
from governance.policy import PolicyError, PolicySet, Request, parse_policy
from governance.scp import impact, tasks
from governance.scp.effective import chains
from governance.scp.models import ChangeKind, ChangeRequest
from tests.scp.test_impact import _change

pytestmark = pytest.mark.django_db

# The change denies these at the root; Sandbox already denies ec2:AttachInternetGateway and payments-prod
# iam:CreateUser, so who loses them depends on the account's place in the organization.
DENIED = ["s3:DeleteBucket", "s3:GetObject", "ec2:TerminateInstances", "dynamodb:DeleteTable",
          "ec2:AttachInternetGateway", "iam:CreateUser"]  # fmt: skip


def _allow(actions, *, effect: str = "Allow", key: str = "Action") -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": effect, key: actions, "Resource": "*"}]}


WILDCARD = _allow(["s3:Delete*", "EC2:terminateInstances"])  # patterns match case-insensitively
NOT_S3 = _allow(["s3:*"], key="NotAction")
DENY_GET = _allow(["s3:GetObject"], effect="Deny")
ELSEWHERE = _allow(["sqs:SendMessage", "sns:Publish"])  # skipped in SQL: none of the actions in question
NO_ACTION = {"Version": "2012-10-17", "Statement": [  # malformed: a statement with neither Action nor NotAction
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}, {"Effect": "Allow", "Resource": "*"}]}  # fmt: skip
NETWORK = _allow(["ec2:AttachInternetGateway"])
USERS = _allow(["iam:CreateUser"])
INLINE = _allow(["s3:GetObject", "dynamodb:DeleteTable"])
BOUND_S3 = _allow(["s3:*"])
BOUND_SQS = _allow(["sqs:*"])  # a boundary that allows none of the actions in question
BOUND_BROKEN = {"Version": "2012-10-17", "Statement": [{"Effect": "Perhaps", "Action": "*", "Resource": "*"}]}

# name: (managed policies, inline document or None, boundary or None)
PEOPLE = {
    "wild-a": (["WILDCARD"], None, None),
    "wild-b": (["WILDCARD"], None, None),  # the same policy set as wild-a: the same verdict
    "wild-notaction": (["WILDCARD", "NOT_S3"], None, None),
    "notaction-denied": (["NOT_S3", "DENY_GET"], None, None),
    "inline-elsewhere": (["ELSEWHERE"], INLINE, None),
    "elsewhere-only": (["ELSEWHERE"], None, None),
    "bounded-s3": (["WILDCARD", "NOT_S3"], None, "BOUND_S3"),
    "bounded-sqs": (["NOT_S3"], None, "BOUND_SQS"),
    "bounded-broken": (["WILDCARD"], None, "BOUND_BROKEN"),
    "broken-policy": (["NO_ACTION"], None, None),
    "broken-under-sqs": (["NO_ACTION", "WILDCARD"], None, "BOUND_SQS"),  # nothing in question can pass
    "elsewhere-broken-bound": (["ELSEWHERE"], None, "BOUND_BROKEN"),
    "network": (["NETWORK", "ELSEWHERE"], None, None),
    "users": (["USERS"], None, None),
}
DOCUMENTS = {
    "WILDCARD": WILDCARD, "NOT_S3": NOT_S3, "DENY_GET": DENY_GET, "ELSEWHERE": ELSEWHERE, "NO_ACTION": NO_ACTION,
    "NETWORK": NETWORK, "USERS": USERS, "BOUND_S3": BOUND_S3, "BOUND_SQS": BOUND_SQS, "BOUND_BROKEN": BOUND_BROKEN,
}  # fmt: skip


def _synced(key: str, scope: str) -> dict:
    digest = hashlib.md5(key.encode(), usedforsecurity=False).hexdigest()
    now = timezone.now()
    return {"key": digest, "scope": scope, "content_hash": digest, "first_seen": now, "last_seen": now}


def _hash(document) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _people(account: Account, people: dict) -> None:
    """IAM roles named eqv-<name> in `account` holding the given policies (managed ones per account, with
    the same document hash in every account, as synced copies of one document have)."""
    scope = f"iam:{account.account_id}"
    managed = {}
    for name, document in DOCUMENTS.items():
        arn = f"arn:aws:iam::{account.account_id}:policy/eqv-{name}"
        managed[name] = Policy.objects.create(
            kind=PolicyKind.CUSTOMER_MANAGED, arn=arn, name=f"eqv-{name}", account=account, document=document,
            document_hash=_hash(document), **_synced(arn, scope),
        )  # fmt: skip
    for name, (policies, inline, boundary) in people.items():
        arn = f"arn:aws:iam::{account.account_id}:role/eqv-{name}"
        principal = Principal.objects.create(
            kind=PrincipalKind.IAM_ROLE, account=account, arn=arn, name=f"eqv-{name}",
            permissions_boundary=managed[boundary] if boundary else None, **_synced(arn, scope),
        )  # fmt: skip
        for policy in policies:
            Entitlement.objects.create(
                principal=principal, policy=managed[policy], via="direct", account=account,
                **_synced(f"{arn}:{policy}", scope),
            )  # fmt: skip
        if inline is not None:
            held = Policy.objects.create(
                kind=PolicyKind.INLINE, arn=f"{arn}#inline", name="inline", account=account, principal=principal,
                document=inline, **_synced(f"{arn}#inline", scope),
            )  # fmt: skip
            Entitlement.objects.create(
                principal=principal, policy=held, via="inline", account=account, **_synced(f"{arn}:inline", scope)
            )


def _parsed(document):
    try:
        return parse_policy(document, name="reference")
    except PolicyError:
        return None


def _reference(accounts: list[Account], scp: Policy, document: dict) -> dict[str, str]:
    """Per principal (eqv-* only), without grouping or SQL: 'loses', 'keeps' or 'undecidable', with the
    engine evaluating the principal's own policies and boundary under the chain before and after."""
    replacement = parse_policy(document, name=scp.name)
    guardrails = [a.lower() for a in impact.GUARDRAIL_ACTIONS]
    org_id = accounts[0].organization.org_id
    verdicts: dict[str, str] = {}
    lost_somewhere: set[str] = set()
    plans = []
    for chain in chains(accounts).values():
        if chain.management:
            continue
        before = [[entry.parsed for entry in level.scps] for level in chain.levels]
        after = [[replacement if e.pk == scp.pk else e.parsed for e in level.scps] for level in chain.levels]
        account = chain.account
        for principal in Principal.objects.present().filter(account=account, name__startswith="eqv-"):
            documents = [e.policy.document for e in Entitlement.objects.present().filter(principal=principal)]
            boundary = principal.permissions_boundary.document if principal.permissions_boundary_id else None
            plans.append((principal, account, before, after, documents, boundary))

    def request(principal, account, action):
        context = {"aws:RequestedRegion": settings.AWS_REGION, "aws:PrincipalOrgID": org_id}
        return Request(principal=principal.arn, action=action, resource="*", context=context,
                       resource_account=account.account_id)  # fmt: skip

    losses = {}
    for principal, account, before, after, documents, boundary in plans:
        policies = [_parsed(d) for d in documents]
        bound = _parsed(boundary) if boundary is not None else None
        if None in policies or (boundary is not None and bound is None):
            continue
        kwargs = {"identity_policies": policies, "permissions_boundary": bound}
        was, now = PolicySet(scps=before, **kwargs), PolicySet(scps=after, **kwargs)
        losses[principal.arn] = {
            a.lower() for a in DENIED
            if was.evaluate(request(principal, account, a)).allowed
            and not now.evaluate(request(principal, account, a)).allowed
        }  # fmt: skip
        lost_somewhere |= losses[principal.arn]
    in_question = sorted(lost_somewhere | set(guardrails) | {a.lower() for a in DENIED})
    for principal, account, _before, _after, documents, boundary in plans:
        policies = [_parsed(d) for d in documents]
        bound = _parsed(boundary) if boundary is not None else None
        readable = [p for p in policies if p is not None]
        through_boundary = bound is not None and any(
            PolicySet(identity_policies=[bound]).evaluate(request(principal, account, a)).allowed for a in in_question
        )
        if bound is not None and not through_boundary:
            verdicts[principal.arn] = "keeps"  # nothing in question gets through the boundary
        elif principal.arn not in losses:  # a policy or the boundary cannot be read
            allows = any(
                PolicySet(identity_policies=readable).evaluate(request(principal, account, a)).allowed
                for a in in_question
            )
            undecided = None in policies or allows
            verdicts[principal.arn] = "undecidable" if undecided else "keeps"
        else:
            verdicts[principal.arn] = "loses" if losses[principal.arn] else "keeps"
    return verdicts


def _role(account: Account, name: str) -> str:
    return f"arn:aws:iam::{account.account_id}:role/eqv-{name}"


def _grouped(change) -> tuple[dict[str, str], dict]:
    """The analysis's verdict per eqv-* principal: the losing ones are those it hands the usage providers."""
    seen: list[int] = []
    impact.register_usage_provider("test-losers", lambda ids, since: seen.extend(ids) or {})
    try:
        result = impact.analyze(change)
    finally:
        impact._USAGE.pop("test-losers")
    undecidable = {u["arn"] for u in result["undecidable"]}
    assert result["principals_undecidable"] == len(undecidable)  # all of them listed (fewer than 50)
    verdicts = {}
    for pk, arn in Principal.objects.present().filter(name__startswith="eqv-").values_list("pk", "arn"):
        verdicts[arn] = "undecidable" if arn in undecidable else "loses" if pk in seen else "keeps"
    return verdicts, result


def test_grouped_analysis_agrees_with_a_plain_per_principal_evaluation(synced_demo):
    scp = Policy.objects.get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")  # attached at the root
    document = {"Version": "2012-10-17", "Statement": [*scp.document["Statement"],
                {"Effect": "Deny", "Action": DENIED, "Resource": "*"}]}  # fmt: skip
    # Accounts in different OUs (their own guardrails differ), the same people in each, and a few apart.
    names = ["payments-prod", "sandbox-olga", "legacy-billing", "payments-dev"]  # -dev: the OU of -staging
    accounts = [Account.objects.get(account_id=synced_demo.accounts[name]) for name in names]
    for account in accounts:
        _people(account, PEOPLE)
    for name in ("data-dev", "payments-staging"):
        _people(Account.objects.get(account_id=synced_demo.accounts[name]), {"wild-only": (["WILDCARD"], None, None)})
    change = _change(scp, document)

    grouped, result = _grouped(change)
    expected = _reference(list(Account.objects.present().select_related("parent", "organization")), scp, document)
    assert grouped == expected
    # The fixture exercises every outcome, not only one.
    assert {"loses", "keeps", "undecidable"} <= set(expected.values())
    assert len(expected) == len(PEOPLE) * len(accounts) + 2
    for account in accounts:
        assert expected[_role(account, "elsewhere-only")] == "keeps" == expected[_role(account, "bounded-sqs")]
        assert expected[_role(account, "broken-policy")] == "undecidable"
    sandbox, payments = accounts[1], accounts[0]
    assert expected[_role(sandbox, "network")] == "keeps" == expected[_role(payments, "users")]
    assert expected[_role(payments, "network")] == "loses" == expected[_role(sandbox, "users")]
    assert result["principals_losing"] >= sum(1 for v in grouped.values() if v == "loses")

    # A second run reads the statements from the per-hash cache: the same answer.
    assert _grouped(change)[0] == grouped


def test_an_unreadable_policy_is_reported_undecidable_and_shown(synced_demo, synced_persona_client):
    scp = Policy.objects.get(kind=PolicyKind.SCP, name="DenyLeaveOrganization")
    document = {"Version": "2012-10-17", "Statement": [*scp.document["Statement"],
                {"Effect": "Deny", "Action": DENIED, "Resource": "*"}]}  # fmt: skip
    account = Account.objects.get(account_id=synced_demo.accounts["payments-prod"])
    people = {name: PEOPLE[name] for name in ("broken-policy", "broken-under-sqs", "wild-a")}
    _people(account, people)
    client = synced_persona_client("auditor")  # the personas' users exist from here on
    change = ChangeRequest.objects.create(
        kind=ChangeKind.UPDATE, policy=scp, aws_policy_id=scp.aws_policy_id, name=scp.name, document=document,
        document_text=json.dumps(document), base_document=scp.document, base_hash=scp.document_hash,
        reason="impact test", author=User.objects.get(username=demo.BY_KEY["policy_admin"].user_name),
    )  # fmt: skip
    assert tasks.run_impact(change.pk) == "done"
    change.refresh_from_db()
    result = change.impact
    flagged = {u["arn"]: u for u in result["undecidable"]}
    broken = f"arn:aws:iam::{account.account_id}:role/eqv-broken-policy"
    assert set(flagged) == {broken}  # not the one whose boundary lets none of the actions through
    assert result["principals_undecidable"] == 1
    assert flagged[broken]["policies"] == ["eqv-NO_ACTION"] and flagged[broken]["account_id"] == account.account_id

    grouped = _grouped(change)[0]
    assert grouped[broken] == "undecidable"  # neither losing nor keeping
    assert grouped[_role(account, "broken-under-sqs")] == "keeps" and grouped[_role(account, "wild-a")] == "loses"

    body = client.get(reverse("scp:change_impact", args=[change.pk])).content.decode()
    assert "Undecidable (1)" in body and broken in body and "eqv-NO_ACTION" in body
    assert "eqv-broken-under-sqs" not in body
