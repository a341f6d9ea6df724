"""Panels feature apps add to inventory pages: rendered in order, escaped, skipped when they say None."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.inventory import panels
from tests.fixtures.personas import OWNED_ACCOUNT_IDS

pytestmark = pytest.mark.django_db

SEEN: list[tuple[str, object]] = []


def shout(request, obj):
    SEEN.append(("shout", obj))
    return {"word": f"<b>{getattr(obj, 'name', obj)}</b>"}


def silent(request, obj):
    SEEN.append(("silent", obj))
    return None


@pytest.fixture
def registry(monkeypatch, settings, tmp_path):
    monkeypatch.setattr(panels, "_PANELS", {})
    (tmp_path / "panel.html").write_text('<p class="test-panel">{{ word }} for {{ request.user.get_username }}</p>')
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], str(tmp_path)]}]
    SEEN.clear()
    return panels.register


def test_an_unknown_page_is_refused():
    with pytest.raises(ValueError, match="Unknown inventory page"):
        panels.Panel(key="x", page="dashboard", template="x.html", context="x.y")


def test_the_account_page_renders_registered_panels_escaped_in_order(registry, persona_client):
    late = panels.Panel(key="late", page=panels.ACCOUNT, template="panel.html", context=f"{__name__}.shout", order=20)
    registry(late)
    registry(panels.Panel(key="none", page=panels.ACCOUNT, template="panel.html", context=f"{__name__}.silent"))
    registry(panels.Panel(key="other", page=panels.PRINCIPAL, template="panel.html", context=f"{__name__}.shout"))

    response = persona_client("manager").get(reverse("inventory:account", args=[OWNED_ACCOUNT_IDS[0]]))

    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('class="test-panel"') == 1
    assert "&lt;b&gt;payments-prod&lt;/b&gt; for maria.manager" in body
    assert [name for name, _ in SEEN] == ["shout", "silent"]
    assert SEEN[0][1].account_id == OWNED_ACCOUNT_IDS[0]


def test_registering_a_key_again_replaces_the_panel(registry):
    registry(panels.Panel(key="a", page=panels.POLICY, template="one.html", context="x.y"))
    registry(panels.Panel(key="a", page=panels.POLICY, template="two.html", context="x.y"))
    assert [p.template for p in panels.panels_for(panels.POLICY)] == ["two.html"]
