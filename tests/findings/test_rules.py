"""Each rule on the emulator's demo organization: one resource it fires on and one it does not
(a resource of the same kind that exists), plus the registry other apps add rules through."""

from __future__ import annotations

import pytest

from governance.findings import rules, services
from governance.findings.models import Finding, FindingStatus, Severity
from governance.findings.rules import Hit, Remediation
from governance.inventory.models import Account, CredentialReportRow, PermissionSet, Policy, Principal

pytestmark = pytest.mark.django_db

# rule -> (account, resource it fires on), (account, resource of the same kind it must not fire on)
CASES = {
    "root.mfa_missing": (
        ("legacy-billing", "root user of legacy-billing"),
        ("payments-prod", "root user of payments-prod"),
    ),
    "root.access_keys": (
        ("sandbox-olga", "root user of sandbox-olga"),
        ("payments-prod", "root user of payments-prod"),
    ),
    "user.console_without_mfa": (("payments-dev", "lee.dev"), ("payments-dev", "jamie.dev")),
    "user.password_and_keys": (("shared-network", "alice.ops"), ("data-dev", "carol.data")),
    "user.key_older_than_90d": (("payments-dev", "payments-ci"), ("payments-dev", "jamie.dev")),
    "user.credential_unused_90d": (("legacy-billing", "billing-export"), ("payments-dev", "payments-ci")),
    "user.in_identity_center_account": (("shared-network", "alice.ops"), ("payments-dev", "payments-ci")),
    "user.direct_policy": (("payments-dev", "payments-ci"), ("payments-dev", "jamie.dev")),
    "role.unused_90d": (("legacy-billing", "LegacyReportingRole"), ("payments-prod", "VendorAuditRole")),
    "role.trust_external_without_external_id": (
        ("payments-prod", "VendorAuditRole"),
        ("data-prod", "VendorMonitoringRole"),
    ),
    "role.trust_any_principal": (("legacy-billing", "LegacyCrossAccess"), ("payments-prod", "CrossAccountDeploy")),
    "role.trust_federated_without_audience": (
        ("payments-dev", "GitHubActionsAnyRepo"),
        ("payments-dev", "GitHubActionsDeploy"),
    ),
    "account.password_policy_weak": (("legacy-billing", "legacy-billing"), ("management", "master")),
    "policy.admin_star": (("legacy-billing", "legacy-admin"), ("shared-network", "alice.ops")),
    "policy.service_wildcard": (("payments-dev", "S3Everything"), ("legacy-billing", "BillingReportsRead")),
    "policy.inline_admin": (("data-dev", "bob.data-inline"), ("data-dev", "data-engineers-inline")),
    "policy.privilege_escalation": (("payments-prod", "CrossAccountDeploy"), ("payments-prod", "VendorAuditRole")),
    "policy.sensitive_without_condition": (("payments-dev", "S3Everything"), ("legacy-billing", "BillingReportsRead")),
    "policy.lint": (("legacy-billing", "BillingReportsRead"), ("payments-dev", "S3Everything")),
    "boundary.delegated_admin_missing": (
        ("payments-dev", "GovernancePortalWriterRole"),
        ("payments-dev", "GovernancePortalReadRole"),
    ),
    "scp.baseline_missing": (("legacy-billing", "legacy-billing"), ("payments-prod", "payments-prod")),
    "scp.root_only_full_access": (("legacy-billing", "legacy-billing"), ("payments-dev", "payments-dev")),
    "permission_set.admin_overassigned": (("", "AdministratorAccess"), ("", "ReadOnlyAccess")),
    "permission_set.long_session": (("", "AdministratorAccess"), ("", "GovernanceAuditor")),
}


def test_every_rule_has_a_case():
    # Rules other apps register (scp.drift: tests/scp) are tested there.
    assert set(CASES) == {r.id for r in rules.all_rules() if r.module in rules.BUILTIN_MODULES}


