"""Template filters and tags for inventory pages."""

from __future__ import annotations

import re

from django import template

register = template.Library()

# Bidirectional overrides and isolates, directional marks and zero-width characters: AWS accepts
# them in names, tags and paths, and they can make "evil\u202egnp.exe" read as "evilexe.png".
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


@register.filter
def reveal(value: object) -> str:
    """Show invisible and direction-changing characters as visible code points (still auto-escaped)."""
    return _INVISIBLE.sub(lambda m: f"\u27e6U+{ord(m.group()):04X}\u27e7", str(value))


@register.simple_tag(takes_context=True)
def inventory_panels(context: template.Context, page: str, obj: object) -> str:
    """The panels feature apps registered for this page (governance/inventory/panels.py)."""
    from governance.inventory.panels import render_panels

    return render_panels(context["request"], page, obj)
