"""AWS-sourced text reads as what it is, on the portal's pages and in the admin alike.

One function (`governance.inventory.text.reveal`, the builtin `|reveal` filter) marks direction
controls, invisible characters and look-alike letters; the admin's lists, read-only fields,
titles and breadcrumbs go through it, and an editable admin field keeps its value and says what
it hides.
"""

from __future__ import annotations

import pytest
from django import forms
from django.contrib.admin.helpers import AdminForm
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from governance.inventory.models import Principal
from governance.inventory.text import marked, reveal

RLO = "\u202e"
HOSTILE = f"evil{RLO}gnp.exe"
LOOKALIKE = "p\u0430yments-admin"  # a Cyrillic "а"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (HOSTILE, "evil⟦U+202E⟧gnp.exe"),
        ("a\u200bb\u2066c\u2069", "a⟦U+200B⟧b⟦U+2066⟧c⟦U+2069⟧"),
        ("x\u00ady", "x⟦U+00AD⟧y"),  # soft hyphen
        ("admin\U000e0041", "admin⟦U+E0041⟧"),  # a tag character (invisible "A")
        ("bell\x07", "bell⟦U+0007⟧"),
        (LOOKALIKE, "p⟦U+0430⟧yments-admin"),
        ("\uff21dministrator", "⟦U+FF21⟧dministrator"),  # fullwidth A
        ("Иван Петров", "Иван Петров"),  # one script per word: nothing to mark
        ("山田 Yamada", "山田 Yamada"),
        ("Zürich café ñ", "Zürich café ñ"),  # Latin letters with accents are Latin
        ('{\n  "Effect": "Allow"\n}', '{\n  "Effect": "Allow"\n}'),  # layout whitespace stays
    ],
)
def test_it_marks_what_changes_how_text_reads_and_nothing_else(text, shown):
    assert reveal(text) == shown
    assert reveal(reveal(text)) == shown  # idempotent: the markers are plain ASCII


def test_it_names_each_marked_character_and_why():
    found = marked(f"{LOOKALIKE}{RLO}")
    assert [(m.code, m.why) for m in found] == [("U+0430", "look-alike"), ("U+202E", "invisible")]
    assert found[1].name == "RIGHT-TO-LEFT OVERRIDE"


def test_revealing_escaped_html_keeps_it_safe_and_plain_text_stays_plain():
    html = mark_safe(f"<td>&lt;b&gt;{HOSTILE}</td>")  # noqa: S308 - a constant
    revealed = reveal(html)
    assert isinstance(revealed, SafeString)
    assert revealed == "<td>&lt;b&gt;evil⟦U+202E⟧gnp.exe</td>"
    assert not isinstance(reveal("<b>"), SafeString)
    rendered = Template("{{ value|reveal }}").render(Context({"value": f"<b>{RLO}</b>"}))
    assert rendered == "&lt;b&gt;⟦U+202E⟧&lt;/b&gt;"  # a builtin: no {% load %} needed


@pytest.fixture
def hostile(persona_inventory):
    principal = persona_inventory.other_role
    Principal.objects.filter(pk=principal.pk).update(name=HOSTILE, path=f"/{LOOKALIKE}/", owner=f"{RLO}x@example.com")
    return principal


def _assert_revealed(page: str) -> None:
    assert RLO not in page and "\u0430" not in page
    assert "evil⟦U+202E⟧gnp.exe" in page


def test_the_admin_list_reveals_aws_text(persona_client, hostile):
    page = persona_client("policy_admin").get("/admin/inventory/principal/?q=gnp").content.decode()
    _assert_revealed(page)
    assert "⟦U+202E⟧x@example.com" in page


def test_the_admin_change_page_reveals_title_breadcrumbs_and_read_only_fields(persona_client, hostile):
    page = persona_client("policy_admin").get(f"/admin/inventory/principal/{hostile.pk}/change/").content.decode()
    _assert_revealed(page)
    title = page.split("<title>", 1)[1].split("</title>", 1)[0]
    breadcrumbs = page.split('class="breadcrumbs"', 1)[1].split("</div>", 1)[0]
    assert "⟦U+202E⟧" in title and "⟦U+202E⟧" in breadcrumbs
    assert "/p⟦U+0430⟧yments-admin/" in page  # the path, a read-only field


def test_the_admin_history_page_reveals_the_name(persona_client, hostile):
    page = persona_client("policy_admin").get(f"/admin/inventory/principal/{hostile.pk}/history/").content.decode()
    _assert_revealed(page)


def test_the_portal_page_reveals_the_same_way(persona_client, hostile):
    page = persona_client("auditor").get(f"/inventory/principals/{hostile.pk}/").content.decode()
    _assert_revealed(page)
    assert "/p⟦U+0430⟧yments-admin/" in page


class _NameForm(forms.Form):
    name = forms.CharField()


def test_an_editable_admin_field_keeps_its_value_and_says_what_it_hides():
    form = _NameForm(initial={"name": HOSTILE})
    admin_form = AdminForm(form, [(None, {"fields": ["name"]})], {})
    html = "".join(render_to_string("admin/includes/fieldset.html", {"fieldset": fs}) for fs in admin_form)
    assert f'value="{HOSTILE}"' in html  # what is submitted is what is there
    assert "U+202E RIGHT-TO-LEFT OVERRIDE (invisible)" in html
    assert "Shown as: evil⟦U+202E⟧gnp.exe" in html
    clean = "".join(
        render_to_string("admin/includes/fieldset.html", {"fieldset": fs})
        for fs in AdminForm(_NameForm(initial={"name": "plain"}), [(None, {"fields": ["name"]})], {})
    )
    assert "reveal-note" not in clean
