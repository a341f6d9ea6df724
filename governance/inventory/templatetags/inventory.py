"""Template filters and tags for inventory pages."""

from __future__ import annotations

from django import template

from governance.inventory.templatetags.aws_text import reveal

register = template.Library()
# `reveal` is a builtin (aws_text); registered here too so `{% load inventory %}` keeps offering it.
register.filter("reveal", reveal)


@register.simple_tag(takes_context=True)
def inventory_panels(context: template.Context, page: str, obj: object) -> str:
    """The panels feature apps registered for this page (governance/inventory/panels.py)."""
    from governance.inventory.panels import render_panels

    return render_panels(context["request"], page, obj)
