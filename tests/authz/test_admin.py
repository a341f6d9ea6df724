from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from governance.authz.admin_site import CapabilityAdminMixin, GovernanceAdminSite
from governance.authz.capabilities import Capability
from governance.authz.models import IdentityLink

pytestmark = pytest.mark.django_db


def test_it_is_the_default_admin_site():
    assert isinstance(admin.site, GovernanceAdminSite)


def test_it_admits_admin_access_holders_without_staff_or_permissions(persona_client, personas):
    user = personas["campaign_admin"]
    assert not (user.is_staff or user.is_superuser or user.user_permissions.exists())
    assert persona_client("campaign_admin").get("/admin/").status_code == 200


def test_it_refuses_a_logged_in_user_without_admin_access(persona_client):
    assert persona_client("auditor").get("/admin/").status_code == 403


def test_it_refuses_a_superuser_flag_without_aws_rights(persona_client, personas):
    outsider = personas["outsider"]
    outsider.is_staff = outsider.is_superuser = True
    outsider.save(update_fields=["is_staff", "is_superuser"])
    assert persona_client("outsider").get("/admin/").status_code == 403


def test_it_has_no_local_login_form(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_shows_administrators_who_is_not_linked(persona_client):
    page = persona_client("policy_admin").get("/admin/authz/identitylink/?status__exact=missing").content.decode()
    assert "oscar.outsider" in page
    assert "arthur.auditor" not in page


def test_it_keeps_synced_and_link_data_read_only(persona_client, personas):
    client = persona_client("policy_admin")
    link = IdentityLink.objects.get(user=personas["outsider"])
    assert client.get("/admin/authz/identitylink/add/").status_code == 403
    assert client.post(f"/admin/authz/identitylink/{link.pk}/delete/", {"post": "yes"}).status_code == 403
    assert IdentityLink.objects.filter(pk=link.pk).exists()


def test_it_answers_model_permissions_from_capabilities(personas):
    class LinkAdmin(CapabilityAdminMixin, admin.ModelAdmin):
        view_capability = Capability.AUDIT_VIEW
        change_capability = Capability.SCP_APPROVE

    model_admin = LinkAdmin(IdentityLink, GovernanceAdminSite(name="probe"))
    request = RequestFactory().get("/")
    request.user = personas["policy_admin"]
    assert model_admin.has_view_permission(request)
    assert model_admin.has_change_permission(request) and model_admin.has_add_permission(request)
    assert not model_admin.has_delete_permission(request)
    request.user = personas["campaign_admin"]
    assert model_admin.has_view_permission(request)
    assert not model_admin.has_change_permission(request)
    request.user = personas["auditor"]
    assert not model_admin.has_view_permission(request), "auditors lack admin.access"


def test_it_mixes_capabilities_into_every_registered_admin():
    for model_admin in admin.site._registry.values():
        assert isinstance(model_admin, CapabilityAdminMixin), type(model_admin)


def test_it_governs_inlines_too():
    class LinkInline(admin.TabularInline):
        model = IdentityLink

    class UserAdmin(admin.ModelAdmin):
        inlines = [LinkInline]

    from governance.authz.models import User

    site = GovernanceAdminSite(name="probe-inlines")
    site.register(User, UserAdmin)
    assert all(issubclass(inline, CapabilityAdminMixin) for inline in site._registry[User].inlines)


def test_it_does_not_offer_idp_secrets_or_django_groups(persona_client):
    labels = {model._meta.label_lower for model in admin.site._registry}
    assert not labels & {"auth.group", "socialaccount.socialapp", "socialaccount.socialtoken"}
    assert persona_client("policy_admin").get("/admin/socialaccount/socialapp/").status_code == 404


# MFA and read-only actions ------------------------------------------------------------------------


def test_the_governance_admin_wants_a_recent_mfa_login(persona_client):
    without = persona_client("policy_admin", mfa=False).get("/admin/authz/identitylink/")
    assert without.status_code == 302
    assert without["Location"].startswith("/accounts/oidc/demo/login/?process=login")
    assert "prompt%3Dlogin" in without["Location"]
    assert persona_client("policy_admin").get("/admin/authz/identitylink/").status_code == 200


def _failed_task():
    from django.utils import timezone
    from django_q.models import Task

    now = timezone.now()
    return Task.objects.create(
        id="f" * 32, name="verify-audit-chain", func="governance.audit.tasks.verify", started=now, stopped=now,
        success=False, result="chain broken at 41", attempt_count=1,
    )  # fmt: skip


def test_view_only_admins_cannot_resubmit_or_delete_django_q_tasks(persona_client):
    from django_q.models import OrmQ, Task

    failure = _failed_task()
    client = persona_client("policy_admin")
    page = client.get("/admin/django_q/failure/")
    assert page.status_code == 200
    assert "resubmit_task" not in page.content.decode()

    client.post("/admin/django_q/failure/", {"action": "resubmit_task", "_selected_action": [failure.pk]})

    assert Task.objects.filter(pk=failure.pk).exists(), "the failure that reports a broken chain stays"
    assert not OrmQ.objects.exists(), "nothing was queued again"


def test_a_registered_admin_keeps_the_capabilities_it_declares(personas):
    """An admin class that does not inherit the mixin is governed through a subclass with the mixin
    first; the capabilities the class declares must not be replaced by the mixin's defaults."""
    from governance.findings.models import Suppression
    from governance.reviews.models import CampaignTemplate

    request = RequestFactory().get("/")
    suppressions = admin.site._registry[Suppression]
    templates = admin.site._registry[CampaignTemplate]
    assert suppressions.change_capability == Capability.FINDINGS_MANAGE
    assert templates.view_capability == templates.change_capability == Capability.REVIEWS_ADMIN
    request.user = personas["policy_admin"]
    assert suppressions.has_add_permission(request) and not templates.has_view_permission(request)
    request.user = personas["campaign_admin"]
    assert not suppressions.has_add_permission(request) and suppressions.has_view_permission(request)
    assert templates.has_add_permission(request) and templates.has_change_permission(request)