def _exists(account: Account | None, name: str) -> bool:
    if account is None:
        return PermissionSet.objects.filter(name=name).exists()
    if name.startswith("root user of "):
        return CredentialReportRow.objects.filter(account=account, is_root=True).exists()
    return (
        Principal.objects.filter(account=account, name=name).exists()
        or Policy.objects.filter(account=account, name=name).exists()
        or account.name == name
    )


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_the_rule_fires_on_one_and_not_on_the_other(synced_demo, rule_id):
    run = services.evaluate(rule_ids=[rule_id])
    assert run.rules == [rule_id]
    (fires_account, fires_on), (quiet_account, quiet_on) = CASES[rule_id]
    accounts = {a.name: a for a in Account.objects.all()}
    management = next(a for a in accounts.values() if a.is_management)
    accounts["management"] = management
    found = Finding.objects.filter(rule_id=rule_id, status=FindingStatus.OPEN)
    fires = accounts.get(fires_account)
    quiet = accounts.get(quiet_account)
    assert found.filter(account=fires, resource_name=fires_on).exists(), f"{rule_id} did not fire on {fires_on}"
    assert _exists(quiet, quiet_on), f"{quiet_on} is not in the demo: the negative case would be vacuous"
    assert not found.filter(account=quiet, resource_name=quiet_on).exists(), f"{rule_id} fired on {quiet_on}"
    finding = found.get(account=fires, resource_name=fires_on)
    assert finding.message and finding.evidence and finding.severity == rules.get(rule_id).severity


def test_every_rule_states_its_remediation_and_references():
    for rule in rules.all_rules():
        assert rule.title and len(rule.rationale) > 40, rule.id
        assert rule.remediation.console and rule.remediation.cli, rule.id
        assert rule.references and all(ref.startswith("https://") for ref in rule.references), rule.id


def _another_apps_rule(ctx):
    for account in ctx.accounts.values():
        if account.name == "legacy-billing":
            yield Hit(
                resource_type="account",
                resource_arn=account.arn,
                resource_name=account.name,
                message="drifted",
                evidence={"drift": True},
                account_id=account.pk,
            )


@pytest.fixture
def extra_rule():
    registered = rules.register(
        rules.Rule(
            id="scp.test_drift",
            title="Test drift",
            severity=Severity.LOW,
            rationale="for the registry test",
            remediation=Remediation(console="-", cli="-"),
            references=(),
            evaluate=_another_apps_rule,
        )
    )
    yield registered
    rules._REGISTRY.pop(registered.id)


def test_a_rule_registered_by_another_app_gets_findings(synced_demo, extra_rule):
    run = services.evaluate(rule_ids=["scp.test_drift"])
    assert run.by_rule["scp.test_drift"] == 1
    assert Finding.objects.get(rule_id="scp.test_drift").resource_name == "legacy-billing"


def test_the_registry_refuses_bad_and_clashing_ids(extra_rule):
    with pytest.raises(ValueError, match="must look like"):
        rules.register(
            rules.Rule(
                id="NoDot",
                title="",
                severity="low",
                rationale="",
                remediation=extra_rule.remediation,
                references=(),
                evaluate=_another_apps_rule,
            )
        )
    with pytest.raises(ValueError, match="already registered"):
        rules.register(
            rules.Rule(
                id="scp.test_drift",
                title="",
                severity="low",
                rationale="",
                remediation=extra_rule.remediation,
                references=(),
                evaluate=lambda ctx: (),
            )
        )


def test_a_per_account_rule_whose_hit_has_no_account_is_refused(synced_demo):
    def broken(ctx):
        yield Hit(resource_type="account", resource_arn="arn:x", resource_name="x", message="x")

    rules.register(
        rules.Rule(
            id="test.broken",
            title="",
            severity="low",
            rationale="",
            remediation=Remediation(console="-", cli="-"),
            references=(),
            evaluate=broken,
        )
    )
    try:
        with pytest.raises(services.FindingsError, match="without an account"):
            services.evaluate(rule_ids=["test.broken"])
        assert not Finding.objects.exists()
    finally:
        rules._REGISTRY.pop("test.broken")


def test_an_unknown_rule_id_is_refused(db):
    with pytest.raises(services.FindingsError, match=r"Unknown rule ids: nope\.nope"):
        services.evaluate(rule_ids=["nope.nope"])
