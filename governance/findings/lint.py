"""parliament's lint per distinct policy document, kept in `LintCache` so each document is linted once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache

from governance.findings.analysis import Facts
from governance.findings.models import LintCache
from governance.inventory.ingest import insert_plain

# parliament findings that say nothing about the document itself.
# RESOURCE_STAR repeats policy.service_wildcard and policy.admin_star, which judge the same statements precisely.
IGNORED_ISSUES = frozenset({"RESOURCE_STAR"})
CHUNK = 5000


def _version() -> str:
    return f"parliament {_parliament().__version__}"


@cache
def _parliament():
    """parliament, imported on first use (it is slow to import), with its action lookup memoized.

    parliament looks every action up by scanning its whole IAM definition (`get_privilege_info`),
    which is most of its time; the lookup is a pure function of (service, action), so it is cached.
    """
    import parliament
    from parliament import statement

    statement.get_privilege_info = cache(statement.get_privilege_info)
    return parliament


def lint_document(document: dict) -> list[dict[str, str]]:
    """parliament's findings on a document, as `parliament.analyze_policy_string(json.dumps(document))`
    gives them, without its JSON parser.

    parliament parses the text with jsoncfg (pure Python, to know each node's line and column), which
    was about half its time; the document is parsed already, so its tree is built from it directly
    (`_config_tree`). The findings used here (issue, title, detail) do not depend on the positions,
    which are left at 0: only a finding's `location` shows them.
    """
    _parliament()  # imported, its lookup memoized
    from parliament.policy import Policy

    analyzed = Policy(_config_tree(document))
    analyzed.analyze()
    return issues_of(analyzed)


def issues_of(analyzed) -> list[dict[str, str]]:
    """An analyzed parliament policy's findings (issue, title, detail), the ignored ones left out, sorted."""
    found = []
    for item in analyzed.findings:
        if item.issue in IGNORED_ISSUES:
            continue
        detail = item.detail if isinstance(item.detail, str) else json.dumps(item.detail, sort_keys=True, default=str)
        found.append({"issue": item.issue, "title": item.title or item.issue, "detail": detail or ""})
    return sorted(found, key=lambda f: (f["issue"], f["detail"]))


def _config_tree(value):
    """The jsoncfg node tree `jsoncfg.loads_config(json.dumps(value))` gives, without the positions."""
    from jsoncfg.config_classes import ConfigJSONArray, ConfigJSONObject, ConfigJSONScalar

    if isinstance(value, dict):
        node = ConfigJSONObject(0, 0)
        for key, item in value.items():
            node._insert(key, _config_tree(item))
        return node
    if isinstance(value, list):
        node = ConfigJSONArray(0, 0)
        for item in value:
            node._append(_config_tree(item))
        return node
    return ConfigJSONScalar(value, 0, 0)


def lint_findings(facts: Iterable[Facts]) -> dict[str, list[dict[str, str]]]:
    """Document key -> parliament's findings, from the cache or computed (and cached) now."""
    wanted = {f.key: f for f in facts if f.policy is not None}
    version = _version()
    keys = list(wanted)
    cached: dict[str, list[dict[str, str]]] = {}
    for start in range(0, len(keys), CHUNK):
        cached.update(
            LintCache.objects.filter(document_key__in=keys[start : start + CHUNK], tool_version=version).values_list(
                "document_key", "findings"
            )
        )
    missing = [key for key in wanted if key not in cached]
    if missing:
        documents = [wanted[key].policy.to_json() for key in missing]
        # In this process: with parliament's lookup memoized a document takes about a millisecond, and
        # forking worker processes from an evaluation that holds every hit cost more than it saved.
        computed = {key: lint_document(document) for key, document in zip(missing, documents, strict=True)}
        for start in range(0, len(missing), CHUNK):
            LintCache.objects.filter(document_key__in=missing[start : start + CHUNK]).delete()
        insert_plain(
            LintCache,
            ("document_key", "tool_version", "findings"),
            [(key, version, value) for key, value in computed.items()],
        )
        cached.update(computed)
    return cached
