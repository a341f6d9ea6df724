from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def permission_set(persona_inventory):
    permission_set = persona_inventory.permission_sets["GovernanceAuditor"]
    permission_set.customer_managed_references = [{"name": "Workload", "path": "/identity-center/"}]
    permission_set.unresolved_references = [
        {"name": "Workload", "path": "/identity-center/", "account_id": "444444444444"}
    ]
    permission_set.boundary_type = "customer_managed"
    permission_set.boundary_name = "Limit<b>"
    permission_set.boundary_path = "/boundaries/"
    permission_set.save(
        update_fields=[
            "customer_managed_references",
            "unresolved_references",
            "boundary_type",
            "boundary_name",
            "boundary_path",
        ]
    )
    return permission_set


def test_it_lists_references_unresolved_references_and_the_boundary(persona_client, permission_set):
    page = persona_client("policy_admin").get("/admin/inventory/permissionset/?boundary_type__exact=customer_managed")
    assert page.status_code == 200
    html = page.content.decode()
    assert "GovernanceAuditor" in html and "GovernancePolicyAdmin" not in html
    assert "/boundaries/Limit&lt;b&gt;" in html


def test_it_shows_the_references_and_the_boundary_on_the_set(persona_client, permission_set):
    html = (
        persona_client("policy_admin")
        .get(f"/admin/inventory/permissionset/{permission_set.pk}/change/")
        .content.decode()
    )
    assert "/identity-center/Workload<br>" in html
    assert "/identity-center/Workload in 444444444444" in html
    assert "Limit&lt;b&gt;" in html and "Limit<b>" not in html
    assert "Customer managed policy reference" in html


def test_it_says_when_a_boundary_could_not_be_read(persona_client, persona_inventory):
    permission_set = persona_inventory.permission_sets["GovernanceAuditor"]
    assert permission_set.boundary_type == "unknown"
    html = (
        persona_client("policy_admin")
        .get(f"/admin/inventory/permissionset/{permission_set.pk}/change/")
        .content.decode()
    )
    assert "Could not be read at the last sync" in html


def test_it_stays_read_only(persona_client, permission_set):
    client = persona_client("policy_admin")
    url = f"/admin/inventory/permissionset/{permission_set.pk}/change/"
    assert client.post(url, {"name": "Renamed", "boundary_type": "none"}).status_code == 403
    assert client.get("/admin/inventory/permissionset/add/").status_code == 403
    permission_set.refresh_from_db()
    assert (permission_set.name, permission_set.boundary_type) == ("GovernanceAuditor", "customer_managed")
