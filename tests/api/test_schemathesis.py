"""Schemathesis fuzzes every operation of the OpenAPI schema, as an auditor and an outsider: no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.django_db


# Loaded through the application itself (the schema view reads no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture
def auditor_token(api_token, persona_inventory) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token('auditor')}"}


@pytest.fixture
def outsider_token(api_token, persona_inventory) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token('outsider')}"}


FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
QUICK = settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
def test_it_finds_no_server_error_for_an_auditor(case, auditor_token):
    case.call_and_validate(headers=auditor_token, checks=[not_a_server_error])


@schema.parametrize()
@QUICK
def test_it_finds_no_server_error_for_an_outsider(case, outsider_token):
    case.call_and_validate(headers=outsider_token, checks=[not_a_server_error])


@schema.parametrize()
@QUICK
def test_it_finds_no_server_error_without_a_token(case, db):
    case.call_and_validate(checks=[not_a_server_error])
