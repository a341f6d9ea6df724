"""`|reveal` and `|reveal_note`, builtins in every template (portal pages, feature apps, the admin).

    <bdi>{{ principal.name|reveal }}</bdi>        evil⟦U+202E⟧gnp.exe
    {{ field.value|reveal_note }}                 a note under an editable admin field
    {{ account.email|breakable }}                 revealed, and may wrap after @ . - _ / : on a phone

See governance/inventory/text.py for what is marked and why.
"""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from governance.inventory.text import marked
from governance.inventory.text import reveal as reveal_text

register = template.Library()
_BREAK_AFTER = re.compile(r"([@./:_-])")


@register.filter
def reveal(value: object) -> str:
    """Direction controls, invisible characters and look-alikes shown as `⟦U+XXXX⟧` (still escaped)."""
    return reveal_text(value)


@register.filter
def reveal_note(value: object) -> SafeString | str:
    """For a value that must stay as it is (a form field): a visible note naming what it hides."""
    if value is None or value == "":
        return ""
    found = marked(str(value))
    if not found:
        return ""
    unique = list(dict.fromkeys((m.code, m.name, m.why) for m in found))
    items = format_html_join(", ", "{} {} ({})", unique)
    return format_html(
        '<p class="reveal-note" role="note">Contains characters that change how it reads: {}. Shown as: {}</p>',
        items,
        reveal_text(str(value)),
    )


@register.filter
def breakable(value: object) -> SafeString:
    """Revealed and escaped, with a line-break opportunity after @ . / : _ - (e-mails, ARNs, paths).

    Long e-mail addresses and ARNs then wrap where a reader expects on a narrow screen, instead
    of at an arbitrary letter or not at all.
    """
    escaped = escape(reveal_text(str(value)))
    return mark_safe(_BREAK_AFTER.sub(r"\1<wbr>", escaped))  # noqa: S308 - escaped above; only <wbr> added
