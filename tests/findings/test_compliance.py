"""The compliance mapping as the benchmarks number their controls."""

from __future__ import annotations

from governance.findings import compliance


def test_cis_section_1_lists_every_v3_recommendation_in_order():
    cis = compliance.frameworks()["cis-aws-3"]
    assert [control.id for control in cis.controls] == [f"1.{n}" for n in range(1, 23)]
    titles = {control.id: control.title for control in cis.controls}
    # Spot checks where versions of the benchmark differ (v1.x numbered root use 1.1, unused credentials 1.3).
    assert titles["1.4"] == "Ensure no 'root' user account access key exists"
    assert titles["1.7"] == "Eliminate use of the 'root' user for administrative and daily tasks"
    assert titles["1.12"] == "Ensure credentials unused for 45 days or greater are disabled"
    assert titles["1.20"] == "Ensure that IAM Access analyzer is enabled for all regions"
    assert titles["1.22"] == "Ensure access to AWSCloudShellFullAccess is restricted"


def test_cis_controls_map_to_the_rules_that_judge_them():
    rules = {control.id: set(control.rules) for control in compliance.frameworks()["cis-aws-3"].controls}
    assert rules["1.10"] == {"user.console_without_mfa"}
    assert rules["1.14"] == {"user.key_older_than_90d"}
    assert rules["1.15"] == {"user.direct_policy"}
    assert rules["1.16"] == {"policy.admin_star", "policy.inline_admin"}
    assert not rules["1.13"] and not rules["1.18"] and not rules["1.19"]
