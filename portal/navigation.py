"""The main navigation: each entry says who may see it, so the bar shows only what a user may use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavEntry:
    label: str
    url_name: str
    visible: Callable[[HttpRequest], bool]
    section: str = ""


def _authenticated(request: HttpRequest) -> bool:
    return request.user.is_authenticated


ENTRIES: list[NavEntry] = [
    NavEntry("Dashboard", "dashboard", _authenticated),
]


def register(entry: NavEntry) -> None:
    """Apps add their pages here (from AppConfig.ready) with the rule that decides who sees them."""
    if all(existing.url_name != entry.url_name for existing in ENTRIES):
        ENTRIES.append(entry)


def items_for(request: HttpRequest) -> list[dict]:
    current = request.resolver_match.view_name if request.resolver_match else ""
    items = []
    for entry in ENTRIES:
        if not entry.visible(request):
            continue
        try:
            url = reverse(entry.url_name)
        except NoReverseMatch:
            continue
        items.append({"label": entry.label, "url": url, "active": entry.url_name == current})
    return items
