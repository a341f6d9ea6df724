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
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.utils.module_loading import import_string

_PROVIDERS: dict[str, str] = {}


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


def merge_context(items: QuerySet, key: str, value: Any) -> int:
    """Set `context[key] = value` on every item of `items`, in one UPDATE; returns the count."""
    encoded = json.dumps(value)
    ids_sql, ids_params = items.values("id").query.sql_with_params()
    table = items.model._meta.db_table
    if connection.vendor == "postgresql":
        sql = f"UPDATE {table} SET context = context || jsonb_build_object(%s, %s::jsonb) WHERE id IN ({ids_sql})"  # noqa: S608
    else:
        sql = f"UPDATE {table} SET context = json_set(context, %s, json(%s)) WHERE id IN ({ids_sql})"  # noqa: S608
        key = "$." + json.dumps(key)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key, encoded, *ids_params])
        return cursor.rowcount


def recommend(items: QuerySet, *, recommendation: str, reason: str, risk: str | None = None) -> int:
    """Replace the recommendation (and optionally the risk) of every item of `items`."""
    values: dict[str, Any] = {"recommendation": recommendation, "recommendation_reason": reason[:300]}
    if risk:
        values["risk"] = risk
    return items.update(**values)


def load_builtin() -> None:
    """The reviews app's own providers: none beyond the snapshot yet (kept for symmetry with rules)."""
