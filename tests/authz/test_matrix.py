"""The authorization matrix, generated from the URL conf.

Every route is requested as each persona and anonymously, and the status must follow from the
rule its view declares (`@requires`, `@authenticated`, `@public`, `@requires_mfa`):

- public: never a 403 or a login redirect (and never a 5xx), for anyone;
- anonymous on anything else: a redirect to the login page;
- a persona the rule admits: neither 403 nor 404 nor a login redirect;
- a persona the rule does not admit: 403;
- the MFA-missing column: each admitted persona again, signed in without MFA: a rule with
  `@requires_mfa` (and the whole governance admin) sends them to step-up at their IdP, any other
  rule answers as it does with MFA.

A route whose view declares no rule fails `test_it_has_a_rule_on_every_route`. Routes with URL
parameters get sample values from SAMPLES (objects the manager owns, so owners are admitted too);
a new parameter name fails until a sample is added. Views answering 405 to GET are POSTed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from governance.authz.capabilities import capabilities
from governance.authz.decorators import Rule, rule_of
from tests.fixtures.personas import MATRIX_PERSONAS, OWNED_ACCOUNT_IDS
from tests.jit import helpers as jit_samples

pytestmark = pytest.mark.django_db

# Prefixes left out of the generated matrix, each with the reason and where it is tested instead.
ALLOWLIST = {
    "accounts/": "allauth's login, logout and IdP callback flows: public by nature; tests/portal/test_login.py",
    "api/v1/": "the REST API authenticates tokens, not sessions (401 without one): tests/api/test_permissions.py",
    "admin/": "the GovernanceAdminSite checks admin.access itself; ADMIN_CHECKS below and tests/authz/test_admin.py",
}


# The admin site: its index, plus every registered model's changelist (generated from the registry);
# a model is admitted with admin.access and its admin's view (or change) capability.
def _admin_checks() -> list[tuple[str, Rule | tuple[str, ...]]]:
    from django.contrib import admin
    from django.urls import reverse

    checks: list[tuple[str, Rule | tuple[str, ...]]] = [("/admin/", Rule(capabilities=("admin.access",), mfa=True))]
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        wanted = tuple(str(c) for c in (model_admin.view_capability, model_admin.change_capability) if c is not None)
        checks.append((reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), wanted))
    return checks


ADMIN_CHECKS = _admin_checks()


def _sample_principal(inventory) -> Any:
    return inventory.manager_role


def _sample_finding(inventory) -> Any:
    from django.utils import timezone

    from governance.findings.models import Finding, ResourceType, Severity

    account = inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    now = timezone.now()
    finding, _ = Finding.objects.get_or_create(
        fingerprint="matrix-sample-finding",
        defaults={"rule_id": "account.password_policy_weak", "severity": Severity.MEDIUM, "severity_rank": 2,
                  "account": account, "resource_type": ResourceType.ACCOUNT, "resource_arn": account.arn,
                  "resource_name": account.name, "message": "sample", "evidence_hash": "x", "first_seen": now,
                  "last_seen": now},
    )  # fmt: skip
    return finding


def _sample_policy(inventory) -> Any:
    """A customer managed policy in an account the manager owns (so owners are admitted too)."""
    from governance.inventory.models import Policy, PolicyKind
    from tests.fixtures.personas import _synced

    account = inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    arn = f"arn:aws:iam::{account.account_id}:policy/matrix-sample"
    policy, _ = Policy.objects.get_or_create(
        arn=arn, defaults={"kind": PolicyKind.CUSTOMER_MANAGED, "name": "matrix-sample", "account": account,
                           "scope": f"iam:{account.account_id}", **_synced(arn)},
    )  # fmt: skip
    return policy


def _sample_permission_set(inventory) -> Any:
    """A permission set assigned on an account the manager owns."""
    from governance.inventory.models import AccountAssignment
    from tests.fixtures.personas import _synced

    permission_set = next(iter(inventory.permission_sets.values()))
    account = inventory.accounts[OWNED_ACCOUNT_IDS[0]]
    group = next(iter(inventory.sso_groups.values()))
    AccountAssignment.objects.get_or_create(
        permission_set=permission_set, aws_account_id=account.account_id,
        defaults={"account": account, "principal": group, "principal_type": "GROUP",
                  "principal_aws_id": group.aws_id, **_synced(f"matrix:{permission_set.pk}")},
    )  # fmt: skip
    return permission_set


def _sample_campaign(inventory) -> Any:
    """A campaign with an item routed to every matrix persona (reviewers see their campaigns)."""
    from django.utils import timezone

    from governance.aws.demo.personas import BY_KEY
    from governance.reviews.models import Campaign, CampaignTemplate, ReviewItem

    template, _ = CampaignTemplate.objects.get_or_create(
        name="matrix-sample", defaults={"fallback_reviewer": "sam.security@example.com"}
    )
    now = timezone.now()
    campaign, created = Campaign.objects.get_or_create(
        template=template, period="matrix",
        defaults={"name": "matrix sample", "launched_at": now, "due_at": now, "attestation": "x",
                  "close_action": "keep_flag", "remediation_mode": "manual"},
    )  # fmt: skip
    if created:
        principal = inventory.manager_role
        for key in MATRIX_PERSONAS:
            ReviewItem.objects.create(
                campaign=campaign, kind="role_policy", source_id=principal.pk, principal_arn=principal.arn,
                principal_name=principal.name, principal_kind="iam_role", target_name="ReadOnlyAccess",
                reviewer_email=BY_KEY[key].email, routed_by="named",
            )  # fmt: skip
    return campaign


def _sample_scp(inventory) -> Any:
    """An SCP of the persona organization, attached to the root."""
    from governance.inventory.models import Policy, PolicyKind
    from tests.fixtures.personas import _synced

    management = inventory.organization.management_account_id
    arn = f"arn:aws:organizations::{management}:policy/o-demo12345/service_control_policy/p-matrix"
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    policy, _ = Policy.objects.get_or_create(
        arn=arn, defaults={"kind": PolicyKind.SCP, "name": "matrix-scp", "organization": inventory.organization,
                           "aws_policy_id": "p-matrix", "scope": "org",
                           "document": document,
                           **_synced(arn)},
    )  # fmt: skip
    return policy


def _sample_change(inventory) -> Any:
    """A pending change request written by the policy admin (so approving it is refused as four-eyes)."""
    from governance.authz.models import User
    from governance.scp.models import ChangeKind, ChangeRequest

    policy = _sample_scp(inventory)
    author = User.objects.filter(username="paula.policy").first()
    change, _ = ChangeRequest.objects.get_or_create(
        name="matrix-scp", defaults={"kind": ChangeKind.DELETE, "policy": policy, "aws_policy_id": policy.aws_policy_id,
                                     "reason": "matrix sample change", "author": author, "author_name": "Paula"},
    )  # fmt: skip
    return change


def _sample_evidence_package(inventory) -> Any:
    from governance.evidence.package import bytes_file
    from governance.evidence.services import generate_package

    return generate_package(
        subject_type="tests.matrix", subject_id="1", subject_repr="matrix sample", subject={},
        files=[bytes_file("sample.txt", b"sample\n")], actor=None,
    ).pk  # fmt: skip


def _sample_audit_event(inventory) -> int:
    from governance.audit.services import record

    return record(actor=None, action="test.matrix").sequence


# URL parameter name -> value (a callable takes the persona inventory).
SAMPLES: dict[str, Any] = {
    "token": "not-a-real-break-glass-token",
    "account_id": OWNED_ACCOUNT_IDS[0],
    "principal_id": lambda inv: _sample_principal(inv).pk,
    "principal_pk": lambda inv: _sample_principal(inv).pk,
    "finding_id": lambda inv: _sample_finding(inv).pk,
    "fmt": "csv",
    "framework": "cis-aws-3",
    "policy_id": lambda inv: _sample_policy(inv).pk,
    "permission_set_id": lambda inv: _sample_permission_set(inv).pk,
    "campaign_id": lambda inv: _sample_campaign(inv).pk,
    "scp_id": lambda inv: _sample_scp(inv).pk,
    "change_id": lambda inv: _sample_change(inv).pk,
    "key_id": "test-key-1",
    "package_id": _sample_evidence_package,
    "sequence": lambda inv: _sample_audit_event(inv),
    "request_id": lambda inv: jit_samples.matrix_request(inv).pk,
    "grant_id": lambda inv: jit_samples.matrix_grant(inv).pk,
}

# Where step-up sends a session whose IdP login lacks a recent MFA (the personas' provider is "demo").
STEP_UP_PREFIX = "/accounts/oidc/demo/login/?process=login"

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass(frozen=True)
class Route:
    route: str
    name: str
    view: Any

    def __str__(self) -> str:
        return f"/{self.route} ({self.name or 'unnamed'})"

    @property
    def params(self) -> list[str]:
        return [m.group("name") for m in _PARAM.finditer(self.route)]

    def path(self, inventory) -> str:
        def value(match: re.Match) -> str:
            sample = SAMPLES[match.group("name")]
            return str(sample(inventory) if callable(sample) else sample)

        return "/" + _PARAM.sub(value, self.route)


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, route, ns)
        elif isinstance(entry, URLPattern):
            yield Route(route=route, name=f"{namespace}{entry.name or ''}", view=entry.callback)


def collect_routes() -> list[Route]:
    return [r for r in _walk(get_resolver().url_patterns) if not any(r.route.startswith(p) for p in ALLOWLIST)]


ROUTES = collect_routes()
RULED = [r for r in ROUTES if rule_of(r.view) is not None]


def test_it_has_a_rule_on_every_route():
    unruled = [str(r) for r in ROUTES if rule_of(r.view) is None]
    assert not unruled, (
        "Routes without an authorization rule (decorate the view with @requires(...), @authenticated or @public):\n"
        + "\n".join(unruled)
    )


# The MFA-missing column, pinned: the portal routes that want a recent MFA login (the governance
# admin wants it throughout: test_the_admin_matrix). Adding or dropping `@requires_mfa` on a view
# changes this set, so the change is a decision someone writes down here.
MFA_ROUTES = {
    "inventory:sync_now",  # "Sync now"
    "scp:change_approve",
    "scp:change_apply",
    "scp:change_reconcile",  # "Reconcile with AWS" (settles a stuck apply)
    "reviews:sign_off",
    "reviews:close",
    "jit:decide",
    "api:token_create",
}


def test_the_mfa_column_is_pinned():
    assert {r.name for r in RULED if rule_of(r.view).mfa} == MFA_ROUTES


def test_it_has_a_sample_for_every_url_parameter():
    missing = sorted({p for r in ROUTES for p in r.params if p not in SAMPLES})
    assert not missing, f"Add sample values to SAMPLES in tests/authz/test_matrix.py for: {', '.join(missing)}"


def _request(client: Client, path: str):
    response = client.get(path)
    if response.status_code == 405:
        response = client.post(path)
    return response


def _is_login_redirect(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def _problems(rule: Rule, path: str, persona_client, personas) -> list[str]:
    problems = []
    anonymous = _request(Client(), path)
    if rule.public:
        if anonymous.status_code == 403 or _is_login_redirect(anonymous) or anonymous.status_code >= 500:
            problems.append(f"anonymous: public route answered {anonymous.status_code}")
    elif not _is_login_redirect(anonymous):
        problems.append(f"anonymous: expected a login redirect, got {anonymous.status_code}")
    for key in MATRIX_PERSONAS:
        response = _request(persona_client(key), path)
        status = response.status_code
        if rule.public:
            if status == 403 or status >= 500 or _is_login_redirect(response):
                problems.append(f"{key}: public route answered {status}")
        elif rule.admits(capabilities(personas[key])):
            if status in (403, 404) or status >= 500 or _is_login_redirect(response):
                problems.append(f"{key}: admitted by {rule}, got {status}")
            problems += _mfa_missing_problems(rule, path, key, status, persona_client)
        elif status != 403:
            problems.append(f"{key}: not admitted by {rule}, expected 403, got {status}")
    return problems


def _is_step_up(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith(STEP_UP_PREFIX)


def _mfa_missing_problems(rule: Rule, path: str, key: str, status_with_mfa: int, persona_client) -> list[str]:
    """The MFA-missing column: the same persona signed in without MFA."""
    response = _request(persona_client(key, mfa=False), path)
    if rule.mfa:
        if not _is_step_up(response):
            return [f"{key} without MFA: expected step-up at the IdP, got {response.status_code}"]
    elif response.status_code != status_with_mfa:
        return [f"{key} without MFA: got {response.status_code}, with MFA {status_with_mfa}"]
    return []


@pytest.mark.parametrize("route", RULED, ids=str)
def test_the_matrix(route, persona_client, personas, persona_inventory):
    if any(p not in SAMPLES for p in route.params):
        pytest.skip("no sample for a URL parameter (see test_it_has_a_sample_for_every_url_parameter)")
    path = route.path(persona_inventory)
    problems = _problems(rule_of(route.view), path, persona_client, personas)
    assert not problems, f"{path}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("path", "rule"), ADMIN_CHECKS, ids=[p for p, _ in ADMIN_CHECKS])
def test_the_admin_matrix(path, rule, persona_client, personas):
    if isinstance(rule, Rule):
        problems = _problems(rule, path, persona_client, personas)
    else:
        problems = []
        if not _is_login_redirect(Client().get(path)):
            problems.append("anonymous: expected a login redirect")
        for key in MATRIX_PERSONAS:
            caps = capabilities(personas[key])
            admitted = caps.has("admin.access") and any(caps.has(c) for c in rule)
            status = persona_client(key).get(path).status_code
            if status != (200 if admitted else 403):
                problems.append(f"{key}: expected {200 if admitted else 403}, got {status}")
            if admitted and not _is_step_up(persona_client(key, mfa=False).get(path)):
                problems.append(f"{key} without MFA: expected step-up at the IdP")
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_it_notices_a_route_without_a_rule(settings):
    settings.ROOT_URLCONF = "tests.authz.urls_unruled"
    unruled = [r.name for r in collect_routes() if rule_of(r.view) is None]
    assert unruled == ["test_forgotten"]
