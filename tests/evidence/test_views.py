from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from governance.audit import signing

pytestmark = pytest.mark.django_db


def test_the_public_keys_are_served_without_login_with_their_fingerprints(settings, tmp_path):
    old = signing.current_key().public
    (tmp_path / "old.pem").write_text(old.pem)
    signing.generate_key_file(tmp_path / "new.pem")
    settings.SIGNING_KEY_FILE = str(tmp_path / "new.pem")
    settings.SIGNING_KEY_ID = "test-key-2"
    settings.SIGNING_RETIRED_KEYS = [f"test-key-1={tmp_path / 'old.pem'}"]

    response = Client().get("/evidence/keys/")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert [(k["key_id"], k["status"]) for k in keys] == [("test-key-2", "current"), ("test-key-1", "retired")]
    assert keys[1]["fingerprint_sha256"] == old.fingerprint
    assert keys[1]["public_key_pem"] == old.pem
    assert keys[1]["pem_url"].endswith("/evidence/keys/test-key-1.pem")

    pem = Client().get("/evidence/keys/test-key-1.pem")
    assert pem.status_code == 200 and pem.content.decode() == old.pem
    assert Client().get("/evidence/keys/nobody.pem").status_code == 404


def test_the_auditor_sees_keys_and_stored_packages_with_their_hashes(
    persona_client, package, django_assert_max_num_queries
):
    stored, _ = package
    client = persona_client("auditor")
    with django_assert_max_num_queries(15):  # session, user, capabilities (AWS-derived), campaigns, packages, queue
        response = client.get("/evidence/")
    assert response.status_code == 200
    body = response.content.decode()
    assert signing.current_key().public.fingerprint in body
    assert stored.sha256 in body and stored.manifest_sha256 in body
    assert f"/evidence/packages/{stored.pk}/download/" in body


def test_the_auditor_downloads_the_stored_bytes(persona_client, package):
    stored, path = package
    response = persona_client("auditor").get(f"/evidence/packages/{stored.pk}/download/")
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert hashlib.sha256(data).hexdigest() == stored.sha256 == response["X-Content-SHA256"]
    assert data == path.read_bytes()
    assert "attachment" in response["Content-Disposition"]


def test_a_manager_may_not_download_evidence(persona_client, package):
    stored, _ = package
    assert persona_client("manager").get(f"/evidence/packages/{stored.pk}/download/").status_code == 403


def test_an_unknown_package_is_404(persona_client):
    assert (
        persona_client("auditor").get("/evidence/packages/00000000-0000-0000-0000-000000000000/download/").status_code
        == 404
    )


def test_the_empty_page_says_so(persona_client):
    assert "No evidence package has been generated yet." in persona_client("auditor").get("/evidence/").content.decode()


def test_a_queued_package_is_shown_as_being_generated_until_the_task_runs(persona_client):
    from governance.evidence import tasks

    tasks.queue("campaign", "4242")  # django-q2's ORM broker: a row in its queue table
    body = persona_client("auditor").get("/evidence/").content.decode()
    assert "Being generated" in body and "campaign 4242" in body
