"""The compliance mapping (compliance.toml, reviewed by hand) and pass/fail per control per account.

A control fails on an account while an open finding of one of its rules is on that account;
organization-wide findings (Identity Center permission sets) fail it for the organization. Suppressed
findings are accepted risks and do not fail a control; the page says how many there are.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.db.models import Count, Q

from governance.findings import rules as registry
from governance.findings.models import FindingStatus

MAPPING_FILE = Path(__file__).with_name("compliance.toml")


class MappingError(ValueError):
    """compliance.toml names something that does not exist; the message says what."""


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    rules: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    note: str = ""

    @property
    def evaluated(self) -> bool:
        return bool(self.rules)


@dataclass(frozen=True)
class Framework:
    slug: str
    name: str
    section: str
    source: str
    controls: tuple[Control, ...] = field(default_factory=tuple)


def parse(text: str) -> dict[str, Framework]:
    """The mapping from TOML text; raises MappingError for unknown rules or malformed entries."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"compliance mapping is not valid TOML: {exc}") from None
    known = {r.id for r in registry.all_rules()}
    frameworks = {}
    for slug, raw in (data.get("frameworks") or {}).items():
        controls = []
        for item in raw.get("controls") or []:
            unknown = [rule for rule in item.get("rules", []) if rule not in known]
            if unknown:
                raise MappingError(f"{slug} {item.get('id')}: unknown rules {', '.join(unknown)}")
            controls.append(
                Control(
                    id=str(item["id"]),
                    title=str(item["title"]),
                    rules=tuple(item.get("rules", [])),
                    evidence=tuple(item.get("evidence", [])),
                    note=str(item.get("note", "")),
                )
            )
        frameworks[slug] = Framework(
            slug=slug,
            name=raw["name"],
            section=raw.get("section", ""),
            source=raw.get("source", ""),
            controls=tuple(controls),
        )
    return frameworks


@cache
def frameworks() -> dict[str, Framework]:
    return parse(MAPPING_FILE.read_text(encoding="utf-8"))


def controls_for_rule(rule_id: str) -> list[tuple[Framework, Control]]:
    return [(fw, c) for fw in frameworks().values() for c in fw.controls if rule_id in c.rules]


@dataclass
class ControlRow:
    control: Control
    # account pk (None: organization-wide) -> open findings of the control's rules there
    failing: dict[int | None, int]
    suppressed: int

    def status_for(self, account_pk: int | None) -> str:
        if not self.control.evaluated:
            return "not_evaluated"
        return "fail" if self.failing.get(account_pk) else "pass"


def matrix(framework: Framework, findings, account_pks: list[int] | None) -> list[ControlRow]:
    """Pass or fail per control per account, from two grouped queries over the visible findings."""
    rule_ids = {rule for control in framework.controls for rule in control.rules}
    scoped = findings.filter(rule_id__in=rule_ids)
    open_counts: dict[str, dict[int | None, int]] = defaultdict(dict)
    open_rows = scoped.filter(status=FindingStatus.OPEN)
    if account_pks is not None:
        open_rows = open_rows.filter(Q(account_id__in=account_pks) | Q(account__isnull=True))
    rows = open_rows.order_by().values_list("rule_id", "account_id").annotate(n=Count("id"))
    for rule_id, account_pk, n in rows:
        open_counts[rule_id][account_pk] = n
    suppressed = dict(
        scoped.filter(status=FindingStatus.SUPPRESSED).order_by().values_list("rule_id").annotate(n=Count("id"))
    )
    result = []
    for control in framework.controls:
        failing: dict[int | None, int] = defaultdict(int)
        for rule in control.rules:
            for account_pk, n in open_counts.get(rule, {}).items():
                failing[account_pk] += n
        result.append(
            ControlRow(
                control=control,
                failing=dict(failing),
                suppressed=sum(suppressed.get(rule, 0) for rule in control.rules),
            )
        )
    return result


def summary(framework: Framework, findings) -> dict[str, Any]:
    rows = matrix(framework, findings, None)
    evaluated = [row for row in rows if row.control.evaluated]
    return {"controls": len(rows), "evaluated": len(evaluated), "failing": sum(1 for row in evaluated if row.failing)}
