"""Template filters for findings pages."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer

from governance.inventory.templatetags.inventory import reveal

register = template.Library()
_FORMATTER = HtmlFormatter(nowrap=True, classprefix="tok-")


@register.filter
def highlight_json(text: str) -> SafeString:
    """JSON (already indented) as highlighted HTML: Pygments escapes every token; invisible and
    direction-changing characters are shown first (`reveal`), as everywhere AWS text is shown."""
    return mark_safe(highlight(reveal(text), JsonLexer(), _FORMATTER))  # noqa: S308 - Pygments escapes the text


@register.filter
def severity_class(severity: str) -> str:
    return f"sev-{severity}" if severity in ("critical", "high", "medium", "low") else "sev-low"
