from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from governance.audit.models import AuditEvent
from governance.authz.capabilities import Capability, capabilities
from governance.authz.models import BreakGlassToken, User

pytestmark = pytest.mark.django_db


def _issue(email="ops.lead@example.com", reason="IdP outage, INC-42") -> str:
    out = StringIO()
    call_command("break_glass_login", email=email, reason=reason, stdout=out)
    return re.search(r"(/me/break-glass/[^/\s]+/)", out.getvalue()).group(1)


def test_it_refuses_to_issue_a_link_when_disabled(settings):
    settings.BREAK_GLASS_ENABLED = False
    with pytest.raises(CommandError, match="BREAK_GLASS_ENABLED"):
        _issue()
    assert not BreakGlassToken.objects.exists()


def test_it_answers_404_for_links_when_disabled(client, settings):
    settings.BREAK_GLASS_ENABLED = True
    path = _issue()
    settings.BREAK_GLASS_ENABLED = False
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404


def test_it_logs_in_once_with_every_capability_and_audits_everything(client, settings):
    settings.BREAK_GLASS_ENABLED = True
    path = _issue()
    assert AuditEvent.objects.filter(action="authz.break_glass.issued").count() == 1
    assert b"Log in as break-glass administrator" in client.get(path).content
    assert "_auth_user_id" not in client.session

    response = client.post(path)
    assert response.status_code == 302
    user = User.objects.get(username="break-glass:ops.lead@example.com")
    assert not user.has_usable_password()
    assert capabilities(user).has_all(*Capability.values)

    dashboard = client.get("/")
    assert dashboard.context["break_glass_active"]
    assert client.get("/admin/").status_code == 200
    actions = list(AuditEvent.objects.filter(actor_pk=user.pk).values_list("action", flat=True))
    assert actions.count("authz.break_glass.login") == 1
    assert actions.count("authz.break_glass.request") == 2

    client.logout()
    assert client.post(path).status_code == 400, "a link works once"


def test_it_refuses_an_expired_link(client, settings):
    settings.BREAK_GLASS_ENABLED = True
    path = _issue()
    BreakGlassToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.post(path).status_code == 400
    assert "_auth_user_id" not in client.session


def test_it_ends_the_powers_when_the_session_window_passes_or_the_flag_goes_off(client, settings):
    settings.BREAK_GLASS_ENABLED = True
    client.post(_issue())
    user = User.objects.get()
    assert capabilities(user).break_glass
    settings.BREAK_GLASS_ENABLED = False
    assert not capabilities(User.objects.get()).break_glass
    settings.BREAK_GLASS_ENABLED = True
    User.objects.update(break_glass_until=timezone.now() - timedelta(seconds=1))
    assert not capabilities(User.objects.get()).break_glass
