"""Production refuses an emulator endpoint however written, ALLOWED_HOSTS=*, a weak SECRET_KEY."""

from __future__ import annotations

import secrets

import pytest

from governance.authz.checks import check_authz_settings
from portal.checks import check_production_safety, is_local_address


@pytest.fixture
def production(settings):
    settings.PRODUCTION = True
    settings.AWS_ENDPOINT_URL = ""
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    settings.SECRET_KEY = secrets.token_urlsafe(64)
    return settings


@pytest.mark.parametrize(
    "url",
    ["http://127.1:5000", "http://0.0.0.0:5000", "http://localhost.:5000", "http://[::ffff:127.0.0.1]:5000",
     "http://2130706433/", "http://[::1]/", "http://api.localhost/", "http://127.0.0.2/"],
)  # fmt: skip
def test_it_refuses_a_local_endpoint_however_written(production, url):
    production.AWS_ENDPOINT_URL = url
    assert is_local_address(url)
    assert [e.id for e in check_production_safety()] == ["portal.E006"]


def test_it_accepts_a_real_endpoint(production):
    production.AWS_ENDPOINT_URL = "https://vpce-1.sts.us-east-1.vpce.amazonaws.com"
    assert check_production_safety() == []


def test_it_refuses_any_host(production):
    production.ALLOWED_HOSTS = ["*"]
    assert [e.id for e in check_production_safety()] == ["portal.E007"]


@pytest.mark.parametrize("key", ["a" * 80, "abab" * 20, "password1234" * 5])
def test_it_refuses_a_secret_key_of_low_entropy(production, key):
    production.SECRET_KEY = key
    assert [e.id for e in check_production_safety()] == ["portal.E008"]


def test_it_refuses_a_role_map_naming_break_glass_or_an_unknown_role(settings):
    settings.GOVERNANCE_ROLE_MAP = {"GovernanceAuditor": "break_glass", "Other": "wizard"}
    problems = check_authz_settings()
    assert [e.id for e in problems] == ["authz.E002"]
    assert "break_glass" in problems[0].msg and "wizard" in problems[0].msg
