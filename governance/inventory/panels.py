"""Panels that feature apps add to inventory pages, so those pages show their facts without inventory
importing them (STYLE.md: inventory never imports a feature app).

    # governance/findings/apps.py, in ready()
    from governance.inventory import panels
    panels.register(panels.Panel(
        key="findings", page=panels.PRINCIPAL, template="findings/_principal_panel.html",
        context="governance.findings.selectors.principal_panel", order=10,
    ))

`context` is a dotted path to `f(request, obj) -> dict | None`: the panel template's context, or
None to show nothing (the user may not see it, or there is nothing to say). Pages render their
panels with `{% inventory_panels "principal" principal %}`; each panel renders with its own
context plus `request` and `obj`. A panel costs its own queries: pin them in the feature's tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe

ACCOUNT = "account"
PRINCIPAL = "principal"
POLICY = "policy"
PERMISSION_SET = "permission_set"
PAGES = (ACCOUNT, PRINCIPAL, POLICY, PERMISSION_SET)


@dataclass(frozen=True)
class Panel:
    key: str
    page: str
    template: str
    context: str
    order: int = 100

    def __post_init__(self) -> None:
        if self.page not in PAGES:
            raise ValueError(f"Unknown inventory page {self.page!r}; one of {', '.join(PAGES)}.")


_PANELS: dict[tuple[str, str], Panel] = {}


def register(panel: Panel) -> None:
    """Add a panel (idempotent: the same key on the same page replaces the earlier one)."""
    _PANELS[(panel.page, panel.key)] = panel


def panels_for(page: str) -> list[Panel]:
    return sorted((p for p in _PANELS.values() if p.page == page), key=lambda p: (p.order, p.key))


def render_panels(request: HttpRequest, page: str, obj: Any) -> SafeString:
    """Every registered panel of the page that has something to show, in order, as HTML."""
    parts = []
    for panel in panels_for(page):
        context = import_string(panel.context)(request, obj)
        if context is None:
            continue
        parts.append(render_to_string(panel.template, {**context, "obj": obj}, request=request))
    return mark_safe("".join(parts))  # noqa: S308 - each part is a template rendered with auto-escaping
