from __future__ import annotations

from governance.authz.checks import check_authz_settings


def test_it_accepts_the_default_role_map():
    assert check_authz_settings() == []


def test_it_names_an_unknown_role(settings):
    settings.GOVERNANCE_ROLE_MAP = {"GovernanceAuditor": "auditor", "GodMode": "superuser"}
    assert [(e.id, "superuser" in e.msg) for e in check_authz_settings()] == [("authz.E002", True)]


def test_it_refuses_a_role_map_that_is_not_an_object(settings):
    settings.GOVERNANCE_ROLE_MAP = ["GovernanceAuditor"]
    assert [e.id for e in check_authz_settings()] == ["authz.E001"]


def test_it_warns_about_break_glass_left_on_in_production(settings):
    settings.BREAK_GLASS_ENABLED = True
    settings.PRODUCTION = True
    assert [e.id for e in check_authz_settings()] == ["authz.W001"]


def test_it_refuses_a_link_claim_without_an_issuer(settings):
    from tests.fixtures.idp import provider_settings

    providers = provider_settings(url="https://idp.example.invalid")
    providers["openid_connect"]["APPS"][0]["settings"]["link_claim"] = "oid"
    settings.SOCIALACCOUNT_PROVIDERS = providers
    assert [e.id for e in check_authz_settings()] == ["authz.E003"]
