"""Triggered reviews against the emulator: after a sync, what is new in a template's scope and matches
its filter opens a small campaign at once; the baseline sync and a repeated after-sync open nothing."""

from __future__ import annotations

import json

import pytest

from governance.authz.services import link_all_users
from governance.aws import session
from governance.inventory.models import SyncStatus
from governance.inventory.sync import sync_organization
from governance.reviews import tasks
from governance.reviews.models import Campaign, CampaignTemplate, ItemKind, ReviewItem, TriggerFilter, TriggerKind

pytestmark = pytest.mark.django_db

ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _sync():
    run = sync_organization()
    assert run.status == SyncStatus.SUCCEEDED, run.errors
    link_all_users()
    return run


def _event_template(name: str, trigger_filter: str) -> CampaignTemplate:
    return CampaignTemplate.objects.create(
        name=name,
        trigger=TriggerKind.EVENT,
        trigger_filter=trigger_filter,
        fallback_reviewer="sam.security@example.com",
    )


def test_a_new_admin_grant_opens_a_small_review_at_once_and_only_once(fresh_demo_org):
    admin = _event_template("new-admin", TriggerFilter.ADMIN)
    anything = _event_template("anything-new", TriggerFilter.ANY)
    first = _sync()
    assert tasks.after_sync(run_id=first.pk)["triggered"] == [], "the first sync is the baseline, not news"

    account_id = fresh_demo_org.accounts["payments-dev"]
    iam = session.client_for("iam", session.member_credentials(account_id))
    iam.create_user(UserName="new.joiner")
    iam.attach_user_policy(UserName="new.joiner", PolicyArn=ADMIN_ARN)
    iam.attach_user_policy(UserName="new.joiner", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    second = _sync()
    result = tasks.after_sync(run_id=second.pk)
    assert len(result["triggered"]) == 2

    admin_campaign = Campaign.objects.get(template=admin)
    items = ReviewItem.objects.filter(campaign=admin_campaign)
    assert admin_campaign.period == f"sync-{second.pk}"
    assert list(items.values_list("kind", "principal_arn", "target_arn")) == [
        (ItemKind.USER_POLICY, f"arn:aws:iam::{account_id}:user/new.joiner", ADMIN_ARN)
    ]
    assert items.get().reviewer_email  # routed by the template's rules or its fallback
    broad = ReviewItem.objects.filter(campaign__template=anything)
    assert set(broad.values_list("target_arn", flat=True)) == {ADMIN_ARN, "arn:aws:iam::aws:policy/ReadOnlyAccess"}

    # Delivery is at least once: the same run again opens nothing new.
    assert tasks.after_sync(run_id=second.pk)["triggered"] == []
    # A sync with nothing new opens nothing.
    assert tasks.after_sync(run_id=_sync().pk)["triggered"] == []
    assert Campaign.objects.filter(template__in=[admin, anything]).count() == 2


def _trust(principal: dict) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_a_new_role_trusted_outside_the_organization_opens_a_review_and_one_trusted_inside_does_not(fresh_demo_org):
    outside = _event_template("outside-trust", TriggerFilter.EXTERNAL_TRUST)
    anything = _event_template("anything-new", TriggerFilter.ANY)
    assert tasks.after_sync(run_id=_sync().pk)["triggered"] == []

    account_id = fresh_demo_org.accounts["payments-dev"]
    in_org = fresh_demo_org.accounts["payments-prod"]
    iam = session.client_for("iam", session.member_credentials(account_id))
    roles = {
        "vendor-audit": {"AWS": "arn:aws:iam::999999999999:root"},  # an account outside the organization
        "anyone": {"AWS": "*"},
        "sibling-deploy": {"AWS": f"arn:aws:iam::{in_org}:root"},  # an account of the organization
        "ec2-worker": {"Service": "ec2.amazonaws.com"},
    }
    for name, principal in roles.items():
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(principal))
    run = _sync()
    assert len(tasks.after_sync(run_id=run.pk)["triggered"]) == 2

    def trusts(template):
        items = ReviewItem.objects.filter(campaign__template=template, kind=ItemKind.ROLE_TRUST)
        return set(items.values_list("principal_name", flat=True))

    assert trusts(anything) == set(roles), "every new role is news to the unfiltered template"
    assert trusts(outside) == {"vendor-audit", "anyone"}
    assert not ReviewItem.objects.filter(campaign__template=outside).exclude(kind=ItemKind.ROLE_TRUST).exists()

    # A new role trusted only inside the organization opens no review for the filtered template.
    iam.create_role(RoleName="sibling-read", AssumeRolePolicyDocument=_trust({"AWS": f"arn:aws:iam::{in_org}:root"}))
    opened = Campaign.objects.filter(pk__in=tasks.after_sync(run_id=_sync().pk)["triggered"])
    assert list(opened.values_list("template__name", flat=True)) == [anything.name]
