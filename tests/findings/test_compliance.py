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


def test_every_framework_the_issue_names_is_mapped_with_its_controls():
    controls = {slug: [c.id for c in fw.controls] for slug, fw in compliance.frameworks().items()}
    assert set(controls) == {"cis-aws-3", "pci-dss-4", "hipaa", "gdpr", "soc2", "iso27001"}
    assert controls["hipaa"] == [
        "164.308(a)(3)",
        "164.308(a)(4)",
        "164.312(a)",
        "164.312(b)",
        "164.312(c)",
        "164.312(d)",
    ]
    assert controls["soc2"] == ["CC6.1", "CC6.2", "CC6.3"]
    assert controls["iso27001"] == ["A.5.15", "A.5.16", "A.5.17", "A.5.18", "A.8.2"]
    assert {c.split(".")[0] for c in controls["pci-dss-4"]} == {"7", "8"}  # requirements 7 and 8 only
    assert controls["gdpr"] and all(c.startswith("Art. 32(") for c in controls["gdpr"])


def test_every_builtin_rule_gives_evidence_for_some_control():
    from governance.findings.rules import BUILTIN_MODULES, all_rules

    mapped = {rule for fw in compliance.frameworks().values() for c in fw.controls for rule in c.rules}
    assert {r.id for r in all_rules() if r.module in BUILTIN_MODULES} - mapped == set()


def test_a_mapping_naming_an_unknown_rule_is_refused():
    import pytest

    text = '[frameworks.x]\nname = "X"\n[[frameworks.x.controls]]\nid = "1"\ntitle = "t"\nrules = ["no.such_rule"]\n'
    with pytest.raises(compliance.MappingError, match=r"unknown rules no\.such_rule"):
        compliance.parse(text)
