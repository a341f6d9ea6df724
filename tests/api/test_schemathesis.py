"""Schemathesis fuzzes every operation of the OpenAPI schema, as an auditor and an outsider: no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

pytestmark = pytest.mark.django_db


# Loaded through the application itself (the schema view reads no database).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _requests_keep_the_test_connection():
    """As Django's test client does: a request made inside a test must not close the test's database
    connection (request_finished would, once CONN_MAX_AGE has passed in a long run)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


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


# The workflow writes, fuzzed as people whose writes the services accept: a reviewer with items in
# an open campaign, and a JIT requester with an eligibility policy.
from tests.jit.conftest import jit  # noqa: E402, F401 - fixtures
from tests.reviews.conftest import campaign, review_inventory, template  # noqa: E402, F401 - fixtures

writes = schema.include(method="POST")


@pytest.fixture
def writer_tokens(api_token, campaign, jit) -> dict[str, dict[str, str]]:  # noqa: F811
    return {key: {"Authorization": f"Bearer {api_token(key)}"} for key in ("manager", "requester", "policy_admin")}


@writes.parametrize()
@FUZZ
def test_its_writes_find_no_server_error_for_people_who_may_write(case, writer_tokens):
    for headers in writer_tokens.values():
        case.call_and_validate(headers=headers, checks=[not_a_server_error])


# The JIT operations on one grant or request, fuzzed on a live grant and a pending request of the
# requester's (so the bodies reach the services, not a 404): as its holder, a JIT administrator, and
# the approver the policy routes the request to.
on_one_jit_object = schema.include(path_regex=r"^/api/v1/jit/(grants/\{(grant_)?id\}|requests/\{request_id\})/")


@pytest.fixture
def jit_objects(api_token, jit, personas) -> tuple[dict[str, int], list[dict[str, str]]]:  # noqa: F811
    from governance.jit import services
    from governance.jit.models import Grant, GrantStatus
    from tests.jit.helpers import submit

    approved = submit(jit, personas["requester"])
    services.decide_request(actor=personas["approver"], access_request=approved, decision="approve")
    Grant.objects.filter(request=approved).update(status=GrantStatus.ACTIVE)
    pending = submit(jit, personas["requester"], account=jit.prod)
    grant_id = Grant.objects.get(request=approved).pk
    ids = {"id": grant_id, "grant_id": grant_id, "request_id": pending.pk}
    return ids, [{"Authorization": f"Bearer {api_token(key)}"} for key in ("requester", "campaign_admin")]


@on_one_jit_object.parametrize()
@FUZZ
def test_the_jit_operations_on_a_real_grant_or_request_find_no_server_error(case, jit_objects):
    ids, tokens = jit_objects
    case.path_parameters = {name: ids[name] for name in case.path_parameters}
    for headers in tokens:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])
