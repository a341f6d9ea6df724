"""Risk-context and recommendation providers: how other apps add what they know to review items.

The snapshot (services.launch) fills what the inventory knows: last use, MFA, key age, open
findings, admin power. Other apps know more: whether a just-in-time eligibility could replace a
standing assignment (jit), when a service was last accessed (the AWS signals). They register a
provider from their AppConfig.ready():

    from governance.reviews import providers
    providers.register("jit.could_be_jit", "governance.jit.review_context.could_be_jit")

A provider is called once per launch, inside the launch transaction, as
`provider(campaign=campaign, items=<QuerySet of the campaign's ReviewItem>)`. It must be
set-based: narrow `items` with filters and call `merge_context()` (a value into each item's
`context` JSON) and `recommend()` (replace the recommendation and its reason). A provider that
raises aborts the launch, so a campaign never launches half-informed; register only what can
answer, and let a provider skip (return) when its source is unavailable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from django.db.models import F, Func, JSONField, QuerySet, Value
from django.utils.module_loading import import_string

_PROVIDERS: dict[str, str] = {}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def register(name: str, dotted_path: str) -> None:
    """Add a provider (idempotent: the same name again replaces it). Providers run in name order."""
    _PROVIDERS[name] = dotted_path


def registered() -> dict[str, str]:
    return dict(sorted(_PROVIDERS.items()))


def run_all(*, campaign: Any, items: QuerySet) -> list[str]:
    ran = []
    for name, path in registered().items():
        provider: Callable[..., Any] = import_string(path)
        provider(campaign=campaign, items=items)
        ran.append(name)
    return ran


class _ContextWith(Func):
    """`context` with `key` set to the JSON text `value`, on either database."""

    output_field = JSONField()

    def __init__(self, key: str, value: str) -> None:
        super().__init__(F("context"), Value(key), Value(value))

    def as_sql(self, compiler, connection, **extra):  # type: ignore[no-untyped-def]
        (column, key, value) = (compiler.compile(e) for e in self.get_source_expressions())
        params = [*column[1], *key[1], *value[1]]
        if connection.vendor == "postgresql":
            return f"{column[0]} || jsonb_build_object({key[0]}::text, {value[0]}::jsonb)", params
        return f"json_set({column[0]}, '$.' || json_quote({key[0]}), json({value[0]}))", params


def merge_context(items: QuerySet, key: str, value: Any) -> int:
    """Set `context[key] = value` on every item of `items`, in one UPDATE; returns the count.

    An UPDATE of the queryset's own filter (the campaign among them), so on PostgreSQL only the
    campaign's partition of `reviews_item` is read. `key` is a name (letters, digits, `_`): SQLite's
    JSON paths have no escape for a quote in a key."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"A context key is letters, digits and underscores: {key!r}.")
    return items.update(context=_ContextWith(key, json.dumps(value)))


def recommend(items: QuerySet, *, recommendation: str, reason: str, risk: str | None = None) -> int:
    """Replace the recommendation (and optionally the risk) of every item of `items`."""
    values: dict[str, Any] = {"recommendation": recommendation, "recommendation_reason": reason[:300]}
    if risk:
        values["risk"] = risk
    return items.update(**values)


def load_builtin() -> None:
    """The reviews app's own providers: none beyond the snapshot yet (kept for symmetry with rules)."""
